//! `GET /v1/evidence`, `GET /v1/entities/{id}/evidence` and
//! `GET /v1/relationships/{id}/evidence`.

use actix_web::{HttpResponse, web};
use kg_domain::{EntityId, Fact, RelationshipId};

use crate::extract::{Authenticated, parse_id};
use crate::{ApiError, AppState};

#[utoipa::path(
    get,
    path = "/v1/evidence",
    operation_id = "listEvidence",
    tag = "evidence",
    params(("limit" = Option<u16>, Query, minimum = 1, maximum = 100, description = "The page size (50 when absent)."), ("cursor" = Option<String>, Query, description = "The `next_cursor` of the previous page."), ("source" = Option<String>, Query, description = "Only evidence from exactly this source."), ("source_type" = Option<String>, Query, description = "Only evidence of this source type."), ("include_retracted" = Option<bool>, Query, description = "Retracted records too (`false` when absent).")),
    responses(
        (status = 200, description = "A page of evidence, by id.", body = crate::routes::PageResponse<super::EvidenceResponse>),
    ),
)]
pub(crate) async fn all(
    state: web::Data<AppState>,
    Authenticated(ctx): Authenticated,
    query: web::Query<Vec<(String, String)>>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(super::page(&state, &ctx, &query, None).await?))
}

#[utoipa::path(
    get,
    path = "/v1/entities/{id}/evidence",
    operation_id = "listEntityEvidence",
    tag = "evidence",
    params(("id" = String, Path, format = Uuid, description = "The entity's id."), ("limit" = Option<u16>, Query, minimum = 1, maximum = 100, description = "The page size (50 when absent)."), ("cursor" = Option<String>, Query, description = "The `next_cursor` of the previous page."), ("source" = Option<String>, Query, description = "Only evidence from exactly this source."), ("source_type" = Option<String>, Query, description = "Only evidence of this source type."), ("include_retracted" = Option<bool>, Query, description = "Retracted records too (`false` when absent).")),
    responses(
        (status = 200, description = "A page of the entity's evidence, by id: its stated evidence (its own id) and what was added.", body = crate::routes::PageResponse<super::EvidenceResponse>),
        (status = 404, description = "`entity_not_found`: no live entity has this id.", content_type = "application/problem+json", body = crate::error::Problem),
    ),
)]
pub(crate) async fn entity(
    state: web::Data<AppState>,
    Authenticated(ctx): Authenticated,
    path: web::Path<String>,
    query: web::Query<Vec<(String, String)>>,
) -> Result<HttpResponse, ApiError> {
    let id: EntityId = parse_id(&path, "id")?;
    state.entities.get(&ctx, id).await?;
    Ok(HttpResponse::Ok().json(super::page(&state, &ctx, &query, Some(Fact::Entity(id))).await?))
}

#[utoipa::path(
    get,
    path = "/v1/relationships/{id}/evidence",
    operation_id = "listRelationshipEvidence",
    tag = "evidence",
    params(("id" = String, Path, format = Uuid, description = "The relationship's id."), ("limit" = Option<u16>, Query, minimum = 1, maximum = 100, description = "The page size (50 when absent)."), ("cursor" = Option<String>, Query, description = "The `next_cursor` of the previous page."), ("source" = Option<String>, Query, description = "Only evidence from exactly this source."), ("source_type" = Option<String>, Query, description = "Only evidence of this source type."), ("include_retracted" = Option<bool>, Query, description = "Retracted records too (`false` when absent).")),
    responses(
        (status = 200, description = "A page of the relationship's evidence, by id: its stated evidence (its own id) and what was added.", body = crate::routes::PageResponse<super::EvidenceResponse>),
        (status = 404, description = "`relationship_not_found`: no live relationship has this id.", content_type = "application/problem+json", body = crate::error::Problem),
    ),
)]
pub(crate) async fn relationship(
    state: web::Data<AppState>,
    Authenticated(ctx): Authenticated,
    path: web::Path<String>,
    query: web::Query<Vec<(String, String)>>,
) -> Result<HttpResponse, ApiError> {
    let id: RelationshipId = parse_id(&path, "id")?;
    state.relationships.get(&ctx, id).await?;
    let fact = Some(Fact::Relationship(id));
    Ok(HttpResponse::Ok().json(super::page(&state, &ctx, &query, fact).await?))
}
