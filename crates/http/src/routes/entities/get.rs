//! `GET /v1/entities/{id}`.

use actix_web::{HttpRequest, HttpResponse, web};
use kg_domain::EntityId;

use super::entity_response;
use crate::extract::{Authenticated, not_modified, parse_id};
use crate::{ApiError, AppState};

#[utoipa::path(
    get,
    path = "/v1/entities/{id}",
    operation_id = "getEntity",
    tag = "entities",
    params(("If-None-Match" = Option<String>, Header, description = "ETags the client holds: when one is current, the answer is 304 without a body."), ("id" = String, Path, format = Uuid, description = "The entity's id.")),
    responses(
        (status = 200, description = "The entity.", body = super::EntityResponse, headers(("ETag" = String, description = "The version, for `If-Match`."))),
        (status = 304, description = "Not modified: `If-None-Match` names the current version.", headers(("ETag" = String))),
        (status = 404, description = "`entity_not_found`: no live entity has this id.", content_type = "application/problem+json", body = crate::error::Problem),
    ),
)]
pub(crate) async fn handle(
    req: HttpRequest,
    state: web::Data<AppState>,
    Authenticated(ctx): Authenticated,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id: EntityId = parse_id(&path, "id")?;
    let entity = state.entities.get(&ctx, id).await?;
    if let Some(res) = not_modified(&req, entity.lifecycle.version) {
        return Ok(res);
    }
    Ok(entity_response(HttpResponse::Ok(), entity))
}
