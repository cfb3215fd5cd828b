//! What the annotations leave to the whole document: the security schemes,
//! the problems every route can answer, and links between operations.

use utoipa::Modify;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::link::LinkBuilder;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, ObjectBuilder, Ref, RefOr, ResponseBuilder, Schema, Type};

use crate::ProblemCode;

use super::PROBLEM_JSON;

pub(super) struct SecuritySchemes;

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
pub(super) struct ProblemResponses;

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
pub(super) struct Links;

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
