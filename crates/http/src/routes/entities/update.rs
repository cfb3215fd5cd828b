//! `PATCH /v1/entities/{id}`: a JSON merge patch (RFC 7396), conditional on
//! `If-Match`.

use actix_web::{HttpRequest, HttpResponse, web};
use kg_domain::EntityId;
use serde_json::{Map, Value};

use super::entity_response;
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
    let id: EntityId = parse_id(&path, "id")?;
    let expected = if_match(&req)?;
    let entity = state.entities.update(&ctx, id, expected, &patch).await?;
    Ok(entity_response(HttpResponse::Ok(), entity))
}
