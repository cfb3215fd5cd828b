//! Batch ingestion in one transaction and a fixed number of statements.

use async_trait::async_trait;
use kg_application::{
    BatchPlanner, BatchReport, BatchRepository, Conflict, RepoError, StoredEntities,
};
use kg_domain::{EntityId, ExternalId};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseBackend, DatabaseConnection,
    DatabaseTransaction, EntityTrait, FromQueryResult, IdenStatic, Iterable, QueryFilter,
    QuerySelect, Statement,
};

use crate::convert::{entity_from_row, entity_to_row, relationship_from_row, relationship_to_row};
use crate::entities::begin_write;
use crate::error::{db, unique_as};
use crate::models::{entity, relationship};
use crate::{changes, idempotency};

/// Applies batches of entities and relationships.
#[derive(Debug, Clone)]
pub struct SeaOrmBatchRepository {
    db: DatabaseConnection,
}

impl SeaOrmBatchRepository {
    /// A repository over `db`.
    #[must_use]
    pub const fn new(db: DatabaseConnection) -> Self {
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

/// Every column of a table but the ones a revision keeps: what an upsert of
/// a changed row overwrites. Counting out, not in, means a column added to
/// the table (a new attribution field) is written without another edit.
fn revisable<C: ColumnTrait + Iterable + IdenStatic>(kept: &[C]) -> Vec<C> {
    C::iter()
        .filter(|c| kept.iter().all(|k| k.as_str() != c.as_str()))
        .collect()
}

#[async_trait]
impl BatchRepository for SeaOrmBatchRepository {
    async fn apply(
        &self,
        planner: &dyn BatchPlanner,
        dry_run: bool,
    ) -> Result<BatchReport, RepoError> {
        use relationship::Column as R;
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
        if !writes.new_entities.is_empty() {
            entity::Entity::insert_many(writes.new_entities.iter().map(entity_to_row))
                .exec_without_returning(&txn)
                .await
                .map_err(unique_as(Conflict::ExternalIdTaken))?;
        }
        if !writes.changed_entities.is_empty() {
            use entity::Column as E;
            entity::Entity::insert_many(writes.changed_entities.iter().map(entity_to_row))
                .on_conflict(
                    OnConflict::column(E::Id)
                        .update_columns(revisable(&[
                            E::Id,
                            E::CreatedAt,
                            E::CreatedBy,
                            E::DeletedAt,
                            E::DeletedBy,
                        ]))
                        .to_owned(),
                )
                .exec_without_returning(&txn)
                .await
                .map_err(unique_as(Conflict::ExternalIdTaken))?;
        }
        if !writes.new_relationships.is_empty() {
            relationship::Entity::insert_many(
                writes.new_relationships.iter().map(relationship_to_row),
            )
            .exec_without_returning(&txn)
            .await
            .map_err(unique_as(Conflict::DuplicateRelationship))?;
        }
        if !writes.changed_relationships.is_empty() {
            relationship::Entity::insert_many(
                writes.changed_relationships.iter().map(relationship_to_row),
            )
            .on_conflict(
                OnConflict::column(R::Id)
                    // The ends and type are the relationship's identity.
                    .update_columns(revisable(&[
                        R::Id,
                        R::SourceId,
                        R::TargetId,
                        R::Kind,
                        R::CascadeOf,
                        R::CreatedAt,
                        R::CreatedBy,
                        R::DeletedAt,
                        R::DeletedBy,
                    ]))
                    .to_owned(),
            )
            .exec_without_returning(&txn)
            .await
            .map_err(db)?;
        }
        let completion = planner.completion(&writes.report);
        idempotency::complete(&txn, completion.as_ref(), chrono::Utc::now()).await?;
        changes::record(&txn, &writes.audit, &writes.changes).await?;
        txn.commit().await.map_err(db)?;
        Ok(writes.report)
    }
}
