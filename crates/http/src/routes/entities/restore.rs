//! `POST /v1/entities/{id}/restore`: brings back a deleted entity and the
//! relationships its deletion cascaded to (admins).

use actix_web::{HttpResponse, http::header, web};
use kg_domain::EntityId;
use serde::Serialize;

use super::EntityResponse;
use crate::extract::{Authenticated, etag, parse_id};
use crate::routes::relationships::RelationshipResponse;
use crate::{ApiError, AppState};

#[derive(Serialize, utoipa::ToSchema)]
struct Restored {
    entity: EntityResponse,
    relationships: Vec<RelationshipResponse>,
}

#[utoipa::path(
    post,
    path = "/v1/entities/{id}/restore",
    operation_id = "restoreEntity",
    tag = "entities",
    params(("id" = String, Path, format = Uuid, description = "The entity's id.")),
    responses(
        (status = 200, description = "Restored, with the relationships its deletion took.", body = Restored, headers(("ETag" = String, description = "The version, for `If-Match`."))),
        (status = 404, description = "`entity_not_found`: no entity, live or deleted, has this id.", content_type = "application/problem+json", body = crate::error::Problem),
        (status = 409, description = "`not_deleted`: the entity is live; or `restore_conflict`: `errors` names each rule a restore would break.", content_type = "application/problem+json", body = crate::error::Problem),
    ),
)]
#[tracing::instrument(skip_all)]
pub(crate) async fn handle(
    state: web::Data<AppState>,
    Authenticated(ctx): Authenticated,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    ctx.actor.require_admin()?;
    let id: EntityId = parse_id(&path, "id")?;
    let (entity, relationships) = state.entities.restore(&ctx, id).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::ETAG, etag(entity.lifecycle.version)))
        .json(Restored {
            entity: entity.into(),
            relationships: relationships.into_iter().map(Into::into).collect(),
        }))
}
