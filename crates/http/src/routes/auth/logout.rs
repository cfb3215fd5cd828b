//! `POST /v1/auth/logout`: ends the caller's session on every instance, and
//! expires the session cookies if cookie sessions are enabled.

use actix_web::{HttpResponse, web};

use crate::extract::Authenticated;
use crate::{ApiError, AppState, cookies};

#[utoipa::path(
    post,
    path = "/v1/auth/logout",
    operation_id = "signOut",
    tag = "auth",
    responses(
        (status = 204, description = "The session is ended on every instance.", headers(("Set-Cookie" = String, description = "With cookie sessions: both cookies, expired."))),
    ),
)]
#[tracing::instrument(skip_all)]
pub(crate) async fn handle(
    state: web::Data<AppState>,
    Authenticated(ctx): Authenticated,
) -> Result<HttpResponse, ApiError> {
    state.auth.logout(&ctx).await?;
    let mut res = HttpResponse::NoContent();
    if state.settings.cookie_auth {
        cookies::clear_session(&mut res);
    }
    Ok(res.finish())
}
