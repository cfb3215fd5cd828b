//! The audit log: rows written inside the caller's transaction, and read
//! back with filters.

use async_trait::async_trait;
use kg_application::{
    AuditEntry, AuditFilter, AuditLog, AuditRecord, Limit, Position, RepoError, StoredJson,
};
use kg_domain::UserId;
use sea_orm::sea_query::InsertStatement;
use sea_orm::{
    ActiveValue::NotSet, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait,
    FromQueryResult, QueryFilter, QueryOrder, QuerySelect, QueryTrait as _, Set,
};

use crate::error::db;
use crate::json_text::JsonText;
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

/// The statements that append `entries`, [`crate::rows::LOG_ROWS_PER_STATEMENT`]
/// rows each.
pub(crate) fn append_statements(entries: &[AuditEntry]) -> Vec<InsertStatement> {
    entries
        .chunks(crate::rows::LOG_ROWS_PER_STATEMENT)
        .map(|chunk| audit_log::Entity::insert_many(chunk.iter().map(row)).into_query())
        .collect()
}

/// Appends `entries`.
pub(crate) async fn append(
    conn: &impl ConnectionTrait,
    entries: &[AuditEntry],
) -> Result<(), RepoError> {
    for statement in append_statements(entries) {
        conn.execute(&statement).await.map_err(db)?;
    }
    Ok(())
}

/// An audit row as it is read: its changes kept as text.
#[derive(Debug, FromQueryResult)]
struct AuditRow {
    id: i64,
    occurred_at: chrono::DateTime<chrono::Utc>,
    actor_id: uuid::Uuid,
    action: String,
    target_type: String,
    target_id: uuid::Uuid,
    request_id: Option<String>,
    changes: JsonText,
}

/// The audit log in the `audit_log` table. It only reads: the table refuses
/// updates and deletes by trigger.
#[derive(Debug, Clone)]
pub struct SeaOrmAuditLog {
    db: DatabaseConnection,
}

impl SeaOrmAuditLog {
    /// A log over `db`.
    #[must_use]
    pub const fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

#[async_trait]
impl AuditLog for SeaOrmAuditLog {
    async fn list(
        &self,
        f: &AuditFilter,
        after: Position,
        limit: Limit,
    ) -> Result<(Vec<AuditRecord>, Option<Position>), RepoError> {
        use audit_log::Column as C;
        let mut cond = Condition::all().add(C::Id.gt(after.get()));
        if let Some(actor) = f.actor {
            cond = cond.add(C::ActorId.eq(actor.as_uuid()));
        }
        if let Some(target) = f.target_id {
            cond = cond.add(C::TargetId.eq(target));
        }
        if let Some(kind) = &f.target_type {
            cond = cond.add(C::TargetType.eq(kind.as_str()));
        }
        if let Some(action) = &f.action {
            cond = cond.add(C::Action.eq(action.as_str()));
        }
        if let Some(from) = f.from {
            cond = cond.add(C::OccurredAt.gte(from));
        }
        if let Some(until) = f.until {
            cond = cond.add(C::OccurredAt.lt(until));
        }
        let mut rows = audit_log::Entity::find()
            .filter(cond)
            .order_by_asc(C::Id)
            .limit(u64::from(limit.get()) + 1)
            .into_model::<AuditRow>()
            .all(&self.db)
            .await
            .map_err(db)?;
        let more = rows.len() > usize::from(limit.get());
        rows.truncate(usize::from(limit.get()));
        let next = more
            .then(|| rows.last().map(|r| Position::after(r.id)))
            .flatten();
        let items = rows
            .into_iter()
            .map(|r| AuditRecord {
                seq: r.id,
                actor: UserId::from_uuid(r.actor_id),
                action: r.action,
                target_type: r.target_type,
                target_id: r.target_id,
                request_id: r.request_id,
                at: r.occurred_at,
                changes: StoredJson::new(r.changes.0),
            })
            .collect();
        Ok((items, next))
    }
}
