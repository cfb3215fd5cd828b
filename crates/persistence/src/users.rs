//! The user repository.

use async_trait::async_trait;
use kg_application::{AuditEntry, Conflict, Page, PageRequest, RepoError, UserRepository};
use kg_domain::{Email, PasswordHash, Role, SessionId, User, UserId, Version};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};

use crate::audit;
use crate::convert::{user_from_row, user_to_row};
use crate::error::{db, unique_as};
use crate::models::{session, user};
use crate::sql::begin_write;

/// Users in the `users` table.
#[derive(Debug, Clone)]
pub struct SeaOrmUserRepository {
    db: DatabaseConnection,
}

impl SeaOrmUserRepository {
    /// A repository over `db`.
    #[must_use]
    pub const fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

#[async_trait]
impl UserRepository for SeaOrmUserRepository {
    async fn create(&self, u: &User, entry: Option<&AuditEntry>) -> Result<(), RepoError> {
        let txn = begin_write(&self.db).await?;
        user::Entity::insert(user_to_row(u))
            .exec_without_returning(&txn)
            .await
            .map_err(unique_as(Conflict::EmailTaken))?;
        audit::append(&txn, entry.map(std::slice::from_ref).unwrap_or_default()).await?;
        txn.commit().await.map_err(db)
    }

    async fn get(&self, id: UserId) -> Result<Option<User>, RepoError> {
        let row = user::Entity::find_by_id(id.as_uuid())
            .one(&self.db)
            .await
            .map_err(db)?;
        Ok(row.map(user_from_row).transpose()?)
    }

    async fn find_by_email(&self, email: &Email) -> Result<Option<User>, RepoError> {
        let row = user::Entity::find()
            .filter(user::Column::Email.eq(email.as_str()))
            .one(&self.db)
            .await
            .map_err(db)?;
        Ok(row.map(user_from_row).transpose()?)
    }

    async fn list(&self, page: PageRequest) -> Result<Page<User>, RepoError> {
        let mut query = user::Entity::find()
            .order_by_asc(user::Column::Id)
            .limit(u64::from(page.limit.get()) + 1);
        if let Some(after) = page.after {
            query = query.filter(user::Column::Id.gt(after.last_id()));
        }
        let rows = query.all(&self.db).await.map_err(db)?;
        let users = rows
            .into_iter()
            .map(user_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_overfetch(users, page.limit, |u| u.id.as_uuid()))
    }

    async fn update(
        &self,
        u: &User,
        expected: Version,
        end_sessions: bool,
        entry: &AuditEntry,
    ) -> Result<(), RepoError> {
        use user::Column as C;
        let txn = begin_write(&self.db).await?;
        let active_admins = || {
            user::Entity::find()
                .select_only()
                .column(C::Id)
                .filter(C::Role.eq(Role::Admin.as_str()))
                .filter(C::IsActive.eq(true))
        };
        // Lock the active admins first (PostgreSQL), so two concurrent
        // demotions cannot each believe the other admin remains.
        if txn.get_database_backend() == DatabaseBackend::Postgres {
            active_admins()
                .lock_exclusive()
                .into_tuple::<uuid::Uuid>()
                .all(&txn)
                .await
                .map_err(db)?;
        }
        let updated = user::Entity::update_many()
            .col_expr(C::Role, Expr::value(u.role.as_str()))
            .col_expr(C::IsActive, Expr::value(u.is_active))
            .col_expr(C::UpdatedAt, Expr::value(u.updated_at))
            .col_expr(C::Version, Expr::value(u.version.get()))
            .filter(C::Id.eq(u.id.as_uuid()))
            .filter(C::Version.eq(expected.get()))
            .exec(&txn)
            .await
            .map_err(db)?;
        if updated.rows_affected == 0 {
            let exists = user::Entity::find_by_id(u.id.as_uuid())
                .one(&txn)
                .await
                .map_err(db)?
                .is_some();
            return Err(if exists {
                RepoError::VersionMismatch
            } else {
                RepoError::NotFound
            });
        }
        if active_admins()
            .into_tuple::<uuid::Uuid>()
            .all(&txn)
            .await
            .map_err(db)?
            .is_empty()
        {
            return Err(RepoError::Conflict(Conflict::LastActiveAdmin));
        }
        if end_sessions {
            session::Entity::update_many()
                .col_expr(session::Column::RevokedAt, Expr::value(entry.at))
                .filter(session::Column::UserId.eq(u.id.as_uuid()))
                .filter(session::Column::RevokedAt.is_null())
                .exec(&txn)
                .await
                .map_err(db)?;
        }
        audit::append(&txn, std::slice::from_ref(entry)).await?;
        txn.commit().await.map_err(db)
    }

    async fn replace_password_hash(
        &self,
        id: UserId,
        previous: &PasswordHash,
        hash: &PasswordHash,
        entry: &AuditEntry,
    ) -> Result<bool, RepoError> {
        let txn = begin_write(&self.db).await?;
        // Compare-and-set: a password changed meanwhile is not overwritten.
        let updated = user::Entity::update_many()
            .col_expr(user::Column::PasswordHash, Expr::value(hash.as_str()))
            .filter(user::Column::Id.eq(id.as_uuid()))
            .filter(user::Column::PasswordHash.eq(previous.as_str()))
            .exec(&txn)
            .await
            .map_err(db)?;
        if updated.rows_affected == 0 {
            return Ok(false);
        }
        audit::append(&txn, std::slice::from_ref(entry)).await?;
        txn.commit().await.map_err(db)?;
        Ok(true)
    }

    async fn set_password(
        &self,
        id: UserId,
        hash: &PasswordHash,
        keep: Option<SessionId>,
        entry: &AuditEntry,
    ) -> Result<(), RepoError> {
        let txn = begin_write(&self.db).await?;
        let updated = user::Entity::update_many()
            .col_expr(user::Column::PasswordHash, Expr::value(hash.as_str()))
            .col_expr(user::Column::UpdatedAt, Expr::value(entry.at))
            .filter(user::Column::Id.eq(id.as_uuid()))
            .exec(&txn)
            .await
            .map_err(db)?;
        if updated.rows_affected == 0 {
            return Err(RepoError::NotFound);
        }
        let mut others = session::Entity::update_many()
            .col_expr(session::Column::RevokedAt, Expr::value(entry.at))
            .filter(session::Column::UserId.eq(id.as_uuid()))
            .filter(session::Column::RevokedAt.is_null());
        if let Some(keep) = keep {
            others = others.filter(session::Column::Id.ne(keep.as_uuid()));
        }
        others.exec(&txn).await.map_err(db)?;
        audit::append(&txn, std::slice::from_ref(entry)).await?;
        txn.commit().await.map_err(db)
    }
}
