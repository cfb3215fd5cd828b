//! `kg-migrate`: kg's migrations as a stand-alone command for CI/CD.
//!
//! `kg-migrate up|down [N]|status|fresh`, against `KG_DATABASE_URL`.
//! `status` exits with 1 while migrations are pending, so a deployment
//! pipeline can gate on it.

use std::process::ExitCode;

use kg_migration::{MigrationCommand, run};
use sea_orm::{ConnectOptions, Database};

const USAGE: &str =
    "usage: kg-migrate up | down [STEPS] | status | fresh   (database from KG_DATABASE_URL)";

fn parse(args: &[String]) -> Option<MigrationCommand> {
    match args {
        [cmd] if cmd == "up" => Some(MigrationCommand::Up),
        [cmd] if cmd == "down" => Some(MigrationCommand::Down(1)),
        [cmd, n] if cmd == "down" => n.parse().ok().map(MigrationCommand::Down),
        [cmd] if cmd == "status" => Some(MigrationCommand::Status),
        [cmd] if cmd == "fresh" => Some(MigrationCommand::Fresh),
        _ => None,
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(command) = parse(&args) else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let Ok(url) = std::env::var("KG_DATABASE_URL") else {
        eprintln!("KG_DATABASE_URL is not set\n{USAGE}");
        return ExitCode::from(2);
    };
    let mut options = ConnectOptions::new(url);
    options.max_connections(1).sqlx_logging(false);
    let db = match Database::connect(options).await {
        Ok(db) => db,
        Err(err) => {
            eprintln!("cannot connect to the database: {err}");
            return ExitCode::FAILURE;
        }
    };
    match run(&db, command).await {
        Ok(report) => {
            #[expect(clippy::print_stdout, reason = "this is a command-line tool's output")]
            {
                println!("{report}");
            }
            if command == MigrationCommand::Status && !report.is_current() {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(err) => {
            eprintln!("migration failed: {err}");
            ExitCode::FAILURE
        }
    }
}
