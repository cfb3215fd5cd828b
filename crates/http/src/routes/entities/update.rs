//! `PATCH /v1/entities/{id}`: a JSON merge patch (RFC 7396), conditional on
//! `If-Match`.

use actix_web::{HttpRequest, HttpResponse, web};
use kg_domain::EntityId;
use serde_json::{Map, Value};

use super::entity_response;
use crate::extract::{Authenticated, JsonBody, if_match, parse_id};
use crate::{ApiError, AppState, merge_patch};

#[utoipa::path(
    patch,
    path = "/v1/entities/{id}",
    operation_id = "updateEntity",
    tag = "entities",
    params(("id" = String, Path, format = Uuid, description = "The entity's id."), ("If-Match" = String, Header, description = "The `ETag` of the version this change is based on.")),
    request_body(content = super::super::openapi::EntityPatch, content_type = "application/merge-patch+json"),
    responses(
        (status = 200, description = "The changed entity.", body = super::EntityResponse, headers(("ETag" = String, description = "The version, for `If-Match`."))),
        (status = 404, description = "`entity_not_found`: no live entity has this id.", content_type = "application/problem+json", body = crate::error::Problem),
        (status = 409, description = "`external_id_taken`: another live entity has this `external_id`.", content_type = "application/problem+json", body = crate::error::Problem),
        (status = 412, description = "`precondition_failed`: `If-Match` is not the current version.", content_type = "application/problem+json", body = crate::error::Problem),
        (status = 428, description = "`precondition_required`: send `If-Match`.", content_type = "application/problem+json", body = crate::error::Problem),
    ),
)]
#[tracing::instrument(skip_all)]
pub(crate) async fn handle(
    state: web::Data<AppState>,
    req: HttpRequest,
    Authenticated(ctx): Authenticated,
    path: web::Path<String>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    ctx.actor.require_writer()?;
    let patch: Map<String, Value> = body.parse()?;
    let id: EntityId = parse_id(&path, "id")?;
    let expected = if_match(&req)?;
    let entity = state
        .entities
        .update(&ctx, id, expected, merge_patch::entity(&patch))
        .await?;
    Ok(entity_response(HttpResponse::Ok(), entity))
}
