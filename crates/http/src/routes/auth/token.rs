//! `POST /v1/auth/token`: email and password for a new session's tokens,
//! in the body (bearer clients) or in cookies (browsers, when enabled).

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::TokenResponse;
use crate::extract::JsonBody;
use crate::{ApiError, AppState, cookies};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TokenRequest {
    email: String,
    password: String,
    /// Ask for a cookie session instead of tokens in the body.
    #[serde(default)]
    cookie: bool,
}

#[tracing::instrument(skip_all)]
pub(crate) async fn handle(
    state: web::Data<AppState>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let body: TokenRequest = body.parse()?;
    if body.cookie && !state.settings.cookie_auth {
        return Err(ApiError::field(
            "cookie",
            "cookie sessions are not enabled on this server",
        ));
    }
    let tokens = state.auth.login(&body.email, body.password).await?;
    if body.cookie {
        let session = state
            .auth
            .session_of_refresh_token(&tokens.refresh_token)
            .ok_or_else(|| {
                ApiError::from(kg_application::AppError::Internal(
                    "a fresh refresh token did not parse".into(),
                ))
            })?;
        let csrf = state.auth.csrf_token(session);
        let mut res = HttpResponse::Ok();
        let body = cookies::set_session(&mut res, tokens, csrf);
        return Ok(res.json(body));
    }
    Ok(HttpResponse::Ok().json(TokenResponse::from(tokens)))
}
