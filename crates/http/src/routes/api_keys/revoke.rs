//! `DELETE /v1/api-keys/{id}`: revokes the key at once.

use actix_web::{HttpResponse, web};
use kg_domain::ApiKeyId;

use crate::extract::{Authenticated, parse_id};
use crate::{ApiError, AppState};

#[utoipa::path(
    delete,
    path = "/v1/api-keys/{id}",
    operation_id = "revokeApiKey",
    tag = "api-keys",
    params(("id" = String, Path, format = Uuid, description = "The API key's id.")),
    responses(
        (status = 204, description = "Revoked at once."),
        (status = 404, description = "`api_key_not_found`: no such key, or it is already revoked.", content_type = "application/problem+json", body = crate::error::Problem),
    ),
)]
#[tracing::instrument(skip_all)]
pub(crate) async fn handle(
    state: web::Data<AppState>,
    Authenticated(ctx): Authenticated,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id: ApiKeyId = parse_id(&path, "id")?;
    state.api_keys.revoke(&ctx, id).await?;
    Ok(HttpResponse::NoContent().finish())
}
