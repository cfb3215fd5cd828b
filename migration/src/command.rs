//! The migration commands shared by `kg migrate` and `kg-migrate`.

use sea_orm::DatabaseConnection;
use sea_orm_migration::prelude::*;

use crate::Migrator;

/// What to do to the schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MigrationCommand {
    /// Apply every pending migration.
    Up,
    /// Roll back the given number of applied migrations (newest first).
    Down(u32),
    /// Report applied and pending migrations.
    Status,
    /// Drop every table and apply all migrations again. Destroys all data.
    Fresh,
}

/// What the schema looks like after a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationReport {
    /// Names of applied migrations, oldest first.
    pub applied: Vec<String>,
    /// Names of pending migrations, oldest first.
    pub pending: Vec<String>,
}

impl MigrationReport {
    /// Whether every migration this build knows has been applied.
    #[must_use]
    pub fn is_current(&self) -> bool {
        self.pending.is_empty()
    }
}

impl std::fmt::Display for MigrationReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for name in &self.applied {
            writeln!(f, "applied  {name}")?;
        }
        for name in &self.pending {
            writeln!(f, "pending  {name}")?;
        }
        write!(
            f,
            "{} applied, {} pending",
            self.applied.len(),
            self.pending.len()
        )
    }
}

/// Runs `command` against `db` and reports the resulting state.
///
/// Use a connection with a single pooled connection on SQLite: `fresh`
/// toggles `foreign_keys` per connection.
///
/// # Errors
/// Any database error; a failed migration on PostgreSQL is rolled back.
pub async fn run(
    db: &DatabaseConnection,
    command: MigrationCommand,
) -> Result<MigrationReport, DbErr> {
    match command {
        MigrationCommand::Up => Migrator::up(db, None).await?,
        MigrationCommand::Down(steps) => Migrator::down(db, Some(steps)).await?,
        MigrationCommand::Fresh => Migrator::fresh(db).await?,
        MigrationCommand::Status => {}
    }
    let applied = Migrator::get_applied_migrations(db)
        .await?
        .iter()
        .map(|m| m.name().to_owned())
        .collect();
    let pending = Migrator::get_pending_migrations(db)
        .await?
        .iter()
        .map(|m| m.name().to_owned())
        .collect();
    Ok(MigrationReport { applied, pending })
}
