//! `GET /v1/entities`: filtered, keyset-paginated.

use actix_web::{HttpResponse, web};
use kg_application::EntityFilter;
use kg_domain::{TypeName, Violations};

use super::EntityResponse;
use crate::extract::Authenticated;
use crate::routes::{ListParams, PageResponse, confidence, page_request, time};
use crate::{ApiError, AppState};

/// The longest `name` prefix or `q` accepted; longer than any name can be.
const MAX_TEXT_CHARS: usize = kg_domain::EntityName::MAX_CHARS;

fn text(n: String) -> Result<String, String> {
    if n.chars().count() > MAX_TEXT_CHARS || n.chars().any(char::is_control) {
        Err(format!(
            "must be at most {MAX_TEXT_CHARS} characters without control characters"
        ))
    } else {
        Ok(n)
    }
}

const PARAMS: [&str; 8] = [
    "limit",
    "cursor",
    "type",
    "name",
    "q",
    "min_confidence",
    "source_type",
    "created_after",
];

#[utoipa::path(
    get,
    path = "/v1/entities",
    operation_id = "listEntities",
    tag = "entities",
    params(("limit" = Option<u16>, Query, minimum = 1, maximum = 100, description = "The page size (50 when absent)."), ("cursor" = Option<String>, Query, description = "The `next_cursor` of the previous page."), ("type" = Option<String>, Query, description = "Only entities of this type."), ("name" = Option<String>, Query, description = "Names starting with this text."), ("q" = Option<String>, Query, description = "Names containing this text, ignoring case and accents."), ("min_confidence" = Option<f64>, Query, minimum = 0, maximum = 1, description = "At least this confidence."), ("source_type" = Option<String>, Query, description = "Only entities from this kind of source."), ("created_after" = Option<String>, Query, format = DateTime, description = "Created after this RFC 3339 time.")),
    responses(
        (status = 200, description = "A page of live entities, by id. `metadata.<key>=<value>` parameters (up to 5) keep entities whose metadata has that value at that key.", body = crate::routes::PageResponse<super::EntityResponse>),
    ),
)]
pub(crate) async fn handle(
    state: web::Data<AppState>,
    Authenticated(ctx): Authenticated,
    query: web::Query<Vec<(String, String)>>,
) -> Result<HttpResponse, ApiError> {
    let mut v = Violations::new();
    let mut params = ListParams::read(&mut v, &query, &PARAMS);
    let (limit, cursor) = (params.take("limit"), params.take("cursor"));
    let page = page_request(&mut v, limit.as_deref(), cursor.as_deref());
    let filter = EntityFilter {
        kind: v
            .check_opt("type", params.take("type"), TypeName::parse)
            .flatten(),
        source_type: v
            .check_opt("source_type", params.take("source_type"), TypeName::parse)
            .flatten(),
        min_confidence: v
            .check_opt("min_confidence", params.take("min_confidence"), confidence)
            .flatten(),
        name_prefix: v.check_opt("name", params.take("name"), text).flatten(),
        name_contains: v
            .check_opt("q", params.take("q"), text)
            .flatten()
            .map(|q| kg_application::fold(&q)),
        created_after: v
            .check_opt("created_after", params.take("created_after"), time)
            .flatten(),
        metadata: params.metadata,
    };
    let Some(page) = page.filter(|_| v.is_empty()) else {
        return Err(ApiError::validation(&v));
    };
    let entities = state.entities.list(&ctx, &filter, page).await?;
    Ok(HttpResponse::Ok().json(PageResponse::from_page(entities, EntityResponse::from)))
}
