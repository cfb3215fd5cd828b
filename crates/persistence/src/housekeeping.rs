//! Purging rows past their use, a bounded chunk per statement.

use async_trait::async_trait;
use kg_application::{Housekeeping, PurgeRules, Purged, RepoError};
use sea_orm::sea_query::{Expr, ExprTrait as _};
use sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, EntityTrait, QueryFilter, QuerySelect,
    QueryTrait as _,
};

use crate::error::db;
use crate::models::{login_throttle, refresh_token, session};

/// Rows one statement deletes at most, so that no purge holds locks (or
/// SQLite's one writer) for long, however much has piled up.
const CHUNK: u64 = 5000;

/// Purges in the service's own database.
#[derive(Debug, Clone)]
pub struct SeaOrmHousekeeping {
    db: DatabaseConnection,
}

impl SeaOrmHousekeeping {
    /// A purger over `db`.
    #[must_use]
    pub const fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }

    /// Sessions that can no longer be used: expired, idle past the policy,
    /// or revoked.
    fn dead_sessions(rules: &PurgeRules) -> Condition {
        use session::Column as C;
        Condition::any()
            .add(C::ExpiresAt.lt(rules.now))
            .add(C::LastUsedAt.lt(rules.idle_before))
            .add(C::RevokedAt.is_not_null())
    }

    /// Runs `chunk` until it deletes fewer than [`CHUNK`] rows; the total.
    async fn in_chunks<F, Fut>(chunk: F) -> Result<u64, RepoError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<u64, sea_orm::DbErr>>,
    {
        let mut total = 0;
        loop {
            let n = chunk().await.map_err(db)?;
            total += n;
            if n < CHUNK {
                return Ok(total);
            }
        }
    }
}

#[async_trait]
impl Housekeeping for SeaOrmHousekeeping {
    async fn purge(&self, rules: &PurgeRules) -> Result<Purged, RepoError> {
        use login_throttle::Column as L;
        use refresh_token::Column as T;
        use session::Column as S;
        let db = &self.db;
        // The tokens of dead sessions and tokens spent long ago, then the
        // sessions (whose tokens would go with them anyway).
        let refresh_tokens = Self::in_chunks(|| async {
            let dead = session::Entity::find()
                .select_only()
                .column(S::Id)
                .filter(Self::dead_sessions(rules))
                .into_query();
            let doomed = refresh_token::Entity::find()
                .select_only()
                .column(T::Digest)
                .filter(
                    Condition::any()
                        .add(T::SessionId.in_subquery(dead))
                        .add(T::SpentAt.lt(rules.spent_before)),
                )
                .limit(CHUNK)
                .into_query();
            refresh_token::Entity::delete_many()
                .filter(Expr::col(T::Digest).in_subquery(doomed))
                .exec(db)
                .await
                .map(|r| r.rows_affected)
        })
        .await?;
        let sessions = Self::in_chunks(|| async {
            let doomed = session::Entity::find()
                .select_only()
                .column(S::Id)
                .filter(Self::dead_sessions(rules))
                .limit(CHUNK)
                .into_query();
            session::Entity::delete_many()
                .filter(Expr::col(S::Id).in_subquery(doomed))
                .exec(db)
                .await
                .map(|r| r.rows_affected)
        })
        .await?;
        let throttle_rows = Self::in_chunks(|| async {
            let doomed = login_throttle::Entity::find()
                .select_only()
                .column(L::Key)
                .filter(L::LastFailureAt.lt(rules.failure_before))
                .filter(
                    Condition::any()
                        .add(L::LockedUntil.is_null())
                        .add(L::LockedUntil.lt(rules.now)),
                )
                .limit(CHUNK)
                .into_query();
            login_throttle::Entity::delete_many()
                .filter(Expr::col(L::Key).in_subquery(doomed))
                .exec(db)
                .await
                .map(|r| r.rows_affected)
        })
        .await?;
        Ok(Purged {
            sessions,
            refresh_tokens,
            throttle_rows,
        })
    }
}
