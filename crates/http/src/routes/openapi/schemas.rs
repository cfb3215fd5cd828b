//! Schema-only types: bodies the handlers read as raw JSON (merge patches,
//! batch items), whose rules live in the application crate.

/// A JSON merge patch (RFC 7396) of an entity: members set to `null` clear
/// optional fields, `metadata` merges recursively.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(
    dead_code,
    reason = "describes a body the handler reads as a JSON object"
)]
pub(crate) struct EntityPatch {
    #[schema(
        rename = "type",
        nullable = false,
        pattern = "^[A-Za-z][A-Za-z0-9_.-]{0,99}$"
    )]
    kind: Option<String>,
    #[schema(nullable = false)]
    name: Option<String>,
    external_id: Option<String>,
    #[schema(minimum = 0, maximum = 1)]
    confidence: Option<f64>,
    source: Option<String>,
    source_type: Option<String>,
    /// Merged into the stored metadata; a member set to `null` is removed.
    #[schema(value_type = Option<Object>, nullable = false)]
    metadata: Option<serde_json::Value>,
}

/// A JSON merge patch (RFC 7396) of a relationship. Its ends cannot change.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(
    dead_code,
    reason = "describes a body the handler reads as a JSON object"
)]
pub(crate) struct RelationshipPatch {
    #[schema(
        rename = "type",
        nullable = false,
        pattern = "^[A-Za-z][A-Za-z0-9_.-]{0,99}$"
    )]
    kind: Option<String>,
    #[schema(minimum = 0, maximum = 1)]
    confidence: Option<f64>,
    source: Option<String>,
    source_type: Option<String>,
    /// Merged into the stored metadata; a member set to `null` is removed.
    #[schema(value_type = Option<Object>, nullable = false)]
    metadata: Option<serde_json::Value>,
}

/// A JSON merge patch (RFC 7396) of an account's role and state.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(
    dead_code,
    reason = "describes a body the handler reads as a JSON object"
)]
pub(crate) struct UserPatch {
    #[schema(nullable = false, pattern = "^(admin|editor|viewer)$")]
    role: Option<String>,
    #[schema(nullable = false)]
    is_active: Option<bool>,
}

/// A relationship in a batch: each end by id or by `external_id`, not both.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(
    dead_code,
    reason = "describes a body the handler reads as a JSON object"
)]
pub(crate) struct BatchRelationship {
    #[schema(format = Uuid, nullable = false)]
    source_id: Option<String>,
    #[schema(nullable = false)]
    source_external_id: Option<String>,
    #[schema(format = Uuid, nullable = false)]
    target_id: Option<String>,
    #[schema(nullable = false)]
    target_external_id: Option<String>,
    #[schema(rename = "type", pattern = "^[A-Za-z][A-Za-z0-9_.-]{0,99}$")]
    kind: String,
    #[schema(minimum = 0, maximum = 1)]
    confidence: Option<f64>,
    source: Option<String>,
    source_type: Option<String>,
    #[schema(value_type = Option<Object>)]
    metadata: Option<serde_json::Value>,
}
