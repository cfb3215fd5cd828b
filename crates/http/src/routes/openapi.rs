//! The contract: an OpenAPI 3.1 document generated from the handlers'
//! annotations, served at `/openapi.json`, and Swagger UI at `/docs`,
//! served from files compiled into the binary.
//!
//! The annotations name what is particular to a route (its body, its
//! success, its own conflicts). [`ProblemResponses`] adds the errors every
//! route can answer, so that no error status is left undocumented, and every
//! error response is the one [`Problem`](crate::error::Problem) schema.

use std::sync::{Arc, OnceLock};

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::link::LinkBuilder;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, ObjectBuilder, Ref, RefOr, ResponseBuilder, Schema, Type};
use utoipa::{Modify, OpenApi};

use crate::error::{FieldError, Problem};
use crate::{ApiError, ProblemCode};

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
        docs_index,
        docs_file,
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

/// The page's policy: everything from this host, nothing from anywhere
/// else. Swagger UI's stylesheet draws its icons from `data:` images, and
/// its script applies one fixed inline style, allowed by its hash.
const DOCS_CSP: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self' 'sha256-RL3ie0nH+Lzz2YNqQN83mnU0J1ot4QL7b99vMdIX99w='; \
    img-src 'self' data:; connect-src 'self'; font-src 'self'; form-action 'none'; \
    base-uri 'none'; frame-ancestors 'none'";

/// The Swagger UI page.
#[utoipa::path(
    get,
    path = "/docs",
    operation_id = "docsPage",
    tag = "contract",
    security(()),
    responses((status = 302, description = "To the page, `/docs/index.html`.", headers(("Location" = String)))),
)]
pub(crate) async fn docs_index() -> HttpResponse {
    HttpResponse::Found()
        .insert_header((header::LOCATION, "/docs/index.html"))
        .finish()
}

/// The files `/docs/index.html` loads.
const DOCS_FILES: [&str; 8] = [
    "index.html",
    "index.css",
    "swagger-ui.css",
    "swagger-ui-bundle.js",
    "swagger-ui-standalone-preset.js",
    "swagger-initializer.js",
    "favicon-32x32.png",
    "favicon-16x16.png",
];

fn swagger_config() -> Arc<utoipa_swagger_ui::Config<'static>> {
    static CONFIG: OnceLock<Arc<utoipa_swagger_ui::Config<'static>>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            Arc::new(
                utoipa_swagger_ui::Config::from("/openapi.json")
                    // Swagger UI would otherwise send the document to an
                    // outside validator.
                    .validator_url("none")
                    .try_it_out_enabled(true),
            )
        })
        .clone()
}

/// One of Swagger UI's files.
#[utoipa::path(
    get,
    path = "/docs/{file}",
    operation_id = "docsFile",
    tag = "contract",
    security(()),
    params(("file" = String, Path, description = "A file of the page, such as `index.html`.")),
    responses(
        (status = 200, description = "The file: HTML, JavaScript, CSS or an image."),
        (status = 404, description = "`route_not_found`: no such file.", content_type = PROBLEM_JSON, body = Problem),
    ),
)]
pub(crate) async fn docs_file(file: web::Path<String>) -> Result<HttpResponse, ApiError> {
    // Only what the page loads: not the OAuth redirect page or the module
    // builds that also ship in Swagger UI's archive.
    if !DOCS_FILES.contains(&file.as_str()) {
        return Err(ApiError::new(ProblemCode::RouteNotFound, "No such file."));
    }
    let found = utoipa_swagger_ui::serve(&file, swagger_config()).map_err(|e| {
        ApiError::from(kg_application::AppError::Internal(
            format!("Swagger UI file {file}: {e}").into(),
        ))
    })?;
    let file = found.ok_or_else(|| ApiError::new(ProblemCode::RouteNotFound, "No such file."))?;
    Ok(HttpResponse::Ok()
        .content_type(file.content_type)
        .insert_header((header::CONTENT_SECURITY_POLICY, DOCS_CSP))
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(match file.bytes {
            std::borrow::Cow::Borrowed(bytes) => web::Bytes::from_static(bytes),
            std::borrow::Cow::Owned(bytes) => web::Bytes::from(bytes),
        }))
}

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An access token from `POST /v1/auth/token`, or an API key.",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-API-Key",
                "An API key from `POST /v1/api-keys`.",
            ))),
        );
        components.add_security_scheme(
            "cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                crate::cookies::ACCESS,
                "A browser session from `POST /v1/auth/token` with `cookie: true`, when \
                 enabled. Unsafe methods also need the session's `X-CSRF-Token` header.",
            ))),
        );
    }
}

/// Adds the errors any route can answer, with the one problem schema, to
/// every operation that does not describe them itself.
struct ProblemResponses;

/// The statuses every route may answer, and why.
const ANY_ROUTE: [(&str, &str); 3] = [
    (
        "429",
        "`rate_limited`: too many requests; see `Retry-After`.",
    ),
    (
        "500",
        "`internal_error`: quote the `request_id` when reporting it.",
    ),
    (
        "503",
        "`database_unavailable`, `service_unavailable`, `maintenance` or `read_only`; see `Retry-After`.",
    ),
];

/// The statuses of a route that needs credentials.
const SECURED: [(&str, &str); 2] = [
    (
        "401",
        "`unauthenticated` or `session_expired`: no valid credentials.",
    ),
    (
        "403",
        "`forbidden` (the role does not allow it) or `csrf_token_invalid`.",
    ),
];

/// The statuses of a route that reads parameters or a body.
const WITH_INPUT: [(&str, &str); 1] = [(
    "422",
    "`validation_failed`: `errors` names each field, parameter or header and its problem.",
)];

/// The statuses of a route that reads a JSON body.
const WITH_BODY: [(&str, &str); 3] = [
    ("400", "`malformed_json`: the body is not well-formed JSON."),
    ("413", "`payload_too_large`: the body is too large."),
    (
        "415",
        "`unsupported_media_type`: the body is not JSON (`application/json` or another `application/*+json`).",
    ),
];

/// The statuses of a route with a path parameter.
const WITH_PATH: [(&str, &str); 1] = [("404", "`route_not_found`: nothing at this path.")];

fn problem_response(description: &str) -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            PROBLEM_JSON,
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Problem")))
                .build(),
        )
        .build()
}

/// The headers every problem of a status carries, whether the route's own
/// annotation or [`ProblemResponses`] describes it.
fn problem_headers(status: &str) -> Option<(&'static str, Type, &'static str)> {
    match status {
        "401" => Some(("WWW-Authenticate", Type::String, "`Bearer realm=\"kg\"`.")),
        "429" | "503" => Some((
            "Retry-After",
            Type::Integer,
            "Seconds to wait before retrying.",
        )),
        _ => None,
    }
}

fn add_problems(op: &mut Operation, statuses: &[(&str, &str)]) {
    for (status, description) in statuses {
        if !op.responses.responses.contains_key(*status) {
            op.responses.responses.insert(
                (*status).to_owned(),
                RefOr::T(problem_response(description)),
            );
        }
    }
}

fn is_secured(op: &Operation) -> bool {
    // `security(())` on a route makes one empty requirement: no credentials.
    op.security
        .as_ref()
        .is_none_or(|reqs| !reqs.iter().any(|r| r == &Default::default()))
}

fn add_problem_headers(op: &mut Operation) {
    for (status, response) in &mut op.responses.responses {
        if let (Some((name, schema_type, text)), RefOr::T(response)) =
            (problem_headers(status), response)
        {
            response.headers.entry(name.to_owned()).or_insert_with(|| {
                RefOr::T(
                    HeaderBuilder::new()
                        .schema(Some(ObjectBuilder::new().schema_type(schema_type)))
                        .description(Some(text))
                        .build(),
                )
            });
        }
    }
}

impl Modify for ProblemResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (path, item) in &mut openapi.paths.paths {
            let operations = [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.patch,
                &mut item.delete,
            ];
            for op in operations.into_iter().flatten() {
                add_problems(op, &ANY_ROUTE);
                if is_secured(op) {
                    add_problems(op, &SECURED);
                }
                let has_params = op.parameters.as_ref().is_some_and(|p| !p.is_empty());
                if op.request_body.is_some() {
                    add_problems(op, &WITH_BODY);
                }
                if has_params || op.request_body.is_some() {
                    add_problems(op, &WITH_INPUT);
                }
                if path.contains('{') {
                    add_problems(op, &WITH_PATH);
                }
                add_problem_headers(op);
            }
        }
        // The one problem schema names every code it can carry.
        let codes: Vec<&str> = ProblemCode::ALL.iter().map(|c| c.describe().0).collect();
        if let Some(RefOr::T(Schema::Object(problem))) = openapi
            .components
            .as_mut()
            .and_then(|c| c.schemas.get_mut("Problem"))
        {
            problem.properties.insert(
                "code".to_owned(),
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some(codes))
                    .description(Some("The stable, machine-readable code."))
                    .into(),
            );
        }
    }
}

/// Links from what a create (or a delete) answers to what can be done next
/// with it, so that a client, or a fuzzer, can follow them.
struct Links;

/// `(operation, status, [(target operation, its parameters)])`.
type Follow = (
    &'static str,
    &'static str,
    &'static [(&'static str, &'static [(&'static str, &'static str)])],
);

const CREATED_ID: &[(&str, &str)] = &[("id", "$response.body#/id")];
const CREATED_VERSION: &[(&str, &str)] = &[
    ("id", "$response.body#/id"),
    ("header.If-Match", "$response.header.ETag"),
];
const DELETED_ID: &[(&str, &str)] = &[("id", "$request.path.id")];

const FOLLOW: [Follow; 5] = [
    (
        "createEntity",
        "201",
        &[
            ("getEntity", CREATED_ID),
            ("updateEntity", CREATED_VERSION),
            ("deleteEntity", CREATED_ID),
            ("listEntityRelationships", CREATED_ID),
            ("getEntityHistory", CREATED_ID),
            ("getEntityNeighbors", CREATED_ID),
        ],
    ),
    ("deleteEntity", "204", &[("restoreEntity", DELETED_ID)]),
    (
        "createRelationship",
        "201",
        &[
            ("getRelationship", CREATED_ID),
            ("updateRelationship", CREATED_VERSION),
            ("deleteRelationship", CREATED_ID),
        ],
    ),
    (
        "createUser",
        "201",
        &[("getUser", CREATED_ID), ("deactivateUser", CREATED_ID)],
    ),
    ("createApiKey", "201", &[("revokeApiKey", CREATED_ID)]),
];

impl Modify for Links {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            let operations = [&mut item.post, &mut item.delete];
            for op in operations.into_iter().flatten() {
                let Some((_, status, targets)) = FOLLOW
                    .iter()
                    .find(|(id, _, _)| op.operation_id.as_deref() == Some(*id))
                else {
                    continue;
                };
                let Some(RefOr::T(response)) = op.responses.responses.get_mut(*status) else {
                    continue;
                };
                for (target, parameters) in *targets {
                    let link = parameters.iter().fold(
                        LinkBuilder::new().operation_id(*target),
                        |link, (name, value)| link.parameter(*name, *value),
                    );
                    response
                        .links
                        .insert((*target).to_owned(), RefOr::T(link.build()));
                }
            }
        }
    }
}

// Schemas of bodies the handlers read as raw JSON (merge patches, batch
// items), whose rules live in the application crate.

/// A JSON merge patch (RFC 7396) of an entity: members set to `null` clear
/// optional fields, `metadata` merges recursively.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(
    dead_code,
    reason = "describes a body the handler reads as a JSON object"
)]
pub(crate) struct EntityPatch {
    #[schema(
        rename = "type",
        nullable = false,
        pattern = "^[A-Za-z][A-Za-z0-9_.-]{0,99}$"
    )]
    kind: Option<String>,
    #[schema(nullable = false)]
    name: Option<String>,
    external_id: Option<String>,
    #[schema(minimum = 0, maximum = 1)]
    confidence: Option<f64>,
    source: Option<String>,
    source_type: Option<String>,
    /// Merged into the stored metadata; a member set to `null` is removed.
    #[schema(value_type = Option<Object>, nullable = false)]
    metadata: Option<serde_json::Value>,
}

/// A JSON merge patch (RFC 7396) of a relationship. Its ends cannot change.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(
    dead_code,
    reason = "describes a body the handler reads as a JSON object"
)]
pub(crate) struct RelationshipPatch {
    #[schema(
        rename = "type",
        nullable = false,
        pattern = "^[A-Za-z][A-Za-z0-9_.-]{0,99}$"
    )]
    kind: Option<String>,
    #[schema(minimum = 0, maximum = 1)]
    confidence: Option<f64>,
    source: Option<String>,
    source_type: Option<String>,
    /// Merged into the stored metadata; a member set to `null` is removed.
    #[schema(value_type = Option<Object>, nullable = false)]
    metadata: Option<serde_json::Value>,
}

/// A JSON merge patch (RFC 7396) of an account's role and state.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(
    dead_code,
    reason = "describes a body the handler reads as a JSON object"
)]
pub(crate) struct UserPatch {
    #[schema(nullable = false, pattern = "^(admin|editor|viewer)$")]
    role: Option<String>,
    #[schema(nullable = false)]
    is_active: Option<bool>,
}

/// A relationship in a batch: each end by id or by `external_id`, not both.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(
    dead_code,
    reason = "describes a body the handler reads as a JSON object"
)]
pub(crate) struct BatchRelationship {
    #[schema(format = Uuid, nullable = false)]
    source_id: Option<String>,
    #[schema(nullable = false)]
    source_external_id: Option<String>,
    #[schema(format = Uuid, nullable = false)]
    target_id: Option<String>,
    #[schema(nullable = false)]
    target_external_id: Option<String>,
    #[schema(rename = "type", pattern = "^[A-Za-z][A-Za-z0-9_.-]{0,99}$")]
    kind: String,
    #[schema(minimum = 0, maximum = 1)]
    confidence: Option<f64>,
    source: Option<String>,
    source_type: Option<String>,
    #[schema(value_type = Option<Object>)]
    metadata: Option<serde_json::Value>,
}
