//! Idempotency keys: claims, stored responses, purging.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kg_application::{
    Claim, Completion, IdempotencyStore, IdempotentRequest, RepoError, StoredResponse,
};
use sea_orm::sea_query::{InsertStatement, OnConflict};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseConnection, EntityTrait, QueryFilter,
    QuerySelect, QueryTrait as _, Set, SqlErr,
};

use crate::error::db;
use crate::models::idempotency_key::{self, Column as K};
use crate::sql::begin_write;

/// Idempotency keys in the `idempotency_keys` table.
#[derive(Debug, Clone)]
pub struct SeaOrmIdempotencyStore {
    db: DatabaseConnection,
}

impl SeaOrmIdempotencyStore {
    /// A store over `db`.
    #[must_use]
    pub const fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

fn row_filter(request: &IdempotentRequest) -> sea_orm::Condition {
    sea_orm::Condition::all()
        .add(K::Principal.eq(request.principal.as_str()))
        .add(K::Key.eq(request.key.as_str()))
}

/// The statement that stores a keyed request's response; run with the
/// effect, in its transaction, so the two are durable together.
pub(crate) fn completion_statement(c: &Completion, now: DateTime<Utc>) -> InsertStatement {
    idempotency_key::Entity::insert(idempotency_key::ActiveModel {
        principal: Set(c.request.principal.clone()),
        key: Set(c.request.key.as_str().to_owned()),
        fingerprint: Set(c.request.fingerprint.to_vec()),
        response: Set(Some(c.response.as_value().clone())),
        created_at: Set(now),
        locked_until: Set(now),
    })
    .on_conflict(
        OnConflict::columns([K::Principal, K::Key])
            .update_columns([K::Fingerprint, K::Response, K::CreatedAt, K::LockedUntil])
            .to_owned(),
    )
    .into_query()
}

#[async_trait]
impl IdempotencyStore for SeaOrmIdempotencyStore {
    async fn claim(
        &self,
        request: &IdempotentRequest,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        window_start: DateTime<Utc>,
    ) -> Result<Claim, RepoError> {
        let txn = begin_write(&self.db).await?;
        let mut query = idempotency_key::Entity::find().filter(row_filter(request));
        if txn.get_database_backend() == DatabaseBackend::Postgres {
            query = query.lock_exclusive();
        }
        let existing = query.one(&txn).await.map_err(db)?;
        let claimed = idempotency_key::ActiveModel {
            principal: Set(request.principal.clone()),
            key: Set(request.key.as_str().to_owned()),
            fingerprint: Set(request.fingerprint.to_vec()),
            response: Set(None),
            created_at: Set(now),
            locked_until: Set(lease_until),
        };
        let outcome = match existing {
            Some(row) if row.created_at >= window_start => {
                let same = row.fingerprint == request.fingerprint;
                match row.response {
                    Some(response) if same => Claim::Replay(StoredResponse::new(response)),
                    Some(_) => Claim::Mismatch,
                    None if row.locked_until > now => {
                        if same {
                            Claim::InFlight
                        } else {
                            Claim::Mismatch
                        }
                    }
                    None => {
                        // The first request's process died: take the key over.
                        idempotency_key::Entity::update(claimed)
                            .exec(&txn)
                            .await
                            .map_err(db)?;
                        Claim::Proceed
                    }
                }
            }
            Some(_) => {
                // Past the window: the key is free again.
                idempotency_key::Entity::update(claimed)
                    .exec(&txn)
                    .await
                    .map_err(db)?;
                Claim::Proceed
            }
            None => match idempotency_key::Entity::insert(claimed)
                .exec_without_returning(&txn)
                .await
            {
                Ok(_) => Claim::Proceed,
                // A concurrent claim of the same key won the insert.
                Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
                    return Ok(Claim::InFlight);
                }
                Err(e) => return Err(db(e)),
            },
        };
        txn.commit().await.map_err(db)?;
        Ok(outcome)
    }

    async fn release(&self, request: &IdempotentRequest) -> Result<(), RepoError> {
        idempotency_key::Entity::delete_many()
            .filter(row_filter(request))
            .filter(K::Response.is_null())
            .filter(K::Fingerprint.eq(request.fingerprint.to_vec()))
            .exec(&self.db)
            .await
            .map(drop)
            .map_err(db)
    }

    async fn purge(&self, before: DateTime<Utc>) -> Result<u64, RepoError> {
        idempotency_key::Entity::delete_many()
            .filter(K::CreatedAt.lt(before))
            .filter(K::LockedUntil.lt(before))
            .exec(&self.db)
            .await
            .map(|r| r.rows_affected)
            .map_err(db)
    }
}
