//! `/v1/entities`.

pub(crate) mod create;
pub(crate) mod delete;
pub(crate) mod get;
pub(crate) mod history;
pub(crate) mod list;
pub(crate) mod neighbors;
pub(crate) mod relationships;
pub(crate) mod restore;
pub(crate) mod update;

use actix_web::HttpResponse;
use actix_web::http::header;
use chrono::{DateTime, Utc};
use kg_domain::Entity;
use serde::Serialize;

use crate::extract::etag;
use crate::routes::attribution::AttributionResponse;

/// An entity as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct EntityResponse {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    name: String,
    #[schema(required = true)]
    external_id: Option<String>,
    #[serde(flatten)]
    attribution: AttributionResponse,
    created_at: DateTime<Utc>,
    created_by: String,
    updated_at: DateTime<Utc>,
    updated_by: String,
    version: i64,
}

impl From<Entity> for EntityResponse {
    fn from(e: Entity) -> Self {
        let (d, l) = (e.data, e.lifecycle);
        Self {
            id: e.id.to_string(),
            kind: d.kind.into_inner(),
            name: d.name.into_inner(),
            external_id: d.external_id.map(kg_domain::ExternalId::into_inner),
            attribution: d.attribution.into(),
            created_at: l.created_at,
            created_by: l.created_by.to_string(),
            updated_at: l.updated_at,
            updated_by: l.updated_by.to_string(),
            version: l.version.get(),
        }
    }
}

/// A single entity with its ETag.
pub(crate) fn entity_response(
    mut res: actix_web::HttpResponseBuilder,
    entity: Entity,
) -> HttpResponse {
    res.insert_header((header::ETAG, etag(entity.lifecycle.version)))
        .json(EntityResponse::from(entity))
}
