//! `POST /v1/batch`: up to 1,000 entities and 1,000 relationships, atomic,
//! entities upserted by `external_id`; `?dry_run=true` writes nothing.

use actix_web::{HttpRequest, HttpResponse, web};
use kg_application::{BatchReport, ItemResult, Outcome};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::extract::{Authenticated, JsonBody};
use crate::idempotency::{self, Answer};
use crate::{ApiError, AppState, batch_json};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Query {
    dry_run: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct BatchRequest {
    /// Up to 1,000 entities, each upserted by its `external_id` if it has one.
    #[serde(default)]
    #[schema(value_type = Vec<crate::routes::entities::create::CreateEntityRequest>)]
    entities: Vec<Value>,
    /// Up to 1,000 relationships.
    #[serde(default)]
    #[schema(value_type = Vec<crate::routes::openapi::BatchRelationship>)]
    relationships: Vec<Value>,
}

/// What became of one item.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct BatchItem {
    /// The item's position in its list.
    index: usize,
    /// `created`, `updated`, `corroborated` (an existing fact, stated by
    /// another source, gained this item's source as evidence) or
    /// `unchanged`: what would happen, on a dry run.
    outcome: &'static str,
    id: String,
    version: i64,
}

/// How many items had each outcome.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct BatchSummary {
    created: usize,
    updated: usize,
    corroborated: usize,
    unchanged: usize,
}

/// The answer: every item's outcome, in order, and a summary.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct BatchReportResponse {
    dry_run: bool,
    summary: BatchSummary,
    entities: Vec<BatchItem>,
    relationships: Vec<BatchItem>,
}

fn items(results: &[ItemResult]) -> Vec<BatchItem> {
    results
        .iter()
        .map(|r| BatchItem {
            index: r.index,
            outcome: r.outcome.as_str(),
            id: r.id.to_string(),
            version: r.version.get(),
        })
        .collect()
}

/// The answer as JSON, as an idempotent replay stores it.
fn report_body(report: &BatchReport, dry_run: bool) -> Value {
    let count = |o: Outcome| report.count(o);
    json!(BatchReportResponse {
        dry_run,
        summary: BatchSummary {
            created: count(Outcome::Created),
            updated: count(Outcome::Updated),
            corroborated: count(Outcome::Corroborated),
            unchanged: count(Outcome::Unchanged),
        },
        entities: items(&report.entities),
        relationships: items(&report.relationships),
    })
}

#[utoipa::path(
    post,
    path = "/v1/batch",
    operation_id = "applyBatch",
    tag = "graph",
    params(("dry_run" = Option<bool>, Query, description = "Validate and plan, write nothing."), ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe: a repeat with the same key and body answers the first response.")),
    request_body(content = BatchRequest, content_type = "application/json", description = "Up to 1,000 entities and 1,000 relationships, written in one transaction. Entities are upserted by `external_id`; a relationship names its ends by `source_id`/`target_id` or `source_external_id`/`target_external_id`."),
    responses(
        (status = 200, description = "Every item's outcome, in order, and a summary.", body = BatchReportResponse),
        (status = 422, description = "`validation_failed`: `errors` names each refused item field, such as `relationships[3].source_external_id` for an end that is no live entity, in the batch or stored; or `idempotency_key_reused`.", content_type = "application/problem+json", body = crate::error::Problem),
        (status = 409, description = "`idempotency_key_in_flight`, or a conflict the batch would create.", content_type = "application/problem+json", body = crate::error::Problem),
    ),
)]
#[tracing::instrument(skip_all)]
pub(crate) async fn handle(
    state: web::Data<AppState>,
    req: HttpRequest,
    Authenticated(ctx): Authenticated,
    query: web::Query<Query>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    ctx.actor.require_writer()?;
    let dry_run = match query.dry_run.as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => return Err(ApiError::field("dry_run", "must be true or false")),
    };
    let raw = body.raw().unwrap_or_default();
    let body: BatchRequest = body.parse()?;
    let batch = batch_json::parse(body.entities, body.relationships)
        .map_err(|v| ApiError::validation(&v))?;
    if dry_run {
        // A dry run has no effect to protect: its key, if any, is not used.
        let report = state.batch.apply(&ctx, batch, true).await?;
        return Ok(HttpResponse::Ok().json(report_body(&report, true)));
    }
    let keyed = idempotency::keyed_request(&req, &ctx, &raw)?;
    let answer = |report: &BatchReport| Answer {
        status: 200,
        location: None,
        etag: None,
        body: report_body(report, false),
    };
    idempotency::create(&state, keyed, answer, async |keyed| {
        let report = state.batch.apply_keyed(&ctx, batch, false, keyed).await?;
        for outcome in Outcome::ALL {
            state
                .metrics
                .batch_items(outcome.as_str(), report.count(outcome));
        }
        Ok(report)
    })
    .await
}
