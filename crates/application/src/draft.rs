//! Client input for entities and relationships, before it is parsed into
//! domain values, and RFC 7396 JSON merge patches over it.
//!
//! Creation and patching share one parser, so a patched resource satisfies
//! exactly the rules a created one does.

use kg_domain::{
    Confidence, EntityData, EntityName, ExternalId, Metadata, SourceRef, TypeName, Violations,
};
use serde_json::{Map, Value};

/// An entity as a client describes it; nothing is checked yet.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EntityDraft {
    /// `type`.
    pub kind: Option<String>,
    /// `name`.
    pub name: Option<String>,
    /// `external_id`.
    pub external_id: Option<String>,
    /// `confidence`.
    pub confidence: Option<f64>,
    /// `source`.
    pub source: Option<String>,
    /// `source_type`.
    pub source_type: Option<String>,
    /// `metadata`; an empty object when absent.
    pub metadata: Option<Value>,
}

impl EntityDraft {
    /// Parses every field, reporting all problems at once.
    ///
    /// # Errors
    /// The [`Violations`] of every invalid or missing field.
    pub fn parse(self) -> Result<EntityData, Violations> {
        let mut v = Violations::new();
        let kind =
            required(&mut v, "type", self.kind).and_then(|k| v.check("type", TypeName::parse(k)));
        let name =
            required(&mut v, "name", self.name).and_then(|n| v.check("name", EntityName::parse(n)));
        let external_id = v.check_opt("external_id", self.external_id, ExternalId::parse);
        let confidence = v.check_opt("confidence", self.confidence, Confidence::new);
        let source = v.check_opt("source", self.source, SourceRef::parse);
        let source_type = v.check_opt("source_type", self.source_type, TypeName::parse);
        let metadata = v.check(
            "metadata",
            Metadata::new(self.metadata.unwrap_or_else(|| Value::Object(Map::new()))),
        );
        match (
            kind,
            name,
            external_id,
            confidence,
            source,
            source_type,
            metadata,
        ) {
            (
                Some(kind),
                Some(name),
                Some(external_id),
                Some(confidence),
                Some(source),
                Some(source_type),
                Some(metadata),
            ) if v.is_empty() => Ok(EntityData {
                kind,
                name,
                external_id,
                confidence,
                source,
                source_type,
                metadata,
            }),
            _ => Err(v),
        }
    }

    /// The draft that describes existing data, as the base of a patch.
    #[must_use]
    pub fn from_data(data: &EntityData) -> Self {
        Self {
            kind: Some(data.kind.to_string()),
            name: Some(data.name.to_string()),
            external_id: data.external_id.as_ref().map(ToString::to_string),
            confidence: data.confidence.map(Confidence::get),
            source: data.source.as_ref().map(ToString::to_string),
            source_type: data.source_type.as_ref().map(ToString::to_string),
            metadata: Some(data.metadata.to_value()),
        }
    }

    /// Applies an RFC 7396 merge patch and parses the result: a member set
    /// to `null` removes an optional field, `metadata` merges recursively,
    /// and any other member replaces the field.
    ///
    /// # Errors
    /// [`Violations`] for unknown members, members of the wrong JSON type,
    /// `null` for a required field, and every rule the result breaks, all
    /// at once.
    pub fn apply_patch(self, patch: &Map<String, Value>) -> Result<EntityData, Violations> {
        let (draft, mut v) = self.merge_patch(patch);
        match draft.parse() {
            Ok(data) if v.is_empty() => Ok(data),
            Ok(_) => Err(v),
            Err(more) => {
                v.extend(more);
                Err(v)
            }
        }
    }

    fn merge_patch(mut self, patch: &Map<String, Value>) -> (Self, Violations) {
        let mut v = Violations::new();
        for (key, value) in patch {
            match key.as_str() {
                "type" => set_required_string(&mut v, key, value, &mut self.kind),
                "name" => set_required_string(&mut v, key, value, &mut self.name),
                "external_id" => set_string(&mut v, key, value, &mut self.external_id),
                "source" => set_string(&mut v, key, value, &mut self.source),
                "source_type" => set_string(&mut v, key, value, &mut self.source_type),
                "confidence" => set_confidence(&mut v, key, value, &mut self.confidence),
                "metadata" => merge_metadata(value, &mut self.metadata),
                _ => v.push(key.as_str(), "is not a field that can be changed"),
            }
        }
        (self, v)
    }
}

/// A relationship as a client describes it; nothing is checked yet.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RelationshipDraft {
    /// `source_id`.
    pub source_id: Option<String>,
    /// `target_id`.
    pub target_id: Option<String>,
    /// `type`.
    pub kind: Option<String>,
    /// `confidence`.
    pub confidence: Option<f64>,
    /// `source`.
    pub source: Option<String>,
    /// `source_type`.
    pub source_type: Option<String>,
    /// `metadata`; an empty object when absent.
    pub metadata: Option<Value>,
}

impl RelationshipDraft {
    /// Parses every field, reporting all problems at once.
    ///
    /// # Errors
    /// The [`Violations`] of every invalid or missing field, and `target_id`
    /// when the relationship would point at its own source.
    pub fn parse(self) -> Result<kg_domain::RelationshipData, Violations> {
        let mut v = Violations::new();
        let parse_id = |s: String| {
            s.parse::<kg_domain::EntityId>()
                .map_err(|_| "must be a UUID")
        };
        let source_id = required(&mut v, "source_id", self.source_id)
            .and_then(|s| v.check("source_id", parse_id(s)));
        let target_id = required(&mut v, "target_id", self.target_id)
            .and_then(|s| v.check("target_id", parse_id(s)));
        let kind =
            required(&mut v, "type", self.kind).and_then(|k| v.check("type", TypeName::parse(k)));
        let confidence = v.check_opt("confidence", self.confidence, Confidence::new);
        let source = v.check_opt("source", self.source, SourceRef::parse);
        let source_type = v.check_opt("source_type", self.source_type, TypeName::parse);
        let metadata = v.check(
            "metadata",
            Metadata::new(self.metadata.unwrap_or_else(|| Value::Object(Map::new()))),
        );
        let ends = match (source_id, target_id) {
            (Some(s), Some(t)) => v.check("target_id", kg_domain::Endpoints::new(s, t)),
            _ => None,
        };
        match (ends, kind, confidence, source, source_type, metadata) {
            (
                Some(ends),
                Some(kind),
                Some(confidence),
                Some(source),
                Some(source_type),
                Some(metadata),
            ) if v.is_empty() => Ok(kg_domain::RelationshipData {
                ends,
                kind,
                confidence,
                source,
                source_type,
                metadata,
            }),
            _ => Err(v),
        }
    }

    /// The draft that describes existing data, as the base of a patch.
    #[must_use]
    pub fn from_data(data: &kg_domain::RelationshipData) -> Self {
        Self {
            source_id: Some(data.ends.source().to_string()),
            target_id: Some(data.ends.target().to_string()),
            kind: Some(data.kind.to_string()),
            confidence: data.confidence.map(Confidence::get),
            source: data.source.as_ref().map(ToString::to_string),
            source_type: data.source_type.as_ref().map(ToString::to_string),
            metadata: Some(data.metadata.to_value()),
        }
    }

    /// Applies an RFC 7396 merge patch and parses the result, as
    /// [`EntityDraft::apply_patch`] does. The ends of a relationship are its
    /// identity: a patch may repeat them but not change them.
    ///
    /// # Errors
    /// [`Violations`] for unknown members, changed ends, members of the
    /// wrong JSON type, and every rule the result breaks, all at once.
    pub fn apply_patch(
        mut self,
        patch: &Map<String, Value>,
    ) -> Result<kg_domain::RelationshipData, Violations> {
        let mut v = Violations::new();
        for (key, value) in patch {
            match key.as_str() {
                "source_id" | "target_id" => {
                    let current = if key == "source_id" {
                        &self.source_id
                    } else {
                        &self.target_id
                    };
                    let same = value
                        .as_str()
                        .and_then(|s| s.parse::<kg_domain::EntityId>().ok())
                        .is_some_and(|id| current.as_deref() == Some(id.to_string().as_str()));
                    if !same {
                        v.push(
                            key.as_str(),
                            "cannot be changed; delete the relationship and create another",
                        );
                    }
                }
                "type" => set_required_string(&mut v, key, value, &mut self.kind),
                "source" => set_string(&mut v, key, value, &mut self.source),
                "source_type" => set_string(&mut v, key, value, &mut self.source_type),
                "confidence" => set_confidence(&mut v, key, value, &mut self.confidence),
                "metadata" => merge_metadata(value, &mut self.metadata),
                _ => v.push(key.as_str(), "is not a field that can be changed"),
            }
        }
        match self.parse() {
            Ok(data) if v.is_empty() => Ok(data),
            Ok(_) => Err(v),
            Err(more) => {
                v.extend(more);
                Err(v)
            }
        }
    }
}

fn set_confidence(v: &mut Violations, key: &str, value: &Value, slot: &mut Option<f64>) {
    match value {
        Value::Null => *slot = None,
        Value::Number(n) => *slot = n.as_f64(),
        _ => v.push(key, "must be a number or null"),
    }
}

fn merge_metadata(patch: &Value, slot: &mut Option<Value>) {
    let base = slot.take().unwrap_or_else(|| Value::Object(Map::new()));
    *slot = Some(merge(base, patch));
}

fn required(v: &mut Violations, field: &str, value: Option<String>) -> Option<String> {
    if value.is_none() {
        v.push(field, "is required");
    }
    value
}

fn set_required_string(v: &mut Violations, key: &str, value: &Value, slot: &mut Option<String>) {
    match value {
        Value::String(s) => *slot = Some(s.clone()),
        Value::Null => v.push(key, "is required and cannot be removed"),
        _ => v.push(key, "must be a string"),
    }
}

fn set_string(v: &mut Violations, key: &str, value: &Value, slot: &mut Option<String>) {
    match value {
        Value::String(s) => *slot = Some(s.clone()),
        Value::Null => *slot = None,
        _ => v.push(key, "must be a string or null"),
    }
}

/// RFC 7396 §2 `MergePatch(Target, Patch)`.
fn merge(target: Value, patch: &Value) -> Value {
    let Value::Object(patch) = patch else {
        return patch.clone();
    };
    let mut target = match target {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    for (key, value) in patch {
        if value.is_null() {
            target.remove(key);
        } else {
            let current = target.remove(key).unwrap_or(Value::Null);
            target.insert(key.clone(), merge(current, value));
        }
    }
    Value::Object(target)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn draft() -> EntityDraft {
        EntityDraft {
            kind: Some("Person".into()),
            name: Some("Ada".into()),
            metadata: Some(json!({"a": {"b": 1, "c": 2}, "keep": true})),
            confidence: Some(0.5),
            ..EntityDraft::default()
        }
    }

    fn patch(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn every_invalid_field_is_reported_at_once() {
        let err = EntityDraft {
            kind: Some("9bad".into()),
            name: None,
            confidence: Some(1.5),
            metadata: Some(json!([1])),
            ..EntityDraft::default()
        }
        .parse()
        .expect_err("invalid");
        let fields: Vec<_> = err.as_slice().iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["type", "name", "confidence", "metadata"]);
    }

    #[test]
    fn merge_patch_follows_rfc_7396() {
        let d = draft()
            .apply_patch(&patch(json!({"name": "Ada L.", "confidence": null, "metadata": {"a": {"b": null, "d": 3}}})))
            .expect("valid patch");
        assert_eq!(d.name.as_str(), "Ada L.");
        assert_eq!(d.confidence, None);
        assert_eq!(
            d.metadata.into_value(),
            json!({"a": {"c": 2, "d": 3}, "keep": true})
        );
    }

    #[test]
    fn a_patch_cannot_remove_required_fields_or_touch_server_fields() {
        let err = draft()
            .apply_patch(&patch(json!({"name": null, "id": "x", "version": 9, "created_by": "y", "confidence": "high"})))
            .expect_err("invalid patch");
        let mut fields: Vec<_> = err.as_slice().iter().map(|f| f.field.clone()).collect();
        fields.sort();
        assert_eq!(
            fields,
            ["confidence", "created_by", "id", "name", "version"]
        );
    }

    #[test]
    fn a_patched_draft_is_parsed_by_the_same_rules_and_all_problems_are_reported() {
        let err = draft()
            .apply_patch(&patch(json!({"confidence": 7.5, "id": "x"})))
            .expect_err("invalid");
        let fields: Vec<_> = err.as_slice().iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["id", "confidence"]);
    }

    #[test]
    fn a_self_loop_is_reported_on_target_id() {
        let id = uuid::Uuid::now_v7().to_string();
        let err = RelationshipDraft {
            source_id: Some(id.clone()),
            target_id: Some(id),
            kind: Some("KNOWS".into()),
            ..RelationshipDraft::default()
        }
        .parse()
        .expect_err("self loop");
        assert_eq!(err.as_slice()[0].field, "target_id");
    }
}
