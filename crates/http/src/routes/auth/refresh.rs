//! `POST /v1/auth/refresh`: spends a refresh token for a new pair.

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::TokenResponse;
use crate::extract::JsonBody;
use crate::{ApiError, AppState};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RefreshRequest {
    refresh_token: String,
}

#[tracing::instrument(skip_all)]
pub(crate) async fn handle(
    state: web::Data<AppState>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let body: RefreshRequest = body.parse()?;
    let tokens = state.auth.refresh(&body.refresh_token).await?;
    Ok(HttpResponse::Ok().json(TokenResponse::from(tokens)))
}
