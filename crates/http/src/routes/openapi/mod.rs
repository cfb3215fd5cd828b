//! The contract: an OpenAPI 3.1 document generated from the handlers'
//! annotations, served at `/openapi.json`, and Swagger UI at `/docs`,
//! served from files compiled into the binary.
//!
//! The annotations name what is particular to a route (its body, its
//! success, its own conflicts). [`ProblemResponses`] adds the errors every
//! route can answer, so that no error status is left undocumented, and every
//! error response is the one [`Problem`](crate::error::Problem) schema.

mod docs;
mod modifiers;
mod schemas;

pub(crate) use docs::{docs_file, docs_index};
use modifiers::{Links, ProblemResponses, SecuritySchemes};
pub(crate) use schemas::*;

use std::sync::OnceLock;

use actix_web::HttpResponse;
use utoipa::OpenApi;

use crate::ApiError;
use crate::error::{FieldError, Problem};

use super::{admin, api_keys, audit, auth, batch, changes, entities, health, relationships, users};

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
    paths(
        health::live,
        health::ready,
        health::metrics,
        document,
        docs::docs_index,
        docs::docs_file,
        auth::token::handle,
        auth::refresh::handle,
        auth::logout::handle,
        auth::password::handle,
        auth::me::handle,
        entities::list::handle,
        entities::create::handle,
        entities::get::handle,
        entities::update::handle,
        entities::delete::handle,
        entities::relationships::handle,
        entities::restore::handle,
        entities::history::handle,
        entities::neighbors::handle,
        relationships::list::handle,
        relationships::create::handle,
        relationships::get::handle,
        relationships::update::handle,
        relationships::delete::handle,
        batch::handle,
        changes::handle,
        audit::list::handle,
        admin::get,
        admin::put,
        users::list::handle,
        users::create::handle,
        users::get::handle,
        users::update::handle,
        users::delete::handle,
        api_keys::list::handle,
        api_keys::create::handle,
        api_keys::revoke::handle,
    ),
    components(schemas(Problem, FieldError)),
    modifiers(&SecuritySchemes, &ProblemResponses, &Links),
    security(("bearer" = []), ("api_key" = []), ("cookie" = [])),
    tags(
        (name = "health", description = "Liveness, readiness and metrics."),
        (name = "auth", description = "Sessions, tokens and the caller's own account."),
        (name = "entities", description = "Entities, their history and their neighbourhood."),
        (name = "relationships", description = "Typed, directed relationships between entities."),
        (name = "graph", description = "Bulk writes and the change feed."),
        (name = "admin", description = "The audit log and the maintenance switch (admins)."),
        (name = "users", description = "Accounts (admins)."),
        (name = "api-keys", description = "API keys for pipelines and services (admins)."),
        (name = "contract", description = "This document and the page that renders it."),
    ),
)]
struct ApiDoc;

/// The document, built once.
fn document_json() -> Result<&'static str, ApiError> {
    static JSON: OnceLock<String> = OnceLock::new();
    if let Some(json) = JSON.get() {
        return Ok(json);
    }
    let json = ApiDoc::openapi().to_pretty_json().map_err(|e| {
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
