//! The relationship repository.

use async_trait::async_trait;
use kg_application::{
    AuditEntry, Conflict, Direction, Page, PageRequest, RelationshipFilter, RelationshipRepository,
    RepoError,
};
use kg_domain::{Relationship, RelationshipId};
use sea_orm::sea_query::{Expr, ExprTrait as _};
use sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};

use crate::audit;
use crate::convert::{relationship_from_row, relationship_to_row};
use crate::entities::{begin_write, lock_live_entities};
use crate::error::{db, unique_as};
use crate::models::relationship;

/// Relationships in the `relationships` table.
#[derive(Debug, Clone)]
pub struct SeaOrmRelationshipRepository {
    db: DatabaseConnection,
}

impl SeaOrmRelationshipRepository {
    /// A repository over `db`.
    #[must_use]
    pub const fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

#[async_trait]
impl RelationshipRepository for SeaOrmRelationshipRepository {
    async fn create(&self, r: &Relationship, entry: &AuditEntry) -> Result<(), RepoError> {
        let txn = begin_write(&self.db).await?;
        let (source, target) = (r.data.ends.source(), r.data.ends.target());
        let live = lock_live_entities(&txn, [source, target]).await?;
        if !live.contains(&source.as_uuid()) {
            return Err(RepoError::Conflict(Conflict::SourceNotLive));
        }
        if !live.contains(&target.as_uuid()) {
            return Err(RepoError::Conflict(Conflict::TargetNotLive));
        }
        relationship::Entity::insert(relationship_to_row(r))
            .exec_without_returning(&txn)
            .await
            .map_err(unique_as(Conflict::DuplicateRelationship))?;
        audit::append(&txn, std::slice::from_ref(entry)).await?;
        txn.commit().await.map_err(db)
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
        if let Some((entity, direction)) = f.touching {
            let id = entity.as_uuid();
            cond = cond.add(match direction {
                Direction::Outgoing => Condition::all().add(C::SourceId.eq(id)),
                Direction::Incoming => Condition::all().add(C::TargetId.eq(id)),
                Direction::Both => Condition::any()
                    .add(C::SourceId.eq(id))
                    .add(C::TargetId.eq(id)),
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
        audit::append(&txn, std::slice::from_ref(entry)).await?;
        txn.commit().await.map_err(db)
    }
}
