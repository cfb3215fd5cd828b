//! `PATCH /v1/relationships/{id}`: a JSON merge patch (RFC 7396) of the
//! relationship's attributes, conditional on `If-Match`.

use actix_web::{HttpRequest, HttpResponse, web};
use kg_domain::RelationshipId;
use serde_json::{Map, Value};

use super::relationship_response;
use crate::extract::{Authenticated, JsonBody, if_match, parse_id};
use crate::{ApiError, AppState, merge_patch};

#[utoipa::path(
    patch,
    path = "/v1/relationships/{id}",
    operation_id = "updateRelationship",
    tag = "relationships",
    params(("id" = String, Path, format = Uuid, description = "The relationship's id."), ("If-Match" = String, Header, description = "The `ETag` of the version this change is based on.")),
    request_body(content = super::super::openapi::RelationshipPatch, content_type = "application/merge-patch+json"),
    responses(
        (status = 200, description = "The changed relationship.", body = super::RelationshipResponse, headers(("ETag" = String, description = "The version, for `If-Match`."))),
        (status = 404, description = "`relationship_not_found`: no live relationship has this id.", content_type = "application/problem+json", body = crate::error::Problem),
        (status = 409, description = "`duplicate_relationship`: the change would duplicate a live relationship.", content_type = "application/problem+json", body = crate::error::Problem),
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
    let id: RelationshipId = parse_id(&path, "id")?;
    let expected = if_match(&req)?;
    let relationship = state
        .relationships
        .update(&ctx, id, expected, merge_patch::relationship(&patch))
        .await?;
    Ok(relationship_response(HttpResponse::Ok(), relationship))
}
