//! `GET /v1/users/{id}` (admins).

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use kg_domain::UserId;

use super::UserResponse;
use crate::extract::{Authenticated, etag, parse_id};
use crate::{ApiError, AppState};

#[utoipa::path(
    get,
    path = "/v1/users/{id}",
    operation_id = "getUser",
    tag = "users",
    params(("id" = String, Path, format = Uuid, description = "The user's id.")),
    responses(
        (status = 200, description = "The account.", body = super::UserResponse, headers(("ETag" = String, description = "The version, for `If-Match`."))),
        (status = 404, description = "`user_not_found`: no user has this id.", content_type = "application/problem+json", body = crate::error::Problem),
    ),
)]
pub(crate) async fn handle(
    state: web::Data<AppState>,
    Authenticated(ctx): Authenticated,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id: UserId = parse_id(&path, "id")?;
    let user = state.users.get(&ctx, id).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::ETAG, etag(user.version)))
        .json(UserResponse::from(user)))
}
