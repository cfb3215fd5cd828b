//! The entity repository.

use std::collections::HashSet;
use std::sync::Arc;

use async_trait::async_trait;
use kg_application::{
    AuditAction, AuditEntry, Completion, Conflict, DUPLICATE_CANDIDATES, EntityFilter,
    EntityRepository, NewChange, Page, PageRequest, RepoError, RestoreState, SEARCH_WORDS, fold,
    other_ends, plan_delete, plan_restore, search_words,
};
use kg_domain::{Entity, EntityId, Relationship, RelationshipId, Version};
use sea_orm::sea_query::{Expr, ExprTrait as _, LikeExpr};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseBackend, DatabaseConnection,
    DatabaseTransaction, EntityTrait, FromQueryResult, QueryFilter, QueryOrder, QuerySelect,
};

use crate::changes::{self, Deferred};
use crate::convert::{entity_from_row, entity_to_row, relationship_from_row};
use crate::error::{db, unique_as};
use crate::models::{entity, relationship};
use crate::rows::{new_entity_row, revise_entities, revise_relationships};
use crate::sql::{
    Binds, Executor, begin_write, escape_like, live_end, metadata_equals, prefix_upper_bound,
};

/// Whether the database has `pg_trgm` (migration 11 enables it where it
/// can): asked on each use, so enabling it later takes effect at once.
async fn has_trigrams(conn: &impl ConnectionTrait) -> Result<bool, RepoError> {
    let row = conn
        .query_one_raw(sea_orm::Statement::from_string(
            DatabaseBackend::Postgres,
            "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') AS present",
        ))
        .await
        .map_err(db)?;
    row.map_or(Ok(false), |r| r.try_get::<bool>("", "present").map_err(db))
}

/// Entities in the `entities` table.
#[derive(Debug, Clone)]
pub struct SeaOrmEntityRepository<C = DatabaseConnection> {
    db: C,
    /// Inside a unit of work: where its audit and feed rows wait.
    deferred: Option<Arc<Deferred>>,
}

impl<C> SeaOrmEntityRepository<C> {
    /// A repository over `db`: a connection pool, or a transaction that
    /// each write joins (as a savepoint) instead of opening its own.
    #[must_use]
    pub const fn new(db: C) -> Self {
        Self { db, deferred: None }
    }

    /// A repository writing inside a unit of work's transaction, its audit
    /// and feed rows held back for the work's commit.
    pub(crate) const fn in_work(db: C, deferred: Arc<Deferred>) -> Self {
        Self {
            db,
            deferred: Some(deferred),
        }
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

/// Which entities [`locked_entity`] may find.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Liveness {
    Live,
    Any,
}

/// Reads an entity and locks its row against other writers until the
/// transaction ends (PostgreSQL; SQLite's writer already holds the
/// database's write lock).
///
/// # Errors
/// `NotFound` when there is none (with `Live`, none that is live).
async fn locked_entity(
    txn: &DatabaseTransaction,
    id: EntityId,
    which: Liveness,
) -> Result<Entity, RepoError> {
    let mut query = entity::Entity::find_by_id(id.as_uuid());
    if which == Liveness::Live {
        query = query.filter(entity::Column::DeletedAt.is_null());
    }
    if txn.get_database_backend() == DatabaseBackend::Postgres {
        query = query.lock_exclusive();
    }
    let row = query
        .one(txn)
        .await
        .map_err(db)?
        .ok_or(RepoError::NotFound)?;
    Ok(entity_from_row(row)?)
}

#[async_trait]
impl<C> EntityRepository for SeaOrmEntityRepository<C>
where
    C: Executor,
{
    async fn create(
        &self,
        e: &Entity,
        entry: &AuditEntry,
        completion: Option<&Completion>,
    ) -> Result<(), RepoError> {
        changes::write_one(
            &self.db,
            self.deferred.as_deref(),
            changes::Ending {
                effect: Some((new_entity_row(e), Conflict::ExternalIdTaken)),
                completion: completion.map(|c| (c, entry.at)),
                entries: std::slice::from_ref(entry),
                changes: &[NewChange::entity(AuditAction::Create, e)],
            },
        )
        .await
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
        if let Some(text) = f.name_contains.as_deref().filter(|t| !t.is_empty()) {
            let pattern = format!("%{}%", escape_like(text));
            cond = cond.add(
                Expr::col(entity::Column::NameFolded).like(LikeExpr::new(pattern).escape('\\')),
            );
        }
        if let Some(after) = f.created_after {
            cond = cond.add(entity::Column::CreatedAt.gt(after));
        }
        let backend = self.db.get_database_backend();
        for (key, value) in &f.metadata {
            cond = cond.add(metadata_equals(backend, key.as_str(), value));
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

    async fn duplicate_candidates(&self, of: &Entity) -> Result<Vec<Entity>, RepoError> {
        use entity::Column as E;
        let folded = fold(of.data.name.as_str());
        let backend = self.db.get_database_backend();
        let rows = if backend == DatabaseBackend::Postgres && has_trigrams(&self.db).await? {
            // The trigram index finds every name at pg_trgm's threshold,
            // the likeliest first; a name without trigrams (no letter or
            // digit) is found when it is the same.
            let mut binds = Binds::new(backend);
            let sql = format!(
                "SELECT * FROM entities WHERE deleted_at IS NULL AND kind = {} AND id <> {} \
                 AND (name_folded % {name} OR name_folded = {name}) \
                 ORDER BY similarity(name_folded, {name}) DESC, id \
                 LIMIT {DUPLICATE_CANDIDATES}",
                binds.push(of.data.kind.as_str()),
                binds.push(of.id.as_uuid()),
                name = binds.push(folded.as_str()),
            );
            let found = self
                .db
                .query_all_raw(binds.statement(sql))
                .await
                .map_err(db)?;
            found
                .iter()
                .map(|row| entity::Model::from_query_result(row, "").map_err(db))
                .collect::<Result<Vec<_>, _>>()?
        } else {
            let mut alike = Condition::any().add(E::NameFolded.eq(folded.as_str()));
            for word in search_words(&folded, SEARCH_WORDS) {
                alike = alike.add(Expr::col(E::NameFolded).like(format!("%{word}%")));
            }
            entity::Entity::find()
                .filter(E::DeletedAt.is_null())
                .filter(E::Kind.eq(of.data.kind.as_str()))
                .filter(E::Id.ne(of.id.as_uuid()))
                .filter(alike)
                .order_by_asc(E::Id)
                .limit(DUPLICATE_CANDIDATES)
                .all(&self.db)
                .await
                .map_err(db)?
        };
        Ok(rows
            .into_iter()
            .map(entity_from_row)
            .collect::<Result<Vec<_>, _>>()?)
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
        changes::commit_write(
            txn,
            self.deferred.as_deref(),
            changes::Ending::logs(
                std::slice::from_ref(entry),
                &[NewChange::entity(AuditAction::Update, e)],
            ),
        )
        .await
    }

    async fn soft_delete(
        &self,
        id: EntityId,
        entry: &AuditEntry,
    ) -> Result<Vec<RelationshipId>, RepoError> {
        use relationship::Column as R;
        let txn = begin_write(&self.db).await?;
        let entity = locked_entity(&txn, id, Liveness::Live).await?;
        // The entity row is now locked by this transaction, so no relationship
        // to it can be created concurrently (creation locks both ends). The
        // touching relationships are locked too (PostgreSQL; SQLite has one
        // writer): a concurrent change to one commits before they are read,
        // or waits and then finds it deleted, so the rows written back are
        // never stale.
        // Liveness inside each branch: SQLite plans each side of an OR on
        // its own terms, and uses a partial index over live rows only when
        // that side implies `deleted_at IS NULL`.
        let mut touching = relationship::Entity::find()
            .filter(
                Condition::any()
                    .add(live_end(R::SourceId, id))
                    .add(live_end(R::TargetId, id)),
            )
            .order_by_asc(R::Id);
        if txn.get_database_backend() == DatabaseBackend::Postgres {
            touching = touching.lock_exclusive();
        }
        let touching = touching
            .all(&txn)
            .await
            .map_err(db)?
            .into_iter()
            .map(relationship_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        let writes = plan_delete(&entity, &touching, entry);
        revise_entities(&txn, std::slice::from_ref(&writes.entity)).await?;
        revise_relationships(&txn, &writes.relationships, Some(id)).await?;
        changes::commit_write(
            txn,
            self.deferred.as_deref(),
            changes::Ending::logs(&writes.audit, &writes.changes),
        )
        .await?;
        Ok(writes.relationships.iter().map(|r| r.id).collect())
    }

    async fn restore(
        &self,
        id: EntityId,
        entry: &AuditEntry,
    ) -> Result<(Entity, Vec<Relationship>), RepoError> {
        use relationship::Column as R;
        let txn = begin_write(&self.db).await?;
        let postgres = txn.get_database_backend() == DatabaseBackend::Postgres;
        let entity = locked_entity(&txn, id, Liveness::Any).await?;
        if entity.lifecycle.is_live() {
            return Err(RepoError::Conflict(Conflict::NotDeleted));
        }
        let external_id_holder = match &entity.data.external_id {
            Some(external_id) => entity::Entity::find()
                .select_only()
                .column(entity::Column::Id)
                .filter(entity::Column::ExternalId.eq(external_id.as_str()))
                .filter(entity::Column::DeletedAt.is_null())
                .into_tuple::<uuid::Uuid>()
                .one(&txn)
                .await
                .map_err(db)?
                .map(EntityId::from_uuid),
            None => None,
        };
        // While the entity was deleted no live relationship could touch it,
        // so a cascaded relationship cannot collide with a live one; only
        // its other end may have gone.
        let cascaded = relationship::Entity::find()
            .filter(R::CascadeOf.eq(id.as_uuid()))
            .filter(R::DeletedAt.is_not_null())
            .order_by_asc(R::Id)
            .all(&txn)
            .await
            .map_err(db)?
            .into_iter()
            .map(relationship_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        let others = other_ends(id, &cascaded);
        let live_other_ends: HashSet<EntityId> = if others.is_empty() {
            HashSet::new()
        } else {
            let mut live_query = entity::Entity::find()
                .select_only()
                .column(entity::Column::Id)
                .filter(entity::Column::Id.is_in(others.iter().map(|e| e.as_uuid())))
                .filter(entity::Column::DeletedAt.is_null());
            if postgres {
                live_query = live_query.lock_shared();
            }
            live_query
                .into_tuple::<uuid::Uuid>()
                .all(&txn)
                .await
                .map_err(db)?
                .into_iter()
                .map(EntityId::from_uuid)
                .collect()
        };
        let state = RestoreState {
            entity: &entity,
            cascaded: &cascaded,
            external_id_holder,
            live_other_ends: &live_other_ends,
        };
        let writes = plan_restore(state, entry).map_err(RepoError::RestoreBlocked)?;
        revise_entities(&txn, std::slice::from_ref(&writes.entity)).await?;
        revise_relationships(&txn, &writes.relationships, None).await?;
        changes::commit_write(
            txn,
            self.deferred.as_deref(),
            changes::Ending::logs(&writes.audit, &writes.changes),
        )
        .await?;
        Ok((writes.entity, writes.relationships))
    }
}

/// Ids of the live entities among `ids`, in a write transaction on SQLite,
/// whose writer holds the database's write lock until it ends. (On
/// PostgreSQL a relationship insert's trigger checks and share-locks its
/// ends itself: migration 17.)
pub(crate) async fn live_entities(
    txn: &DatabaseTransaction,
    ids: [EntityId; 2],
) -> Result<Vec<uuid::Uuid>, RepoError> {
    entity::Entity::find()
        .select_only()
        .column(entity::Column::Id)
        .filter(entity::Column::Id.is_in(ids.map(|i| i.as_uuid())))
        .filter(entity::Column::DeletedAt.is_null())
        .into_tuple()
        .all(txn)
        .await
        .map_err(db)
}
