//! `DELETE /v1/api-keys/{id}`: revokes the key at once.

use actix_web::{HttpResponse, web};
use kg_domain::ApiKeyId;

use crate::extract::{Authenticated, parse_id};
use crate::{ApiError, AppState};

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
