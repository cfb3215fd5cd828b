//! `POST /v1/auth/logout`: ends the caller's session on every instance.

use actix_web::{HttpResponse, web};

use crate::extract::Authenticated;
use crate::{ApiError, AppState};

#[tracing::instrument(skip_all)]
pub(crate) async fn handle(
    state: web::Data<AppState>,
    Authenticated(ctx): Authenticated,
) -> Result<HttpResponse, ApiError> {
    state.auth.logout(&ctx).await?;
    Ok(HttpResponse::NoContent().finish())
}
