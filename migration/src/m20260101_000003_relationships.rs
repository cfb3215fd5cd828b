//! Relationships.

use sea_orm_migration::prelude::*;

use crate::m20260101_000001_users::Users;
use crate::m20260101_000002_entities::Entities;
use crate::{Lifecycle, confidence_column, lifecycle_columns};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Relationships {
    Table,
    Id,
    SourceId,
    TargetId,
    Kind,
    Confidence,
    Source,
    SourceType,
    Metadata,
    /// The entity whose deletion soft-deleted this relationship, so that
    /// restoring the entity restores exactly these.
    CascadeOf,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let mut table = Table::create();
        table
            .table(Relationships::Table)
            .col(
                ColumnDef::new(Relationships::Id)
                    .uuid()
                    .not_null()
                    .primary_key(),
            )
            .col(ColumnDef::new(Relationships::SourceId).uuid().not_null())
            .col(ColumnDef::new(Relationships::TargetId).uuid().not_null())
            .col(
                ColumnDef::new(Relationships::Kind)
                    .string_len(100)
                    .not_null(),
            )
            .col(confidence_column(Relationships::Confidence))
            .col(ColumnDef::new(Relationships::Source).string_len(500).null())
            .col(
                ColumnDef::new(Relationships::SourceType)
                    .string_len(100)
                    .null(),
            )
            .col(
                ColumnDef::new(Relationships::Metadata)
                    .json_binary()
                    .not_null(),
            )
            .col(ColumnDef::new(Relationships::CascadeOf).uuid().null())
            .check((
                "ck_relationships_no_self_loop",
                Expr::col(Relationships::SourceId).ne(Expr::col(Relationships::TargetId)),
            ));
        lifecycle_columns(&mut table);
        table
            .foreign_key(
                ForeignKey::create()
                    .name("fk_relationships_source")
                    .from(Relationships::Table, Relationships::SourceId)
                    .to(Entities::Table, Entities::Id),
            )
            .foreign_key(
                ForeignKey::create()
                    .name("fk_relationships_target")
                    .from(Relationships::Table, Relationships::TargetId)
                    .to(Entities::Table, Entities::Id),
            )
            .foreign_key(
                ForeignKey::create()
                    .name("fk_relationships_cascade_of")
                    .from(Relationships::Table, Relationships::CascadeOf)
                    .to(Entities::Table, Entities::Id),
            );
        for (name, col) in [
            ("fk_relationships_created_by", Lifecycle::CreatedBy),
            ("fk_relationships_updated_by", Lifecycle::UpdatedBy),
            ("fk_relationships_deleted_by", Lifecycle::DeletedBy),
        ] {
            table.foreign_key(
                ForeignKey::create()
                    .name(name)
                    .from(Relationships::Table, col)
                    .to(Users::Table, Users::Id),
            );
        }
        manager.create_table(table.to_owned()).await?;

        manager
            .create_index(
                Index::create()
                    .name("ux_relationships_live_edge")
                    .table(Relationships::Table)
                    .col(Relationships::SourceId)
                    .col(Relationships::TargetId)
                    .col(Relationships::Kind)
                    .unique()
                    .and_where(Expr::col(Lifecycle::DeletedAt).is_null())
                    .to_owned(),
            )
            .await?;
        crate::create_indexes(
            manager,
            Relationships::Table,
            vec![
                (
                    "ix_relationships_source",
                    vec![Relationships::SourceId, Relationships::Id],
                ),
                (
                    "ix_relationships_target",
                    vec![Relationships::TargetId, Relationships::Id],
                ),
                (
                    "ix_relationships_kind",
                    vec![Relationships::Kind, Relationships::Id],
                ),
                (
                    "ix_relationships_cascade_of",
                    vec![Relationships::CascadeOf],
                ),
            ],
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Relationships::Table).to_owned())
            .await
    }
}
