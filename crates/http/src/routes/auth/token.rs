//! `POST /v1/auth/token`: email and password for a new session's tokens.

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::TokenResponse;
use crate::extract::JsonBody;
use crate::{ApiError, AppState};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TokenRequest {
    email: String,
    password: String,
}

#[tracing::instrument(skip_all)]
pub(crate) async fn handle(
    state: web::Data<AppState>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let body: TokenRequest = body.parse()?;
    let tokens = state.auth.login(&body.email, body.password).await?;
    Ok(HttpResponse::Ok().json(TokenResponse::from(tokens)))
}
