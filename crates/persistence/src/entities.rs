//! The entity repository.

use async_trait::async_trait;
use kg_application::{
    AuditAction, AuditEntry, AuditTarget, Conflict, EntityFilter, EntityRepository, Page,
    PageRequest, RepoError,
};
use kg_domain::{Entity, EntityId, RelationshipId, Version};
use sea_orm::sea_query::{Expr, ExprTrait as _};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseBackend, DatabaseConnection,
    DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder, QuerySelect, SqliteTransactionMode,
    TransactionOptions, TransactionTrait,
};
use serde_json::json;

use crate::audit;
use crate::convert::{entity_from_row, entity_to_row};
use crate::error::{db, unique_as};
use crate::models::{entity, relationship};

/// Begins a transaction for a write. On SQLite it takes the write lock at
/// once (`BEGIN IMMEDIATE`), waiting up to the busy timeout, so a
/// transaction never fails half-way trying to upgrade a read lock.
pub(crate) async fn begin_write(
    conn: &DatabaseConnection,
) -> Result<DatabaseTransaction, RepoError> {
    let options = TransactionOptions {
        sqlite_transaction_mode: (conn.get_database_backend() == DatabaseBackend::Sqlite)
            .then_some(SqliteTransactionMode::Immediate),
        ..TransactionOptions::default()
    };
    conn.begin_with_options(options).await.map_err(db)
}

/// The smallest string greater than every string that starts with `prefix`
/// in byte order, or `None` when there is none (all `char::MAX`).
pub(crate) fn prefix_upper_bound(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let next = (u32::from(last) + 1..=u32::from(char::MAX)).find_map(char::from_u32);
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// Entities in the `entities` table.
#[derive(Debug, Clone)]
pub struct SeaOrmEntityRepository {
    db: DatabaseConnection,
}

impl SeaOrmEntityRepository {
    /// A repository over `db`.
    #[must_use]
    pub const fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

async fn live_version(conn: &impl ConnectionTrait, id: EntityId) -> Result<Option<i64>, RepoError> {
    entity::Entity::find_by_id(id.as_uuid())
        .select_only()
        .column(entity::Column::Version)
        .filter(entity::Column::DeletedAt.is_null())
        .into_tuple::<i64>()
        .one(conn)
        .await
        .map_err(db)
}

#[async_trait]
impl EntityRepository for SeaOrmEntityRepository {
    async fn create(&self, e: &Entity, entry: &AuditEntry) -> Result<(), RepoError> {
        let txn = begin_write(&self.db).await?;
        entity::Entity::insert(entity_to_row(e))
            .exec_without_returning(&txn)
            .await
            .map_err(unique_as(Conflict::ExternalIdTaken))?;
        audit::append(&txn, std::slice::from_ref(entry)).await?;
        txn.commit().await.map_err(db)
    }

    async fn get(&self, id: EntityId) -> Result<Option<Entity>, RepoError> {
        let row = entity::Entity::find_by_id(id.as_uuid())
            .filter(entity::Column::DeletedAt.is_null())
            .one(&self.db)
            .await
            .map_err(db)?;
        Ok(row.map(entity_from_row).transpose()?)
    }

    async fn list(&self, f: &EntityFilter, page: PageRequest) -> Result<Page<Entity>, RepoError> {
        let mut cond = Condition::all().add(entity::Column::DeletedAt.is_null());
        if let Some(after) = page.after {
            cond = cond.add(entity::Column::Id.gt(after.last_id()));
        }
        if let Some(kind) = &f.kind {
            cond = cond.add(entity::Column::Kind.eq(kind.as_str()));
        }
        if let Some(source_type) = &f.source_type {
            cond = cond.add(entity::Column::SourceType.eq(source_type.as_str()));
        }
        if let Some(min) = f.min_confidence {
            cond = cond.add(entity::Column::Confidence.gte(min.get()));
        }
        if let Some(prefix) = f.name_prefix.as_deref().filter(|p| !p.is_empty()) {
            // A byte-order range, served by the name index on both databases
            // (the column is C-collated on PostgreSQL), with no LIKE wildcards to escape.
            cond = cond.add(entity::Column::Name.gte(prefix));
            if let Some(upper) = prefix_upper_bound(prefix) {
                cond = cond.add(entity::Column::Name.lt(upper));
            }
        }
        let rows = entity::Entity::find()
            .filter(cond)
            .order_by_asc(entity::Column::Id)
            .limit(u64::from(page.limit.get()) + 1)
            .all(&self.db)
            .await
            .map_err(db)?;
        let items = rows
            .into_iter()
            .map(entity_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_overfetch(items, page.limit, |e| e.id.as_uuid()))
    }

    async fn update(
        &self,
        e: &Entity,
        expected: Version,
        entry: &AuditEntry,
    ) -> Result<(), RepoError> {
        let txn = begin_write(&self.db).await?;
        let mut row = entity_to_row(e);
        // Identity and creation never change through an update.
        row.id = sea_orm::ActiveValue::NotSet;
        row.created_at = sea_orm::ActiveValue::NotSet;
        row.created_by = sea_orm::ActiveValue::NotSet;
        let result = entity::Entity::update_many()
            .set(row)
            .filter(entity::Column::Id.eq(e.id.as_uuid()))
            .filter(entity::Column::Version.eq(expected.get()))
            .filter(entity::Column::DeletedAt.is_null())
            .exec(&txn)
            .await
            .map_err(unique_as(Conflict::ExternalIdTaken))?;
        if result.rows_affected == 0 {
            return Err(match live_version(&txn, e.id).await? {
                Some(_) => RepoError::VersionMismatch,
                None => RepoError::NotFound,
            });
        }
        audit::append(&txn, std::slice::from_ref(entry)).await?;
        txn.commit().await.map_err(db)
    }

    async fn soft_delete(
        &self,
        id: EntityId,
        entry: &AuditEntry,
    ) -> Result<Vec<RelationshipId>, RepoError> {
        let txn = begin_write(&self.db).await?;
        let deleted = entity::Entity::update_many()
            .col_expr(entity::Column::DeletedAt, Expr::value(entry.at))
            .col_expr(
                entity::Column::DeletedBy,
                Expr::value(entry.actor.as_uuid()),
            )
            .col_expr(
                entity::Column::Version,
                Expr::col(entity::Column::Version).add(1),
            )
            .filter(entity::Column::Id.eq(id.as_uuid()))
            .filter(entity::Column::DeletedAt.is_null())
            .exec(&txn)
            .await
            .map_err(db)?;
        if deleted.rows_affected == 0 {
            return Err(RepoError::NotFound);
        }
        // The entity row is now locked by this transaction, so no relationship
        // to it can be created concurrently (creation locks both ends).
        let cascaded: Vec<uuid::Uuid> = relationship::Entity::find()
            .select_only()
            .column(relationship::Column::Id)
            .filter(relationship::Column::DeletedAt.is_null())
            .filter(
                Condition::any()
                    .add(relationship::Column::SourceId.eq(id.as_uuid()))
                    .add(relationship::Column::TargetId.eq(id.as_uuid())),
            )
            .order_by_asc(relationship::Column::Id)
            .into_tuple()
            .all(&txn)
            .await
            .map_err(db)?;
        if !cascaded.is_empty() {
            relationship::Entity::update_many()
                .col_expr(relationship::Column::DeletedAt, Expr::value(entry.at))
                .col_expr(
                    relationship::Column::DeletedBy,
                    Expr::value(entry.actor.as_uuid()),
                )
                .col_expr(relationship::Column::CascadeOf, Expr::value(id.as_uuid()))
                .col_expr(
                    relationship::Column::Version,
                    Expr::col(relationship::Column::Version).add(1),
                )
                .filter(relationship::Column::Id.is_in(cascaded.iter().copied()))
                .exec(&txn)
                .await
                .map_err(db)?;
        }
        let entries: Vec<AuditEntry> = std::iter::once(entry.clone())
            .chain(cascaded.iter().map(|rid| AuditEntry {
                actor: entry.actor,
                action: AuditAction::Delete,
                target: AuditTarget::Relationship(RelationshipId::from_uuid(*rid)),
                request_id: entry.request_id.clone(),
                at: entry.at,
                changes: json!({ "cascade_of": id.to_string() }),
            }))
            .collect();
        audit::append(&txn, &entries).await?;
        txn.commit().await.map_err(db)?;
        Ok(cascaded
            .into_iter()
            .map(RelationshipId::from_uuid)
            .collect())
    }
}

/// Ids of the live entities among `ids`, locking them against concurrent
/// deletion until the transaction ends (PostgreSQL; SQLite's writer already
/// holds the database write lock).
pub(crate) async fn lock_live_entities(
    txn: &DatabaseTransaction,
    ids: [EntityId; 2],
) -> Result<Vec<uuid::Uuid>, RepoError> {
    let mut query = entity::Entity::find()
        .select_only()
        .column(entity::Column::Id)
        .filter(entity::Column::Id.is_in(ids.map(|i| i.as_uuid())))
        .filter(entity::Column::DeletedAt.is_null());
    if txn.get_database_backend() == DatabaseBackend::Postgres {
        query = query.lock_shared();
    }
    query.into_tuple().all(txn).await.map_err(db)
}

#[cfg(test)]
mod tests {
    use super::prefix_upper_bound;

    #[test]
    fn the_prefix_bound_is_the_next_string_in_byte_order() {
        assert_eq!(prefix_upper_bound("abc").as_deref(), Some("abd"));
        assert_eq!(prefix_upper_bound("a\u{10FFFF}").as_deref(), Some("b"));
        assert_eq!(prefix_upper_bound("\u{10FFFF}"), None);
        // U+D7FF is followed by U+E000: surrogates are not chars.
        assert_eq!(prefix_upper_bound("\u{D7FF}").as_deref(), Some("\u{E000}"));
    }
}
