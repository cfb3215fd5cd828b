//! Users get an optimistic-concurrency version, like every other resource.

use sea_orm_migration::prelude::*;

use crate::m20260101_000001_users::Users;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Col {
    Version,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .add_column(
                        ColumnDef::new(Col::Version)
                            .big_integer()
                            .not_null()
                            .default(1)
                            .check(Expr::col(Col::Version).gte(1)),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .drop_column(Col::Version)
                    .to_owned(),
            )
            .await
    }
}
