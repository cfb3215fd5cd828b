//! The route table. Each resource is a module with one handler per file.

mod admin;
mod api_keys;
mod audit;
mod auth;
mod batch;
mod changes;
mod entities;
mod evidence;
mod explore;
mod health;
pub(crate) mod openapi;
mod relationships;
mod users;

use actix_web::http::Method;
use actix_web::{HttpResponse, web};

use crate::{ApiError, ProblemCode};

/// Declares every route once: the router, the [`ROUTES`] list and the
/// OpenAPI document's paths all come from this table, so the list the
/// authorization matrix test walks is the router itself, and no route can
/// be served undocumented.
macro_rules! routes {
    ($( $path:literal => { $( $method:ident => $handler:path ),+ $(,)? } ),+ $(,)?) => {
        /// Every route the API serves, as `(method, path)`.
        pub const ROUTES: &[(&str, &str)] = &[ $( $( (stringify!($method), $path) ),+ ),+ ];

        /// The operations of every route, from its handler's annotation.
        #[derive(utoipa::OpenApi)]
        #[openapi(paths( $( $( $handler ),+ ),+ ))]
        pub(crate) struct RoutePaths;

        pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
            $(
                let allow = [$( stringify!($method) ),+].join(", ");
                cfg.service(
                    web::resource($path)
                        .wrap(actix_web::middleware::from_fn(|req, next| {
                            crate::middleware::record_route($path, req, next)
                        }))
                        // Each handler's panic becomes its request's 500.
                        $( .route(
                            web::method(Method::$method)
                                .to($handler)
                                .wrap(actix_web::middleware::from_fn(crate::middleware::contain_panics)),
                        ) )+
                        .default_service(web::to(move || {
                            let allow = allow.clone();
                            async move { Err::<HttpResponse, _>(ApiError::method_not_allowed(&allow)) }
                        })),
                );
            )+
        }
    };
}

routes! {
    "/health/live" => { GET => health::live },
    "/health/ready" => { GET => health::ready },
    "/metrics" => { GET => health::metrics },
    "/openapi.json" => { GET => openapi::document },
    "/docs" => { GET => openapi::docs::docs_index },
    "/docs/{file}" => { GET => openapi::docs::docs_file },
    "/explore" => { GET => explore::page },
    "/explore/{file}" => { GET => explore::file },
    "/v1/auth/token" => { POST => auth::token::handle },
    "/v1/auth/refresh" => { POST => auth::refresh::handle },
    "/v1/auth/logout" => { POST => auth::logout::handle },
    "/v1/auth/password" => { POST => auth::password::handle },
    "/v1/auth/me" => { GET => auth::me::handle },
    "/v1/entities" => { GET => entities::list::handle, POST => entities::create::handle },
    "/v1/entities/{id}" => {
        GET => entities::get::handle,
        PATCH => entities::update::handle,
        DELETE => entities::delete::handle,
    },
    "/v1/entities/{id}/relationships" => { GET => entities::relationships::handle },
    "/v1/entities/{id}/restore" => { POST => entities::restore::handle },
    "/v1/entities/{id}/history" => { GET => entities::history::handle },
    "/v1/entities/{id}/neighbors" => { GET => entities::neighbors::handle },
    "/v1/entities/{id}/duplicates" => { GET => entities::duplicates::handle },
    "/v1/entities/{id}/evidence" => { GET => evidence::list::entity, POST => evidence::add::entity },
    "/v1/relationships" => { GET => relationships::list::handle, POST => relationships::create::handle },
    "/v1/relationships/{id}" => {
        GET => relationships::get::handle,
        PATCH => relationships::update::handle,
        DELETE => relationships::delete::handle,
    },
    "/v1/relationships/{id}/evidence" => {
        GET => evidence::list::relationship,
        POST => evidence::add::relationship,
    },
    "/v1/evidence" => { GET => evidence::list::all },
    "/v1/evidence/{id}" => { GET => evidence::get::handle, DELETE => evidence::retract::handle },
    "/v1/evidence/{id}/restore" => { POST => evidence::restore::handle },
    "/v1/batch" => { POST => batch::handle },
    "/v1/changes" => { GET => changes::handle },
    "/v1/audit" => { GET => audit::list::handle },
    "/v1/admin/maintenance" => { GET => admin::get, PUT => admin::put },
    "/v1/users" => { GET => users::list::handle, POST => users::create::handle },
    "/v1/users/{id}" => { GET => users::get::handle, PATCH => users::update::handle, DELETE => users::delete::handle },
    "/v1/api-keys" => { GET => api_keys::list::handle, POST => api_keys::create::handle },
    "/v1/api-keys/{id}" => { DELETE => api_keys::revoke::handle },
}

pub use health::ReadinessCache;
pub(crate) use health::metrics_response;

pub(crate) async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::new(
        ProblemCode::RouteNotFound,
        "No route matches this path.",
    ))
}

/// A list response: one page and the cursor of the next.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct PageResponse<T> {
    items: Vec<T>,
    /// Pass as `cursor` for the next page; `null` on the last.
    #[schema(required = true)]
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

/// Parses an integer from a query parameter.
pub(crate) fn integer(text: String) -> Result<i64, &'static str> {
    text.parse::<i64>().map_err(|_| "must be an integer")
}

/// Parses a number from a query parameter.
pub(crate) fn number(text: String) -> Result<f64, &'static str> {
    text.parse::<f64>()
        .ok()
        .filter(|n| n.is_finite())
        .ok_or("must be a number")
}

/// Parses a `min_confidence` query parameter.
pub(crate) fn confidence(text: String) -> Result<kg_domain::Confidence, &'static str> {
    number(text)
        .and_then(|n| kg_domain::Confidence::new(n).map_err(|_| "must be a number between 0 and 1"))
}

/// Parses the `limit` every list takes (50 when absent), collecting problems.
pub(crate) fn limit(
    v: &mut kg_domain::Violations,
    limit: Option<&str>,
) -> Option<kg_application::Limit> {
    match limit {
        Some(l) => v.check(
            "limit",
            l.parse::<i64>()
                .map_err(|_| kg_application::LimitError)
                .and_then(kg_application::Limit::new),
        ),
        None => Some(kg_application::Limit::default()),
    }
}

/// Parses the `limit` and `cursor` every list takes, collecting problems.
pub(crate) fn page_request(
    v: &mut kg_domain::Violations,
    limit: Option<&str>,
    cursor: Option<&str>,
) -> Option<kg_application::PageRequest> {
    let limit = self::limit(v, limit);
    let after = v.check_opt("cursor", cursor, kg_application::Cursor::decode);
    Some(kg_application::PageRequest {
        limit: limit?,
        after: after?,
    })
}

/// The page of a list that takes no filters, or 422 naming the parameter.
pub(crate) fn page_only(
    limit: Option<&str>,
    cursor: Option<&str>,
) -> Result<kg_application::PageRequest, ApiError> {
    let mut v = kg_domain::Violations::new();
    match page_request(&mut v, limit, cursor) {
        Some(page) if v.is_empty() => Ok(page),
        _ => Err(ApiError::validation(&v)),
    }
}

/// The most metadata filters in one request.
const MAX_METADATA_FILTERS: usize = 5;
/// The longest metadata value a filter compares.
const MAX_METADATA_VALUE_CHARS: usize = 500;

/// A list's query, read pair by pair: named parameters (each at most once,
/// from `allowed`) and `metadata.<key>=<value>` filters, whose names are the
/// client's. Every problem is collected in `v`.
pub(crate) struct ListParams {
    named: std::collections::HashMap<String, String>,
    /// The metadata filters, in order.
    pub(crate) metadata: Vec<(kg_application::MetadataKey, String)>,
}

impl ListParams {
    pub(crate) fn read(
        v: &mut kg_domain::Violations,
        pairs: &[(String, String)],
        allowed: &[&str],
    ) -> Self {
        let mut params = Self {
            named: std::collections::HashMap::new(),
            metadata: Vec::new(),
        };
        for (name, value) in pairs {
            if let Some(key) = name.strip_prefix("metadata.") {
                let key = v.check(name, kg_application::MetadataKey::parse(key));
                if value.chars().count() > MAX_METADATA_VALUE_CHARS {
                    v.push(
                        name.as_str(),
                        format!("must be at most {MAX_METADATA_VALUE_CHARS} characters"),
                    );
                } else if let Some(key) = key {
                    params.metadata.push((key, value.clone()));
                }
            } else if !allowed.contains(&name.as_str()) {
                v.push(name.as_str(), "is not a filter of this list");
            } else if params.named.insert(name.clone(), value.clone()).is_some() {
                v.push(name.as_str(), "must be given once");
            }
        }
        if params.metadata.len() > MAX_METADATA_FILTERS {
            v.push(
                "metadata",
                format!("at most {MAX_METADATA_FILTERS} metadata filters"),
            );
        }
        params
    }

    /// Takes a named parameter.
    pub(crate) fn take(&mut self, name: &str) -> Option<String> {
        self.named.remove(name)
    }
}

/// Parses an RFC 3339 time parameter.
pub(crate) fn time(text: String) -> Result<chrono::DateTime<chrono::Utc>, &'static str> {
    chrono::DateTime::parse_from_rfc3339(&text)
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|_| "must be an RFC 3339 time, such as 2026-01-31T12:00:00Z")
}
