//! The attribution members every entity and relationship answer carries.

use kg_domain::{Attribution, Confidence, SourceRef, TypeName};
use serde::Serialize;
use serde_json::Value;

/// How sure the source of a fact is, where it came from, and its metadata.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct AttributionResponse {
    /// From 0 to 1.
    #[schema(required = true)]
    confidence: Option<f64>,
    /// Where the fact came from.
    #[schema(required = true)]
    source: Option<String>,
    /// What kind of source that is.
    #[schema(required = true)]
    source_type: Option<String>,
    /// Free-form JSON metadata.
    metadata: Value,
}

impl From<Attribution> for AttributionResponse {
    fn from(a: Attribution) -> Self {
        let Attribution {
            confidence,
            source_ref,
            source_type,
            metadata,
        } = a;
        Self {
            confidence: confidence.map(Confidence::get),
            source: source_ref.map(SourceRef::into_inner),
            source_type: source_type.map(TypeName::into_inner),
            metadata: metadata.into_value(),
        }
    }
}
