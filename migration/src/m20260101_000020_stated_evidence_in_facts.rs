//! A fact's stated evidence is read from the fact itself (ADR 46): its
//! writer's confidence, source and source type are already the fact's own
//! columns. What the fact did not hold is when its writer last wrote it,
//! who that was and at which version (its stated evidence's recording,
//! which revisions by evidence leave alone): those become columns of the
//! fact, taken from the copies migration 19 kept in `evidence`, and the
//! copies go. Only evidence added for a fact is stored there now.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The columns the facts gain.
const COLUMNS: [&str; 3] = ["stated_at", "stated_by", "stated_version"];

/// Each fact table, and the column of `evidence` that names its facts.
const FACTS: [(&str, &str); 2] = [
    ("entities", "entity_id"),
    ("relationships", "relationship_id"),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// All of it or none, on SQLite too.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (table, _) in FACTS {
            let [at, by, version] = COLUMNS.map(Alias::new);
            for column in [
                ColumnDef::new(at)
                    .timestamp_with_time_zone()
                    .null()
                    .to_owned(),
                ColumnDef::new(by).uuid().null().to_owned(),
                ColumnDef::new(version).big_integer().null().to_owned(),
            ] {
                manager
                    .alter_table(
                        Table::alter()
                            .table(Alias::new(table))
                            .add_column(column)
                            .to_owned(),
                    )
                    .await?;
            }
        }
        let db = manager.get_connection();
        for (table, _) in FACTS {
            // The stored copy's recording, for the facts that have one; the
            // others (stating nothing) read as of their last revision while
            // the columns are empty, and are set by their writer's next write.
            let copy = |column: &str| {
                format!(
                    "(SELECT v.{column} FROM evidence v WHERE v.id = {table}.id AND v.stated = TRUE)"
                )
            };
            db.execute_unprepared(&format!(
                "UPDATE {table} SET stated_at = {}, stated_by = {}, stated_version = {} \
                 WHERE id IN (SELECT id FROM evidence WHERE stated = TRUE)",
                copy("recorded_at"),
                copy("recorded_by"),
                copy("version"),
            ))
            .await?;
        }
        db.execute_unprepared("DELETE FROM evidence WHERE stated = TRUE")
            .await?;
        Ok(())
    }

    /// The copies again, as migration 19 kept them: one for each fact that
    /// states a confidence or a source, recorded at its writer's last write.
    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for (table, column) in FACTS {
            db.execute_unprepared(&format!(
                "INSERT INTO evidence (id, {column}, stated, confidence, source, source_type, \
                 locator, observed_at, recorded_at, recorded_by, version) \
                 SELECT id, id, TRUE, stated_confidence, source, source_type, '{{}}', \
                 COALESCE(stated_at, updated_at), COALESCE(stated_at, updated_at), \
                 COALESCE(stated_by, updated_by), COALESCE(stated_version, version) FROM {table} \
                 WHERE stated_confidence IS NOT NULL OR source IS NOT NULL"
            ))
            .await?;
        }
        for (table, _) in FACTS {
            for column in COLUMNS.map(Alias::new) {
                manager
                    .alter_table(
                        Table::alter()
                            .table(Alias::new(table))
                            .drop_column(column)
                            .to_owned(),
                    )
                    .await?;
            }
        }
        Ok(())
    }
}
