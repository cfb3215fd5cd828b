//! `DELETE /v1/users/{id}` (admins): deactivates the account and ends its
//! sessions. Accounts are kept so the audit trail keeps its actors.

use actix_web::{HttpResponse, web};
use kg_domain::UserId;

use crate::extract::{Authenticated, parse_id};
use crate::{ApiError, AppState};

#[tracing::instrument(skip_all)]
pub(crate) async fn handle(
    state: web::Data<AppState>,
    Authenticated(ctx): Authenticated,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id: UserId = parse_id(&path, "id")?;
    state.users.deactivate(&ctx, id).await?;
    Ok(HttpResponse::NoContent().finish())
}
