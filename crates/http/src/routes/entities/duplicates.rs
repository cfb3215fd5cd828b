//! `GET /v1/entities/{id}/duplicates`: live entities of the entity's type
//! likely to be the same thing, scored by how alike their names are
//! (ADR 45), so that a pipeline or a reviewer can decide what to merge.

use actix_web::{HttpResponse, web};
use kg_application::{Duplicate, DuplicateQuery};
use kg_domain::{EntityId, Violations};
use serde::{Deserialize, Serialize};

use super::EntityResponse;
use crate::extract::{Authenticated, parse_id};
use crate::routes::{integer, number};
use crate::{ApiError, AppState};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Query {
    min_score: Option<String>,
    limit: Option<String>,
}

/// One candidate.
#[derive(Serialize, utoipa::ToSchema)]
struct DuplicateResponse {
    /// From 0.3 to 1: the trigram similarity of the case-folded names (as
    /// PostgreSQL's `pg_trgm` computes it), 1 for names that fold alike.
    score: f64,
    /// Whether the case-folded names are the same.
    same_name: bool,
    entity: EntityResponse,
}

/// The candidates, best first.
#[derive(Serialize, utoipa::ToSchema)]
struct DuplicatesResponse {
    items: Vec<DuplicateResponse>,
}

impl From<Duplicate> for DuplicateResponse {
    fn from(d: Duplicate) -> Self {
        Self {
            score: d.score,
            same_name: d.same_name,
            entity: EntityResponse::from(d.entity),
        }
    }
}

#[utoipa::path(
    get,
    path = "/v1/entities/{id}/duplicates",
    operation_id = "getEntityDuplicates",
    tag = "entities",
    params(("id" = String, Path, format = Uuid, description = "The entity's id."), ("min_score" = Option<f64>, Query, minimum = 0.3, maximum = 1, description = "Only candidates scoring at least this (0.3 when absent)."), ("limit" = Option<u16>, Query, minimum = 1, maximum = 100, description = "At most this many (20 when absent).")),
    responses(
        (status = 200, description = "Live entities of the same type whose names are like this one's, best first (then the same name first, then by id). On PostgreSQL with `pg_trgm`, the 1,000 of the type whose names are likeliest by trigram similarity are scored (with its default threshold of 0.3); elsewhere those whose folded name is the same or holds one of its four longest words of three letters or digits or more, the first 1,000 by id.", body = DuplicatesResponse),
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
    let q = query.into_inner();
    let mut v = Violations::new();
    let min_score = v.check_opt("min_score", q.min_score, number);
    let limit = v.check_opt("limit", q.limit, integer);
    let (Some(min_score), Some(limit)) = (min_score, limit) else {
        return Err(ApiError::validation(&v));
    };
    let query = DuplicateQuery::new(min_score, limit).map_err(|v| ApiError::validation(&v))?;
    let found = state.entities.duplicates(&ctx, id, query).await?;
    Ok(HttpResponse::Ok().json(DuplicatesResponse {
        items: found.into_iter().map(DuplicateResponse::from).collect(),
    }))
}
