//! A batch's items, typed, and the rules a batch keeps as a whole.

use std::collections::HashMap;

use kg_domain::{
    Attribution, EntityData, EntityId, ExternalId, RelationshipId, TypeName, Violations,
};

/// The most entities, and separately the most relationships, in one batch.
pub const MAX_BATCH_ITEMS: usize = 1000;

/// How a relationship in a batch names one of its ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndRef {
    /// An entity id.
    Id(EntityId),
    /// The external id of an entity in the batch or already stored.
    ExternalId(ExternalId),
}

/// A relationship of a batch, with its ends not yet resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchRelationship {
    /// The source.
    pub source: EndRef,
    /// The target.
    pub target: EndRef,
    /// Its type.
    pub kind: TypeName,
    /// Its confidence, source reference, source type and metadata.
    pub attribution: Attribution,
}

/// The external ids a batch's entities have named so far: two entities of
/// one batch cannot name the same one. An edge that reads items one by one
/// checks each as it reads it, so the report keeps item order.
#[derive(Debug, Default)]
pub struct ExternalIds(HashMap<ExternalId, usize>);

impl ExternalIds {
    /// Notes entity `i`, reporting `entities[i].external_id` into `v` when
    /// an earlier entity named the same external id.
    pub fn check(&mut self, i: usize, entity: &EntityData, v: &mut Violations) {
        if let Some(x) = &entity.external_id
            && let Some(first) = self.0.insert(x.clone(), i)
        {
            v.push(
                format!("entities[{i}].external_id"),
                format!("repeats entities[{first}]"),
            );
        }
    }
}

/// A batch: at most [`MAX_BATCH_ITEMS`] entities and as many relationships,
/// at least one item, and no external id named by two of its entities.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// Entities, in request order.
    pub(crate) entities: Vec<EntityData>,
    /// Relationships, in request order.
    pub(crate) relationships: Vec<BatchRelationship>,
    /// Ids the entities must keep, by item (only when importing an export).
    pub(crate) entity_ids: Vec<Option<EntityId>>,
    /// Ids the relationships must keep, by item (only when importing).
    pub(crate) relationship_ids: Vec<Option<RelationshipId>>,
    /// Whether it reproduces an export (it keeps ids): its items then
    /// restate their facts, whatever source stated them before.
    pub(crate) reproduces: bool,
}

impl Batch {
    /// A batch of these items; the service assigns every id.
    ///
    /// # Errors
    /// As [`Self::check_size`], and `entities[i].external_id` for each
    /// entity that repeats an earlier one's external id.
    pub fn new(
        entities: Vec<EntityData>,
        relationships: Vec<BatchRelationship>,
    ) -> Result<Self, Violations> {
        Self::check_size(entities.len(), relationships.len())?;
        let mut v = Violations::new();
        let mut seen = ExternalIds::default();
        for (i, e) in entities.iter().enumerate() {
            seen.check(i, e, &mut v);
        }
        if !v.is_empty() {
            return Err(v);
        }
        Ok(Self {
            entity_ids: vec![None; entities.len()],
            relationship_ids: vec![None; relationships.len()],
            reproduces: false,
            entities,
            relationships,
        })
    }

    /// The same batch, its items keeping the ids they were exported with,
    /// by position (`None` lets the service assign one). Only `kg import`,
    /// which reproduces an exported graph, keeps ids; an item whose id is
    /// live is upserted by it, and items restate their facts rather than
    /// corroborate them (ADR 44).
    ///
    /// # Errors
    /// `entities` or `relationships` when there are more ids than items.
    pub fn keeping_ids(
        mut self,
        entity_ids: Vec<Option<EntityId>>,
        relationship_ids: Vec<Option<RelationshipId>>,
    ) -> Result<Self, Violations> {
        let mut v = Violations::new();
        for (name, ids, items) in [
            ("entities", entity_ids.len(), self.entities.len()),
            (
                "relationships",
                relationship_ids.len(),
                self.relationships.len(),
            ),
        ] {
            if ids > items {
                v.push(name, format!("{ids} ids for {items} items"));
            }
        }
        if !v.is_empty() {
            return Err(v);
        }
        for (slot, id) in self.entity_ids.iter_mut().zip(entity_ids) {
            *slot = id;
        }
        for (slot, id) in self.relationship_ids.iter_mut().zip(relationship_ids) {
            *slot = id;
        }
        self.reproduces = true;
        Ok(self)
    }

    /// Whether a batch of this many entities and relationships may be
    /// made; an edge checks it before it reads the items.
    ///
    /// # Errors
    /// `entities` or `relationships` past [`MAX_BATCH_ITEMS`]; `entities`
    /// when the batch would be empty.
    pub fn check_size(entities: usize, relationships: usize) -> Result<(), Violations> {
        let mut v = Violations::new();
        for (name, len) in [("entities", entities), ("relationships", relationships)] {
            if len > MAX_BATCH_ITEMS {
                v.push(name, format!("must hold at most {MAX_BATCH_ITEMS} items"));
            }
        }
        if entities == 0 && relationships == 0 {
            v.push(
                "entities",
                "a batch needs at least one entity or relationship",
            );
        }
        if v.is_empty() { Ok(()) } else { Err(v) }
    }

    /// The entities, in request order.
    #[must_use]
    pub fn entities(&self) -> &[EntityData] {
        &self.entities
    }

    /// The relationships, in request order.
    #[must_use]
    pub fn relationships(&self) -> &[BatchRelationship] {
        &self.relationships
    }

    /// The id each entity keeps, by position (`None`: the service assigns
    /// one).
    #[must_use]
    pub fn entity_ids(&self) -> &[Option<EntityId>] {
        &self.entity_ids
    }

    /// The id each relationship keeps, by position.
    #[must_use]
    pub fn relationship_ids(&self) -> &[Option<RelationshipId>] {
        &self.relationship_ids
    }
}

#[cfg(test)]
mod tests {
    use kg_domain::EntityName;

    use super::*;

    fn doc(x: Option<&str>) -> Result<EntityData, Box<dyn std::error::Error>> {
        Ok(EntityData {
            kind: TypeName::parse("Doc")?,
            name: EntityName::parse("d")?,
            external_id: x.map(ExternalId::parse).transpose()?,
            attribution: Attribution::default(),
        })
    }

    fn fields(v: &Violations) -> Vec<&str> {
        v.as_slice().iter().map(|f| f.field.as_str()).collect()
    }

    #[test]
    fn a_batch_is_bounded_and_not_empty() {
        let err = Batch::check_size(MAX_BATCH_ITEMS + 1, MAX_BATCH_ITEMS + 1).err();
        assert_eq!(
            err.as_ref().map(fields),
            Some(vec!["entities", "relationships"])
        );
        let err = Batch::new(Vec::new(), Vec::new()).err();
        assert_eq!(err.as_ref().map(fields), Some(vec!["entities"]));
        assert!(Batch::check_size(MAX_BATCH_ITEMS, 0).is_ok());
    }

    #[test]
    fn two_entities_cannot_name_one_external_id() -> Result<(), Box<dyn std::error::Error>> {
        let err = Batch::new(
            vec![doc(Some("x"))?, doc(None)?, doc(Some("x"))?, doc(None)?],
            Vec::new(),
        )
        .err()
        .ok_or("accepted")?;
        assert_eq!(fields(&err), ["entities[2].external_id"]);
        assert_eq!(err.as_slice()[0].message, "repeats entities[0]");
        Ok(())
    }

    #[test]
    fn kept_ids_go_to_their_items_by_position() -> Result<(), Box<dyn std::error::Error>> {
        let id = EntityId::generate();
        let batch = Batch::new(vec![doc(None)?, doc(None)?], Vec::new())?
            .keeping_ids(vec![None, Some(id)], Vec::new())?;
        assert_eq!(batch.entity_ids, [None, Some(id)]);
        assert_eq!(batch.relationship_ids, Vec::new());
        let err = Batch::new(vec![doc(None)?], Vec::new())?
            .keeping_ids(vec![None, None], Vec::new())
            .err();
        assert_eq!(err.as_ref().map(fields), Some(vec!["entities"]));
        Ok(())
    }
}
