//! `cargo run -p kg-examples -- [DATABASE_URL]`: runs the library walk
//! against SQLite (by default `./example.db`, created if missing) and prints
//! what it saw.

use std::process::ExitCode;

#[expect(clippy::print_stdout, reason = "an example prints what it did")]
fn main() -> ExitCode {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "sqlite://example.db?mode=rwc".to_owned());
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(kg_examples::citation_graph(&url)) {
        Ok(report) => {
            println!("created {} items", report.created);
            println!("corrected title: {}", report.corrected_title);
            println!("within two citations: {}", report.reachable.join(", "));
            println!("change feed: {}", report.feed.join("; "));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
