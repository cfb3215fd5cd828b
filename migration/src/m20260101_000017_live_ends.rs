//! A live relationship's ends are live, held by PostgreSQL itself.
//!
//! The foreign keys make sure a relationship's ends exist; they cannot see
//! that an end was soft-deleted. Until now every write path read and
//! share-locked both ends in its own statement before inserting, which cost
//! a relationship create a transaction of four round trips. A trigger now
//! does it inside the insert: before each live row it share-locks both ends
//! (in id order, as every other locker of entities does) and refuses with
//! SQLSTATE `KG001` (source) or `KG002` (target) when one is missing or
//! deleted. A delete that soft-deletes an end waits for the lock, so it
//! sees, and cascades to, the relationship once its insert commits.
//!
//! SQLite runs one writer at a time and keeps checking the ends in the
//! write's own transaction: nothing to do there.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DatabaseBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();
        // `OR REPLACE`: a fresh start drops the tables, not the function.
        db.execute_unprepared(
            "CREATE OR REPLACE FUNCTION kg_relationship_ends_live() RETURNS trigger \
             LANGUAGE plpgsql AS $$ \
             BEGIN \
               IF NEW.deleted_at IS NOT NULL THEN RETURN NEW; END IF; \
               PERFORM 1 FROM entities \
                 WHERE id IN (NEW.source_id, NEW.target_id) AND deleted_at IS NULL \
                 ORDER BY id FOR SHARE; \
               IF NOT EXISTS (SELECT 1 FROM entities \
                              WHERE id = NEW.source_id AND deleted_at IS NULL) THEN \
                 RAISE EXCEPTION USING ERRCODE = 'KG001', \
                   MESSAGE = 'the relationship''s source entity is not live'; \
               END IF; \
               IF NOT EXISTS (SELECT 1 FROM entities \
                              WHERE id = NEW.target_id AND deleted_at IS NULL) THEN \
                 RAISE EXCEPTION USING ERRCODE = 'KG002', \
                   MESSAGE = 'the relationship''s target entity is not live'; \
               END IF; \
               RETURN NEW; \
             END $$",
        )
        .await?;
        db.execute_unprepared(
            "CREATE TRIGGER relationships_ends_live BEFORE INSERT ON relationships \
             FOR EACH ROW EXECUTE FUNCTION kg_relationship_ends_live()",
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DatabaseBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();
        db.execute_unprepared("DROP TRIGGER relationships_ends_live ON relationships")
            .await?;
        db.execute_unprepared("DROP FUNCTION kg_relationship_ends_live()")
            .await?;
        Ok(())
    }
}
