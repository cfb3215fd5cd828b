//! The row writers every write path shares: single creates, batches and
//! the delete and restore cascades store entities and relationships
//! through these, so a column is written the same way everywhere.

use kg_application::{Conflict, RepoError};
use kg_domain::{Entity, EntityId, Relationship};
use sea_orm::sea_query::{InsertStatement, OnConflict};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, IdenStatic, Iterable, QueryTrait as _, Set,
};

use crate::convert::{entity_to_row, relationship_to_row};
use crate::error::unique_as;
use crate::models::{entity, relationship};

/// Rows per statement: at most 16 values each, so a statement stays under
/// SQLite's 32,766 bound parameters and PostgreSQL's 65,535 however many
/// rows a write stores (a delete's cascade has no upper bound).
pub(crate) const ROWS_PER_STATEMENT: usize = 1000;

/// Audit and feed rows per statement: at most 7 values each, so a
/// statement stays under SQLite's bound too, and a write of up to 4,000
/// changes (a full batch: 2,000) appends each log with one insert.
pub(crate) const LOG_ROWS_PER_STATEMENT: usize = 4000;

/// Every column of a table but `kept`: what storing a revision of an
/// existing row overwrites. Counting out, not in, means a column added to
/// the table (a new attribution field) is written without another edit.
fn revisable<C: ColumnTrait + Iterable + IdenStatic>(kept: &[C]) -> Vec<C> {
    C::iter()
        .filter(|c| kept.iter().all(|k| k.as_str() != c.as_str()))
        .collect()
}

/// The statement that inserts one new entity.
pub(crate) fn new_entity_row(e: &Entity) -> InsertStatement {
    entity::Entity::insert(entity_to_row(e)).into_query()
}

/// The statement that inserts one new relationship.
pub(crate) fn new_relationship_row(r: &Relationship) -> InsertStatement {
    relationship::Entity::insert(relationship_to_row(r)).into_query()
}

/// Inserts new entities in one statement.
///
/// # Errors
/// `Conflict(ExternalIdTaken)` when a live entity has one's external id.
pub(crate) async fn insert_entities(
    conn: &impl ConnectionTrait,
    entities: &[Entity],
) -> Result<(), RepoError> {
    if entities.is_empty() {
        return Ok(());
    }
    for chunk in entities.chunks(ROWS_PER_STATEMENT) {
        entity::Entity::insert_many(chunk.iter().map(entity_to_row))
            .exec_without_returning(conn)
            .await
            .map_err(unique_as(Conflict::ExternalIdTaken))?;
    }
    Ok(())
}

/// Stores revisions of existing entities (changed, deleted or restored) in
/// one statement: every column but their identity and creation.
///
/// # Errors
/// `Conflict(ExternalIdTaken)` when a live entity has one's external id.
pub(crate) async fn revise_entities(
    conn: &impl ConnectionTrait,
    entities: &[Entity],
) -> Result<(), RepoError> {
    use entity::Column as E;
    if entities.is_empty() {
        return Ok(());
    }
    let upsert = OnConflict::column(E::Id)
        .update_columns(revisable(&[E::Id, E::CreatedAt, E::CreatedBy]))
        .to_owned();
    for chunk in entities.chunks(ROWS_PER_STATEMENT) {
        entity::Entity::insert_many(chunk.iter().map(entity_to_row))
            .on_conflict(upsert.clone())
            .exec_without_returning(conn)
            .await
            .map_err(unique_as(Conflict::ExternalIdTaken))?;
    }
    Ok(())
}

/// Inserts new relationships in one statement.
///
/// # Errors
/// `Conflict(DuplicateRelationship)` when one repeats a live relationship.
pub(crate) async fn insert_relationships(
    conn: &impl ConnectionTrait,
    relationships: &[Relationship],
) -> Result<(), RepoError> {
    if relationships.is_empty() {
        return Ok(());
    }
    for chunk in relationships.chunks(ROWS_PER_STATEMENT) {
        relationship::Entity::insert_many(chunk.iter().map(relationship_to_row))
            .exec_without_returning(conn)
            .await
            .map_err(unique_as(Conflict::DuplicateRelationship))?;
    }
    Ok(())
}

/// Stores revisions of existing relationships in one statement: every
/// column but their identity (ends and type) and creation, each marked as
/// cascaded from `cascade_of`'s deletion or not.
///
/// # Errors
/// `Conflict(DuplicateRelationship)` when one would repeat a live relationship.
pub(crate) async fn revise_relationships(
    conn: &impl ConnectionTrait,
    relationships: &[Relationship],
    cascade_of: Option<EntityId>,
) -> Result<(), RepoError> {
    use relationship::Column as R;
    if relationships.is_empty() {
        return Ok(());
    }
    let upsert = OnConflict::column(R::Id)
        .update_columns(revisable(&[
            R::Id,
            R::SourceId,
            R::TargetId,
            R::Kind,
            R::CreatedAt,
            R::CreatedBy,
        ]))
        .to_owned();
    for chunk in relationships.chunks(ROWS_PER_STATEMENT) {
        let rows = chunk.iter().map(|r| {
            let mut row = relationship_to_row(r);
            row.cascade_of = Set(cascade_of.map(|e| e.as_uuid()));
            row
        });
        relationship::Entity::insert_many(rows)
            .on_conflict(upsert.clone())
            .exec_without_returning(conn)
            .await
            .map_err(unique_as(Conflict::DuplicateRelationship))?;
    }
    Ok(())
}
