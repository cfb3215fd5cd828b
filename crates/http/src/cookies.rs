//! Cookie sessions: the access and refresh tokens in `HttpOnly; Secure;
//! SameSite=Strict` cookies, and the anti-CSRF check for requests they
//! authenticate.

use actix_web::cookie::{Cookie, SameSite, time::Duration};
use actix_web::http::Method;
use actix_web::{HttpRequest, HttpResponseBuilder};
use kg_application::SessionTokens;
use serde::Serialize;

use crate::{ApiError, ProblemCode};

/// The access token cookie.
pub(crate) const ACCESS: &str = "kg_access";
/// The refresh token cookie, sent only to `/v1/auth`.
pub(crate) const REFRESH: &str = "kg_refresh";
/// The header carrying the anti-CSRF token.
pub(crate) const CSRF_HEADER: &str = "x-csrf-token";

fn cookie(name: &'static str, value: String, path: &'static str, max_age: i64) -> Cookie<'static> {
    Cookie::build(name, value)
        .http_only(true)
        .secure(true)
        .same_site(SameSite::Strict)
        .path(path)
        .max_age(Duration::seconds(max_age))
        .finish()
}

/// What a cookie login or refresh answers in its body: no token at all.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct CookieSessionResponse {
    token_type: &'static str,
    expires_in: i64,
    refresh_expires_in: i64,
    csrf_token: String,
}

/// Sets the session cookies on `res` and returns the body to send with them.
pub(crate) fn set_session(
    res: &mut HttpResponseBuilder,
    tokens: SessionTokens,
    csrf_token: String,
) -> CookieSessionResponse {
    res.cookie(cookie(
        ACCESS,
        tokens.access.access_token,
        "/",
        tokens.access.expires_in,
    ));
    res.cookie(cookie(
        REFRESH,
        tokens.refresh_token,
        "/v1/auth",
        tokens.refresh_expires_in,
    ));
    CookieSessionResponse {
        token_type: "cookie",
        expires_in: tokens.access.expires_in,
        refresh_expires_in: tokens.refresh_expires_in,
        csrf_token,
    }
}

/// Expires both session cookies.
pub(crate) fn clear_session(res: &mut HttpResponseBuilder) {
    res.cookie(cookie(ACCESS, String::new(), "/", 0));
    res.cookie(cookie(REFRESH, String::new(), "/v1/auth", 0));
}

/// Whether a method changes state (and so needs the anti-CSRF token).
pub(crate) fn is_unsafe(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The `X-CSRF-Token` a request carries, if any.
pub(crate) fn presented_csrf(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// The 403 for a missing or wrong anti-CSRF token.
pub(crate) fn csrf_refused() -> ApiError {
    ApiError::new(
        ProblemCode::CsrfTokenInvalid,
        "Requests authenticated by cookie must send the session's X-CSRF-Token.",
    )
}
