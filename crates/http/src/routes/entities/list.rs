//! `GET /v1/entities`: filtered, keyset-paginated.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use kg_application::{EntityFilter, MetadataKey};
use kg_domain::{Confidence, TypeName, Violations};

use super::EntityResponse;
use crate::extract::Authenticated;
use crate::routes::{PageResponse, number, page_request};
use crate::{ApiError, AppState};

/// The longest `name` prefix or `q` accepted; longer than any name can be.
const MAX_TEXT_CHARS: usize = kg_domain::EntityName::MAX_CHARS;
/// The most metadata filters in one request.
const MAX_METADATA_FILTERS: usize = 5;
/// The longest metadata value a filter compares.
const MAX_METADATA_VALUE_CHARS: usize = 500;

fn text(n: String) -> Result<String, String> {
    if n.chars().count() > MAX_TEXT_CHARS || n.chars().any(char::is_control) {
        Err(format!(
            "must be at most {MAX_TEXT_CHARS} characters without control characters"
        ))
    } else {
        Ok(n)
    }
}

fn time(text: String) -> Result<DateTime<Utc>, &'static str> {
    DateTime::parse_from_rfc3339(&text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| "must be an RFC 3339 time, such as 2026-01-31T12:00:00Z")
}

/// The query, read pair by pair: `metadata.<key>=<value>` filters have
/// names of the client's choosing.
pub(crate) async fn handle(
    state: web::Data<AppState>,
    Authenticated(ctx): Authenticated,
    query: web::Query<Vec<(String, String)>>,
) -> Result<HttpResponse, ApiError> {
    let mut v = Violations::new();
    let mut params: std::collections::HashMap<&str, String> = std::collections::HashMap::new();
    let mut filter = EntityFilter::default();
    for (name, value) in query.iter() {
        if let Some(key) = name.strip_prefix("metadata.") {
            let key = v.check(name, MetadataKey::parse(key));
            let value = if value.chars().count() > MAX_METADATA_VALUE_CHARS {
                v.push(
                    name.as_str(),
                    format!("must be at most {MAX_METADATA_VALUE_CHARS} characters"),
                );
                None
            } else {
                Some(value.clone())
            };
            if let (Some(key), Some(value)) = (key, value) {
                filter.metadata.push((key, value));
            }
            continue;
        }
        match name.as_str() {
            "limit" | "cursor" | "type" | "name" | "q" | "min_confidence" | "source_type"
            | "created_after" => {
                if params.insert(name.as_str(), value.clone()).is_some() {
                    v.push(name.as_str(), "must be given once");
                }
            }
            other => v.push(other, "is not a filter of this list"),
        }
    }
    if filter.metadata.len() > MAX_METADATA_FILTERS {
        v.push(
            "metadata",
            format!("at most {MAX_METADATA_FILTERS} metadata filters"),
        );
    }
    let mut take = |name: &str| params.remove(name);
    let (limit, cursor) = (take("limit"), take("cursor"));
    let page = page_request(&mut v, limit.as_deref(), cursor.as_deref());
    filter.kind = v.check_opt("type", take("type"), TypeName::parse).flatten();
    filter.source_type = v
        .check_opt("source_type", take("source_type"), TypeName::parse)
        .flatten();
    filter.min_confidence = v
        .check_opt("min_confidence", take("min_confidence"), |t| {
            number(t)
                .and_then(|n| Confidence::new(n).map_err(|_| "must be a number between 0 and 1"))
        })
        .flatten();
    filter.name_prefix = v.check_opt("name", take("name"), text).flatten();
    filter.name_contains = v
        .check_opt("q", take("q"), text)
        .flatten()
        .map(|q| kg_application::fold(&q));
    filter.created_after = v
        .check_opt("created_after", take("created_after"), time)
        .flatten();
    let Some(page) = page.filter(|_| v.is_empty()) else {
        return Err(ApiError::validation(&v));
    };
    let entities = state.entities.list(&ctx, &filter, page).await?;
    Ok(HttpResponse::Ok().json(PageResponse::from_page(entities, EntityResponse::from)))
}
