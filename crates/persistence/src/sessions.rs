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

/// Records `digest` as a token of session `id`, issued at `at`: spent at
/// `spent_at` if given, and issued for `parent` (the token it replaced).
async fn record(
    txn: &sea_orm::DatabaseTransaction,
    id: SessionId,
    digest: &TokenDigest,
    at: DateTime<Utc>,
    spent_at: Option<DateTime<Utc>>,
    parent: Option<Vec<u8>>,
) -> Result<(), RepoError> {
    let row = refresh_token::ActiveModel {
        digest: Set(digest.as_bytes().to_vec()),
        session_id: Set(id.as_uuid()),
        issued_at: Set(at),
        spent_at: Set(spent_at),
        graced_at: Set(None),
        parent: Set(parent),
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
        record(&txn, s.id, &s.refresh_digest, s.created_at, None, None).await?;
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
        grace_since: Option<DateTime<Utc>>,
    ) -> Result<Rotation, RepoError> {
        use refresh_token::Column as T;
        use session::Column as C;
        let txn = begin_write(&self.db).await?;
        // The session's row is locked (PostgreSQL; SQLite has one writer):
        // rotations of one session, and its revocation, go one at a time.
        let current = session::Entity::find_by_id(id.as_uuid())
            .select_only()
            .column(C::RefreshDigest)
            .filter(C::RevokedAt.is_null())
            .lock_exclusive()
            .into_tuple::<Vec<u8>>()
            .one(&txn)
            .await
            .map_err(db)?;
        let Some(current) = current else {
            txn.rollback().await.map_err(db)?;
            return Ok(Rotation::NoSession);
        };
        let presented_bytes = presented.as_bytes().to_vec();
        let token = refresh_token::Entity::find_by_id(presented_bytes.clone())
            .filter(T::SessionId.eq(id.as_uuid()))
            .one(&txn)
            .await
            .map_err(db)?;
        let (outcome, parent) = match token {
            // The session's current digest with no row: a token rotated by
            // an instance that predates the record. It is current, so it
            // rotates, and is recorded as spent.
            None if current == presented_bytes => {
                record(&txn, id, presented, now, Some(now), None).await?;
                (Rotation::Rotated, presented_bytes)
            }
            None => {
                txn.rollback().await.map_err(db)?;
                return Ok(Rotation::NotIssued);
            }
            Some(t) if t.spent_at.is_none() => {
                refresh_token::Entity::update_many()
                    .col_expr(T::SpentAt, Expr::value(now))
                    .filter(T::Digest.eq(presented_bytes.clone()))
                    .exec(&txn)
                    .await
                    .map_err(db)?;
                // The other answer of a double refresh is spent with it,
                // and may not be graced: presented, it is reuse.
                if let Some(parent) = &t.parent {
                    refresh_token::Entity::update_many()
                        .col_expr(T::SpentAt, Expr::value(now))
                        .col_expr(T::GracedAt, Expr::value(now))
                        .filter(T::SessionId.eq(id.as_uuid()))
                        .filter(T::Parent.eq(parent.clone()))
                        .filter(T::Digest.ne(presented_bytes.clone()))
                        .filter(T::SpentAt.is_null())
                        .exec(&txn)
                        .await
                        .map_err(db)?;
                }
                (Rotation::Rotated, presented_bytes)
            }
            Some(t)
                if t.graced_at.is_none()
                    && grace_since
                        .is_some_and(|since| t.spent_at.is_some_and(|at| at >= since)) =>
            {
                refresh_token::Entity::update_many()
                    .col_expr(T::GracedAt, Expr::value(now))
                    .filter(T::Digest.eq(presented_bytes.clone()))
                    .exec(&txn)
                    .await
                    .map_err(db)?;
                // A sibling of the answer the first presentation got.
                (Rotation::Graced, presented_bytes)
            }
            Some(_) => {
                session::Entity::update_many()
                    .col_expr(C::RevokedAt, Expr::value(now))
                    .filter(C::Id.eq(id.as_uuid()))
                    .exec(&txn)
                    .await
                    .map_err(db)?;
                txn.commit().await.map_err(db)?;
                return Ok(Rotation::ReuseDetected);
            }
        };
        record(&txn, id, next, now, None, Some(parent)).await?;
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
