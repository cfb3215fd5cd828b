//! A keyed request's stored response as one opaque JSON document.
//!
//! The application stores and replays the response the HTTP edge encoded
//! without reading it, so the table keeps it in one `response` column
//! instead of HTTP's status, `Location`, `ETag` and body. Responses stored
//! before this migration are rewritten into the edge's encoding,
//! `{"status", "location", "etag", "body"}`, so they are still replayed
//! within their window; `down` splits them again.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseBackend};

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
