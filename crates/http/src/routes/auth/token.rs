//! `POST /v1/auth/token`: email and password for a new session's tokens,
//! in the body (bearer clients) or in cookies (browsers, when enabled).

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::{SessionResponse, TokenResponse};
use crate::extract::JsonBody;
use crate::{ApiError, AppState, cookies};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TokenRequest {
    #[schema(format = Email)]
    email: String,
    #[schema(format = Password)]
    password: String,
    /// Ask for a cookie session instead of tokens in the body.
    #[serde(default)]
    cookie: bool,
}

#[utoipa::path(
    post,
    path = "/v1/auth/token",
    operation_id = "signIn",
    tag = "auth",
    security(()),
    request_body(content = TokenRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The session's tokens, or with `cookie: true` its cookies and anti-CSRF token.", body = super::SessionResponse, headers(("Set-Cookie" = String, description = "With cookie sessions: `kg_access` and `kg_refresh`, `HttpOnly; Secure; SameSite=Strict`."))),
        (status = 401, description = "`invalid_credentials`: the email or password is wrong, or the account is inactive.", content_type = "application/problem+json", body = crate::error::Problem),
        (status = 429, description = "`login_throttled` or `rate_limited`: too many attempts; see `Retry-After`.", content_type = "application/problem+json", body = crate::error::Problem),
    ),
)]
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
        return Ok(res.json(SessionResponse::Cookie(body)));
    }
    Ok(HttpResponse::Ok().json(SessionResponse::Tokens(TokenResponse::from(tokens))))
}
