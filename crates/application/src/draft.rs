//! Client input for new entities and relationships, before it is parsed
//! into domain values.
//!
//! The attribution both kinds carry has one draft, [`AttributionDraft`],
//! with its one parser and its one document. Changes to stored resources
//! are typed patches (`crate::patch`), whose values are parsed by the same
//! domain constructors, so a patched resource satisfies exactly the rules a
//! created one does.

use kg_domain::{
    Attribution, Confidence, EntityData, EntityName, ExternalId, Metadata, SourceRef, TypeName,
    Violations,
};
use serde_json::{Map, Value, json};

use crate::AttributionDocument;

/// An [`Attribution`] as a client describes it; nothing is checked yet.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AttributionDraft {
    /// `confidence`.
    pub confidence: Option<f64>,
    /// `source`: where the fact came from.
    pub source: Option<String>,
    /// `source_type`.
    pub source_type: Option<String>,
    /// `metadata`; an empty object when absent.
    pub metadata: Option<Value>,
}

impl AttributionDraft {
    /// The members an attribution has in every document and request.
    pub const FIELDS: [&str; 4] = ["confidence", "source", "source_type", "metadata"];

    /// Parses every field into `v`'s report; `None` when any is invalid.
    pub fn parse(self, v: &mut Violations) -> Option<Attribution> {
        let confidence = v.check_opt("confidence", self.confidence, Confidence::new);
        let source_ref = v.check_opt("source", self.source, SourceRef::parse);
        let source_type = v.check_opt("source_type", self.source_type, TypeName::parse);
        let metadata = v.check(
            "metadata",
            Metadata::new(self.metadata.unwrap_or_else(|| Value::Object(Map::new()))),
        );
        Some(Attribution {
            confidence: confidence?,
            source_ref: source_ref?,
            source_type: source_type?,
            metadata: metadata?,
        })
    }

    /// The draft that describes an existing attribution.
    #[must_use]
    pub fn from_attribution(a: &Attribution) -> Self {
        let Attribution {
            confidence,
            source_ref,
            source_type,
            metadata,
        } = a;
        Self {
            confidence: confidence.map(Confidence::get),
            source: source_ref.as_ref().map(ToString::to_string),
            source_type: source_type.as_ref().map(ToString::to_string),
            metadata: Some(metadata.to_value()),
        }
    }
}

/// Writes an attribution's members ([`AttributionDraft::FIELDS`]) into a
/// resource's document, as [`AttributionDocument`] shows them.
pub fn attribution_document(a: &Attribution, document: &mut Map<String, Value>) {
    if let Value::Object(members) = json!(AttributionDocument::from(a.clone())) {
        document.extend(
            members
                .into_iter()
                .filter(|(k, _)| AttributionDraft::FIELDS.contains(&k.as_str())),
        );
    }
}

/// An entity as a client describes it; nothing is checked yet.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EntityDraft {
    /// `type`.
    pub kind: Option<String>,
    /// `name`.
    pub name: Option<String>,
    /// `external_id`.
    pub external_id: Option<String>,
    /// `confidence`, `source`, `source_type` and `metadata`.
    pub attribution: AttributionDraft,
}

impl EntityDraft {
    /// The members of an entity besides its attribution.
    pub const OWN_FIELDS: [&str; 3] = ["type", "name", "external_id"];

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
        let attribution = self.attribution.parse(&mut v);
        match (kind, name, external_id, attribution) {
            (Some(kind), Some(name), Some(external_id), Some(attribution)) if v.is_empty() => {
                Ok(EntityData {
                    kind,
                    name,
                    external_id,
                    attribution,
                })
            }
            _ => Err(v),
        }
    }
}

/// A relationship as a client describes it; nothing is checked yet.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RelationshipDraft {
    /// `source_id`: the entity the relationship starts from.
    pub source_id: Option<String>,
    /// `target_id`.
    pub target_id: Option<String>,
    /// `type`.
    pub kind: Option<String>,
    /// `confidence`, `source`, `source_type` and `metadata`.
    pub attribution: AttributionDraft,
}

impl RelationshipDraft {
    /// The members of a relationship besides its attribution.
    pub const OWN_FIELDS: [&str; 3] = ["source_id", "target_id", "type"];

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
        let attribution = self.attribution.parse(&mut v);
        let ends = match (source_id, target_id) {
            (Some(s), Some(t)) => v.check("target_id", kg_domain::Endpoints::new(s, t)),
            _ => None,
        };
        match (ends, kind, attribution) {
            (Some(ends), Some(kind), Some(attribution)) if v.is_empty() => {
                Ok(kg_domain::RelationshipData {
                    ends,
                    kind,
                    attribution,
                })
            }
            _ => Err(v),
        }
    }
}

fn required(v: &mut Violations, field: &str, value: Option<String>) -> Option<String> {
    if value.is_none() {
        v.push(field, "is required");
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_invalid_field_is_reported_at_once() {
        let err = EntityDraft {
            kind: Some("9bad".into()),
            name: None,
            attribution: AttributionDraft {
                confidence: Some(1.5),
                metadata: Some(json!([1])),
                ..AttributionDraft::default()
            },
            ..EntityDraft::default()
        }
        .parse()
        .expect_err("invalid");
        let fields: Vec<_> = err.as_slice().iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["type", "name", "confidence", "metadata"]);
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

    #[test]
    fn an_attribution_survives_its_draft_and_its_document() -> Result<(), Box<dyn std::error::Error>>
    {
        let a = crate::testing::full_attribution()?;
        let mut v = Violations::new();
        let parsed = AttributionDraft::from_attribution(&a).parse(&mut v);
        assert_eq!(parsed.as_ref(), Some(&a), "{v:?}");

        let mut document = Map::new();
        attribution_document(&a, &mut document);
        let mut keys: Vec<&str> = document.keys().map(String::as_str).collect();
        let mut fields = AttributionDraft::FIELDS;
        keys.sort_unstable();
        fields.sort_unstable();
        assert_eq!(keys, fields, "the document has every field");
        Ok(())
    }
}
