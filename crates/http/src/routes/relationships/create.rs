//! `POST /v1/relationships`.

use actix_web::{HttpResponse, web};
use kg_application::RelationshipDraft;
use serde::Deserialize;
use serde_json::Value;

use super::relationship_response;
use crate::extract::{Authenticated, JsonBody};
use crate::{ApiError, AppState};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateRelationshipRequest {
    source_id: String,
    target_id: String,
    #[serde(rename = "type")]
    kind: String,
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
    let body: CreateRelationshipRequest = body.parse()?;
    let data = RelationshipDraft {
        source_id: Some(body.source_id),
        target_id: Some(body.target_id),
        kind: Some(body.kind),
        confidence: body.confidence,
        source: body.source,
        source_type: body.source_type,
        metadata: body.metadata,
    }
    .parse()
    .map_err(|v| ApiError::validation(&v))?;
    let relationship = state.relationships.create(&ctx, data).await?;
    let mut res = HttpResponse::Created();
    res.insert_header(("Location", format!("/v1/relationships/{}", relationship.id)));
    Ok(relationship_response(res, relationship))
}
