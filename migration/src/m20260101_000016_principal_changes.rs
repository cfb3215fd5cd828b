//! Every change to someone's standing notifies the `kg_principals`
//! channel, on PostgreSQL.
//!
//! Instances cache authenticated principals and drop them when this channel
//! tells them something changed (ADR 34), whoever made the change: another
//! instance, the command line, or an operator at a SQL prompt. The triggers
//! fire on exactly what authentication reads or looks up by: a session's
//! id, revocation, expiry or owner changed, or the session deleted; a
//! user's id, role or activity changed, or the user deleted; a key's id,
//! digest, revocation, expiry, role or owner changed, or the key deleted. Refreshing a session or recording a key's
//! use notifies nothing. The notification is sent when the transaction
//! commits, and not at all if it rolls back.
//!
//! SQLite has no channel and no cache: nothing to do there.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Each table, and what about its rows authentication reads.
const WATCHED: [(&str, &str); 3] = [
    ("sessions", "id, revoked_at, expires_at, user_id"),
    ("users", "id, role, is_active"),
    (
        "api_keys",
        "id, digest, revoked_at, expires_at, role, created_by",
    ),
];

fn changed(columns: &str) -> String {
    columns
        .split(", ")
        .map(|c| format!("OLD.{c} IS DISTINCT FROM NEW.{c}"))
        .collect::<Vec<_>>()
        .join(" OR ")
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DatabaseBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();
        // `OR REPLACE`: a fresh start drops the tables, not the function.
        db.execute_unprepared(
            "CREATE OR REPLACE FUNCTION kg_notify_principals() RETURNS trigger LANGUAGE plpgsql AS $$ \
             BEGIN PERFORM pg_notify('kg_principals', TG_TABLE_NAME); RETURN NULL; END $$",
        )
        .await?;
        for (table, columns) in WATCHED {
            let when = changed(columns);
            db.execute_unprepared(&format!(
                "CREATE TRIGGER {table}_notify_update AFTER UPDATE ON {table} FOR EACH ROW \
                 WHEN ({when}) EXECUTE FUNCTION kg_notify_principals()"
            ))
            .await?;
            db.execute_unprepared(&format!(
                "CREATE TRIGGER {table}_notify_delete AFTER DELETE OR TRUNCATE ON {table} \
                 FOR EACH STATEMENT EXECUTE FUNCTION kg_notify_principals()"
            ))
            .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DatabaseBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();
        for (table, _) in WATCHED {
            for event in ["update", "delete"] {
                db.execute_unprepared(&format!("DROP TRIGGER {table}_notify_{event} ON {table}"))
                    .await?;
            }
        }
        db.execute_unprepared("DROP FUNCTION kg_notify_principals()")
            .await?;
        Ok(())
    }
}
