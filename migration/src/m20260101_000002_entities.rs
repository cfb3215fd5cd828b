//! Entities.

use sea_orm_migration::prelude::*;

use crate::m20260101_000001_users::Users;
use crate::{Lifecycle, bytewise_text, confidence_column, lifecycle_columns};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
pub(crate) enum Entities {
    Table,
    Id,
    Kind,
    Name,
    ExternalId,
    Confidence,
    Source,
    SourceType,
    Metadata,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        let mut table = Table::create();
        table
            .table(Entities::Table)
            .col(ColumnDef::new(Entities::Id).uuid().not_null().primary_key())
            .col(ColumnDef::new(Entities::Kind).string_len(100).not_null())
            .col(bytewise_text(Entities::Name, backend, 200))
            .col(ColumnDef::new(Entities::ExternalId).string_len(200).null())
            .col(confidence_column(Entities::Confidence))
            .col(ColumnDef::new(Entities::Source).string_len(500).null())
            .col(ColumnDef::new(Entities::SourceType).string_len(100).null())
            .col(ColumnDef::new(Entities::Metadata).json_binary().not_null());
        lifecycle_columns(&mut table);
        for (name, col) in [
            ("fk_entities_created_by", Lifecycle::CreatedBy),
            ("fk_entities_updated_by", Lifecycle::UpdatedBy),
            ("fk_entities_deleted_by", Lifecycle::DeletedBy),
        ] {
            table.foreign_key(
                ForeignKey::create()
                    .name(name)
                    .from(Entities::Table, col)
                    .to(Users::Table, Users::Id),
            );
        }
        manager.create_table(table.to_owned()).await?;

        manager
            .create_index(
                Index::create()
                    .name("ux_entities_live_external_id")
                    .table(Entities::Table)
                    .col(Entities::ExternalId)
                    .unique()
                    .and_where(Expr::col(Lifecycle::DeletedAt).is_null())
                    .to_owned(),
            )
            .await?;
        crate::create_indexes(
            manager,
            Entities::Table,
            vec![
                ("ix_entities_kind", vec![Entities::Kind, Entities::Id]),
                ("ix_entities_name", vec![Entities::Name, Entities::Id]),
                (
                    "ix_entities_source_type",
                    vec![Entities::SourceType, Entities::Id],
                ),
                ("ix_entities_confidence", vec![Entities::Confidence]),
            ],
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Entities::Table).to_owned())
            .await
    }
}
