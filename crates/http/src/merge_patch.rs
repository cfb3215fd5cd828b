//! RFC 7396 merge-patch documents, read into the application's typed
//! patches.
//!
//! A reader never fails: what it cannot read it refuses, and the use case
//! reports the refused members together with what only the stored resource
//! can tell, so one 422 names every problem. For entities and relationships
//! that is first each member that is unknown or of the wrong JSON type, in
//! the order of the members' names (a JSON object's members are kept
//! sorted), then each value that breaks its field's rule, in field order,
//! then the use case's own (a relationship's changed end, the merged
//! metadata); a user patch's two members are read in name order. A member
//! set to `null` removes an optional field and is refused for a required
//! one.

use kg_application::{
    AttributionPatch, Edit, EntityPatch, FIXED_END, MetadataPatch, PatchRequest, RelationshipPatch,
    UserPatch,
};
use kg_domain::{
    Confidence, EntityId, EntityName, ExternalId, Role, SourceRef, TypeName, Violations,
};
use serde_json::{Map, Value};

/// Why a member cannot be read, before its value is looked at.
type Shape = Result<(), &'static str>;

const NOT_A_FIELD: &str = "is not a field that can be changed";

/// An entity's merge patch.
pub(crate) fn entity(patch: &Map<String, Value>) -> PatchRequest<EntityPatch> {
    let mut v = shapes(patch, |key, value| match key {
        "type" | "name" => required_string(value),
        "external_id" => optional_string(value),
        _ => attribution_shape(key, value).unwrap_or(Err(NOT_A_FIELD)),
    });
    let parsed = EntityPatch {
        kind: required(&mut v, patch, "type", TypeName::parse),
        name: required(&mut v, patch, "name", EntityName::parse),
        external_id: optional(&mut v, patch, "external_id", ExternalId::parse),
        attribution: attribution(&mut v, patch),
    };
    finish(v, parsed)
}

/// A relationship's merge patch. Its ends may be repeated, not changed; an
/// end that is not even an entity id is refused here.
pub(crate) fn relationship(patch: &Map<String, Value>) -> PatchRequest<RelationshipPatch> {
    let end = |value: &Value| value.as_str().and_then(|s| s.parse::<EntityId>().ok());
    let mut v = shapes(patch, |key, value| match key {
        "source_id" | "target_id" => end(value).map(drop).ok_or(FIXED_END),
        "type" => required_string(value),
        _ => attribution_shape(key, value).unwrap_or(Err(NOT_A_FIELD)),
    });
    let parsed = RelationshipPatch {
        source_id: patch.get("source_id").and_then(end),
        target_id: patch.get("target_id").and_then(end),
        kind: required(&mut v, patch, "type", TypeName::parse),
        attribution: attribution(&mut v, patch),
    };
    finish(v, parsed)
}

/// A user's merge patch: `role` and `is_active`.
pub(crate) fn user(patch: &Map<String, Value>) -> PatchRequest<UserPatch> {
    let mut v = Violations::new();
    let mut parsed = UserPatch::default();
    for (key, value) in patch {
        match (key.as_str(), value) {
            ("role", Value::String(r)) => parsed.role = v.check("role", r.parse::<Role>()),
            ("role", _) => v.push("role", "must be one of admin, editor, viewer"),
            ("is_active", Value::Bool(b)) => parsed.is_active = Some(*b),
            ("is_active", _) => v.push("is_active", "must be true or false"),
            (
                "email" | "id" | "password" | "password_hash" | "created_at" | "updated_at"
                | "version",
                _,
            ) => v.push(key.as_str(), "cannot be changed here"),
            _ => v.push(key.as_str(), "is not a field of a user"),
        }
    }
    finish(v, parsed)
}

/// The shape problem of each member, in the order of their names.
fn shapes(patch: &Map<String, Value>, shape: impl Fn(&str, &Value) -> Shape) -> Violations {
    let mut v = Violations::new();
    for (key, value) in patch {
        if let Err(message) = shape(key, value) {
            v.push(key.as_str(), message);
        }
    }
    v
}

/// The shape of an attribution member; `None` when `key` is not one.
fn attribution_shape(key: &str, value: &Value) -> Option<Shape> {
    Some(match key {
        "source" | "source_type" => optional_string(value),
        "confidence" => match value {
            Value::Null | Value::Number(_) => Ok(()),
            _ => Err("must be a number or null"),
        },
        "metadata" => Ok(()),
        _ => return None,
    })
}

/// The attribution members' values, in field order.
fn attribution(v: &mut Violations, patch: &Map<String, Value>) -> AttributionPatch {
    let confidence = match patch.get("confidence") {
        Some(Value::Null) => Edit::Clear,
        Some(Value::Number(n)) => n
            .as_f64()
            .and_then(|c| v.check("confidence", Confidence::new(c)))
            .map_or(Edit::Keep, Edit::Set),
        _ => Edit::Keep,
    };
    AttributionPatch {
        confidence,
        source_ref: optional(v, patch, "source", SourceRef::parse),
        source_type: optional(v, patch, "source_type", TypeName::parse),
        metadata: patch.get("metadata").cloned().map(MetadataPatch::new),
    }
}

fn required_string(value: &Value) -> Shape {
    match value {
        Value::String(_) => Ok(()),
        Value::Null => Err("is required and cannot be removed"),
        _ => Err("must be a string"),
    }
}

fn optional_string(value: &Value) -> Shape {
    match value {
        Value::String(_) | Value::Null => Ok(()),
        _ => Err("must be a string or null"),
    }
}

/// A required string member, parsed; `None` when absent or misshapen.
fn required<T, E: std::fmt::Display>(
    v: &mut Violations,
    patch: &Map<String, Value>,
    key: &str,
    parse: impl FnOnce(String) -> Result<T, E>,
) -> Option<T> {
    let text = patch.get(key)?.as_str()?;
    v.check(key, parse(text.to_owned()))
}

/// An optional string member as a change; kept when absent or invalid.
fn optional<T, E: std::fmt::Display>(
    v: &mut Violations,
    patch: &Map<String, Value>,
    key: &str,
    parse: impl FnOnce(String) -> Result<T, E>,
) -> Edit<T> {
    match patch.get(key) {
        Some(Value::Null) => Edit::Clear,
        Some(Value::String(s)) => v.check(key, parse(s.clone())).map_or(Edit::Keep, Edit::Set),
        _ => Edit::Keep,
    }
}

const fn finish<T>(refused: Violations, patch: T) -> PatchRequest<T> {
    PatchRequest { patch, refused }
}

#[cfg(test)]
mod tests {
    use kg_application::testing::full_attribution;
    use serde_json::json;

    use super::*;

    fn object(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    fn fields(v: &Violations) -> Vec<&str> {
        v.as_slice().iter().map(|f| f.field.as_str()).collect()
    }

    #[test]
    fn merge_patch_follows_rfc_7396() -> Result<(), Box<dyn std::error::Error>> {
        let read = entity(&object(json!({
            "name": "Ada L.", "confidence": null, "external_id": "ada",
            "metadata": {"a": {"b": null, "d": 3}},
        })));
        assert!(read.refused.is_empty(), "{:?}", read.refused);
        let patch = read.patch;
        assert_eq!(patch.name, Some(EntityName::parse("Ada L.")?));
        assert_eq!(patch.kind, None, "absent members are kept");
        assert_eq!(patch.external_id, Edit::Set(ExternalId::parse("ada")?));
        assert_eq!(patch.attribution.confidence, Edit::Clear);
        assert_eq!(
            patch.attribution.metadata,
            Some(MetadataPatch::new(json!({"a": {"b": null, "d": 3}}))),
            "merged by the application"
        );
        Ok(())
    }

    #[test]
    fn a_patch_cannot_remove_required_fields_or_touch_server_fields() {
        let read = entity(&object(json!({
            "name": null, "id": "x", "version": 9, "created_by": "y", "confidence": "high",
        })));
        let mut fields = fields(&read.refused);
        fields.sort_unstable();
        assert_eq!(
            fields,
            ["confidence", "created_by", "id", "name", "version"]
        );
        assert_eq!(
            read.patch,
            EntityPatch::default(),
            "nothing refused is kept"
        );
    }

    #[test]
    fn members_of_the_wrong_shape_come_first_then_broken_rules() {
        let read = entity(&object(json!({"confidence": 7.5, "id": "x"})));
        assert_eq!(fields(&read.refused), ["id", "confidence"]);
        let read = entity(&object(
            json!({"type": "9bad", "name": "", "source_type": 3, "external_id": ""}),
        ));
        assert_eq!(
            fields(&read.refused),
            ["source_type", "type", "name", "external_id"]
        );
    }

    #[test]
    fn every_attribution_field_can_be_patched_and_cleared() -> Result<(), Box<dyn std::error::Error>>
    {
        let full = full_attribution()?;
        let mut document = Map::new();
        kg_application::attribution_document(&full, &mut document);
        for field in kg_application::AttributionDraft::FIELDS {
            let value = document.get(field).cloned().ok_or(field)?;
            let set = entity(&object(json!({ field: value })));
            assert!(set.refused.is_empty(), "{field}: {:?}", set.refused);
            let clear = if field == "metadata" {
                json!({"k": null})
            } else {
                Value::Null
            };
            let cleared = entity(&object(json!({ field: clear })));
            assert!(cleared.refused.is_empty(), "{field}: {:?}", cleared.refused);
            let (set, cleared) = (set.patch.attribution, cleared.patch.attribution);
            let expected = match field {
                "confidence" => (
                    AttributionPatch {
                        confidence: full.confidence.map_or(Edit::Keep, Edit::Set),
                        ..AttributionPatch::default()
                    },
                    AttributionPatch {
                        confidence: Edit::Clear,
                        ..AttributionPatch::default()
                    },
                ),
                "source" => (
                    AttributionPatch {
                        source_ref: full.source_ref.clone().map_or(Edit::Keep, Edit::Set),
                        ..AttributionPatch::default()
                    },
                    AttributionPatch {
                        source_ref: Edit::Clear,
                        ..AttributionPatch::default()
                    },
                ),
                "source_type" => (
                    AttributionPatch {
                        source_type: full.source_type.clone().map_or(Edit::Keep, Edit::Set),
                        ..AttributionPatch::default()
                    },
                    AttributionPatch {
                        source_type: Edit::Clear,
                        ..AttributionPatch::default()
                    },
                ),
                "metadata" => (
                    AttributionPatch {
                        metadata: Some(MetadataPatch::new(full.metadata.to_value())),
                        ..AttributionPatch::default()
                    },
                    AttributionPatch {
                        metadata: Some(MetadataPatch::new(json!({"k": null}))),
                        ..AttributionPatch::default()
                    },
                ),
                other => return Err(format!("{other} is not read").into()),
            };
            assert_eq!((set, cleared), expected, "{field}");
        }
        Ok(())
    }

    #[test]
    fn a_relationship_patch_reads_its_ends_but_refuses_what_is_no_id() {
        let id = EntityId::generate();
        let read = relationship(&object(json!({"source_id": id.to_string(), "type": "MET"})));
        assert!(read.refused.is_empty(), "{:?}", read.refused);
        assert_eq!(read.patch.source_id, Some(id));
        assert_eq!(read.patch.target_id, None);
        let read = relationship(&object(json!({"target_id": "x", "name": "n"})));
        assert_eq!(fields(&read.refused), ["name", "target_id"]);
    }

    #[test]
    fn a_user_patch_rejects_unknown_and_server_owned_fields() {
        let read = user(&object(json!({
            "email": "x@example.org", "role": "god", "is_active": "yes", "nickname": "x",
        })));
        let mut fields = fields(&read.refused);
        fields.sort_unstable();
        assert_eq!(fields, ["email", "is_active", "nickname", "role"]);
        let read = user(&object(json!({"role": "viewer", "is_active": false})));
        assert!(read.refused.is_empty(), "{:?}", read.refused);
        assert_eq!(read.patch.role, Some(Role::Viewer));
        assert_eq!(read.patch.is_active, Some(false));
    }
}
