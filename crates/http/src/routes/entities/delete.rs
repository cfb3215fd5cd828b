//! `DELETE /v1/entities/{id}`: soft-deletes the entity and its relationships.

use actix_web::{HttpResponse, web};
use kg_domain::EntityId;

use crate::extract::{Authenticated, parse_id};
use crate::{ApiError, AppState};

#[utoipa::path(
    delete,
    path = "/v1/entities/{id}",
    operation_id = "deleteEntity",
    tag = "entities",
    params(("id" = String, Path, format = Uuid, description = "The entity's id.")),
    responses(
        (status = 204, description = "Deleted, with its relationships; an admin can restore it."),
        (status = 404, description = "`entity_not_found`: no live entity has this id.", content_type = "application/problem+json", body = crate::error::Problem),
    ),
)]
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
