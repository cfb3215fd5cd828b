//! `PATCH /v1/relationships/{id}`: a JSON merge patch (RFC 7396) of the
//! relationship's attributes, conditional on `If-Match`.

use actix_web::{HttpRequest, HttpResponse, web};
use kg_domain::RelationshipId;
use serde_json::{Map, Value};

use super::relationship_response;
use crate::extract::{Authenticated, JsonBody, if_match, parse_id};
use crate::{ApiError, AppState};

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
        .update(&ctx, id, expected, &patch)
        .await?;
    Ok(relationship_response(HttpResponse::Ok(), relationship))
}
