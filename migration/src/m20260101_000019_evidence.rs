//! Evidence: what each source said about a fact, one record per statement.
//!
//! A fact's own attribution (the confidence, source and source type its
//! writer gave) is its *stated* evidence: a record with the fact's own id,
//! rewritten with every write of the fact. Evidence added for the fact
//! afterwards has ids of its own and is retracted, never deleted. The
//! fact's `confidence` is now the combination of its live evidence: the
//! writer's value moves to `stated_confidence`, and `corroboration` holds
//! the combined confidence of the added evidence alone, so that a write of
//! the fact can combine the two without reading its evidence. Existing
//! facts keep their confidence, and those with a source or a confidence
//! get their stated record. The change feed now carries evidence too.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseBackend, Statement};

use crate::m20260101_000001_users::Users;
use crate::m20260101_000002_entities::Entities;
use crate::{confidence_column, create_indexes};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Evidence {
    Table,
    Id,
    EntityId,
    RelationshipId,
    Stated,
    Confidence,
    Source,
    SourceType,
    Locator,
    ObservedAt,
    RecordedAt,
    RecordedBy,
    RetractedAt,
    RetractedBy,
    Version,
}

#[derive(DeriveIden, Clone, Copy)]
enum Relationships {
    Table,
    Id,
}

#[derive(DeriveIden, Clone, Copy)]
enum Fact {
    StatedConfidence,
    Corroboration,
}

const FACT_TABLES: [&str; 2] = ["entities", "relationships"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// All of it or none, on SQLite too: a failure half-way through the
    /// feed's rebuild must not lose the feed.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in FACT_TABLES {
            for column in [Fact::StatedConfidence, Fact::Corroboration] {
                manager
                    .alter_table(
                        Table::alter()
                            .table(Alias::new(table))
                            .add_column(confidence_column(column))
                            .to_owned(),
                    )
                    .await?;
            }
        }
        let db = manager.get_connection();
        for table in FACT_TABLES {
            db.execute_unprepared(&format!(
                "UPDATE {table} SET stated_confidence = confidence"
            ))
            .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(Evidence::Table)
                    .col(ColumnDef::new(Evidence::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(Evidence::EntityId).uuid().null())
                    .col(ColumnDef::new(Evidence::RelationshipId).uuid().null())
                    .col(ColumnDef::new(Evidence::Stated).boolean().not_null())
                    .col(confidence_column(Evidence::Confidence))
                    .col(ColumnDef::new(Evidence::Source).string_len(500).null())
                    .col(ColumnDef::new(Evidence::SourceType).string_len(100).null())
                    .col(ColumnDef::new(Evidence::Locator).json_binary().not_null())
                    .col(
                        ColumnDef::new(Evidence::ObservedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Evidence::RecordedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(ColumnDef::new(Evidence::RecordedBy).uuid().not_null())
                    .col(
                        ColumnDef::new(Evidence::RetractedAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(ColumnDef::new(Evidence::RetractedBy).uuid().null())
                    .col(
                        ColumnDef::new(Evidence::Version)
                            .big_integer()
                            .not_null()
                            .check(Expr::col(Evidence::Version).gte(1)),
                    )
                    // Evidence is about exactly one fact.
                    .check((
                        "ck_evidence_one_fact",
                        Expr::col(Evidence::EntityId)
                            .is_null()
                            .ne(Expr::col(Evidence::RelationshipId).is_null()),
                    ))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_evidence_entity")
                            .from(Evidence::Table, Evidence::EntityId)
                            .to(Entities::Table, Entities::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_evidence_relationship")
                            .from(Evidence::Table, Evidence::RelationshipId)
                            .to(Relationships::Table, Relationships::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_evidence_recorded_by")
                            .from(Evidence::Table, Evidence::RecordedBy)
                            .to(Users::Table, Users::Id),
                    )
                    .to_owned(),
            )
            .await?;
        // A fact's evidence in id order, a source's and a source type's:
        // the listings' keys, each followed by the id its cursor continues from.
        create_indexes(
            manager,
            Evidence::Table,
            vec![
                ("ix_evidence_entity", vec![Evidence::EntityId, Evidence::Id]),
                (
                    "ix_evidence_relationship",
                    vec![Evidence::RelationshipId, Evidence::Id],
                ),
                ("ix_evidence_source", vec![Evidence::Source, Evidence::Id]),
                (
                    "ix_evidence_source_type",
                    vec![Evidence::SourceType, Evidence::Id],
                ),
            ],
        )
        .await?;
        feed_resources(manager, FEED_BEFORE, FEED_AFTER).await?;
        for (table, column) in [
            ("entities", "entity_id"),
            ("relationships", "relationship_id"),
        ] {
            db.execute_unprepared(&format!(
                "INSERT INTO evidence (id, {column}, stated, confidence, source, source_type, \
                 locator, observed_at, recorded_at, recorded_by, version) \
                 SELECT id, id, TRUE, confidence, source, source_type, '{{}}', updated_at, \
                 updated_at, updated_by, version FROM {table} \
                 WHERE confidence IS NOT NULL OR source IS NOT NULL"
            ))
            .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        feed_resources(manager, FEED_AFTER, FEED_BEFORE).await?;
        manager
            .drop_table(Table::drop().table(Evidence::Table).to_owned())
            .await?;
        let db = manager.get_connection();
        for table in FACT_TABLES {
            // Back to the writer's own confidence.
            db.execute_unprepared(&format!(
                "UPDATE {table} SET confidence = stated_confidence"
            ))
            .await?;
            for column in [Fact::StatedConfidence, Fact::Corroboration] {
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

/// The resource types the change feed allowed before, and allows now.
const FEED_BEFORE: &str = "'entity', 'relationship'";
const FEED_AFTER: &str = "'entity', 'relationship', 'evidence'";

/// Replaces the feed's rule of which resource types it carries, from
/// `from` to `to`; rows of a type `to` leaves out are dropped with it.
/// PostgreSQL alters the constraint. SQLite cannot: the table is built
/// again under the new rule, with its rows, indexes and triggers as they
/// were (the procedure of SQLite's `ALTER TABLE` documentation).
async fn feed_resources(manager: &SchemaManager<'_>, from: &str, to: &str) -> Result<(), DbErr> {
    let db = manager.get_connection();
    if manager.get_database_backend() == DatabaseBackend::Postgres {
        if to == FEED_BEFORE {
            delete_evidence_changes_postgres(db).await?;
        }
        db.execute_unprepared(&format!(
            "ALTER TABLE changes DROP CONSTRAINT changes_resource_type_check, \
             ADD CONSTRAINT changes_resource_type_check CHECK (resource_type IN ({to}))"
        ))
        .await?;
        return Ok(());
    }
    let read = |sql: &str| Statement::from_string(DatabaseBackend::Sqlite, sql.to_owned());
    let table = db
        .query_one_raw(read(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'changes'",
        ))
        .await?
        .ok_or_else(|| DbErr::Migration("the changes table is missing".to_owned()))?
        .try_get::<String>("", "sql")?;
    let rule = |types: &str| format!("\"resource_type\" IN ({types})");
    if !table.contains(&rule(from)) {
        return Err(DbErr::Migration(format!(
            "the changes table does not have the rule {}: {table}",
            rule(from)
        )));
    }
    let rebuilt = table
        .replacen("\"changes\"", "\"changes_rebuilt\"", 1)
        .replacen(&rule(from), &rule(to), 1);
    let mut attached = Vec::new();
    for row in db
        .query_all_raw(read(
            "SELECT sql FROM sqlite_master WHERE tbl_name = 'changes' \
             AND type IN ('index', 'trigger') AND sql IS NOT NULL ORDER BY type, name",
        ))
        .await?
    {
        attached.push(row.try_get::<String>("", "sql")?);
    }
    db.execute_unprepared(&rebuilt).await?;
    db.execute_unprepared(&format!(
        "INSERT INTO changes_rebuilt SELECT * FROM changes WHERE resource_type IN ({to})"
    ))
    .await?;
    // Dropping a table runs none of its triggers.
    db.execute_unprepared("DROP TABLE changes").await?;
    db.execute_unprepared("ALTER TABLE changes_rebuilt RENAME TO changes")
        .await?;
    for sql in attached {
        db.execute_unprepared(&sql).await?;
    }
    Ok(())
}

/// Removes the feed's evidence rows on PostgreSQL, past the trigger that
/// keeps the feed append-only (only a migration going down does this).
async fn delete_evidence_changes_postgres(db: &SchemaManagerConnection<'_>) -> Result<(), DbErr> {
    db.execute_unprepared("ALTER TABLE changes DISABLE TRIGGER changes_append_only")
        .await?;
    db.execute_unprepared("DELETE FROM changes WHERE resource_type = 'evidence'")
        .await?;
    db.execute_unprepared("ALTER TABLE changes ENABLE TRIGGER changes_append_only")
        .await?;
    Ok(())
}
