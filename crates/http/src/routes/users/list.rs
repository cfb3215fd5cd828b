//! `GET /v1/users`: a page of accounts, for admins.

use actix_web::{HttpResponse, web};
use kg_domain::Violations;
use serde::Deserialize;

use super::UserResponse;
use crate::extract::Authenticated;
use crate::routes::{PageResponse, page_request};
use crate::{ApiError, AppState};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListUsersQuery {
    limit: Option<String>,
    cursor: Option<String>,
}

pub(crate) async fn handle(
    state: web::Data<AppState>,
    Authenticated(ctx): Authenticated,
    query: web::Query<ListUsersQuery>,
) -> Result<HttpResponse, ApiError> {
    let mut v = Violations::new();
    let page = page_request(&mut v, query.limit.as_deref(), query.cursor.as_deref());
    let page = match page {
        Some(page) if v.is_empty() => page,
        _ => return Err(ApiError::validation(&v)),
    };
    let users = state.users.list(&ctx, page).await?;
    Ok(HttpResponse::Ok().json(PageResponse::from_page(users, UserResponse::from)))
}
