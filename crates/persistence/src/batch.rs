//! Batch ingestion in one transaction and a fixed number of statements.

use async_trait::async_trait;
use kg_application::{BatchPlanner, BatchReport, BatchRepository, RepoError, StoredEntities};
use kg_domain::{EntityId, ExternalId};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseBackend, DatabaseConnection,
    DatabaseTransaction, EntityTrait, FromQueryResult, QueryFilter, QuerySelect, Statement,
};

use crate::changes;
use crate::convert::{entity_from_row, relationship_from_row};
use crate::error::db;
use crate::models::{entity, relationship};
use crate::rows::{insert_entities, insert_relationships, revise_entities, revise_relationships};
use crate::sql::{Executor, begin_write};

/// Applies batches of entities and relationships.
#[derive(Debug, Clone)]
pub struct SeaOrmBatchRepository<C = DatabaseConnection> {
    db: C,
}

impl<C> SeaOrmBatchRepository<C> {
    /// A repository over `db`: a connection pool, or a transaction that
    /// each write joins (as a savepoint) instead of opening its own.
    #[must_use]
    pub const fn new(db: C) -> Self {
        Self { db }
    }
}

/// Reads the live entities a batch names, locking them on PostgreSQL.
async fn stored_entities(
    txn: &DatabaseTransaction,
    external_ids: &[ExternalId],
    ids: &[EntityId],
) -> Result<StoredEntities, RepoError> {
    let mut stored = StoredEntities::default();
    if external_ids.is_empty() && ids.is_empty() {
        return Ok(stored);
    }
    let mut query = entity::Entity::find()
        .filter(entity::Column::DeletedAt.is_null())
        .filter(
            Condition::any()
                .add(entity::Column::ExternalId.is_in(external_ids.iter().map(ExternalId::as_str)))
                .add(entity::Column::Id.is_in(ids.iter().map(|i| i.as_uuid()))),
        );
    if txn.get_database_backend() == DatabaseBackend::Postgres {
        query = query.lock_exclusive();
    }
    for row in query.all(txn).await.map_err(db)? {
        let e = entity_from_row(row)?;
        if ids.contains(&e.id) {
            stored.live_ids.insert(e.id);
            stored.by_id.insert(e.id, e.clone());
        }
        if let Some(x) = e.data.external_id.clone()
            && external_ids.contains(&x)
        {
            stored.by_external_id.insert(x, e);
        }
    }
    Ok(stored)
}

#[async_trait]
impl<C> BatchRepository for SeaOrmBatchRepository<C>
where
    C: Executor,
{
    async fn apply(
        &self,
        planner: &dyn BatchPlanner,
        dry_run: bool,
    ) -> Result<BatchReport, RepoError> {
        let txn = begin_write(&self.db).await?;
        let postgres = txn.get_database_backend() == DatabaseBackend::Postgres;
        let (external_ids, ids) = planner.lookup();
        let stored = stored_entities(&txn, &external_ids, &ids).await?;
        let keys = planner
            .relationship_keys(&stored)
            .map_err(RepoError::Invalid)?;
        let mut existing = Vec::new();
        if !keys.is_empty() {
            // One row-value list rather than a chain of ORs, which SQLite
            // would refuse as too deep past a few hundred keys.
            let backend = txn.get_database_backend();
            let rows = (0..keys.len())
                .map(|i| match backend {
                    DatabaseBackend::Postgres => {
                        format!("(${}, ${}, ${})", 3 * i + 1, 3 * i + 2, 3 * i + 3)
                    }
                    _ => "(?, ?, ?)".to_owned(),
                })
                .collect::<Vec<_>>()
                .join(", ");
            let values: Vec<sea_orm::Value> = keys
                .iter()
                .flat_map(|(s, t, kind)| {
                    [
                        s.as_uuid().into(),
                        t.as_uuid().into(),
                        kind.as_str().to_owned().into(),
                    ]
                })
                .collect();
            let lock = if postgres { " FOR UPDATE" } else { "" };
            let sql = format!(
                "SELECT * FROM relationships WHERE deleted_at IS NULL \
                 AND (source_id, target_id, kind) IN (VALUES {rows}){lock}"
            );
            let found = txn
                .query_all_raw(Statement::from_sql_and_values(backend, sql, values))
                .await
                .map_err(db)?;
            for row in &found {
                let model = relationship::Model::from_query_result(row, "").map_err(db)?;
                existing.push(relationship_from_row(model)?);
            }
        }
        let writes = planner.plan(&stored, &keys, &existing);
        if dry_run {
            txn.rollback().await.map_err(db)?;
            return Ok(writes.report);
        }
        insert_entities(&txn, &writes.new_entities).await?;
        revise_entities(&txn, &writes.changed_entities).await?;
        insert_relationships(&txn, &writes.new_relationships).await?;
        revise_relationships(&txn, &writes.changed_relationships, None).await?;
        let completion = planner.completion(&writes.report);
        changes::commit_write(
            txn,
            None,
            changes::Ending {
                effect: None,
                completion: completion.as_ref().map(|c| (c, chrono::Utc::now())),
                entries: &writes.audit,
                changes: &writes.changes,
            },
        )
        .await?;
        Ok(writes.report)
    }
}
