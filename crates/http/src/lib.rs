//! kg's REST API on actix-web.
//!
//! Handlers are thin: they turn requests into use-case calls and results
//! into responses. Every failure, from a malformed body to an unknown route
//! or a database outage, leaves as one RFC 9457 problem with a stable
//! `code` and the request's id. No sea-orm type is visible here.

pub mod batch_json;
mod cookies;
mod error;
mod extract;
mod idempotency;
mod json_shape;
mod limits;
mod merge_patch;
mod metrics;
mod middleware;
mod routes;
mod state;

pub use error::{ApiError, ProblemCode};
pub use limits::{RateLimits, SharedBudget, SharedDecision, TrustedProxies, client_ip, client_key};
pub use metrics::Metrics;
pub use middleware::quiet_contained_panics;
pub use routes::{ROUTES, ReadinessCache};
pub use state::{AppState, HttpSettings};

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::middleware::from_fn;
use actix_web::{App, web};

/// The whole application: routes, extractor configuration and middleware.
/// Build it inside `HttpServer::new` from a cloned [`AppState`]; the state
/// holds no per-worker data.
pub fn app(
    state: AppState,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let settings = state.settings.clone();
    App::new()
        .app_data(web::Data::new(state))
        .app_data(
            web::PathConfig::default().error_handler(|err, _| ApiError::invalid_path(&err).into()),
        )
        .app_data(
            web::QueryConfig::default()
                .error_handler(|err, _| ApiError::invalid_query(&err).into()),
        )
        .configure(routes::configure)
        .default_service(web::to(routes::not_found))
        .wrap(from_fn(middleware::guards))
        // Outside the guards, so their refusals carry CORS headers too.
        .wrap(middleware::cors(&settings.cors_origins))
        .wrap(from_fn(middleware::problems))
        .wrap(from_fn(middleware::security_headers))
        .wrap(from_fn(middleware::access_log))
        .wrap(from_fn(middleware::root_span))
        .app_data(web::Data::new(settings))
}

/// The metrics listener's app: `GET /metrics` and nothing else.
pub fn metrics_app(
    state: AppState,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new().app_data(web::Data::new(state)).route(
        "/metrics",
        web::get()
            .to(|state: web::Data<AppState>| async move { routes::metrics_response(&state).await }),
    )
}
