//! `kg migrate`: change or inspect the database schema.

use std::process::ExitCode;

use anyhow::bail;
use clap::Subcommand;
use kg_persistence::{DatabaseSettings, MigrationCommand, connect_for_migrations, migrate};
use kg_server::{Settings, ensure_sqlite_dir};

#[derive(Subcommand)]
pub(crate) enum MigrateAction {
    /// Apply every pending migration.
    Up,
    /// Roll back the newest migrations.
    Down {
        /// How many to roll back.
        #[arg(long, default_value_t = 1)]
        steps: u32,
    },
    /// List applied and pending migrations; exits 1 while any is pending.
    Status,
    /// Drop everything and migrate from scratch. Destroys all data.
    Fresh {
        /// Required, to confirm that all data may be destroyed.
        #[arg(long)]
        yes: bool,
    },
}

#[expect(clippy::print_stdout, reason = "the command line prints its results")]
pub(crate) async fn run(action: MigrateAction, settings: &Settings) -> anyhow::Result<ExitCode> {
    let command = match action {
        MigrateAction::Up => MigrationCommand::Up,
        MigrateAction::Down { steps } => MigrationCommand::Down(steps),
        MigrateAction::Status => MigrationCommand::Status,
        MigrateAction::Fresh { yes: true } => MigrationCommand::Fresh,
        MigrateAction::Fresh { yes: false } => {
            bail!("`kg migrate fresh` destroys all data; add --yes to confirm")
        }
    };
    ensure_sqlite_dir(settings)?;
    let conn =
        connect_for_migrations(&DatabaseSettings::new(settings.database_url.clone())).await?;
    let report = migrate(&conn, command).await?;
    println!("{report}");
    if command == MigrationCommand::Status && !report.is_current() {
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}
