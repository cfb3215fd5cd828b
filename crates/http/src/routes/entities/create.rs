//! `POST /v1/entities`.

use actix_web::{HttpResponse, web};
use kg_application::EntityDraft;
use serde::Deserialize;
use serde_json::Value;

use super::entity_response;
use crate::extract::{Authenticated, JsonBody};
use crate::{ApiError, AppState};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateEntityRequest {
    #[serde(rename = "type")]
    kind: String,
    name: String,
    external_id: Option<String>,
    confidence: Option<f64>,
    source: Option<String>,
    source_type: Option<String>,
    metadata: Option<Value>,
}

#[tracing::instrument(skip_all)]
pub(crate) async fn handle(
    state: web::Data<AppState>,
    Authenticated(ctx): Authenticated,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    ctx.actor.require_writer()?;
    let body: CreateEntityRequest = body.parse()?;
    let data = EntityDraft {
        kind: Some(body.kind),
        name: Some(body.name),
        external_id: body.external_id,
        confidence: body.confidence,
        source: body.source,
        source_type: body.source_type,
        metadata: body.metadata,
    }
    .parse()
    .map_err(|v| ApiError::validation(&v))?;
    let entity = state.entities.create(&ctx, data).await?;
    let mut res = HttpResponse::Created();
    res.insert_header(("Location", format!("/v1/entities/{}", entity.id)));
    Ok(entity_response(res, entity))
}
