//! `DELETE /v1/relationships/{id}`.

use actix_web::{HttpResponse, web};
use kg_domain::RelationshipId;

use crate::extract::{Authenticated, parse_id};
use crate::{ApiError, AppState};

#[utoipa::path(
    delete,
    path = "/v1/relationships/{id}",
    operation_id = "deleteRelationship",
    tag = "relationships",
    params(("id" = String, Path, format = Uuid, description = "The relationship's id.")),
    responses(
        (status = 204, description = "Deleted."),
        (status = 404, description = "`relationship_not_found`: no live relationship has this id.", content_type = "application/problem+json", body = crate::error::Problem),
    ),
)]
#[tracing::instrument(skip_all)]
pub(crate) async fn handle(
    state: web::Data<AppState>,
    Authenticated(ctx): Authenticated,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id: RelationshipId = parse_id(&path, "id")?;
    state.relationships.delete(&ctx, id).await?;
    Ok(HttpResponse::NoContent().finish())
}
