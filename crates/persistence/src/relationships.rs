//! The relationship repository.

use async_trait::async_trait;
use kg_application::{
    AuditAction, AuditEntry, AuditTarget, Completion, Conflict, Direction, Expansion, Hop,
    NewChange, Page, PageRequest, RelationshipFilter, RelationshipRepository, RepoError, Scan,
    Step,
};
use kg_domain::{EntityId, Relationship, RelationshipId, Version};
use sea_orm::sea_query::{Expr, ExprTrait as _};
use sea_orm::{
    ActiveValue::NotSet, ColumnTrait, Condition, DatabaseBackend, DatabaseConnection, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, Statement,
};
use sea_orm::{FromQueryResult, IdenStatic as _, Iterable};
use std::sync::Arc;

use crate::changes::{self, Deferred};
use crate::convert::{entity_from_row, relationship_from_row, relationship_to_row};
use crate::entities::live_entities;
use crate::error::{db, unique_as};
use crate::models::{entity, relationship};
use crate::rows::new_relationship_row;
use crate::sql::{Binds, Executor, begin_write, live_end, metadata_equals, stored_version};

/// Relationships in the `relationships` table.
#[derive(Debug, Clone)]
pub struct SeaOrmRelationshipRepository<C = DatabaseConnection> {
    db: C,
    /// Inside a unit of work: where its audit and feed rows wait.
    deferred: Option<Arc<Deferred>>,
}

impl<C> SeaOrmRelationshipRepository<C> {
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

#[async_trait]
impl<C> RelationshipRepository for SeaOrmRelationshipRepository<C>
where
    C: Executor,
{
    async fn create(
        &self,
        r: &Relationship,
        entry: &AuditEntry,
        completion: Option<&Completion>,
    ) -> Result<(), RepoError> {
        let changes = [NewChange::relationship(AuditAction::Create, r)];
        let ending = changes::Ending {
            effect: Some((new_relationship_row(r), Conflict::DuplicateRelationship)),
            completion: completion.map(|c| (c, entry.at)),
            entries: std::slice::from_ref(entry),
            changes: &changes,
        };
        if self.db.get_database_backend() == DatabaseBackend::Postgres {
            // The insert's trigger share-locks both ends and refuses a dead
            // one (migration 17): no read before the write.
            return changes::write_one(&self.db, self.deferred.as_deref(), ending).await;
        }
        let txn = begin_write(&self.db).await?;
        let (source, target) = (r.data.ends.source(), r.data.ends.target());
        let live = live_entities(&txn, [source, target]).await?;
        if !live.contains(&source.as_uuid()) {
            return Err(RepoError::Conflict(Conflict::SourceNotLive));
        }
        if !live.contains(&target.as_uuid()) {
            return Err(RepoError::Conflict(Conflict::TargetNotLive));
        }
        changes::commit_write(txn, self.deferred.as_deref(), ending).await
    }

    async fn get(&self, id: RelationshipId) -> Result<Option<Relationship>, RepoError> {
        let row = relationship::Entity::find_by_id(id.as_uuid())
            .filter(relationship::Column::DeletedAt.is_null())
            .one(&self.db)
            .await
            .map_err(db)?;
        Ok(row.map(relationship_from_row).transpose()?)
    }

    async fn list(
        &self,
        f: &RelationshipFilter,
        page: PageRequest,
    ) -> Result<Page<Relationship>, RepoError> {
        use relationship::Column as C;
        let mut cond = Condition::all().add(C::DeletedAt.is_null());
        if let Some(after) = page.after {
            cond = cond.add(C::Id.gt(after.last_id()));
        }
        if let Some(source) = f.source_id {
            cond = cond.add(C::SourceId.eq(source.as_uuid()));
        }
        if let Some(target) = f.target_id {
            cond = cond.add(C::TargetId.eq(target.as_uuid()));
        }
        if let Some(kind) = &f.kind {
            cond = cond.add(C::Kind.eq(kind.as_str()));
        }
        if let Some(min) = f.min_confidence {
            cond = cond.add(C::Confidence.gte(min.get()));
        }
        if let Some(after) = f.created_after {
            cond = cond.add(C::CreatedAt.gt(after));
        }
        let backend = self.db.get_database_backend();
        for (key, value) in &f.metadata {
            cond = cond.add(metadata_equals(backend, key.as_str(), value));
        }
        if let Some((entity, direction)) = f.touching {
            let id = entity.as_uuid();
            cond = cond.add(match direction {
                Direction::Outgoing => Condition::all().add(C::SourceId.eq(id)),
                Direction::Incoming => Condition::all().add(C::TargetId.eq(id)),
                // Liveness inside each branch, as `live_end` says.
                Direction::Both => Condition::any()
                    .add(live_end(C::SourceId, entity))
                    .add(live_end(C::TargetId, entity)),
            });
        }
        let rows = relationship::Entity::find()
            .filter(cond)
            .order_by_asc(C::Id)
            .limit(u64::from(page.limit.get()) + 1)
            .all(&self.db)
            .await
            .map_err(db)?;
        let items = rows
            .into_iter()
            .map(relationship_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_overfetch(items, page.limit, |r| r.id.as_uuid()))
    }

    async fn soft_delete(&self, id: RelationshipId, entry: &AuditEntry) -> Result<(), RepoError> {
        use relationship::Column as C;
        let txn = begin_write(&self.db).await?;
        let result = relationship::Entity::update_many()
            .col_expr(C::DeletedAt, Expr::value(entry.at))
            .col_expr(C::DeletedBy, Expr::value(entry.actor.as_uuid()))
            .col_expr(C::Version, Expr::col(C::Version).add(1))
            .filter(C::Id.eq(id.as_uuid()))
            .filter(C::DeletedAt.is_null())
            .exec(&txn)
            .await
            .map_err(db)?;
        if result.rows_affected == 0 {
            return Err(RepoError::NotFound);
        }
        let version: i64 = relationship::Entity::find_by_id(id.as_uuid())
            .select_only()
            .column(C::Version)
            .into_tuple()
            .one(&txn)
            .await
            .map_err(db)?
            .ok_or(RepoError::NotFound)?;
        let change = NewChange::deleted(
            AuditTarget::Relationship(id),
            stored_version("relationships", id.as_uuid(), version)?,
            entry.at,
        );
        changes::commit_write(
            txn,
            self.deferred.as_deref(),
            changes::Ending::logs(std::slice::from_ref(entry), &[change]),
        )
        .await
    }

    async fn update(
        &self,
        r: &Relationship,
        expected: Version,
        entry: &AuditEntry,
    ) -> Result<(), RepoError> {
        use relationship::Column as C;
        let txn = begin_write(&self.db).await?;
        let mut row = relationship_to_row(r);
        // Identity, ends, creation and deletion never change through an update.
        row.id = NotSet;
        row.source_id = NotSet;
        row.target_id = NotSet;
        row.created_at = NotSet;
        row.created_by = NotSet;
        row.deleted_at = NotSet;
        row.deleted_by = NotSet;
        row.cascade_of = NotSet;
        let result = relationship::Entity::update_many()
            .set(row)
            .filter(C::Id.eq(r.id.as_uuid()))
            .filter(C::Version.eq(expected.get()))
            .filter(C::DeletedAt.is_null())
            .exec(&txn)
            .await
            .map_err(unique_as(Conflict::DuplicateRelationship))?;
        if result.rows_affected == 0 {
            let live = relationship::Entity::find_by_id(r.id.as_uuid())
                .select_only()
                .column(C::Id)
                .filter(C::DeletedAt.is_null())
                .into_tuple::<uuid::Uuid>()
                .one(&txn)
                .await
                .map_err(db)?;
            return Err(match live {
                Some(_) => RepoError::VersionMismatch,
                None => RepoError::NotFound,
            });
        }
        changes::commit_write(
            txn,
            self.deferred.as_deref(),
            changes::Ending::logs(
                std::slice::from_ref(entry),
                &[NewChange::relationship(AuditAction::Update, r)],
            ),
        )
        .await
    }

    async fn expand(
        &self,
        frontier: &[EntityId],
        step: &Step,
        scan: Scan,
    ) -> Result<Expansion, RepoError> {
        if frontier.is_empty() || scan.take == 0 {
            return Ok(Expansion {
                hops: Vec::new(),
                unexamined: false,
            });
        }
        let backend = self.db.get_database_backend();
        let statement = expand_statement(backend, frontier, step, scan);
        let rows = self.db.query_all_raw(statement).await.map_err(db)?;
        let hops = rows
            .iter()
            .map(|row| {
                let outgoing: i32 = row.try_get("", "outgoing").map_err(db)?;
                let r = relationship::Model::from_query_result(row, "r_").map_err(db)?;
                let far = entity::Model::from_query_result(row, "e_").map_err(db)?;
                Ok(Hop {
                    outgoing: outgoing != 0,
                    relationship: relationship_from_row(r)?,
                    far: entity_from_row(far)?,
                })
            })
            .collect::<Result<Vec<_>, RepoError>>()?;
        // Unfiltered, every relationship read is followed (its ends are
        // live while it is), so a node with more gave `take`.
        let unexamined = if step.is_filtered() {
            self.unexamined(frontier, step, scan, &hops).await?
        } else {
            false
        };
        Ok(Expansion { hops, unexamined })
    }
}

impl<C: Executor> SeaOrmRelationshipRepository<C> {
    /// Whether a (frontier node, direction) that gave fewer than
    /// `scan.take` hops has live relationships past the `scan.examine` it
    /// read: an index probe per such node, which walks its first
    /// `scan.examine + 1` entries.
    async fn unexamined(
        &self,
        frontier: &[EntityId],
        step: &Step,
        scan: Scan,
        hops: &[Hop],
    ) -> Result<bool, RepoError> {
        let mut gave: std::collections::HashMap<(EntityId, bool), u32> =
            std::collections::HashMap::new();
        for hop in hops {
            *gave.entry((hop.near(), hop.outgoing)).or_default() += 1;
        }
        let short: Vec<(&str, Vec<EntityId>)> = step
            .direction
            .ways()
            .iter()
            .map(|&outgoing| {
                let near = if outgoing { "source_id" } else { "target_id" };
                let ids = frontier
                    .iter()
                    .copied()
                    .filter(|&id| {
                        gave.get(&(id, outgoing)).copied().unwrap_or_default() < scan.take
                    })
                    .collect();
                (near, ids)
            })
            .filter(|(_, ids): &(&str, Vec<EntityId>)| !ids.is_empty())
            .collect();
        if short.is_empty() {
            return Ok(false);
        }
        let mut binds = Binds::new(self.db.get_database_backend());
        // The lists first, then the conditions: binds go in text order.
        let lists = short
            .iter()
            .enumerate()
            .map(|(i, (_, ids))| {
                let rows = ids
                    .iter()
                    .map(|id| format!("({})", binds.push(id.as_uuid())))
                    .collect::<Vec<_>>()
                    .join(", ");
                format!("s{i}(id) AS (VALUES {rows})")
            })
            .collect::<Vec<_>>()
            .join(", ");
        let conditions = short
            .iter()
            .enumerate()
            .map(|(i, (near, _))| {
                let skip = binds.push(i64::from(scan.examine));
                format!(
                    "EXISTS (SELECT 1 FROM s{i} WHERE EXISTS (SELECT 1 FROM relationships y \
                     WHERE y.{near} = s{i}.id AND y.deleted_at IS NULL \
                     ORDER BY y.id LIMIT 1 OFFSET {skip}))"
                )
            })
            .collect::<Vec<_>>()
            .join(" OR ");
        let sql = format!("WITH {lists} SELECT ({conditions}) AS unexamined");
        let row = self
            .db
            .query_one_raw(binds.statement(sql))
            .await
            .map_err(db)?;
        let found = row
            .map(|r| {
                r.try_get::<bool>("", "unexamined")
                    .or_else(|_| r.try_get::<i32>("", "unexamined").map(|v| v != 0))
            })
            .transpose()
            .map_err(db)?;
        Ok(found.unwrap_or(false))
    }
}

/// The one statement of a traversal level: for each frontier node and
/// each direction, a scan of that node's live relationships in id order
/// (`(source_id, id)` or `(target_id, id)`, partial indexes over live rows)
/// that stops after `scan.take` whose ends are live and match, each with
/// its far end's columns (the near end is the frontier node). With
/// filters, the scan reads at most `scan.examine` index entries before
/// they apply, so a filter that rejects most of a hub's relationships does
/// not read them all.
///
/// The per-node work sits inside a `LATERAL` subquery on PostgreSQL (a
/// correlated `IN (… LIMIT n)` on SQLite, which has no `LATERAL`), so the
/// only join left to plan is frontier × subquery: a nested loop whatever
/// the statistics say. A plan that joined the ends outside the subquery
/// was once chosen as a quadratic loop on a table that had just grown.
fn expand_statement(
    backend: DatabaseBackend,
    frontier: &[EntityId],
    step: &Step,
    scan: Scan,
) -> Statement {
    let mut binds = Binds::new(backend);
    let rows = frontier
        .iter()
        .map(|id| format!("({})", binds.push(id.as_uuid())))
        .collect::<Vec<_>>()
        .join(", ");
    let columns = relationship::Column::iter()
        .map(|c| format!("x.\"{0}\" AS \"r_{0}\"", c.as_str()))
        .chain(entity::Column::iter().map(|c| format!("e.\"{0}\" AS \"e_{0}\"", c.as_str())))
        .collect::<Vec<_>>()
        .join(", ");
    let parts = step
        .direction
        .ways()
        .iter()
        .map(|&outgoing| {
            let (near, far) = if outgoing {
                ("source_id", "target_id")
            } else {
                ("target_id", "source_id")
            };
            // Binds go in text order: the examined rows come first.
            let source = if step.is_filtered() {
                let examine = binds.push(i64::from(scan.examine));
                format!(
                    "(SELECT x0.* FROM relationships x0 WHERE x0.{near} = f.id \
                     AND x0.deleted_at IS NULL ORDER BY x0.id LIMIT {examine}) x"
                )
            } else {
                "relationships x".to_owned()
            };
            let mut filter = String::new();
            if let Some(kind) = &step.relationship_type {
                filter += &format!(" AND x.kind = {}", binds.push(kind.as_str()));
            }
            if let Some(min) = step.min_confidence {
                filter += &format!(" AND x.confidence >= {}", binds.push(min.get()));
            }
            if let Some(t) = &step.far_type {
                filter += &format!(" AND e.kind = {}", binds.push(t.as_str()));
            }
            let limit = binds.push(i64::from(scan.take));
            let flag = i32::from(outgoing);
            let ends = format!(
                "JOIN entities n ON n.id = x.{near} AND n.deleted_at IS NULL \
                 JOIN entities e ON e.id = x.{far} AND e.deleted_at IS NULL"
            );
            let read = format!(
                "FROM {source} {ends} \
                 WHERE x.{near} = f.id AND x.deleted_at IS NULL{filter} \
                 ORDER BY x.id LIMIT {limit}"
            );
            match backend {
                DatabaseBackend::Postgres => format!(
                    "SELECT o.* FROM f CROSS JOIN LATERAL \
                     (SELECT {flag} AS outgoing, {columns} {read}) o"
                ),
                _ => format!(
                    "SELECT {flag} AS outgoing, {columns} FROM f \
                     JOIN relationships x ON x.id IN (SELECT x.id {read}) \
                     JOIN entities e ON e.id = x.{far}"
                ),
            }
        })
        .collect::<Vec<_>>()
        .join(" UNION ALL ");
    binds.statement(format!("WITH f(id) AS (VALUES {rows}) {parts}"))
}
