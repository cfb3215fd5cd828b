//! The change feed's positions, given after commit.
//!
//! Writers append their `changes` rows without waiting for one another;
//! `seq` is only the order of appending. A row's place in the feed is its
//! `position`, set once, after its transaction committed, by a sequencer
//! that numbers every committed row still without one in `seq` order (see
//! ADR 28). The append-only triggers now let exactly that through: an
//! `UPDATE` that sets an unset `position` and changes nothing else. Rows
//! that exist when this runs keep their place: `position = seq`.

use sea_orm::DatabaseBackend;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Changes {
    Table,
    Position,
}

/// The columns an update must leave as they are.
const FIXED: [&str; 7] = [
    "seq",
    "occurred_at",
    "resource_type",
    "resource_id",
    "action",
    "version",
    "data",
];

fn postgres_triggers() -> Vec<String> {
    let changed = FIXED
        .iter()
        .map(|c| format!("NEW.{c} IS DISTINCT FROM OLD.{c}"))
        .collect::<Vec<_>>()
        .join(" OR ");
    vec![
        "DROP TRIGGER changes_append_only ON changes".to_owned(),
        "CREATE TRIGGER changes_append_only BEFORE DELETE OR TRUNCATE ON changes FOR EACH STATEMENT EXECUTE FUNCTION changes_append_only()".to_owned(),
        format!(
            "CREATE OR REPLACE FUNCTION changes_position_once() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF OLD.position IS NOT NULL OR NEW.position IS NULL OR {changed} THEN RAISE EXCEPTION 'changes is append-only: only an unset position may be set'; END IF; RETURN NEW; END $$"
        ),
        "CREATE TRIGGER changes_position_once BEFORE UPDATE ON changes FOR EACH ROW EXECUTE FUNCTION changes_position_once()".to_owned(),
    ]
}

fn sqlite_triggers() -> Vec<String> {
    let changed = FIXED
        .iter()
        .map(|c| format!("NEW.{c} IS NOT OLD.{c}"))
        .collect::<Vec<_>>()
        .join(" OR ");
    vec![
        "DROP TRIGGER changes_no_update".to_owned(),
        format!(
            "CREATE TRIGGER changes_no_update BEFORE UPDATE ON changes WHEN OLD.position IS NOT NULL OR NEW.position IS NULL OR {changed} BEGIN SELECT RAISE(ABORT, 'changes is append-only: only an unset position may be set'); END"
        ),
    ]
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Changes::Table)
                    .add_column(ColumnDef::new(Changes::Position).big_integer().null())
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        let triggers = if manager.get_database_backend() == DatabaseBackend::Postgres {
            postgres_triggers()
        } else {
            sqlite_triggers()
        };
        for sql in triggers {
            db.execute_unprepared(&sql).await?;
        }
        db.execute_unprepared("UPDATE changes SET position = seq")
            .await?;
        db.execute_unprepared("CREATE UNIQUE INDEX changes_position ON changes (position)")
            .await?;
        db.execute_unprepared(
            "CREATE INDEX changes_unpositioned ON changes (seq) WHERE position IS NULL",
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared("DROP INDEX changes_unpositioned")
            .await?;
        db.execute_unprepared("DROP INDEX changes_position").await?;
        let restore = if manager.get_database_backend() == DatabaseBackend::Postgres {
            vec![
                "DROP TRIGGER changes_position_once ON changes",
                "DROP FUNCTION changes_position_once()",
                "DROP TRIGGER changes_append_only ON changes",
                "CREATE TRIGGER changes_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON changes FOR EACH STATEMENT EXECUTE FUNCTION changes_append_only()",
            ]
        } else {
            vec![
                "DROP TRIGGER changes_no_update",
                "CREATE TRIGGER changes_no_update BEFORE UPDATE ON changes BEGIN SELECT RAISE(ABORT, 'changes is append-only'); END",
            ]
        };
        for sql in restore {
            db.execute_unprepared(sql).await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(Changes::Table)
                    .drop_column(Changes::Position)
                    .to_owned(),
            )
            .await
    }
}
