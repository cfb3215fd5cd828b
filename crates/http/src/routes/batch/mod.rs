//! `POST /v1/batch`: up to 1,000 entities and 1,000 relationships, atomic,
//! entities upserted by `external_id`; `?dry_run=true` writes nothing.

use actix_web::{HttpResponse, web};
use kg_application::{Batch, BatchReport, ItemResult};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::extract::{Authenticated, JsonBody};
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

#[derive(Serialize)]
struct ItemResponse {
    index: usize,
    outcome: &'static str,
    id: String,
    version: i64,
}

impl From<ItemResult> for ItemResponse {
    fn from(r: ItemResult) -> Self {
        Self {
            index: r.index,
            outcome: r.outcome.as_str(),
            id: r.id.to_string(),
            version: r.version.get(),
        }
    }
}

#[derive(Serialize, Default)]
struct Summary {
    created: usize,
    updated: usize,
    unchanged: usize,
}

#[derive(Serialize)]
pub(crate) struct BatchResponse {
    dry_run: bool,
    summary: Summary,
    entities: Vec<ItemResponse>,
    relationships: Vec<ItemResponse>,
}

impl BatchResponse {
    fn new(report: BatchReport, dry_run: bool) -> Self {
        let mut summary = Summary::default();
        for r in report.entities.iter().chain(&report.relationships) {
            match r.outcome {
                kg_application::Outcome::Created => summary.created += 1,
                kg_application::Outcome::Updated => summary.updated += 1,
                kg_application::Outcome::Unchanged => summary.unchanged += 1,
            }
        }
        Self {
            dry_run,
            summary,
            entities: report.entities.into_iter().map(Into::into).collect(),
            relationships: report.relationships.into_iter().map(Into::into).collect(),
        }
    }
}

#[tracing::instrument(skip_all)]
pub(crate) async fn handle(
    state: web::Data<AppState>,
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
    let body: BatchRequest = body.parse()?;
    let batch =
        Batch::parse(&body.entities, &body.relationships).map_err(|v| ApiError::validation(&v))?;
    let report = state.batch.apply(&ctx, batch, dry_run).await?;
    Ok(HttpResponse::Ok().json(BatchResponse::new(report, dry_run)))
}
