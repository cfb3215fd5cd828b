//! `GET /v1/entities/{id}/relationships`: the live relationships touching an
//! entity, in a given direction.

use actix_web::{HttpResponse, web};
use kg_application::{Direction, RelationshipFilter};
use kg_domain::{EntityId, TypeName, Violations};
use serde::Deserialize;

use crate::extract::{Authenticated, parse_id};
use crate::routes::relationships::RelationshipResponse;
use crate::routes::{PageResponse, page_request};
use crate::{ApiError, AppState};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Query {
    limit: Option<String>,
    cursor: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    direction: Option<String>,
}

#[utoipa::path(
    get,
    path = "/v1/entities/{id}/relationships",
    operation_id = "listEntityRelationships",
    tag = "entities",
    params(("id" = String, Path, format = Uuid, description = "The entity's id."), ("limit" = Option<u16>, Query, minimum = 1, maximum = 100, description = "The page size (50 when absent)."), ("cursor" = Option<String>, Query, description = "The `next_cursor` of the previous page."), ("type" = Option<String>, Query, description = "Only relationships of this type."), ("direction" = Option<String>, Query, description = "`out` (from the entity), `in` (to it) or `both` (the default).")),
    responses(
        (status = 200, description = "A page of the live relationships touching the entity.", body = crate::routes::PageResponse<crate::routes::relationships::RelationshipResponse>),
        (status = 404, description = "`entity_not_found`: no live entity has this id.", content_type = "application/problem+json", body = crate::error::Problem),
    ),
)]
pub(crate) async fn handle(
    state: web::Data<AppState>,
    Authenticated(ctx): Authenticated,
    path: web::Path<String>,
    query: web::Query<Query>,
) -> Result<HttpResponse, ApiError> {
    let id: EntityId = parse_id(&path, "id")?;
    // 404 for an entity that is not live, rather than an empty list.
    state.entities.get(&ctx, id).await?;
    let q = query.into_inner();
    let mut v = Violations::new();
    let page = page_request(&mut v, q.limit.as_deref(), q.cursor.as_deref());
    let kind = v.check_opt("type", q.kind, TypeName::parse);
    let direction = v.check_opt("direction", q.direction, |d: String| match d.as_str() {
        "out" => Ok(Direction::Outgoing),
        "in" => Ok(Direction::Incoming),
        "both" => Ok(Direction::Both),
        _ => Err("must be one of out, in, both"),
    });
    let (Some(page), Some(kind), Some(direction)) = (page, kind, direction) else {
        return Err(ApiError::validation(&v));
    };
    let filter = RelationshipFilter {
        touching: Some((id, direction.unwrap_or_default())),
        kind,
        ..RelationshipFilter::default()
    };
    let relationships = state.relationships.list(&ctx, &filter, page).await?;
    Ok(HttpResponse::Ok().json(PageResponse::from_page(
        relationships,
        RelationshipResponse::from,
    )))
}
