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
            let file = std::fs::File::create(&path)
                .with_context(|| format!("creating {}", path.display()))?;
            let mut out = std::io::BufWriter::new(file);
            kg_server::transfer::export(&graph, &mut out).await?
        }
        None => {
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            kg_server::transfer::export(&graph, &mut out).await?
        }
    };
    eprintln!("exported {entities} entities and {relationships} relationships");
    Ok(ExitCode::SUCCESS)
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
