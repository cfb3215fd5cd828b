//! `GET /v1/relationships`: filtered by source, target, type, confidence,
//! creation time and metadata.

use actix_web::{HttpResponse, web};
use kg_application::RelationshipFilter;
use kg_domain::{EntityId, TypeName, Violations};

use super::RelationshipResponse;
use crate::extract::Authenticated;
use crate::routes::{ListParams, PageResponse, confidence, page_request, time};
use crate::{ApiError, AppState};

const PARAMS: [&str; 7] = [
    "limit",
    "cursor",
    "source_id",
    "target_id",
    "type",
    "min_confidence",
    "created_after",
];

#[utoipa::path(
    get,
    path = "/v1/relationships",
    operation_id = "listRelationships",
    tag = "relationships",
    params(("limit" = Option<u16>, Query, minimum = 1, maximum = 100, description = "The page size (50 when absent)."), ("cursor" = Option<String>, Query, description = "The `next_cursor` of the previous page."), ("source_id" = Option<String>, Query, format = Uuid, description = "Only relationships from this entity."), ("target_id" = Option<String>, Query, format = Uuid, description = "Only relationships to this entity."), ("type" = Option<String>, Query, description = "Only relationships of this type."), ("min_confidence" = Option<f64>, Query, minimum = 0, maximum = 1, description = "At least this confidence."), ("created_after" = Option<String>, Query, format = DateTime, description = "Created after this RFC 3339 time.")),
    responses(
        (status = 200, description = "A page of live relationships, by id. `metadata.<key>=<value>` parameters (up to 5) filter on metadata.", body = crate::routes::PageResponse<super::RelationshipResponse>),
    ),
)]
pub(crate) async fn handle(
    state: web::Data<AppState>,
    Authenticated(ctx): Authenticated,
    query: web::Query<Vec<(String, String)>>,
) -> Result<HttpResponse, ApiError> {
    let mut v = Violations::new();
    let mut params = ListParams::read(&mut v, &query, &PARAMS);
    let (limit, cursor) = (params.take("limit"), params.take("cursor"));
    let page = page_request(&mut v, limit.as_deref(), cursor.as_deref());
    let uuid = |s: String| s.parse::<EntityId>().map_err(|_| "must be a UUID");
    let filter = RelationshipFilter {
        source_id: v
            .check_opt("source_id", params.take("source_id"), uuid)
            .flatten(),
        target_id: v
            .check_opt("target_id", params.take("target_id"), uuid)
            .flatten(),
        kind: v
            .check_opt("type", params.take("type"), TypeName::parse)
            .flatten(),
        min_confidence: v
            .check_opt("min_confidence", params.take("min_confidence"), confidence)
            .flatten(),
        created_after: v
            .check_opt("created_after", params.take("created_after"), time)
            .flatten(),
        metadata: params.metadata,
        touching: None,
    };
    let Some(page) = page.filter(|_| v.is_empty()) else {
        return Err(ApiError::validation(&v));
    };
    let relationships = state.relationships.list(&ctx, &filter, page).await?;
    Ok(HttpResponse::Ok().json(PageResponse::from_page(
        relationships,
        RelationshipResponse::from,
    )))
}
