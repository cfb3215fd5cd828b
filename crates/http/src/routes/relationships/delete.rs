//! `DELETE /v1/relationships/{id}`.

use actix_web::{HttpResponse, web};
use kg_domain::RelationshipId;

use crate::extract::{Authenticated, parse_id};
use crate::{ApiError, AppState};

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
