//! `GET /v1/entities/{id}`.

use actix_web::{HttpResponse, web};
use kg_domain::EntityId;

use super::entity_response;
use crate::extract::{Authenticated, parse_id};
use crate::{ApiError, AppState};

#[utoipa::path(
    get,
    path = "/v1/entities/{id}",
    operation_id = "getEntity",
    tag = "entities",
    params(("id" = String, Path, format = Uuid, description = "The entity's id.")),
    responses(
        (status = 200, description = "The entity.", body = super::EntityResponse, headers(("ETag" = String, description = "The version, for `If-Match`."))),
        (status = 404, description = "`entity_not_found`: no live entity has this id.", content_type = "application/problem+json", body = crate::error::Problem),
    ),
)]
pub(crate) async fn handle(
    state: web::Data<AppState>,
    Authenticated(ctx): Authenticated,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id: EntityId = parse_id(&path, "id")?;
    let entity = state.entities.get(&ctx, id).await?;
    Ok(entity_response(HttpResponse::Ok(), entity))
}
