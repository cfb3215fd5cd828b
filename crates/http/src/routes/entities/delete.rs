//! `DELETE /v1/entities/{id}`: soft-deletes the entity and its relationships.

use actix_web::{HttpResponse, web};
use kg_domain::EntityId;

use crate::extract::{Authenticated, parse_id};
use crate::{ApiError, AppState};

#[tracing::instrument(skip_all)]
pub(crate) async fn handle(
    state: web::Data<AppState>,
    Authenticated(ctx): Authenticated,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id: EntityId = parse_id(&path, "id")?;
    state.entities.delete(&ctx, id).await?;
    Ok(HttpResponse::NoContent().finish())
}
