//! The session repository.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kg_application::{RepoError, Rotation, SessionRepository};
use kg_domain::{Session, SessionId, TokenDigest, User, UserId};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, EntityTrait, JoinType, QueryFilter, QuerySelect,
    Set,
};

use crate::convert::user_from_row;
use crate::error::{CorruptRow, db};
use crate::models::{refresh_token, session, user};
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

/// Records `digest` as an unspent token of session `id`.
async fn issue(
    txn: &sea_orm::DatabaseTransaction,
    id: SessionId,
    digest: &TokenDigest,
    at: DateTime<Utc>,
) -> Result<(), RepoError> {
    let row = refresh_token::ActiveModel {
        digest: Set(digest.as_bytes().to_vec()),
        session_id: Set(id.as_uuid()),
        issued_at: Set(at),
        spent_at: Set(None),
        graced_at: Set(None),
    };
    refresh_token::Entity::insert(row)
        .exec_without_returning(txn)
        .await
        .map(drop)
        .map_err(db)
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
        let txn = begin_write(&self.db).await?;
        session::Entity::insert(row)
            .exec_without_returning(&txn)
            .await
            .map_err(db)?;
        issue(&txn, s.id, &s.refresh_digest, s.created_at).await?;
        txn.commit().await.map_err(db)
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
        grace_since: DateTime<Utc>,
    ) -> Result<Rotation, RepoError> {
        use refresh_token::Column as T;
        use session::Column as C;
        let txn = begin_write(&self.db).await?;
        let live = session::Entity::find_by_id(id.as_uuid())
            .select_only()
            .column(C::Id)
            .filter(C::RevokedAt.is_null())
            .into_tuple::<uuid::Uuid>()
            .one(&txn)
            .await
            .map_err(db)?
            .is_some();
        if !live {
            return Ok(Rotation::NoSession);
        }
        let presented_bytes = presented.as_bytes().to_vec();
        let of_this_token = || {
            Condition::all()
                .add(T::Digest.eq(presented_bytes.clone()))
                .add(T::SessionId.eq(id.as_uuid()))
        };
        // Compare-and-set: of two rotations of one unspent token, one spends it.
        let spent = refresh_token::Entity::update_many()
            .col_expr(T::SpentAt, Expr::value(now))
            .filter(of_this_token())
            .filter(T::SpentAt.is_null())
            .exec(&txn)
            .await
            .map_err(db)?;
        let outcome = if spent.rows_affected == 1 {
            Rotation::Rotated
        } else {
            // Spent within the grace and never graced: once more, the same way.
            let graced = refresh_token::Entity::update_many()
                .col_expr(T::GracedAt, Expr::value(now))
                .filter(of_this_token())
                .filter(T::SpentAt.gte(grace_since))
                .filter(T::GracedAt.is_null())
                .exec(&txn)
                .await
                .map_err(db)?;
            if graced.rows_affected == 1 {
                Rotation::Graced
            } else {
                let issued = refresh_token::Entity::find()
                    .select_only()
                    .column(T::SessionId)
                    .filter(of_this_token())
                    .into_tuple::<uuid::Uuid>()
                    .one(&txn)
                    .await
                    .map_err(db)?
                    .is_some();
                if !issued {
                    // Never issued by this session (a forgery, or another
                    // session's): refused, and nothing else happens.
                    txn.rollback().await.map_err(db)?;
                    return Ok(Rotation::NotIssued);
                }
                session::Entity::update_many()
                    .col_expr(C::RevokedAt, Expr::value(now))
                    .filter(C::Id.eq(id.as_uuid()))
                    .filter(C::RevokedAt.is_null())
                    .exec(&txn)
                    .await
                    .map_err(db)?;
                txn.commit().await.map_err(db)?;
                return Ok(Rotation::ReuseDetected);
            }
        };
        issue(&txn, id, next, now).await?;
        session::Entity::update_many()
            .col_expr(C::RefreshDigest, Expr::value(next.as_bytes().to_vec()))
            .col_expr(C::LastUsedAt, Expr::value(now))
            .filter(C::Id.eq(id.as_uuid()))
            .exec(&txn)
            .await
            .map_err(db)?;
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
