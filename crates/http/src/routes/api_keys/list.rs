//! `GET /v1/api-keys`.

use actix_web::{HttpResponse, web};
use kg_domain::Violations;
use serde::Deserialize;

use super::ApiKeyResponse;
use crate::extract::Authenticated;
use crate::routes::{PageResponse, page_request};
use crate::{ApiError, AppState};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListApiKeysQuery {
    limit: Option<String>,
    cursor: Option<String>,
}

pub(crate) async fn handle(
    state: web::Data<AppState>,
    Authenticated(ctx): Authenticated,
    query: web::Query<ListApiKeysQuery>,
) -> Result<HttpResponse, ApiError> {
    let mut v = Violations::new();
    let page = page_request(&mut v, query.limit.as_deref(), query.cursor.as_deref());
    let page = match page {
        Some(page) if v.is_empty() => page,
        _ => return Err(ApiError::validation(&v)),
    };
    let keys = state.api_keys.list(&ctx, page).await?;
    Ok(HttpResponse::Ok().json(PageResponse::from_page(keys, ApiKeyResponse::from)))
}
