//! `POST /v1/batch`: up to 1,000 entities and 1,000 relationships, atomic,
//! entities upserted by `external_id`; `?dry_run=true` writes nothing.

use actix_web::{HttpRequest, HttpResponse, web};
use kg_application::{Batch, BatchReport, ItemResult, Outcome, StoredResponse};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::extract::{Authenticated, JsonBody};
use crate::idempotency;
use crate::{ApiError, AppState};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Query {
    dry_run: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct BatchRequest {
    #[serde(default)]
    entities: Vec<Value>,
    #[serde(default)]
    relationships: Vec<Value>,
}

fn items(results: &[ItemResult]) -> Value {
    results
        .iter()
        .map(|r| {
            json!({
                "index": r.index,
                "outcome": r.outcome.as_str(),
                "id": r.id.to_string(),
                "version": r.version.get(),
            })
        })
        .collect()
}

/// The answer: every item's outcome and a summary.
fn report_body(report: &BatchReport, dry_run: bool) -> Value {
    let count = |o: Outcome| report.count(o);
    json!({
        "dry_run": dry_run,
        "summary": {
            "created": count(Outcome::Created),
            "updated": count(Outcome::Updated),
            "unchanged": count(Outcome::Unchanged),
        },
        "entities": items(&report.entities),
        "relationships": items(&report.relationships),
    })
}

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
    let batch =
        Batch::parse(&body.entities, &body.relationships).map_err(|v| ApiError::validation(&v))?;
    if dry_run {
        // A dry run has no effect to protect: its key, if any, is not used.
        let report = state.batch.apply(&ctx, batch, true).await?;
        return Ok(HttpResponse::Ok().json(report_body(&report, true)));
    }
    let keyed = idempotency::keyed_request(&req, &ctx, &raw)?;
    let respond = |report: &BatchReport| StoredResponse {
        status: 200,
        location: None,
        etag: None,
        body: report_body(report, false),
    };
    let (state, ctx, respond) = (&state, &ctx, &respond);
    idempotency::run(state, keyed, |keyed| async move {
        let keyed = keyed.as_ref().map(|k| {
            (
                k,
                respond as &(dyn Fn(&BatchReport) -> StoredResponse + Sync),
            )
        });
        let report = state.batch.apply_keyed(ctx, batch, false, keyed).await?;
        for outcome in [Outcome::Created, Outcome::Updated, Outcome::Unchanged] {
            state
                .metrics
                .batch_items(outcome.as_str(), report.count(outcome));
        }
        Ok(idempotency::respond(respond(&report), false))
    })
    .await
}
