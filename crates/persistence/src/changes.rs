//! The change feed: appending in commit order, and reading it back.

use async_trait::async_trait;
use kg_application::{
    AuditAction, AuditEntry, AuditTarget, Change, ChangeFeed, ChangePage, Completion, FeedRequest,
    NewChange, Position, RepoError,
};
use kg_domain::{EntityId, RelationshipId, Version};
use sea_orm::{
    ActiveValue::NotSet, ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseConnection,
    DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set, Statement,
};

use crate::error::{CorruptRow, db};
use crate::models::change;
use crate::{audit, idempotency};

/// The advisory lock that orders appends to the feed on PostgreSQL.
const FEED_LOCK: i64 = 0x6b67_5f63_6861_6e67;

/// Stores the audit rows and change-feed rows of one write. It must be the
/// last thing a write transaction does before committing: on PostgreSQL it
/// takes the feed's transaction-scoped advisory lock, held until commit, so
/// a `seq` is only drawn once every smaller one is committed or abandoned.
async fn record(
    conn: &impl ConnectionTrait,
    entries: &[AuditEntry],
    changes: &[NewChange],
) -> Result<(), RepoError> {
    audit::append(conn, entries).await?;
    if changes.is_empty() {
        return Ok(());
    }
    if conn.get_database_backend() == DatabaseBackend::Postgres {
        conn.execute_raw(Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            "SELECT pg_advisory_xact_lock($1)",
            [FEED_LOCK.into()],
        ))
        .await
        .map_err(db)?;
    }
    // One statement after another under the lock: `seq` follows `changes`.
    for chunk in changes.chunks(crate::rows::ROWS_PER_STATEMENT) {
        change::Entity::insert_many(chunk.iter().map(|c| change::ActiveModel {
            seq: NotSet,
            occurred_at: Set(c.at),
            resource_type: Set(c.resource.kind().to_owned()),
            resource_id: Set(c.resource.id()),
            action: Set(c.action.as_str().to_owned()),
            version: Set(c.version.get()),
            data: Set(c.data.clone()),
        }))
        .exec_without_returning(conn)
        .await
        .map_err(db)?;
    }
    Ok(())
}

/// The audit and change-feed rows of a unit of work's writes, held back
/// until the work commits. On PostgreSQL the feed's ordering lock is then
/// taken once, last, as in any write, instead of by the work's first write
/// and held while later ones take row locks (which could deadlock against
/// an ordinary write holding such a row and waiting for the lock).
#[derive(Debug, Default)]
pub(crate) struct Deferred(std::sync::Mutex<(Vec<AuditEntry>, Vec<NewChange>)>);

impl Deferred {
    fn push(&self, entries: &[AuditEntry], changes: &[NewChange]) {
        let mut held = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        held.0.extend_from_slice(entries);
        held.1.extend_from_slice(changes);
    }

    /// Records what the work's writes held back, as the last thing before
    /// the work commits.
    pub(crate) async fn record(&self, conn: &impl ConnectionTrait) -> Result<(), RepoError> {
        let (entries, changes) = std::mem::take(
            &mut *self
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        record(conn, &entries, &changes).await
    }
}

/// The end of every graph write: the keyed request's response (if any,
/// stored as of `completed_at`), the audit and change-feed rows (last, for
/// the feed's order), and the commit. Inside a unit of work (`deferred`)
/// the audit and feed rows are held back for the work's commit instead,
/// once this write's savepoint is released.
pub(crate) async fn commit_write(
    txn: DatabaseTransaction,
    deferred: Option<&Deferred>,
    completion: Option<(&Completion, chrono::DateTime<chrono::Utc>)>,
    entries: &[AuditEntry],
    changes: &[NewChange],
) -> Result<(), RepoError> {
    if let Some((completion, completed_at)) = completion {
        idempotency::complete(&txn, Some(completion), completed_at).await?;
    }
    match deferred {
        Some(deferred) => {
            txn.commit().await.map_err(db)?;
            deferred.push(entries, changes);
            Ok(())
        }
        None => {
            record(&txn, entries, changes).await?;
            txn.commit().await.map_err(db)
        }
    }
}

fn from_row(m: change::Model) -> Result<Change, CorruptRow> {
    let corrupt = |reason: &str| CorruptRow {
        table: "changes",
        id: m.resource_id,
        reason: reason.to_owned(),
    };
    let resource = match m.resource_type.as_str() {
        "entity" => AuditTarget::Entity(EntityId::from_uuid(m.resource_id)),
        "relationship" => AuditTarget::Relationship(RelationshipId::from_uuid(m.resource_id)),
        _ => return Err(corrupt("resource_type is unknown")),
    };
    let action = AuditAction::parse(&m.action).ok_or_else(|| corrupt("action is unknown"))?;
    let version =
        Version::from_stored(m.version).ok_or_else(|| corrupt("version must be at least 1"))?;
    Ok(Change {
        seq: m.seq,
        at: m.occurred_at,
        resource,
        action,
        version,
        data: m.data,
    })
}

/// The change feed in the `changes` table.
#[derive(Debug, Clone)]
pub struct SeaOrmChangeFeed {
    db: DatabaseConnection,
}

impl SeaOrmChangeFeed {
    /// A feed over `db`.
    #[must_use]
    pub const fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

#[async_trait]
impl ChangeFeed for SeaOrmChangeFeed {
    async fn read(&self, request: FeedRequest) -> Result<ChangePage, RepoError> {
        let rows = change::Entity::find()
            .filter(change::Column::Seq.gt(request.after.get()))
            .order_by_asc(change::Column::Seq)
            .limit(u64::from(request.limit.get()))
            .all(&self.db)
            .await
            .map_err(db)?;
        let items = rows
            .into_iter()
            .map(from_row)
            .collect::<Result<Vec<_>, _>>()?;
        let next = items
            .last()
            .map_or(request.after, |c| Position::after(c.seq));
        Ok(ChangePage { items, next })
    }
}
