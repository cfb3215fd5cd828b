//! Failed-login bookkeeping in the `login_throttle` table.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kg_application::{LoginThrottle, RepoError, ThrottleKey, ThrottlePolicy};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseConnection, DbErr, EntityTrait,
    QueryFilter, QuerySelect, Set,
};

use crate::error::db;
use crate::models::login_throttle;
use crate::sql::begin_write;

/// Login throttling shared by every instance through the database.
#[derive(Debug, Clone)]
pub struct SeaOrmLoginThrottle {
    db: DatabaseConnection,
}

impl SeaOrmLoginThrottle {
    /// A throttle over `db`.
    #[must_use]
    pub const fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

#[async_trait]
impl LoginThrottle for SeaOrmLoginThrottle {
    async fn begin_attempt(
        &self,
        key: &ThrottleKey,
        now: DateTime<Utc>,
        policy: &ThrottlePolicy,
    ) -> Result<Option<DateTime<Utc>>, RepoError> {
        use login_throttle::Column as C;
        let txn = begin_write(&self.db).await?;
        // Make sure the row exists, so that on PostgreSQL the row lock below
        // serialises concurrent attempts even for a first failure. The
        // placeholder's failure lies outside any window, so it counts as none.
        let placeholder = login_throttle::ActiveModel {
            key: Set(key.as_str().to_owned()),
            failures: Set(1),
            last_failure_at: Set(DateTime::<Utc>::UNIX_EPOCH),
            locked_until: Set(None),
        };
        let inserted = login_throttle::Entity::insert(placeholder)
            .on_conflict(OnConflict::column(C::Key).do_nothing().to_owned())
            .exec_without_returning(&txn)
            .await;
        match inserted {
            Ok(_) | Err(DbErr::RecordNotInserted) => {}
            Err(e) => return Err(db(e)),
        }
        let mut find = login_throttle::Entity::find_by_id(key.as_str());
        if txn.get_database_backend() == DatabaseBackend::Postgres {
            find = find.lock_exclusive();
        }
        let row = find.one(&txn).await.map_err(db)?;
        if let Some(until) = row
            .as_ref()
            .and_then(|r| r.locked_until)
            .filter(|u| *u > now)
        {
            txn.commit().await.map_err(db)?;
            return Ok(Some(until));
        }
        let previous = row.map(|r| (u32::try_from(r.failures).unwrap_or(0), r.last_failure_at));
        let count = policy.next_count(previous, now);
        login_throttle::Entity::update_many()
            .col_expr(
                C::Failures,
                Expr::value(i32::try_from(count).unwrap_or(i32::MAX)),
            )
            .col_expr(C::LastFailureAt, Expr::value(now))
            .col_expr(C::LockedUntil, Expr::value(policy.lock_until(count, now)))
            .filter(C::Key.eq(key.as_str()))
            .exec(&txn)
            .await
            .map_err(db)?;
        txn.commit().await.map_err(db)?;
        Ok(None)
    }

    async fn clear(&self, key: &ThrottleKey) -> Result<(), RepoError> {
        login_throttle::Entity::delete_by_id(key.as_str())
            .exec(&self.db)
            .await
            .map(drop)
            .map_err(db)
    }
}
