//! `GET /v1/api-keys`.

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::ApiKeyResponse;
use crate::extract::Authenticated;
use crate::routes::{PageResponse, page_only};
use crate::{ApiError, AppState};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListApiKeysQuery {
    limit: Option<String>,
    cursor: Option<String>,
}

#[utoipa::path(
    get,
    path = "/v1/api-keys",
    operation_id = "listApiKeys",
    tag = "api-keys",
    params(("limit" = Option<u16>, Query, minimum = 1, maximum = 100, description = "The page size (50 when absent)."), ("cursor" = Option<String>, Query, description = "The `next_cursor` of the previous page.")),
    responses(
        (status = 200, description = "A page of keys, never their secrets.", body = crate::routes::PageResponse<super::ApiKeyResponse>),
    ),
)]
pub(crate) async fn handle(
    state: web::Data<AppState>,
    Authenticated(ctx): Authenticated,
    query: web::Query<ListApiKeysQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = page_only(query.limit.as_deref(), query.cursor.as_deref())?;
    let keys = state.api_keys.list(&ctx, page).await?;
    Ok(HttpResponse::Ok().json(PageResponse::from_page(keys, ApiKeyResponse::from)))
}
