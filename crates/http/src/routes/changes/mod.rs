//! `GET /v1/changes`: the change feed.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use kg_application::{Change, ChangePage, FeedRequest, StoredJson};
use serde::{Deserialize, Serialize};

use crate::extract::Authenticated;
use crate::routes::audit::log_page;
use crate::{ApiError, AppState};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Query {
    after: Option<String>,
    limit: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct ChangeResponse {
    seq: i64,
    at: DateTime<Utc>,
    resource_type: &'static str,
    resource_id: String,
    action: &'static str,
    version: i64,
    #[schema(required = true, value_type = serde_json::Value)]
    data: Option<StoredJson>,
}

impl From<Change> for ChangeResponse {
    fn from(c: Change) -> Self {
        Self {
            seq: c.seq,
            at: c.at,
            resource_type: c.resource.kind(),
            resource_id: c.resource.id().to_string(),
            action: c.action.as_str(),
            version: c.version.get(),
            data: c.data,
        }
    }
}

/// A page of the feed; `next_cursor` is always present, so a consumer can
/// poll with it even when nothing is new.
#[derive(Serialize, utoipa::ToSchema)]
struct ChangePageResponse {
    items: Vec<ChangeResponse>,
    next_cursor: String,
}

impl From<ChangePage> for ChangePageResponse {
    fn from(p: ChangePage) -> Self {
        Self {
            items: p.items.into_iter().map(Into::into).collect(),
            next_cursor: p.next.to_string(),
        }
    }
}

#[utoipa::path(
    get,
    path = "/v1/changes",
    operation_id = "listChanges",
    tag = "graph",
    params(("after" = Option<String>, Query, description = "The `next_cursor` of the previous page (the start when absent)."), ("limit" = Option<u16>, Query, minimum = 1, maximum = 100, description = "The page size (50 when absent).")),
    responses(
        (status = 200, description = "Changes in commit order.", body = ChangePageResponse),
    ),
)]
pub(crate) async fn handle(
    state: web::Data<AppState>,
    Authenticated(ctx): Authenticated,
    query: web::Query<Query>,
) -> Result<HttpResponse, ApiError> {
    let (after, limit) = log_page(query.limit.as_deref(), ("after", query.after.as_deref()))?;
    let page = state
        .history
        .changes(&ctx, FeedRequest { after, limit })
        .await?;
    Ok(HttpResponse::Ok().json(ChangePageResponse::from(page)))
}
