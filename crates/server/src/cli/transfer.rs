//! `kg export` and `kg import`: the live graph as JSON Lines, and back.

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use indicatif::{ProgressBar, ProgressStyle};
use kg_server::{Settings, open_database, prepare_schema};

use super::{active_user, operator_context, operator_services};

/// Writes the live graph to `output`, or to standard output.
pub(crate) async fn export(
    output: Option<PathBuf>,
    settings: &Settings,
) -> anyhow::Result<ExitCode> {
    prepare_schema(settings).await?;
    let db = open_database(settings).await?;
    let entities = kg_persistence::SeaOrmEntityRepository::new(db.clone());
    let relationships = kg_persistence::SeaOrmRelationshipRepository::new(db.clone());
    let graph = kg_server::transfer::Graph {
        entities: &entities,
        relationships: &relationships,
    };
    let (entities, relationships) = match output {
        Some(path) => {
            let (file, partial) = private_file_beside(&path)?;
            let mut out = std::io::BufWriter::new(file);
            let written = kg_server::transfer::export(&graph, &mut out).await;
            let finished = written.and_then(|counts| {
                let file = out
                    .into_inner()
                    .map_err(std::io::IntoInnerError::into_error)?;
                file.sync_all()?;
                // Replaces whatever is at `path`, a link included, without
                // following it.
                std::fs::rename(&partial, &path)
                    .with_context(|| format!("moving the export to {}", path.display()))?;
                Ok(counts)
            });
            match finished {
                Ok(counts) => counts,
                Err(e) => {
                    if let Err(cleanup) = std::fs::remove_file(&partial) {
                        eprintln!("could not remove {}: {cleanup}", partial.display());
                    }
                    return Err(e);
                }
            }
        }
        None => {
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            kg_server::transfer::export(&graph, &mut out).await?
        }
    };
    eprintln!("exported {entities} entities and {relationships} relationships");
    Ok(ExitCode::SUCCESS)
}

/// A new file beside `path`, readable by its owner only, and its path: the
/// export is written there and moved onto `path` once complete, so a
/// half-written export never stands at `path`, and a link there is
/// replaced, not followed.
fn private_file_beside(path: &Path) -> anyhow::Result<(std::fs::File, PathBuf)> {
    let name = path
        .file_name()
        .with_context(|| format!("{} names no file", path.display()))?;
    let mut partial_name = std::ffi::OsString::from(".");
    partial_name.push(name);
    partial_name.push(format!(".{}.partial", std::process::id()));
    let partial = path.with_file_name(partial_name);
    let mut options = std::fs::OpenOptions::new();
    // `create_new` refuses what exists, a link included, so nothing is
    // written through one.
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options
        .open(&partial)
        .with_context(|| format!("creating {}", partial.display()))?;
    Ok((file, partial))
}

/// Loads `file` from `from_line` on, as `actor`; fails when any line was refused.
#[expect(clippy::print_stdout, reason = "the command line prints its results")]
pub(crate) async fn import(
    file: &Path,
    actor: &str,
    from_line: u64,
    settings: &Settings,
) -> anyhow::Result<ExitCode> {
    let services = operator_services(settings).await?;
    let user = active_user(&services, actor, "--as").await?;
    let ctx = operator_context(user.id, user.role);
    let size = std::fs::metadata(file)
        .with_context(|| format!("reading {}", file.display()))?
        .len()
        .max(1);
    let input = std::io::BufReader::new(
        std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?,
    );
    // Bytes read, their rate and the time left, with the tally so far; drawn
    // only on a terminal.
    let bar = if std::io::stderr().is_terminal() {
        ProgressBar::new(size)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(ProgressStyle::with_template(
        "{percent:>3}% {bytes}/{total_bytes} at {bytes_per_sec}, {eta} left; {msg}",
    )?);
    let summary = kg_server::transfer::import(&services, &ctx, input, from_line, |bytes, s| {
        bar.set_position(bytes);
        bar.set_message(format!(
            "line {}: {} created, {} updated, {} unchanged, {} failed",
            s.lines,
            s.created,
            s.updated,
            s.unchanged,
            s.failed.len()
        ));
    })
    .await?;
    // The summary below repeats the tally; the bar goes.
    bar.finish_and_clear();
    println!("{summary}");
    if !summary.failed.is_empty() {
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}
