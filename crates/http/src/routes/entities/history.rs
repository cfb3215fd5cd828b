//! `GET /v1/entities/{id}/history`: who changed the entity, when, in which
//! request, and what changed, oldest first. A deleted entity keeps it.

use actix_web::{HttpResponse, web};
use kg_domain::EntityId;
use serde::Deserialize;

use crate::extract::{Authenticated, parse_id};
use crate::routes::audit::{AuditPageResponse, log_page};
use crate::{ApiError, AppState};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Query {
    limit: Option<String>,
    cursor: Option<String>,
}

#[utoipa::path(
    get,
    path = "/v1/entities/{id}/history",
    operation_id = "getEntityHistory",
    tag = "entities",
    params(("id" = String, Path, format = Uuid, description = "The entity's id."), ("limit" = Option<u16>, Query, minimum = 1, maximum = 100, description = "The page size (50 when absent)."), ("cursor" = Option<String>, Query, description = "The `next_cursor` of the previous page.")),
    responses(
        (status = 200, description = "Who changed the entity, when and how, oldest first.", body = crate::routes::audit::AuditPageResponse),
        (status = 404, description = "`entity_not_found`: no entity, live or deleted, has this id.", content_type = "application/problem+json", body = crate::error::Problem),
    ),
)]
pub(crate) async fn handle(
    state: web::Data<AppState>,
    Authenticated(ctx): Authenticated,
    path: web::Path<String>,
    query: web::Query<Query>,
) -> Result<HttpResponse, ApiError> {
    let id: EntityId = parse_id(&path, "id")?;
    let (after, limit) = log_page(query.limit.as_deref(), ("cursor", query.cursor.as_deref()))?;
    let page = state.history.entity_history(&ctx, id, after, limit).await?;
    Ok(HttpResponse::Ok().json(AuditPageResponse::from(page)))
}
