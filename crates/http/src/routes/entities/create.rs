//! `POST /v1/entities`.

use actix_web::{HttpRequest, HttpResponse, web};
use kg_application::{EntityDraft, StoredResponse, entity_document};
use kg_domain::Entity;
use serde::Deserialize;
use serde_json::Value;

use crate::extract::{Authenticated, JsonBody, etag};
use crate::idempotency;
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
    req: HttpRequest,
    Authenticated(ctx): Authenticated,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    ctx.actor.require_writer()?;
    let raw = body.raw().unwrap_or_default();
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
    let keyed = idempotency::keyed_request(&req, &ctx, &raw)?;
    let respond = |e: &Entity| StoredResponse {
        status: 201,
        location: Some(format!("/v1/entities/{}", e.id)),
        etag: Some(etag(e.lifecycle.version)),
        body: entity_document(e),
    };
    let (state, ctx, respond) = (&state, &ctx, &respond);
    idempotency::run(state, keyed, |keyed| async move {
        let keyed = keyed
            .as_ref()
            .map(|k| (k, respond as &(dyn Fn(&Entity) -> StoredResponse + Sync)));
        let entity = state.entities.create_keyed(ctx, data, keyed).await?;
        Ok(idempotency::respond(respond(&entity), false))
    })
    .await
}
