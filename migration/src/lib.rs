//! kg's database schema, as sea-orm migrations that run forwards and
//! backwards on PostgreSQL and SQLite alike.
//!
//! Every id and every foreign key that points at it share one UUID column
//! type, so a reference can never disagree with its target's key type. Every
//! invariant a constraint can hold is held here too: CHECKs on confidence,
//! version and self-loops, foreign keys, and partial unique indexes over
//! live rows.

pub use sea_orm_migration::prelude::*;

mod command;
mod m20260101_000001_users;
mod m20260101_000002_entities;
mod m20260101_000003_relationships;
mod m20260101_000004_audit_log;
mod m20260101_000005_sessions;
mod m20260101_000006_user_version;
mod m20260101_000007_login_throttle;
mod m20260101_000008_api_keys;
mod m20260101_000009_changes;
mod m20260101_000010_idempotency_keys;
mod m20260101_000011_entity_search;
mod m20260101_000012_service_settings;
mod m20260101_000013_feed_positions;
mod m20260101_000014_live_edge_indexes;
mod m20260101_000015_opaque_responses;
mod m20260101_000016_principal_changes;
mod m20260101_000017_live_ends;
mod m20260101_000018_refresh_tokens;
mod m20260101_000019_evidence;
mod m20260101_000020_stated_evidence_in_facts;

pub use command::{MigrationCommand, MigrationReport, run};

/// Applies kg's migrations in order.
#[derive(Debug)]
pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20260101_000001_users::Migration),
            Box::new(m20260101_000002_entities::Migration),
            Box::new(m20260101_000003_relationships::Migration),
            Box::new(m20260101_000004_audit_log::Migration),
            Box::new(m20260101_000005_sessions::Migration),
            Box::new(m20260101_000006_user_version::Migration),
            Box::new(m20260101_000007_login_throttle::Migration),
            Box::new(m20260101_000008_api_keys::Migration),
            Box::new(m20260101_000009_changes::Migration),
            Box::new(m20260101_000010_idempotency_keys::Migration),
            Box::new(m20260101_000011_entity_search::Migration),
            Box::new(m20260101_000012_service_settings::Migration),
            Box::new(m20260101_000013_feed_positions::Migration),
            Box::new(m20260101_000014_live_edge_indexes::Migration),
            Box::new(m20260101_000015_opaque_responses::Migration),
            Box::new(m20260101_000016_principal_changes::Migration),
            Box::new(m20260101_000017_live_ends::Migration),
            Box::new(m20260101_000018_refresh_tokens::Migration),
            Box::new(m20260101_000019_evidence::Migration),
            Box::new(m20260101_000020_stated_evidence_in_facts::Migration),
        ]
    }
}

/// The name of the newest migration: a database whose last applied
/// migration is this one has the schema this build expects.
#[must_use]
pub fn latest_migration() -> String {
    Migrator::migrations()
        .last()
        .map(|m| m.name().to_owned())
        .unwrap_or_default()
}

/// The columns every live/soft-deleted, versioned resource has.
pub(crate) fn lifecycle_columns(table: &mut TableCreateStatement) -> &mut TableCreateStatement {
    table
        .col(
            ColumnDef::new(Lifecycle::CreatedAt)
                .timestamp_with_time_zone()
                .not_null(),
        )
        .col(ColumnDef::new(Lifecycle::CreatedBy).uuid().not_null())
        .col(
            ColumnDef::new(Lifecycle::UpdatedAt)
                .timestamp_with_time_zone()
                .not_null(),
        )
        .col(ColumnDef::new(Lifecycle::UpdatedBy).uuid().not_null())
        .col(
            ColumnDef::new(Lifecycle::DeletedAt)
                .timestamp_with_time_zone()
                .null(),
        )
        .col(ColumnDef::new(Lifecycle::DeletedBy).uuid().null())
        .col(
            ColumnDef::new(Lifecycle::Version)
                .big_integer()
                .not_null()
                .check(Expr::col(Lifecycle::Version).gte(1)),
        )
}

#[derive(DeriveIden, Clone, Copy)]
pub(crate) enum Lifecycle {
    CreatedAt,
    CreatedBy,
    UpdatedAt,
    UpdatedBy,
    DeletedAt,
    DeletedBy,
    Version,
}

/// A confidence column: NULL, or a number within 0..=1.
pub(crate) fn confidence_column<T: IntoIden + Copy + 'static>(col: T) -> ColumnDef {
    ColumnDef::new(col)
        .double()
        .null()
        .check(
            Expr::col(col)
                .is_null()
                .or(Expr::col(col).between(0.0, 1.0)),
        )
        .to_owned()
}

/// A text column compared byte-wise on both databases, so an index serves
/// prefix ranges the same way everywhere.
pub(crate) fn bytewise_text<T: IntoIden + 'static>(
    col: T,
    backend: sea_orm::DatabaseBackend,
    len: u32,
) -> ColumnDef {
    let mut def = ColumnDef::new(col);
    def.string_len(len).not_null();
    if backend == sea_orm::DatabaseBackend::Postgres {
        def.extra("COLLATE \"C\"");
    }
    def
}

/// Creates plain (non-unique) indexes on `table`, each `(name, columns)`.
pub(crate) async fn create_indexes<T, C>(
    manager: &SchemaManager<'_>,
    table: T,
    indexes: Vec<(&str, Vec<C>)>,
) -> Result<(), DbErr>
where
    T: IntoIden + Copy + 'static,
    C: IntoIden + 'static,
{
    for (name, cols) in indexes {
        let mut index = Index::create();
        index.name(name).table(table);
        for col in cols {
            index.col(col);
        }
        manager.create_index(index.to_owned()).await?;
    }
    Ok(())
}

/// Makes `table` append-only: triggers refuse `UPDATE` and `DELETE` (and
/// `TRUNCATE` on PostgreSQL), whoever asks.
pub(crate) async fn append_only(manager: &SchemaManager<'_>, table: &str) -> Result<(), DbErr> {
    let statements = if manager.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
        vec![
            format!(
                "CREATE OR REPLACE FUNCTION {table}_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION '{table} is append-only'; END $$"
            ),
            format!(
                "CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON {table} FOR EACH STATEMENT EXECUTE FUNCTION {table}_append_only()"
            ),
        ]
    } else {
        ["update", "delete"]
            .iter()
            .map(|op| {
                format!(
                    "CREATE TRIGGER {table}_no_{op} BEFORE {} ON {table} BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END",
                    op.to_uppercase()
                )
            })
            .collect()
    };
    let db = manager.get_connection();
    for sql in statements {
        db.execute_unprepared(&sql).await?;
    }
    Ok(())
}

/// Drops what [`append_only`] made (the table's own triggers go with it).
pub(crate) async fn drop_append_only(
    manager: &SchemaManager<'_>,
    table: &str,
) -> Result<(), DbErr> {
    if manager.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
        manager
            .get_connection()
            .execute_unprepared(&format!("DROP FUNCTION IF EXISTS {table}_append_only()"))
            .await?;
    }
    Ok(())
}
