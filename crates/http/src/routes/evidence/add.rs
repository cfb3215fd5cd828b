//! `POST /v1/entities/{id}/evidence` and `POST /v1/relationships/{id}/evidence`:
//! records what a source says about a fact.

use actix_web::{HttpRequest, HttpResponse, web};
use kg_application::{EvidenceDraft, EvidenceWrites};
use kg_domain::{EntityId, Fact, RelationshipId};
use serde::Deserialize;
use serde_json::{Value, json};

use super::EvidenceResponse;
use crate::extract::{Authenticated, JsonBody, parse_id};
use crate::idempotency::{self, Answer};
use crate::routes::time;
use crate::{ApiError, AppState};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AddEvidenceRequest {
    /// How sure the source is, from 0 to 1. A confidence, a source or both.
    #[schema(minimum = 0, maximum = 1)]
    confidence: Option<f64>,
    /// Where the statement was found.
    #[schema(min_length = 1, max_length = 500)]
    source: Option<String>,
    #[schema(pattern = "^[A-Za-z][A-Za-z0-9_.-]{0,99}$")]
    source_type: Option<String>,
    /// Where in the source (document, span, quote…): a JSON object, bounded
    /// as metadata is.
    #[schema(value_type = Option<Object>)]
    locator: Option<Value>,
    /// When the source said it (RFC 3339); the time of recording when absent.
    #[schema(format = DateTime)]
    observed_at: Option<String>,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct AddedEvidence {
    evidence: EvidenceResponse,
    /// The fact's combined confidence now.
    #[schema(required = true)]
    confidence: Option<f64>,
}

impl AddedEvidence {
    pub(crate) fn of(w: &EvidenceWrites) -> Self {
        Self {
            evidence: w.evidence.clone().into(),
            confidence: w.confidence.map(kg_domain::Confidence::get),
        }
    }
}

#[utoipa::path(
    post,
    path = "/v1/entities/{id}/evidence",
    operation_id = "addEntityEvidence",
    tag = "evidence",
    params(("id" = String, Path, format = Uuid, description = "The entity's id."), ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe: a repeat with the same key and body answers the first response.")),
    request_body(content = AddEvidenceRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "Recorded; `confidence` is the entity's combined confidence now.", body = AddedEvidence, headers(("Location" = String))),
        (status = 404, description = "`entity_not_found`: no live entity has this id.", content_type = "application/problem+json", body = crate::error::Problem),
        (status = 422, description = "`validation_failed`; or `idempotency_key_reused`.", content_type = "application/problem+json", body = crate::error::Problem),
    ),
)]
#[tracing::instrument(skip_all)]
pub(crate) async fn entity(
    state: web::Data<AppState>,
    req: HttpRequest,
    Authenticated(ctx): Authenticated,
    path: web::Path<String>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let id: EntityId = parse_id(&path, "id")?;
    add(&state, &req, &ctx, Fact::Entity(id), body).await
}

#[utoipa::path(
    post,
    path = "/v1/relationships/{id}/evidence",
    operation_id = "addRelationshipEvidence",
    tag = "evidence",
    params(("id" = String, Path, format = Uuid, description = "The relationship's id."), ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe: a repeat with the same key and body answers the first response.")),
    request_body(content = AddEvidenceRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "Recorded; `confidence` is the relationship's combined confidence now.", body = AddedEvidence, headers(("Location" = String))),
        (status = 404, description = "`relationship_not_found`: no live relationship has this id.", content_type = "application/problem+json", body = crate::error::Problem),
        (status = 422, description = "`validation_failed`; or `idempotency_key_reused`.", content_type = "application/problem+json", body = crate::error::Problem),
    ),
)]
#[tracing::instrument(skip_all)]
pub(crate) async fn relationship(
    state: web::Data<AppState>,
    req: HttpRequest,
    Authenticated(ctx): Authenticated,
    path: web::Path<String>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let id: RelationshipId = parse_id(&path, "id")?;
    add(&state, &req, &ctx, Fact::Relationship(id), body).await
}

async fn add(
    state: &AppState,
    req: &HttpRequest,
    ctx: &kg_application::RequestContext,
    fact: Fact,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    ctx.actor.require_writer()?;
    let raw = body.raw().unwrap_or_default();
    let body: AddEvidenceRequest = body.parse()?;
    let mut v = kg_domain::Violations::new();
    let observed_at = v.check_opt("observed_at", body.observed_at, time).flatten();
    let draft = EvidenceDraft {
        confidence: body.confidence,
        source: body.source,
        source_type: body.source_type,
        locator: body.locator,
        observed_at,
    };
    let statement = match draft.parse() {
        Ok(statement) if v.is_empty() => statement,
        Ok(_) => return Err(ApiError::validation(&v)),
        Err(more) => {
            v.extend(more);
            return Err(ApiError::validation(&v));
        }
    };
    let keyed = idempotency::keyed_request(req, ctx, &raw)?;
    let answer = |w: &EvidenceWrites| Answer {
        status: 201,
        location: Some(format!("/v1/evidence/{}", w.evidence.id)),
        etag: None,
        body: json!(AddedEvidence::of(w)),
    };
    idempotency::create(state, keyed, answer, async |keyed| {
        Ok(state.evidence.add(ctx, fact, statement, keyed).await?)
    })
    .await
}
