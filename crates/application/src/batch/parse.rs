//! A batch's items, parsed from JSON: every problem of every item at once.

use std::collections::HashMap;

use kg_domain::{
    Attribution, EntityData, EntityId, ExternalId, RelationshipId, TypeName, Violations,
};
use serde_json::{Map, Value};

use crate::draft::string_member;
use crate::{AttributionDraft, EntityDraft};

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

/// A relationship of a batch, parsed, with its ends not yet resolved.
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

/// A parsed batch: every item valid on its own.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Batch {
    /// Entities, in request order.
    pub entities: Vec<EntityData>,
    /// Relationships, in request order.
    pub relationships: Vec<BatchRelationship>,
    /// Ids the entities must keep, by item (only when importing an export).
    pub entity_ids: Vec<Option<EntityId>>,
    /// Ids the relationships must keep, by item (only when importing).
    pub relationship_ids: Vec<Option<RelationshipId>>,
}

/// Whether items may carry the `id` they must keep: only `kg import`, which
/// reproduces an exported graph; the API always assigns ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ids {
    Assigned,
    Kept,
}

/// Whether `key` is a member a batch entity may have.
fn is_entity_field(key: &str) -> bool {
    EntityDraft::OWN_FIELDS.contains(&key) || AttributionDraft::FIELDS.contains(&key)
}

impl Batch {
    /// Parses raw items, reporting every problem of every item at once,
    /// each under `entities[i].field` or `relationships[i].field`.
    ///
    /// # Errors
    /// The [`Violations`] of all items, and of the batch's size.
    pub fn parse(entities: &[Value], relationships: &[Value]) -> Result<Self, Violations> {
        Self::parse_with(entities, relationships, Ids::Assigned)
    }

    /// Parses items of an export, which also carry the `id` each resource
    /// keeps. An item with an `id` that is live is upserted by it.
    ///
    /// # Errors
    /// As [`Self::parse`], and a malformed `id`.
    pub fn parse_export(entities: &[Value], relationships: &[Value]) -> Result<Self, Violations> {
        Self::parse_with(entities, relationships, Ids::Kept)
    }

    fn parse_with(
        entities: &[Value],
        relationships: &[Value],
        ids: Ids,
    ) -> Result<Self, Violations> {
        let mut v = Violations::new();
        for (name, len) in [
            ("entities", entities.len()),
            ("relationships", relationships.len()),
        ] {
            if len > MAX_BATCH_ITEMS {
                v.push(name, format!("must hold at most {MAX_BATCH_ITEMS} items"));
            }
        }
        if entities.is_empty() && relationships.is_empty() {
            v.push(
                "entities",
                "a batch needs at least one entity or relationship",
            );
        }
        if !v.is_empty() {
            return Err(v);
        }
        let mut batch = Self::default();
        let mut first_at: HashMap<ExternalId, usize> = HashMap::new();
        for (i, item) in entities.iter().enumerate() {
            let (item, id) = match take_id(item, ids) {
                Ok(split) => split,
                Err(e) => {
                    v.extend_prefixed(&format!("entities[{i}]"), e);
                    continue;
                }
            };
            batch.entity_ids.push(id.map(EntityId::from_uuid));
            match parse_entity(&item) {
                Ok(data) => {
                    if let Some(x) = &data.external_id
                        && let Some(first) = first_at.insert(x.clone(), i)
                    {
                        v.push(
                            format!("entities[{i}].external_id"),
                            format!("repeats entities[{first}]"),
                        );
                    }
                    batch.entities.push(data);
                }
                Err(e) => v.extend_prefixed(&format!("entities[{i}]"), e),
            }
        }
        for (i, item) in relationships.iter().enumerate() {
            let (item, id) = match take_id(item, ids) {
                Ok(split) => split,
                Err(e) => {
                    v.extend_prefixed(&format!("relationships[{i}]"), e);
                    continue;
                }
            };
            batch
                .relationship_ids
                .push(id.map(RelationshipId::from_uuid));
            match parse_relationship(&item) {
                Ok(r) => batch.relationships.push(r),
                Err(e) => v.extend_prefixed(&format!("relationships[{i}]"), e),
            }
        }
        if v.is_empty() { Ok(batch) } else { Err(v) }
    }
}

/// Splits off the `id` an exported item carries.
fn take_id(item: &Value, ids: Ids) -> Result<(Value, Option<uuid::Uuid>), Violations> {
    let mut item = item.clone();
    let id = match (ids, item.as_object_mut()) {
        (Ids::Kept, Some(map)) => map.remove("id"),
        _ => None,
    };
    match id {
        None | Some(Value::Null) => Ok((item, None)),
        Some(Value::String(s)) => match s.parse::<uuid::Uuid>() {
            Ok(id) => Ok((item, Some(id))),
            Err(_) => {
                let mut v = Violations::new();
                v.push("id", "must be a UUID");
                Err(v)
            }
        },
        Some(_) => {
            let mut v = Violations::new();
            v.push("id", "must be a UUID");
            Err(v)
        }
    }
}

fn object(item: &Value) -> Result<&Map<String, Value>, Violations> {
    item.as_object().ok_or_else(|| {
        let mut v = Violations::new();
        v.push("item", "must be a JSON object");
        v
    })
}

fn parse_entity(item: &Value) -> Result<EntityData, Violations> {
    let map = object(item)?;
    let mut v = Violations::new();
    for key in map.keys() {
        if !is_entity_field(key) {
            v.push(key.as_str(), "is not an entity field");
        }
    }
    let draft = EntityDraft {
        kind: string_member(map, "type", &mut v),
        name: string_member(map, "name", &mut v),
        external_id: string_member(map, "external_id", &mut v),
        attribution: AttributionDraft::from_members(map, &mut v),
    };
    match draft.parse() {
        Ok(data) if v.is_empty() => Ok(data),
        Ok(_) => Err(v),
        Err(more) => {
            v.extend(more);
            Err(v)
        }
    }
}

fn parse_end(map: &Map<String, Value>, end: &str, v: &mut Violations) -> Option<EndRef> {
    let by_id = format!("{end}_id");
    let by_external = format!("{end}_external_id");
    match (map.get(&by_id), map.get(&by_external)) {
        (Some(id), None) => match id.as_str().map(str::parse::<EntityId>) {
            Some(Ok(id)) => Some(EndRef::Id(id)),
            _ => {
                v.push(by_id, "must be a UUID");
                None
            }
        },
        (None, Some(external)) => match external.as_str().map(ExternalId::parse) {
            Some(Ok(x)) => Some(EndRef::ExternalId(x)),
            Some(Err(e)) => {
                v.push(by_external, e.to_string());
                None
            }
            None => {
                v.push(by_external, "must be a string");
                None
            }
        },
        (Some(_), Some(_)) => {
            let message = format!("give either {by_id} or {by_external}, not both");
            v.push(by_id, message);
            None
        }
        (None, None) => {
            v.push(by_id, format!("is required (or {by_external})"));
            None
        }
    }
}

/// Whether `key` is a member a batch relationship may have: each end by
/// id or by external id, its type, and its attribution.
fn is_relationship_field(key: &str) -> bool {
    [
        "source_id",
        "source_external_id",
        "target_id",
        "target_external_id",
        "type",
    ]
    .contains(&key)
        || AttributionDraft::FIELDS.contains(&key)
}

fn parse_relationship(item: &Value) -> Result<BatchRelationship, Violations> {
    let map = object(item)?;
    let mut v = Violations::new();
    for key in map.keys() {
        if !is_relationship_field(key) {
            v.push(key.as_str(), "is not a relationship field");
        }
    }
    let source = parse_end(map, "source", &mut v);
    let target = parse_end(map, "target", &mut v);
    let kind = match string_member(map, "type", &mut v) {
        Some(k) => v.check("type", TypeName::parse(k)),
        None => {
            v.push("type", "is required");
            None
        }
    };
    let attribution = AttributionDraft::parse_members(map, &mut v);
    match (source, target, kind, attribution) {
        (Some(source), Some(target), Some(kind), Some(attribution)) if v.is_empty() => {
            Ok(BatchRelationship {
                source,
                target,
                kind,
                attribution,
            })
        }
        _ => Err(v),
    }
}
