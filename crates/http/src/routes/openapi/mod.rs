//! The contract: an OpenAPI 3.1 document generated from the annotations of
//! the handlers the route table names, served at `/openapi.json`, and
//! Swagger UI at `/docs`, served from files compiled into the binary.
//!
//! The annotations name what is particular to a route (its body, its
//! success, its own conflicts). [`ProblemResponses`] adds the errors every
//! route can answer, so that no error status is left undocumented, and every
//! error response is the one [`Problem`](crate::error::Problem) schema.

pub(crate) mod docs;
mod modifiers;
mod schemas;

use modifiers::{Links, ProblemResponses, SecuritySchemes};
pub(crate) use schemas::*;

use std::sync::OnceLock;

use actix_web::HttpResponse;
use utoipa::{Modify, OpenApi};

use crate::ApiError;
use crate::error::{FieldError, Problem};

use super::RoutePaths;

/// The media type of every error body.
pub(crate) const PROBLEM_JSON: &str = "application/problem+json";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "kg",
        description = "A knowledge graph: entities and typed relationships, each with a confidence, \
            a source and JSON metadata. Every error is an RFC 9457 problem \
            (`application/problem+json`) with a stable `code` and the request's id.",
    ),
    components(schemas(Problem, FieldError)),
    security(("bearer" = []), ("api_key" = []), ("cookie" = [])),
    tags(
        (name = "health", description = "Liveness, readiness and metrics."),
        (name = "auth", description = "Sessions, tokens and the caller's own account."),
        (name = "entities", description = "Entities, their history and their neighbourhood."),
        (name = "relationships", description = "Typed, directed relationships between entities."),
        (name = "evidence", description = "What each source says about a fact, and the confidence it adds up to."),
        (name = "graph", description = "Bulk writes and the change feed."),
        (name = "admin", description = "The audit log and the maintenance switch (admins)."),
        (name = "users", description = "Accounts (admins)."),
        (name = "api-keys", description = "API keys for pipelines and services (admins)."),
        (name = "contract", description = "This document and the page that renders it."),
    ),
)]
struct ApiDoc;

/// The document: what is said of the whole API, every route's operations
/// from the route table, then what the modifiers add to all of them.
fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.merge(RoutePaths::openapi());
    let modifiers: [&dyn Modify; 3] = [&SecuritySchemes, &ProblemResponses, &Links];
    for modifier in modifiers {
        modifier.modify(&mut doc);
    }
    doc
}

/// The document, built once.
fn document_json() -> Result<&'static str, ApiError> {
    static JSON: OnceLock<String> = OnceLock::new();
    if let Some(json) = JSON.get() {
        return Ok(json);
    }
    let json = openapi().to_pretty_json().map_err(|e| {
        ApiError::from(kg_application::AppError::Internal(
            format!("serialising the OpenAPI document: {e}").into(),
        ))
    })?;
    Ok(JSON.get_or_init(|| json))
}

/// The OpenAPI document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    operation_id = "openapi",
    tag = "contract",
    security(()),
    responses((status = 200, description = "This document.", content_type = "application/json", body = Object)),
)]
pub(crate) async fn document() -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .body(document_json()?))
}
