//! `GET /v1/users`: a page of accounts, for admins.

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::UserResponse;
use crate::extract::Authenticated;
use crate::routes::{PageResponse, page_only};
use crate::{ApiError, AppState};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListUsersQuery {
    limit: Option<String>,
    cursor: Option<String>,
}

#[utoipa::path(
    get,
    path = "/v1/users",
    operation_id = "listUsers",
    tag = "users",
    params(("limit" = Option<u16>, Query, minimum = 1, maximum = 100, description = "The page size (50 when absent)."), ("cursor" = Option<String>, Query, description = "The `next_cursor` of the previous page.")),
    responses(
        (status = 200, description = "A page of accounts.", body = crate::routes::PageResponse<super::UserResponse>),
    ),
)]
pub(crate) async fn handle(
    state: web::Data<AppState>,
    Authenticated(ctx): Authenticated,
    query: web::Query<ListUsersQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = page_only(query.limit.as_deref(), query.cursor.as_deref())?;
    let users = state.users.list(&ctx, page).await?;
    Ok(HttpResponse::Ok().json(PageResponse::from_page(users, UserResponse::from)))
}
