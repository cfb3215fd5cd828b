//! Indexes over live relationships by end, in id order.
//!
//! Every query that finds relationships by their source or target asks for
//! live ones only (`deleted_at IS NULL`): listing by end, an entity's
//! cascade, and traversal, which reads each node's relationships in id
//! order and stops after its share. `(source_id, id)` and `(target_id, id)`
//! become partial indexes over live rows, so that scan is the one plan
//! that fits the query exactly: a planner that has no statistics yet (a
//! table that has just grown by a million rows) cannot prefer another
//! index and a sort, as it did over the whole tables.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Relationships {
    Table,
    Id,
    SourceId,
    TargetId,
    DeletedAt,
}

/// `(old name, new name, end column)`.
const INDEXES: [(&str, &str, Relationships); 2] = [
    (
        "ix_relationships_source",
        "ix_relationships_live_source",
        Relationships::SourceId,
    ),
    (
        "ix_relationships_target",
        "ix_relationships_live_target",
        Relationships::TargetId,
    ),
];

fn drop(name: &str) -> IndexDropStatement {
    Index::drop()
        .name(name)
        .table(Relationships::Table)
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (old, new, end) in INDEXES {
            manager
                .create_index(
                    Index::create()
                        .name(new)
                        .table(Relationships::Table)
                        .col(end)
                        .col(Relationships::Id)
                        .and_where(Expr::col(Relationships::DeletedAt).is_null())
                        .to_owned(),
                )
                .await?;
            manager.drop_index(drop(old)).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (old, new, end) in INDEXES {
            manager
                .create_index(
                    Index::create()
                        .name(old)
                        .table(Relationships::Table)
                        .col(end)
                        .col(Relationships::Id)
                        .to_owned(),
                )
                .await?;
            manager.drop_index(drop(new)).await?;
        }
        Ok(())
    }
}
