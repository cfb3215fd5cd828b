//! `/v1/auth`: sessions, tokens and the caller's own account.

pub(crate) mod logout;
pub(crate) mod me;
pub(crate) mod password;
pub(crate) mod refresh;
pub(crate) mod token;

use kg_application::SessionTokens;
use serde::Serialize;

/// What a login or a refresh answers: tokens, or for a cookie session the
/// anti-CSRF token that goes with its cookies.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub(crate) enum SessionResponse {
    Tokens(TokenResponse),
    Cookie(crate::cookies::CookieSessionResponse),
}

/// The tokens of a bearer session.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct TokenResponse {
    access_token: String,
    token_type: &'static str,
    expires_in: i64,
    refresh_token: String,
    refresh_expires_in: i64,
}

impl From<SessionTokens> for TokenResponse {
    fn from(t: SessionTokens) -> Self {
        Self {
            access_token: t.access.access_token,
            token_type: "Bearer",
            expires_in: t.access.expires_in,
            refresh_token: t.refresh_token,
            refresh_expires_in: t.refresh_expires_in,
        }
    }
}
