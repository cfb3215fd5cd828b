//! `POST /v1/auth/password`: changes the caller's password and ends their
//! other sessions.

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use crate::extract::{Authenticated, JsonBody};
use crate::{ApiError, AppState};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PasswordRequest {
    current_password: String,
    new_password: String,
}

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
