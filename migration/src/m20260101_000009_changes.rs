//! The change feed: one row for every create, update, delete and restore of
//! an entity or a relationship.
//!
//! As first made, writers appended their rows as the last statement of
//! their transaction under a transaction-scoped advisory lock, so `seq`
//! values became visible strictly in order (ADR 12). Migration 13 replaced
//! that queue with positions given after commit (ADR 28).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Changes {
    Table,
    Seq,
    OccurredAt,
    ResourceType,
    ResourceId,
    Action,
    Version,
    Data,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Changes::Table)
                    .col(
                        ColumnDef::new(Changes::Seq)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(Changes::OccurredAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Changes::ResourceType)
                            .string_len(16)
                            .not_null()
                            .check(
                                Expr::col(Changes::ResourceType).is_in(["entity", "relationship"]),
                            ),
                    )
                    .col(ColumnDef::new(Changes::ResourceId).uuid().not_null())
                    .col(
                        ColumnDef::new(Changes::Action)
                            .string_len(16)
                            .not_null()
                            .check(
                                Expr::col(Changes::Action)
                                    .is_in(["create", "update", "delete", "restore"]),
                            ),
                    )
                    .col(
                        ColumnDef::new(Changes::Version)
                            .big_integer()
                            .not_null()
                            .check(Expr::col(Changes::Version).gte(1)),
                    )
                    .col(ColumnDef::new(Changes::Data).json_binary().null())
                    .to_owned(),
            )
            .await?;
        crate::append_only(manager, "changes").await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Changes::Table).to_owned())
            .await?;
        crate::drop_append_only(manager, "changes").await
    }
}
