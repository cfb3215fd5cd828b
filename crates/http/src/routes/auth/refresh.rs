//! `POST /v1/auth/refresh`: spends a refresh token for a new pair. Bearer
//! clients send it in the body; cookie sessions send `{}` with the refresh
//! cookie and the session's `X-CSRF-Token`.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use super::{SessionResponse, TokenResponse};
use crate::extract::JsonBody;
use crate::{ApiError, AppState, cookies};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RefreshRequest {
    refresh_token: Option<String>,
}

#[utoipa::path(
    post,
    path = "/v1/auth/refresh",
    operation_id = "refreshSession",
    tag = "auth",
    security(()),
    params(
        ("kg_refresh" = Option<String>, Cookie, description = "A cookie session's refresh token, sent instead of `refresh_token`."),
        ("X-CSRF-Token" = Option<String>, Header, description = "The session's anti-CSRF token; required with the cookie."),
    ),
    request_body(content = RefreshRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "A new pair; the token spent is revoked.", body = super::SessionResponse, headers(("Set-Cookie" = String, description = "With cookie sessions: `kg_access` and `kg_refresh`, `HttpOnly; Secure; SameSite=Strict`."))),
        (status = 401, description = "`invalid_refresh_token` or `session_expired`.", content_type = "application/problem+json", body = crate::error::Problem),
        (status = 403, description = "`csrf_token_invalid`: a cookie refresh without the session's `X-CSRF-Token`.", content_type = "application/problem+json", body = crate::error::Problem),
    ),
)]
#[tracing::instrument(skip_all)]
pub(crate) async fn handle(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let body: RefreshRequest = body.parse()?;
    if let Some(token) = body.refresh_token {
        let tokens = state.auth.refresh(&token).await?;
        return Ok(HttpResponse::Ok().json(SessionResponse::Tokens(TokenResponse::from(tokens))));
    }
    let cookie = state
        .settings
        .cookie_auth
        .then(|| req.cookie(cookies::REFRESH))
        .flatten();
    let Some(cookie) = cookie else {
        return Err(ApiError::field("refresh_token", "is required"));
    };
    let token = cookie.value().to_owned();
    let session = state
        .auth
        .session_of_refresh_token(&token)
        .ok_or(kg_application::AppError::InvalidRefreshToken)?;
    let csrf_ok =
        cookies::presented_csrf(&req).is_some_and(|p| state.auth.csrf_matches(session, &p));
    if !csrf_ok {
        return Err(cookies::csrf_refused());
    }
    let tokens = state.auth.refresh(&token).await?;
    let mut res = HttpResponse::Ok();
    let body = cookies::set_session(&mut res, tokens, state.auth.csrf_token(session));
    Ok(res.json(SessionResponse::Cookie(body)))
}
