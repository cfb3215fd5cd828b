//! `GET /v1/relationships`: filtered by source, target and type.

use actix_web::{HttpResponse, web};
use kg_application::RelationshipFilter;
use kg_domain::{EntityId, TypeName, Violations};
use serde::Deserialize;

use super::RelationshipResponse;
use crate::extract::Authenticated;
use crate::routes::{PageResponse, page_request};
use crate::{ApiError, AppState};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListRelationshipsQuery {
    limit: Option<String>,
    cursor: Option<String>,
    source_id: Option<String>,
    target_id: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
}

pub(crate) async fn handle(
    state: web::Data<AppState>,
    Authenticated(ctx): Authenticated,
    query: web::Query<ListRelationshipsQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let mut v = Violations::new();
    let page = page_request(&mut v, q.limit.as_deref(), q.cursor.as_deref());
    let uuid = |s: String| s.parse::<EntityId>().map_err(|_| "must be a UUID");
    let source_id = v.check_opt("source_id", q.source_id, uuid);
    let target_id = v.check_opt("target_id", q.target_id, uuid);
    let kind = v.check_opt("type", q.kind, TypeName::parse);
    let (Some(page), Some(source_id), Some(target_id), Some(kind)) =
        (page, source_id, target_id, kind)
    else {
        return Err(ApiError::validation(&v));
    };
    let filter = RelationshipFilter {
        source_id,
        target_id,
        kind,
        touching: None,
    };
    let relationships = state.relationships.list(&ctx, &filter, page).await?;
    Ok(HttpResponse::Ok().json(PageResponse::from_page(
        relationships,
        RelationshipResponse::from,
    )))
}
