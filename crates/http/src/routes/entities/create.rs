//! `POST /v1/entities`.

use actix_web::{HttpRequest, HttpResponse, web};
use kg_application::{AttributionDraft, EntityDraft, entity_document};
use kg_domain::Entity;
use serde::Deserialize;
use serde_json::Value;

use crate::extract::{Authenticated, JsonBody, etag};
use crate::idempotency::{self, Answer};
use crate::{ApiError, AppState};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateEntityRequest {
    #[serde(rename = "type")]
    #[schema(pattern = "^[A-Za-z][A-Za-z0-9_.-]{0,99}$")]
    kind: String,
    #[schema(min_length = 1, max_length = 200)]
    name: String,
    #[schema(min_length = 1, max_length = 200)]
    external_id: Option<String>,
    #[schema(minimum = 0, maximum = 1)]
    confidence: Option<f64>,
    #[schema(min_length = 1, max_length = 500)]
    source: Option<String>,
    #[schema(pattern = "^[A-Za-z][A-Za-z0-9_.-]{0,99}$")]
    source_type: Option<String>,
    #[schema(value_type = Option<Object>)]
    metadata: Option<Value>,
}

#[utoipa::path(
    post,
    path = "/v1/entities",
    operation_id = "createEntity",
    tag = "entities",
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe: a repeat with the same key and body answers the first response.")),
    request_body(content = CreateEntityRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "Created.", body = super::EntityResponse, headers(("Location" = String), ("ETag" = String))),
        (status = 409, description = "`external_id_taken`: another live entity has this `external_id`; or `idempotency_key_in_flight`.", content_type = "application/problem+json", body = crate::error::Problem),
        (status = 422, description = "`validation_failed`: `errors` names each field; or `idempotency_key_reused`: this key came with another request.", content_type = "application/problem+json", body = crate::error::Problem),
    ),
)]
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
        attribution: AttributionDraft {
            confidence: body.confidence,
            source: body.source,
            source_type: body.source_type,
            metadata: body.metadata,
        },
    }
    .parse()
    .map_err(|v| ApiError::validation(&v))?;
    let keyed = idempotency::keyed_request(&req, &ctx, &raw)?;
    let answer = |e: &Entity| Answer {
        status: 201,
        location: Some(format!("/v1/entities/{}", e.id)),
        etag: Some(etag(e.lifecycle.version)),
        body: entity_document(e),
    };
    idempotency::create(&state, keyed, answer, async |keyed| {
        Ok(state.entities.create_keyed(&ctx, data, keyed).await?)
    })
    .await
}
