//! `GET /v1/entities`: filtered, keyset-paginated.

use actix_web::{HttpResponse, web};
use kg_application::EntityFilter;
use kg_domain::{Confidence, TypeName, Violations};
use serde::Deserialize;

use super::EntityResponse;
use crate::extract::Authenticated;
use crate::routes::{PageResponse, number, page_request};
use crate::{ApiError, AppState};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListEntitiesQuery {
    limit: Option<String>,
    cursor: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    name: Option<String>,
    min_confidence: Option<String>,
    source_type: Option<String>,
}

/// The longest `name` prefix accepted; longer than any name can be.
const MAX_PREFIX_CHARS: usize = kg_domain::EntityName::MAX_CHARS;

pub(crate) async fn handle(
    state: web::Data<AppState>,
    Authenticated(ctx): Authenticated,
    query: web::Query<ListEntitiesQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let mut v = Violations::new();
    let page = page_request(&mut v, q.limit.as_deref(), q.cursor.as_deref());
    let kind = v.check_opt("type", q.kind, TypeName::parse);
    let source_type = v.check_opt("source_type", q.source_type, TypeName::parse);
    let min_confidence = v.check_opt("min_confidence", q.min_confidence, |t| {
        number(t).and_then(|n| Confidence::new(n).map_err(|_| "must be a number between 0 and 1"))
    });
    let name_prefix = v.check_opt("name", q.name, |n: String| {
        if n.chars().count() > MAX_PREFIX_CHARS || n.chars().any(char::is_control) {
            Err(format!(
                "must be at most {MAX_PREFIX_CHARS} characters without control characters"
            ))
        } else {
            Ok(n)
        }
    });
    let (Some(page), Some(kind), Some(source_type), Some(min_confidence), Some(name_prefix)) =
        (page, kind, source_type, min_confidence, name_prefix)
    else {
        return Err(ApiError::validation(&v));
    };
    if !v.is_empty() {
        return Err(ApiError::validation(&v));
    }
    let filter = EntityFilter {
        kind,
        name_prefix,
        min_confidence,
        source_type,
    };
    let entities = state.entities.list(&ctx, &filter, page).await?;
    Ok(HttpResponse::Ok().json(PageResponse::from_page(entities, EntityResponse::from)))
}
