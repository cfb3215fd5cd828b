//! Search support: a case-folded copy of each entity's name (folded by the
//! service, the same on every database), a trigram index over it on
//! PostgreSQL where `pg_trgm` can be enabled, and an index on creation time.

use sea_orm::{DatabaseBackend, Statement};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Entities {
    Table,
    Id,
    NameFolded,
    CreatedAt,
}

/// Whether `pg_trgm` is enabled, or can be by this role (it is a trusted
/// extension: the database's CREATE privilege suffices).
const TRIGRAM_POSSIBLE: &str = "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') \
     OR (EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm') \
         AND has_database_privilege(current_database(), 'CREATE'))";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Entities::Table)
                    .add_column(
                        ColumnDef::new(Entities::NameFolded)
                            .string_len(800)
                            .not_null()
                            .default(""),
                    )
                    .to_owned(),
            )
            .await?;
        // Existing rows are folded here, with the service's own rule.
        let db = manager.get_connection();
        let backend = manager.get_database_backend();
        let rows = db
            .query_all_raw(Statement::from_string(
                backend,
                "SELECT id, name FROM entities".to_owned(),
            ))
            .await?;
        for row in rows {
            let id: sea_orm::prelude::Uuid = row.try_get("", "id")?;
            let name: String = row.try_get("", "name")?;
            let sql = match backend {
                DatabaseBackend::Postgres => "UPDATE entities SET name_folded = $1 WHERE id = $2",
                _ => "UPDATE entities SET name_folded = ? WHERE id = ?",
            };
            db.execute_raw(Statement::from_sql_and_values(
                backend,
                sql,
                [name.to_lowercase().into(), id.into()],
            ))
            .await?;
        }
        crate::create_indexes(
            manager,
            Entities::Table,
            vec![(
                "ix_entities_created_at",
                vec![Entities::CreatedAt, Entities::Id],
            )],
        )
        .await?;
        if backend == DatabaseBackend::Postgres {
            let possible = db
                .query_one_raw(Statement::from_string(backend, TRIGRAM_POSSIBLE.to_owned()))
                .await?
                .map(|r| r.try_get_by_index::<bool>(0))
                .transpose()?
                .unwrap_or(false);
            if possible {
                db.execute_unprepared("CREATE EXTENSION IF NOT EXISTS pg_trgm")
                    .await?;
                db.execute_unprepared(
                    "CREATE INDEX ix_entities_name_folded_trgm ON entities USING gin (name_folded gin_trgm_ops)",
                )
                .await?;
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if manager.get_database_backend() == DatabaseBackend::Postgres {
            db.execute_unprepared("DROP INDEX IF EXISTS ix_entities_name_folded_trgm")
                .await?;
        }
        manager
            .drop_index(
                Index::drop()
                    .name("ix_entities_created_at")
                    .table(Entities::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Entities::Table)
                    .drop_column(Entities::NameFolded)
                    .to_owned(),
            )
            .await
    }
}
