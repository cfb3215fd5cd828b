//! `POST /v1/relationships`.

use actix_web::{HttpRequest, HttpResponse, web};
use kg_application::{AttributionDraft, RelationshipDraft, relationship_document};
use kg_domain::Relationship;
use serde::Deserialize;
use serde_json::Value;

use crate::extract::{Authenticated, JsonBody, etag};
use crate::idempotency::{self, Answer};
use crate::{ApiError, AppState};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateRelationshipRequest {
    #[schema(format = Uuid)]
    source_id: String,
    #[schema(format = Uuid)]
    target_id: String,
    #[serde(rename = "type")]
    #[schema(pattern = "^[A-Za-z][A-Za-z0-9_.-]{0,99}$")]
    kind: String,
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
    path = "/v1/relationships",
    operation_id = "createRelationship",
    tag = "relationships",
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe: a repeat with the same key and body answers the first response.")),
    request_body(content = CreateRelationshipRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "Created.", body = super::RelationshipResponse, headers(("Location" = String), ("ETag" = String))),
        (status = 422, description = "`relationship_endpoint_not_live`: `errors` names the end (`source_id`, `target_id`) that is not a live entity; or `validation_failed`; or `idempotency_key_reused`: this key came with another request.", content_type = "application/problem+json", body = crate::error::Problem),
        (status = 409, description = "`duplicate_relationship`: the same live relationship exists; or `idempotency_key_in_flight`.", content_type = "application/problem+json", body = crate::error::Problem),
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
    let body: CreateRelationshipRequest = body.parse()?;
    let data = RelationshipDraft {
        source_id: Some(body.source_id),
        target_id: Some(body.target_id),
        kind: Some(body.kind),
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
    let answer = |r: &Relationship| Answer {
        status: 201,
        location: Some(format!("/v1/relationships/{}", r.id)),
        etag: Some(etag(r.lifecycle.version)),
        body: relationship_document(r),
    };
    idempotency::create(&state, keyed, answer, async |keyed| {
        Ok(state.relationships.create_keyed(&ctx, data, keyed).await?)
    })
    .await
}
