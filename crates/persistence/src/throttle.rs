//! Failed-login bookkeeping in the `login_throttle` table.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kg_application::{LoginThrottle, RepoError, ThrottleKey, ThrottlePolicy};
use sea_orm::{
    ConnectionTrait, DatabaseBackend, DatabaseConnection, EntityTrait, QuerySelect, Set,
};

use crate::entities::begin_write;
use crate::error::db;
use crate::models::login_throttle;

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
    async fn locked_until(
        &self,
        key: &ThrottleKey,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, RepoError> {
        let row = login_throttle::Entity::find_by_id(key.as_str())
            .one(&self.db)
            .await
            .map_err(db)?;
        Ok(row
            .and_then(|r| r.locked_until)
            .filter(|until| *until > now))
    }

    async fn record_failure(
        &self,
        key: &ThrottleKey,
        now: DateTime<Utc>,
        policy: &ThrottlePolicy,
    ) -> Result<(), RepoError> {
        let txn = begin_write(&self.db).await?;
        let mut find = login_throttle::Entity::find_by_id(key.as_str());
        if txn.get_database_backend() == DatabaseBackend::Postgres {
            // Concurrent failures for one email are counted one after another.
            find = find.lock_exclusive();
        }
        let previous = find.one(&txn).await.map_err(db)?;
        let count = policy.next_count(
            previous
                .as_ref()
                .map(|r| (u32::try_from(r.failures).unwrap_or(0), r.last_failure_at)),
            now,
        );
        let row = login_throttle::ActiveModel {
            key: Set(key.as_str().to_owned()),
            failures: Set(i32::try_from(count).unwrap_or(i32::MAX)),
            last_failure_at: Set(now),
            locked_until: Set(policy.lock_until(count, now)),
        };
        let write = if previous.is_some() {
            login_throttle::Entity::update(row)
                .exec(&txn)
                .await
                .map(drop)
        } else {
            login_throttle::Entity::insert(row)
                .exec_without_returning(&txn)
                .await
                .map(drop)
        };
        write.map_err(db)?;
        txn.commit().await.map_err(db)
    }

    async fn clear(&self, key: &ThrottleKey) -> Result<(), RepoError> {
        login_throttle::Entity::delete_by_id(key.as_str())
            .exec(&self.db)
            .await
            .map(drop)
            .map_err(db)
    }
}
