//! Swagger UI at `/docs`, served from files compiled into the binary.

use std::sync::{Arc, OnceLock};

use actix_web::http::header;
use actix_web::{HttpResponse, web};

use crate::error::Problem;
use crate::{ApiError, ProblemCode};

use super::PROBLEM_JSON;

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
