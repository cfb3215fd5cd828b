//! Liveness and readiness.

use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::{ApiError, AppState, ProblemCode};

/// `GET /metrics`: Prometheus text format.
pub(crate) async fn metrics(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    if !state.settings.metrics_with_api {
        return Err(ApiError::new(
            ProblemCode::RouteNotFound,
            "Metrics are served on their own listener.",
        ));
    }
    Ok(metrics_response(&state).await)
}

pub(crate) async fn metrics_response(state: &AppState) -> HttpResponse {
    let pool = state.pool.snapshot().await;
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(state.metrics.render(&pool))
}

/// The process is up and serving.
pub(crate) async fn live() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// The database answers and its schema is the one this build expects;
/// otherwise 503, naming what failed, so a load balancer stops sending
/// traffic here.
pub(crate) async fn ready(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    if state
        .shutting_down
        .load(std::sync::atomic::Ordering::Relaxed)
    {
        return Err(ApiError::new(
            ProblemCode::NotReady,
            "Not ready: shutting down.",
        ));
    }
    let database = state.health.database_reachable().await;
    let schema = database && state.health.schema_current().await;
    let status = |ok: bool| if ok { "ok" } else { "failing" };
    if database && schema {
        // An instance in read-only or maintenance mode is still ready: it
        // answers, and admins must reach it to turn the switch off.
        let mode = state.maintenance.current().await;
        return Ok(HttpResponse::Ok().json(json!({
            "status": "ready",
            "mode": mode.as_str(),
            "checks": { "database": "ok", "schema": "ok" },
        })));
    }
    let failing: Vec<&str> = [("database", database), ("schema", schema)]
        .into_iter()
        .filter(|(_, ok)| !ok)
        .map(|(name, _)| name)
        .collect();
    tracing::warn!(
        database = status(database),
        schema = status(schema),
        "not ready"
    );
    Err(ApiError::new(
        ProblemCode::NotReady,
        format!("Not ready: {} failing.", failing.join(", ")),
    ))
}
