//! `DELETE /v1/users/{id}` (admins): deactivates the account and ends its
//! sessions. Accounts are kept so the audit trail keeps its actors.

use actix_web::{HttpResponse, web};
use kg_domain::UserId;

use crate::extract::{Authenticated, parse_id};
use crate::{ApiError, AppState};

#[utoipa::path(
    delete,
    path = "/v1/users/{id}",
    operation_id = "deactivateUser",
    tag = "users",
    params(("id" = String, Path, format = Uuid, description = "The user's id.")),
    responses(
        (status = 204, description = "Deactivated; its sessions are ended."),
        (status = 404, description = "`user_not_found`: no user has this id.", content_type = "application/problem+json", body = crate::error::Problem),
        (status = 409, description = "`last_active_admin` or `cannot_modify_self`.", content_type = "application/problem+json", body = crate::error::Problem),
    ),
)]
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
