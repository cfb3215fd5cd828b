//! Idempotency keys: the first response to a keyed create, stored with the
//! effect, per principal, for 24 hours.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum IdempotencyKeys {
    Table,
    Principal,
    Key,
    Fingerprint,
    Status,
    Location,
    Etag,
    Body,
    CreatedAt,
    LockedUntil,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use IdempotencyKeys as K;
        manager
            .create_table(
                Table::create()
                    .table(K::Table)
                    .col(ColumnDef::new(K::Principal).string_len(64).not_null())
                    .col(ColumnDef::new(K::Key).string_len(255).not_null())
                    .col(ColumnDef::new(K::Fingerprint).binary_len(32).not_null())
                    .col(
                        ColumnDef::new(K::Status).integer().null().check(
                            Expr::col(K::Status)
                                .is_null()
                                .or(Expr::col(K::Status).between(200, 599)),
                        ),
                    )
                    .col(ColumnDef::new(K::Location).string_len(512).null())
                    .col(ColumnDef::new(K::Etag).string_len(64).null())
                    .col(ColumnDef::new(K::Body).json_binary().null())
                    .col(
                        ColumnDef::new(K::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(K::LockedUntil)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .primary_key(Index::create().col(K::Principal).col(K::Key))
                    .to_owned(),
            )
            .await?;
        crate::create_indexes(
            manager,
            K::Table,
            vec![("ix_idempotency_keys_created_at", vec![K::CreatedAt])],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(IdempotencyKeys::Table).to_owned())
            .await
    }
}
