//! A keyed request's stored response as one opaque JSON document.
//!
//! The application stores and replays the response the HTTP edge encoded
//! without reading it, so the table keeps it in one `response` column
//! instead of HTTP's status, `Location`, `ETag` and body. Responses stored
//! before this migration are rewritten into the edge's encoding,
//! `{"status", "location", "etag", "body"}`, so they are still replayed
//! within their window; `down` splits them again, and refuses while a
//! stored response is in another shape, which the old columns cannot hold.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseBackend, Statement};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum IdempotencyKeys {
    Table,
    Status,
    Location,
    Etag,
    Body,
    Response,
}

use IdempotencyKeys as K;

/// The columns the response was split into.
const SPLIT: [IdempotencyKeys; 4] = [K::Status, K::Location, K::Etag, K::Body];

fn alter() -> TableAlterStatement {
    Table::alter().table(K::Table).to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                alter()
                    .add_column(ColumnDef::new(K::Response).json_binary().null())
                    .to_owned(),
            )
            .await?;
        let join = match manager.get_database_backend() {
            DatabaseBackend::Postgres => {
                "jsonb_build_object('status', status, 'location', location, 'etag', etag, 'body', body)"
            }
            _ => {
                "json_object('status', status, 'location', location, 'etag', etag, 'body', json(body))"
            }
        };
        manager
            .get_connection()
            .execute_unprepared(&format!(
                "UPDATE idempotency_keys SET response = {join} WHERE status IS NOT NULL"
            ))
            .await?;
        for column in SPLIT {
            manager
                .alter_table(alter().drop_column(column).to_owned())
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // The old columns hold only what the HTTP edge stores. A response of
        // another shape could not be replayed by the old code, which would
        // take its key for abandoned and run the create again: refuse.
        let foreign = match manager.get_database_backend() {
            DatabaseBackend::Postgres => {
                "SELECT COUNT(*) FROM idempotency_keys WHERE response IS NOT NULL AND NOT \
                 coalesce(jsonb_typeof(response->'status') = 'number' \
                 AND (response->>'status') ~ '^[2-5][0-9][0-9]$' AND response ? 'body' \
                 AND coalesce(jsonb_typeof(response->'location'), 'null') IN ('string', 'null') \
                 AND coalesce(jsonb_typeof(response->'etag'), 'null') IN ('string', 'null') \
                 AND length(coalesce(response->>'location', '')) <= 512 \
                 AND length(coalesce(response->>'etag', '')) <= 64, false)"
            }
            _ => {
                "SELECT COUNT(*) FROM idempotency_keys WHERE response IS NOT NULL AND NOT \
                 coalesce(json_type(response, '$.status') = 'integer' \
                 AND json_extract(response, '$.status') BETWEEN 200 AND 599 \
                 AND json_type(response, '$.body') IS NOT NULL \
                 AND coalesce(json_type(response, '$.location'), 'null') IN ('text', 'null') \
                 AND coalesce(json_type(response, '$.etag'), 'null') IN ('text', 'null') \
                 AND length(coalesce(json_extract(response, '$.location'), '')) <= 512 \
                 AND length(coalesce(json_extract(response, '$.etag'), '')) <= 64, 0)"
            }
        };
        let backend = manager.get_database_backend();
        let foreign = manager
            .get_connection()
            .query_one_raw(Statement::from_string(backend, foreign))
            .await?
            .map(|row| row.try_get_by_index::<i64>(0))
            .transpose()?
            .unwrap_or_default();
        if foreign > 0 {
            return Err(DbErr::Migration(format!(
                "{foreign} stored responses are not in the HTTP shape the columns before \
                 migration 15 hold; wait until they expire (24 hours) or delete them, then \
                 roll back again"
            )));
        }
        let columns = [
            ColumnDef::new(K::Status)
                .integer()
                .null()
                .check(
                    Expr::col(K::Status)
                        .is_null()
                        .or(Expr::col(K::Status).between(200, 599)),
                )
                .to_owned(),
            ColumnDef::new(K::Location)
                .string_len(512)
                .null()
                .to_owned(),
            ColumnDef::new(K::Etag).string_len(64).null().to_owned(),
            ColumnDef::new(K::Body).json_binary().null().to_owned(),
        ];
        for column in columns {
            manager
                .alter_table(alter().add_column(column).to_owned())
                .await?;
        }
        let split = match manager.get_database_backend() {
            DatabaseBackend::Postgres => {
                "status = (response->>'status')::integer, location = response->>'location', \
                 etag = response->>'etag', body = response->'body'"
            }
            _ => {
                "status = json_extract(response, '$.status'), \
                 location = json_extract(response, '$.location'), \
                 etag = json_extract(response, '$.etag'), \
                 body = json_extract(response, '$.body')"
            }
        };
        manager
            .get_connection()
            .execute_unprepared(&format!(
                "UPDATE idempotency_keys SET {split} WHERE response IS NOT NULL"
            ))
            .await?;
        manager
            .alter_table(alter().drop_column(K::Response).to_owned())
            .await
    }
}
