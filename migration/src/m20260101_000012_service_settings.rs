//! Service-wide settings that every instance reads: the maintenance switch.

use sea_orm_migration::prelude::*;

use crate::m20260101_000001_users::Users;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum ServiceSettings {
    Table,
    Name,
    Value,
    ChangedAt,
    ChangedBy,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use ServiceSettings as S;
        manager
            .create_table(
                Table::create()
                    .table(S::Table)
                    .col(
                        ColumnDef::new(S::Name)
                            .string_len(64)
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(S::Value).string_len(64).not_null())
                    .col(
                        ColumnDef::new(S::ChangedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(ColumnDef::new(S::ChangedBy).uuid().not_null())
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_service_settings_changed_by")
                            .from(S::Table, S::ChangedBy)
                            .to(Users::Table, Users::Id),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ServiceSettings::Table).to_owned())
            .await
    }
}
