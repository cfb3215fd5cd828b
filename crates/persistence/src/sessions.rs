//! The session repository.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kg_application::{RepoError, Rotation, SessionRepository};
use kg_domain::{Session, SessionId, TokenDigest, User, UserId};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, JoinType, QueryFilter, QuerySelect, Set,
};

use crate::convert::user_from_row;
use crate::error::{CorruptRow, db};
use crate::models::{session, user};
use crate::sql::begin_write;

/// Sessions in the `sessions` table.
#[derive(Debug, Clone)]
pub struct SeaOrmSessionRepository {
    db: DatabaseConnection,
}

impl SeaOrmSessionRepository {
    /// A repository over `db`.
    #[must_use]
    pub const fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

fn from_row(m: session::Model) -> Result<Session, CorruptRow> {
    let digest: [u8; 32] = m
        .refresh_digest
        .as_slice()
        .try_into()
        .map_err(|_| CorruptRow {
            table: "sessions",
            id: m.id,
            reason: "refresh_digest is not 32 bytes".to_owned(),
        })?;
    Ok(Session {
        id: SessionId::from_uuid(m.id),
        user_id: UserId::from_uuid(m.user_id),
        refresh_digest: TokenDigest::from_bytes(digest),
        created_at: m.created_at,
        last_used_at: m.last_used_at,
        expires_at: m.expires_at,
        revoked_at: m.revoked_at,
    })
}

#[async_trait]
impl SessionRepository for SeaOrmSessionRepository {
    async fn create(&self, s: &Session) -> Result<(), RepoError> {
        let row = session::ActiveModel {
            id: Set(s.id.as_uuid()),
            user_id: Set(s.user_id.as_uuid()),
            refresh_digest: Set(s.refresh_digest.as_bytes().to_vec()),
            created_at: Set(s.created_at),
            last_used_at: Set(s.last_used_at),
            expires_at: Set(s.expires_at),
            revoked_at: Set(s.revoked_at),
        };
        session::Entity::insert(row)
            .exec_without_returning(&self.db)
            .await
            .map(drop)
            .map_err(db)
    }

    async fn get_with_user(&self, id: SessionId) -> Result<Option<(Session, User)>, RepoError> {
        let row = session::Entity::find_by_id(id.as_uuid())
            .join(
                JoinType::InnerJoin,
                session::Entity::belongs_to(user::Entity)
                    .from(session::Column::UserId)
                    .to(user::Column::Id)
                    .into(),
            )
            .select_also(user::Entity)
            .one(&self.db)
            .await
            .map_err(db)?;
        match row {
            Some((session, Some(user))) => Ok(Some((from_row(session)?, user_from_row(user)?))),
            Some((_, None)) | None => Ok(None),
        }
    }

    async fn rotate(
        &self,
        id: SessionId,
        presented: &TokenDigest,
        next: &TokenDigest,
        now: DateTime<Utc>,
    ) -> Result<Rotation, RepoError> {
        use session::Column as C;
        let txn = begin_write(&self.db).await?;
        // Compare-and-set: only the holder of the current token advances it.
        let swapped = session::Entity::update_many()
            .col_expr(C::RefreshDigest, Expr::value(next.as_bytes().to_vec()))
            .col_expr(C::LastUsedAt, Expr::value(now))
            .filter(C::Id.eq(id.as_uuid()))
            .filter(C::RefreshDigest.eq(presented.as_bytes().to_vec()))
            .filter(C::RevokedAt.is_null())
            .exec(&txn)
            .await
            .map_err(db)?;
        let outcome = if swapped.rows_affected == 1 {
            Rotation::Rotated
        } else {
            // Not the current token of a live session: revoke the family, if live.
            let revoked = session::Entity::update_many()
                .col_expr(C::RevokedAt, Expr::value(now))
                .filter(C::Id.eq(id.as_uuid()))
                .filter(C::RevokedAt.is_null())
                .exec(&txn)
                .await
                .map_err(db)?;
            if revoked.rows_affected == 1 {
                Rotation::ReuseDetected
            } else {
                Rotation::NoSession
            }
        };
        txn.commit().await.map_err(db)?;
        Ok(outcome)
    }

    async fn revoke(&self, id: SessionId, now: DateTime<Utc>) -> Result<(), RepoError> {
        use session::Column as C;
        session::Entity::update_many()
            .col_expr(C::RevokedAt, Expr::value(now))
            .filter(C::Id.eq(id.as_uuid()))
            .filter(C::RevokedAt.is_null())
            .exec(&self.db)
            .await
            .map(drop)
            .map_err(db)
    }
}
