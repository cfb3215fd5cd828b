//! `POST /v1/auth/password`: changes the caller's password and ends their
//! other sessions.

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use crate::extract::{Authenticated, JsonBody};
use crate::{ApiError, AppState};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PasswordRequest {
    #[schema(format = Password)]
    current_password: String,
    /// 12 to 128 characters.
    #[schema(min_length = 12, max_length = 128, format = Password)]
    new_password: String,
}

#[utoipa::path(
    post,
    path = "/v1/auth/password",
    operation_id = "changePassword",
    tag = "auth",
    request_body(content = PasswordRequest, content_type = "application/json"),
    responses(
        (status = 429, description = "`login_throttled`: too many wrong guesses at the current password; or `rate_limited`. See `Retry-After`.", content_type = "application/problem+json", body = crate::error::Problem),
        (status = 204, description = "Changed; the caller's other sessions are ended."),
    ),
)]
#[tracing::instrument(skip_all)]
pub(crate) async fn handle(
    state: web::Data<AppState>,
    Authenticated(ctx): Authenticated,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    ctx.actor.require_person()?;
    let body: PasswordRequest = body.parse()?;
    state
        .auth
        .change_password(&ctx, body.current_password, body.new_password)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
