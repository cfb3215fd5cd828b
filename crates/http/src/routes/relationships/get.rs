//! `GET /v1/relationships/{id}`.

use actix_web::{HttpRequest, HttpResponse, web};
use kg_domain::RelationshipId;

use super::relationship_response;
use crate::extract::{Authenticated, not_modified, parse_id};
use crate::{ApiError, AppState};

#[utoipa::path(
    get,
    path = "/v1/relationships/{id}",
    operation_id = "getRelationship",
    tag = "relationships",
    params(("If-None-Match" = Option<String>, Header, description = "ETags the client holds: when one is current, the answer is 304 without a body."), ("id" = String, Path, format = Uuid, description = "The relationship's id.")),
    responses(
        (status = 200, description = "The relationship.", body = super::RelationshipResponse, headers(("ETag" = String, description = "The version, for `If-Match`."))),
        (status = 304, description = "Not modified: `If-None-Match` names the current version.", headers(("ETag" = String))),
        (status = 404, description = "`relationship_not_found`: no live relationship has this id.", content_type = "application/problem+json", body = crate::error::Problem),
    ),
)]
pub(crate) async fn handle(
    req: HttpRequest,
    state: web::Data<AppState>,
    Authenticated(ctx): Authenticated,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id: RelationshipId = parse_id(&path, "id")?;
    let relationship = state.relationships.get(&ctx, id).await?;
    if let Some(res) = not_modified(&req, relationship.lifecycle.version) {
        return Ok(res);
    }
    Ok(relationship_response(HttpResponse::Ok(), relationship))
}
