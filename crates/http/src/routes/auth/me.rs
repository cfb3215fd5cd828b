//! `GET /v1/auth/me`: the caller's own account.

use actix_web::{HttpResponse, web};

use crate::extract::Authenticated;
use crate::routes::users::UserResponse;
use crate::{ApiError, AppState};

#[utoipa::path(
    get,
    path = "/v1/auth/me",
    operation_id = "getMe",
    tag = "auth",
    responses(
        (status = 200, description = "The caller's own account.", body = crate::routes::users::UserResponse),
    ),
)]
pub(crate) async fn handle(
    state: web::Data<AppState>,
    Authenticated(ctx): Authenticated,
) -> Result<HttpResponse, ApiError> {
    let user = state.auth.me(&ctx).await?;
    Ok(HttpResponse::Ok().json(UserResponse::from(user)))
}
