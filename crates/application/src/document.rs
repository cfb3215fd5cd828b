//! Entities and relationships as kg shows them: the one representation of
//! each, carried by every answer (reads, creates and their replays), the
//! change feed, the export and the audit trail's field changes.
//!
//! With the `openapi` feature the types also describe themselves as
//! OpenAPI schemas, so the contract is derived from the same definition.

use chrono::{DateTime, Utc};
use kg_domain::{
    Attribution, Confidence, Entity, Lifecycle, Metadata, Relationship, SourceRef, TypeName,
};
use serde::Serialize;
use serde_json::{Value, json};

/// How sure the source of a fact is, where it came from, and its metadata.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = AttributionResponse))]
pub struct AttributionDocument {
    /// From 0 to 1: how sure kg is of the fact, its writer's confidence
    /// combined with that of the evidence added for it (noisy-OR).
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub confidence: Option<f64>,
    /// The confidence its writer gave, which `confidence` equals while no
    /// evidence has been added.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub stated_confidence: Option<f64>,
    /// Where the fact came from.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub source: Option<String>,
    /// What kind of source that is.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub source_type: Option<String>,
    /// Free-form JSON metadata.
    #[cfg_attr(feature = "openapi", schema(value_type = Value))]
    pub metadata: Metadata,
}

impl From<Attribution> for AttributionDocument {
    fn from(a: Attribution) -> Self {
        let Attribution {
            confidence,
            source_ref,
            source_type,
            metadata,
        } = a;
        Self {
            confidence: confidence.map(Confidence::get),
            stated_confidence: confidence.map(Confidence::get),
            source: source_ref.map(SourceRef::into_inner),
            source_type: source_type.map(TypeName::into_inner),
            metadata,
        }
    }
}

/// Who made a resource and when, who changed it last and when, and its
/// version.
struct Stamps {
    created_at: DateTime<Utc>,
    created_by: String,
    updated_at: DateTime<Utc>,
    updated_by: String,
    version: i64,
}

impl From<Lifecycle> for Stamps {
    fn from(l: Lifecycle) -> Self {
        Self {
            created_at: l.created_at,
            created_by: l.created_by.to_string(),
            updated_at: l.updated_at,
            updated_by: l.updated_by.to_string(),
            version: l.version.get(),
        }
    }
}

/// An entity as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = EntityResponse))]
pub struct EntityDocument {
    /// Its id.
    pub id: String,
    /// Its type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Its name.
    pub name: String,
    /// The caller's key for it, unique among live entities.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub external_id: Option<String>,
    /// Its attribution.
    #[serde(flatten)]
    pub attribution: AttributionDocument,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// Who created it.
    pub created_by: String,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// Who changed it last.
    pub updated_by: String,
    /// Its version, which `If-Match` names.
    pub version: i64,
}

impl From<Entity> for EntityDocument {
    fn from(e: Entity) -> Self {
        let confidence = e.confidence().map(Confidence::get);
        let (d, s) = (e.data, Stamps::from(e.lifecycle));
        Self {
            id: e.id.to_string(),
            kind: d.kind.into_inner(),
            name: d.name.into_inner(),
            external_id: d.external_id.map(kg_domain::ExternalId::into_inner),
            attribution: AttributionDocument {
                confidence,
                ..d.attribution.into()
            },
            created_at: s.created_at,
            created_by: s.created_by,
            updated_at: s.updated_at,
            updated_by: s.updated_by,
            version: s.version,
        }
    }
}

/// A relationship as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = RelationshipResponse))]
pub struct RelationshipDocument {
    /// Its id.
    pub id: String,
    /// The entity it starts from.
    pub source_id: String,
    /// The entity it points at.
    pub target_id: String,
    /// Its type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Its attribution.
    #[serde(flatten)]
    pub attribution: AttributionDocument,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// Who created it.
    pub created_by: String,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// Who changed it last.
    pub updated_by: String,
    /// Its version, which `If-Match` names.
    pub version: i64,
}

impl From<Relationship> for RelationshipDocument {
    fn from(r: Relationship) -> Self {
        let confidence = r.confidence().map(Confidence::get);
        let (d, s) = (r.data, Stamps::from(r.lifecycle));
        Self {
            id: r.id.to_string(),
            source_id: d.ends.source().to_string(),
            target_id: d.ends.target().to_string(),
            kind: d.kind.into_inner(),
            attribution: AttributionDocument {
                confidence,
                ..d.attribution.into()
            },
            created_at: s.created_at,
            created_by: s.created_by,
            updated_at: s.updated_at,
            updated_by: s.updated_by,
            version: s.version,
        }
    }
}

/// An entity's document as JSON, for what stores or compares it.
#[must_use]
pub fn entity_document(e: &Entity) -> Value {
    json!(EntityDocument::from(e.clone()))
}

/// A relationship's document as JSON, for what stores or compares it.
#[must_use]
pub fn relationship_document(r: &Relationship) -> Value {
    json!(RelationshipDocument::from(r.clone()))
}
