//! The route table. Each resource is a module with one handler per file.

mod auth;
mod entities;
mod health;
mod relationships;
mod users;

use actix_web::{HttpResponse, web};

use crate::{ApiError, ProblemCode};

/// Every route the API serves, as `(method, path)`; the test suite checks
/// this against the router so that neither can drift.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/health/live"),
    ("POST", "/v1/auth/token"),
    ("POST", "/v1/auth/refresh"),
    ("POST", "/v1/auth/logout"),
    ("POST", "/v1/auth/password"),
    ("GET", "/v1/auth/me"),
    ("POST", "/v1/entities"),
    ("GET", "/v1/entities"),
    ("GET", "/v1/entities/{id}"),
    ("PATCH", "/v1/entities/{id}"),
    ("DELETE", "/v1/entities/{id}"),
    ("GET", "/v1/entities/{id}/relationships"),
    ("POST", "/v1/relationships"),
    ("GET", "/v1/relationships"),
    ("GET", "/v1/relationships/{id}"),
    ("DELETE", "/v1/relationships/{id}"),
    ("POST", "/v1/users"),
    ("GET", "/v1/users"),
    ("GET", "/v1/users/{id}"),
    ("PATCH", "/v1/users/{id}"),
    ("DELETE", "/v1/users/{id}"),
];

/// A resource whose unknown methods answer 405 with `Allow`.
fn resource(path: &str, allow: &'static str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(move || async move {
        Err::<HttpResponse, _>(ApiError::method_not_allowed(allow))
    }))
}

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/health/live", "GET").route(web::get().to(health::live)))
        .service(resource("/v1/auth/token", "POST").route(web::post().to(auth::token::handle)))
        .service(resource("/v1/auth/refresh", "POST").route(web::post().to(auth::refresh::handle)))
        .service(resource("/v1/auth/logout", "POST").route(web::post().to(auth::logout::handle)))
        .service(
            resource("/v1/auth/password", "POST").route(web::post().to(auth::password::handle)),
        )
        .service(resource("/v1/auth/me", "GET").route(web::get().to(auth::me::handle)))
        .service(
            resource("/v1/entities", "GET, POST")
                .route(web::post().to(entities::create::handle))
                .route(web::get().to(entities::list::handle)),
        )
        .service(
            resource("/v1/entities/{id}", "GET, PATCH, DELETE")
                .route(web::get().to(entities::get::handle))
                .route(web::patch().to(entities::update::handle))
                .route(web::delete().to(entities::delete::handle)),
        )
        .service(
            resource("/v1/entities/{id}/relationships", "GET")
                .route(web::get().to(entities::relationships::handle)),
        )
        .service(
            resource("/v1/relationships", "GET, POST")
                .route(web::post().to(relationships::create::handle))
                .route(web::get().to(relationships::list::handle)),
        )
        .service(
            resource("/v1/relationships/{id}", "GET, DELETE")
                .route(web::get().to(relationships::get::handle))
                .route(web::delete().to(relationships::delete::handle)),
        )
        .service(
            resource("/v1/users", "GET, POST")
                .route(web::post().to(users::create::handle))
                .route(web::get().to(users::list::handle)),
        )
        .service(
            resource("/v1/users/{id}", "GET, PATCH, DELETE")
                .route(web::get().to(users::get::handle))
                .route(web::patch().to(users::update::handle))
                .route(web::delete().to(users::delete::handle)),
        );
}

pub(crate) async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::new(
        ProblemCode::RouteNotFound,
        "No route matches this path.",
    ))
}

/// A list response: one page and the cursor of the next.
#[derive(Debug, serde::Serialize)]
pub(crate) struct PageResponse<T> {
    items: Vec<T>,
    next_cursor: Option<String>,
}

impl<T> PageResponse<T> {
    pub(crate) fn from_page<U>(page: kg_application::Page<U>, f: impl FnMut(U) -> T) -> Self {
        let page = page.map(f);
        Self {
            items: page.items,
            next_cursor: page.next.map(kg_application::Cursor::encode),
        }
    }
}

/// Parses a number from a query parameter.
pub(crate) fn number(text: String) -> Result<f64, &'static str> {
    text.parse::<f64>()
        .ok()
        .filter(|n| n.is_finite())
        .ok_or("must be a number")
}

/// Parses the `limit` and `cursor` every list takes, collecting problems.
pub(crate) fn page_request(
    v: &mut kg_domain::Violations,
    limit: Option<&str>,
    cursor: Option<&str>,
) -> Option<kg_application::PageRequest> {
    let limit = match limit {
        Some(l) => v.check(
            "limit",
            l.parse::<i64>()
                .map_err(|_| kg_application::LimitError)
                .and_then(kg_application::Limit::new),
        ),
        None => Some(kg_application::Limit::default()),
    };
    let after = v.check_opt("cursor", cursor, kg_application::Cursor::decode);
    Some(kg_application::PageRequest {
        limit: limit?,
        after: after?,
    })
}
