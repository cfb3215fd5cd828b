//! `POST /v1/auth/token`: email and password for an access token.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};

use crate::extract::JsonBody;
use crate::{ApiError, AppState};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TokenRequest {
    email: String,
    password: String,
}

#[derive(Serialize)]
struct TokenResponse {
    access_token: String,
    token_type: &'static str,
    expires_in: i64,
}

#[tracing::instrument(skip_all)]
pub(crate) async fn handle(
    state: web::Data<AppState>,
    body: JsonBody<TokenRequest>,
) -> Result<HttpResponse, ApiError> {
    let JsonBody(TokenRequest { email, password }) = body;
    let token = state.auth.login(&email, password).await?;
    Ok(HttpResponse::Ok().json(TokenResponse {
        access_token: token.access_token,
        token_type: "Bearer",
        expires_in: token.expires_in,
    }))
}
