//! A batch's items as JSON, read into the application's typed [`Batch`]:
//! the request body of `POST /v1/batch`, and the lines of an export that
//! `kg import` reads, which carry the API's representation.
//!
//! Every problem of every item is reported at once, each under
//! `entities[i].field` or `relationships[i].field`, in item order, with an
//! entity that repeats an earlier one's external id among them. The item
//! counts are checked before any item is read.

use kg_application::{
    AttributionDraft, Batch, BatchRelationship, EndRef, EntityDraft, ExternalIds,
};
use kg_domain::{
    Attribution, EntityData, EntityId, ExternalId, Metadata, RelationshipId, TypeName, Violations,
};
use serde_json::{Map, Value};

/// Whether items may carry the `id` they must keep: only `kg import`, which
/// reproduces an exported graph; the API always assigns ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ids {
    Assigned,
    Kept,
}

/// Reads the items of a `POST /v1/batch` body.
///
/// # Errors
/// The [`Violations`] of all items, and of the batch's size.
pub fn parse(entities: Vec<Value>, relationships: Vec<Value>) -> Result<Batch, Violations> {
    parse_with(entities, relationships, Ids::Assigned)
}

/// Reads items of an export, which also carry the `id` each resource
/// keeps.
///
/// # Errors
/// As [`parse`], and a malformed `id`.
pub fn parse_export(entities: Vec<Value>, relationships: Vec<Value>) -> Result<Batch, Violations> {
    parse_with(entities, relationships, Ids::Kept)
}

/// Each item is consumed as it is read, so the JSON of a batch and its
/// typed form are not both held whole.
fn parse_with(
    entities: Vec<Value>,
    relationships: Vec<Value>,
    ids: Ids,
) -> Result<Batch, Violations> {
    Batch::check_size(entities.len(), relationships.len())?;
    let mut v = Violations::new();
    let mut seen = ExternalIds::default();
    let (entities, entity_ids) = items(
        &mut v,
        "entities",
        entities,
        ids,
        |item| entity(item, ids),
        |i, e, v| seen.check(i, e, v),
    );
    let (relationships, relationship_ids) = items(
        &mut v,
        "relationships",
        relationships,
        ids,
        |item| relationship(item, ids),
        |_, _, _| {},
    );
    if !v.is_empty() {
        return Err(v);
    }
    let batch = Batch::new(entities, relationships)?;
    if ids == Ids::Assigned {
        return Ok(batch);
    }
    batch.keeping_ids(
        entity_ids
            .into_iter()
            .map(|id| id.map(EntityId::from_uuid))
            .collect(),
        relationship_ids
            .into_iter()
            .map(|id| id.map(RelationshipId::from_uuid))
            .collect(),
    )
}

/// Reads each item of `list`, with the id it keeps, reporting every
/// problem under `list[i]`; `check` sees each item read, in order.
fn items<T>(
    v: &mut Violations,
    list: &str,
    values: Vec<Value>,
    ids: Ids,
    read: impl Fn(Value) -> Result<T, Violations>,
    mut check: impl FnMut(usize, &T, &mut Violations),
) -> (Vec<T>, Vec<Option<uuid::Uuid>>) {
    let mut items = Vec::with_capacity(values.len());
    let mut kept = Vec::with_capacity(values.len());
    for (i, value) in values.into_iter().enumerate() {
        match take_id(value, ids).and_then(|(item, id)| Ok((read(item)?, id))) {
            Ok((item, id)) => {
                check(i, &item, v);
                items.push(item);
                kept.push(id);
            }
            Err(e) => v.extend_prefixed(&format!("{list}[{i}]"), e),
        }
    }
    (items, kept)
}

/// Whether `key` is a member a batch entity may have.
fn is_entity_field(key: &str) -> bool {
    EntityDraft::OWN_FIELDS.contains(&key) || AttributionDraft::FIELDS.contains(&key)
}

/// Splits off the `id` an exported item carries.
fn take_id(mut item: Value, ids: Ids) -> Result<(Value, Option<uuid::Uuid>), Violations> {
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

fn object(item: Value) -> Result<Map<String, Value>, Violations> {
    match item {
        Value::Object(map) => Ok(map),
        _ => {
            let mut v = Violations::new();
            v.push("item", "must be a JSON object");
            Err(v)
        }
    }
}

/// An export's metadata was stored under the rules of its day, so it is
/// read as stored (every rule but the value count and the size in full),
/// not as a new write: taken out of the item before the item is read, put
/// back after.
fn stored_metadata(map: &mut Map<String, Value>, ids: Ids) -> Option<Value> {
    match ids {
        Ids::Kept => map.remove("metadata").filter(|m| !m.is_null()),
        Ids::Assigned => None,
    }
}

fn put_stored(attribution: &mut Attribution, stored: Option<Value>, v: &mut Violations) {
    if let Some(value) = stored {
        match Metadata::stored(value) {
            Ok(m) => attribution.metadata = m,
            Err(e) => v.push("metadata", e.to_string()),
        }
    }
}

fn entity(item: Value, ids: Ids) -> Result<EntityData, Violations> {
    let mut map = object(item)?;
    let stored = stored_metadata(&mut map, ids);
    let mut v = Violations::new();
    for key in map.keys() {
        if !is_entity_field(key) {
            v.push(key.as_str(), "is not an entity field");
        }
    }
    let draft = EntityDraft {
        kind: string_member(&map, "type", &mut v),
        name: string_member(&map, "name", &mut v),
        external_id: string_member(&map, "external_id", &mut v),
        attribution: attribution_draft(&mut map, &mut v),
    };
    match draft.parse() {
        Ok(mut data) => {
            put_stored(&mut data.attribution, stored, &mut v);
            if v.is_empty() { Ok(data) } else { Err(v) }
        }
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

fn relationship(item: Value, ids: Ids) -> Result<BatchRelationship, Violations> {
    let mut map = object(item)?;
    let stored = stored_metadata(&mut map, ids);
    let mut v = Violations::new();
    for key in map.keys() {
        if !is_relationship_field(key) {
            v.push(key.as_str(), "is not a relationship field");
        }
    }
    let source = parse_end(&map, "source", &mut v);
    let target = parse_end(&map, "target", &mut v);
    let kind = match string_member(&map, "type", &mut v) {
        Some(k) => v.check("type", TypeName::parse(k)),
        None => {
            v.push("type", "is required");
            None
        }
    };
    let mut attribution = attribution(&mut map, &mut v);
    if let Some(a) = &mut attribution {
        put_stored(a, stored, &mut v);
    }
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

/// Reads the attribution members of an item, reporting members of the
/// wrong JSON type; `null` is absent. The metadata is moved out of the item.
fn attribution_draft(map: &mut Map<String, Value>, v: &mut Violations) -> AttributionDraft {
    AttributionDraft {
        confidence: number_member(map, "confidence", v),
        source: string_member(map, "source", v),
        source_type: string_member(map, "source_type", v),
        metadata: map.remove("metadata").filter(|m| !m.is_null()),
    }
}

/// Reads and parses the attribution members of an item, member by member:
/// each one's JSON type, then its rule, so the report lists the members'
/// problems in member order. The metadata is moved out of the item.
fn attribution(map: &mut Map<String, Value>, v: &mut Violations) -> Option<Attribution> {
    let only = |draft: AttributionDraft, v: &mut Violations| draft.parse(v);
    let confidence = only(
        AttributionDraft {
            confidence: number_member(map, "confidence", v),
            ..AttributionDraft::default()
        },
        v,
    );
    let source = only(
        AttributionDraft {
            source: string_member(map, "source", v),
            ..AttributionDraft::default()
        },
        v,
    );
    let source_type = only(
        AttributionDraft {
            source_type: string_member(map, "source_type", v),
            ..AttributionDraft::default()
        },
        v,
    );
    let metadata = only(
        AttributionDraft {
            metadata: map.remove("metadata").filter(|m| !m.is_null()),
            ..AttributionDraft::default()
        },
        v,
    );
    Some(Attribution {
        confidence: confidence?.confidence,
        source_ref: source?.source_ref,
        source_type: source_type?.source_type,
        metadata: metadata?.metadata,
    })
}

/// A string member of a JSON object; `null` is absent.
fn string_member(map: &Map<String, Value>, key: &str, v: &mut Violations) -> Option<String> {
    match map.get(key) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            v.push(key, "must be a string");
            None
        }
    }
}

fn number_member(map: &Map<String, Value>, key: &str, v: &mut Violations) -> Option<f64> {
    match map.get(key) {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => n.as_f64(),
        Some(_) => {
            v.push(key, "must be a number");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use kg_application::attribution_document;
    use serde_json::json;

    use super::*;

    #[test]
    fn an_attribution_survives_its_document() -> Result<(), Box<dyn std::error::Error>> {
        let a = kg_application::testing::full_attribution()?;
        let mut document = Map::new();
        attribution_document(&a, &mut document);
        let mut v = Violations::new();
        let mut copy = document.clone();
        assert_eq!(attribution(&mut copy, &mut v).as_ref(), Some(&a), "{v:?}");
        let read = attribution_draft(&mut document, &mut v).parse(&mut v);
        assert_eq!(read.as_ref(), Some(&a), "{v:?}");
        Ok(())
    }

    #[test]
    fn members_parsed_one_by_one_report_problems_in_member_order() {
        let mut item = json!({"confidence": 1.5, "source_type": 7})
            .as_object()
            .cloned()
            .unwrap_or_default();
        let mut v = Violations::new();
        assert_eq!(attribution(&mut item, &mut v), None);
        let fields: Vec<_> = v.as_slice().iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["confidence", "source_type"]);
    }

    #[test]
    fn every_item_is_read_and_ids_are_kept_only_from_an_export() {
        let id = uuid::Uuid::now_v7();
        let item = json!({"id": id.to_string(), "type": "Doc", "name": "d"});
        let err = parse(vec![item.clone()], vec![json!(7)]).err();
        let fields: Vec<_> = err
            .iter()
            .flat_map(|v| v.as_slice())
            .map(|f| f.field.as_str())
            .collect();
        assert_eq!(fields, ["entities[0].id", "relationships[0].item"]);
        let batch = parse_export(vec![item], vec![]).ok();
        assert_eq!(batch.as_ref().map(|b| b.entities().len()), Some(1));
    }

    #[test]
    fn an_export_keeps_metadata_stored_before_the_value_count() {
        // 3,000 values: stored once, refused as a new write.
        let many = json!({ "a": vec![0; 3000] });
        let item = json!({"type": "Doc", "name": "d", "metadata": many});
        assert!(parse(vec![item.clone()], vec![]).is_err());
        let batch = parse_export(vec![item], vec![]).ok();
        assert_eq!(
            batch
                .as_ref()
                .and_then(|b| b.entities().first())
                .map(|e| e.attribution.metadata.to_value()),
            Some(many)
        );
    }
}
