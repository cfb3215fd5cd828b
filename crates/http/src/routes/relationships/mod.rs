//! `/v1/relationships`.

pub(crate) mod create;
pub(crate) mod delete;
pub(crate) mod get;
pub(crate) mod list;
pub(crate) mod update;

use actix_web::HttpResponse;
use actix_web::http::header;
use chrono::{DateTime, Utc};
use kg_domain::Relationship;
use serde::Serialize;

use crate::extract::etag;
use crate::routes::attribution::AttributionResponse;

/// A relationship as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct RelationshipResponse {
    id: String,
    source_id: String,
    target_id: String,
    #[serde(rename = "type")]
    kind: String,
    #[serde(flatten)]
    attribution: AttributionResponse,
    created_at: DateTime<Utc>,
    created_by: String,
    updated_at: DateTime<Utc>,
    updated_by: String,
    version: i64,
}

impl From<Relationship> for RelationshipResponse {
    fn from(r: Relationship) -> Self {
        let (d, l) = (r.data, r.lifecycle);
        Self {
            id: r.id.to_string(),
            source_id: d.ends.source().to_string(),
            target_id: d.ends.target().to_string(),
            kind: d.kind.into_inner(),
            attribution: d.attribution.into(),
            created_at: l.created_at,
            created_by: l.created_by.to_string(),
            updated_at: l.updated_at,
            updated_by: l.updated_by.to_string(),
            version: l.version.get(),
        }
    }
}

/// A single relationship with its ETag.
pub(crate) fn relationship_response(
    mut res: actix_web::HttpResponseBuilder,
    r: Relationship,
) -> HttpResponse {
    res.insert_header((header::ETAG, etag(r.lifecycle.version)))
        .json(RelationshipResponse::from(r))
}
