//! Writing audit rows inside the caller's transaction.

use kg_application::{AuditEntry, RepoError};
use sea_orm::{ActiveValue::NotSet, ConnectionTrait, EntityTrait, Set};

use crate::error::db;
use crate::models::audit_log;

fn row(entry: &AuditEntry) -> audit_log::ActiveModel {
    audit_log::ActiveModel {
        id: NotSet,
        occurred_at: Set(entry.at),
        actor_id: Set(entry.actor.as_uuid()),
        action: Set(entry.action.as_str().to_owned()),
        target_type: Set(entry.target.kind().to_owned()),
        target_id: Set(entry.target.id()),
        request_id: Set(entry.request_id.clone()),
        changes: Set(entry.changes.clone()),
    }
}

/// Appends `entries` with one statement.
pub(crate) async fn append(
    conn: &impl ConnectionTrait,
    entries: &[AuditEntry],
) -> Result<(), RepoError> {
    if entries.is_empty() {
        return Ok(());
    }
    audit_log::Entity::insert_many(entries.iter().map(row))
        .exec_without_returning(conn)
        .await
        .map(drop)
        .map_err(db)
}
