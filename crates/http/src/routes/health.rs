//! Liveness and readiness.

use actix_web::{HttpResponse, web};
use serde::Serialize;

use crate::{ApiError, AppState, ProblemCode};

/// `GET /metrics`: Prometheus text format.
#[utoipa::path(
    get,
    path = "/metrics",
    operation_id = "metrics",
    tag = "health",
    security(()),
    responses(
        (status = 200, description = "Prometheus text format.", content_type = "text/plain", body = String),
        (status = 404, description = "`route_not_found`: metrics are served on their own listener (`KG_METRICS_ADDR`), or not on this one (production, unless `KG_METRICS_PUBLIC=true`).", content_type = "application/problem+json", body = crate::error::Problem),
    ),
)]
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
        .body(state.metrics.render(&pool, state.limits.tracked_clients()))
}

/// How long a readiness check's result is answered again.
const READINESS_FRESH: std::time::Duration = std::time::Duration::from_secs(1);

/// The last readiness checks, answered again for [`READINESS_FRESH`]: the
/// route needs no credentials, so whoever calls it, and however often, the
/// database sees at most one round of checks per second per instance.
/// Callers that arrive during a check wait for its result.
#[derive(Debug, Default)]
pub struct ReadinessCache(tokio::sync::Mutex<Option<(std::time::Instant, bool, bool)>>);

impl ReadinessCache {
    /// Whether the database answers, and whether its schema is current.
    pub(crate) async fn checks(&self, probe: &dyn kg_application::HealthProbe) -> (bool, bool) {
        let mut last = self.0.lock().await;
        if let Some((at, database, schema)) = *last
            && at.elapsed() < READINESS_FRESH
        {
            return (database, schema);
        }
        let database = probe.database_reachable().await;
        let schema = database && probe.schema_current().await;
        *last = Some((std::time::Instant::now(), database, schema));
        (database, schema)
    }
}

/// The liveness answer.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Live {
    /// Always `ok`.
    status: &'static str,
}

/// The readiness answer.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Ready {
    /// Always `ready`.
    status: &'static str,
    /// `off`, `read_only` or `maintenance`.
    mode: &'static str,
    checks: ReadyChecks,
}

/// Each check readiness makes, all `ok` when ready.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ReadyChecks {
    database: &'static str,
    schema: &'static str,
}

/// The process is up and serving.
#[utoipa::path(
    get,
    path = "/health/live",
    operation_id = "live",
    tag = "health",
    security(()),
    responses(
        (status = 200, description = "The process answers.", body = Live),
    ),
)]
pub(crate) async fn live() -> HttpResponse {
    HttpResponse::Ok().json(Live { status: "ok" })
}

/// The database answers and its schema is the one this build expects;
/// otherwise 503, naming what failed, so a load balancer stops sending
/// traffic here.
#[utoipa::path(
    get,
    path = "/health/ready",
    operation_id = "ready",
    tag = "health",
    security(()),
    responses(
        (status = 200, description = "Ready for traffic, in any mode.", body = Ready),
        (status = 503, description = "`not_ready`: `detail` names the failing check (database, schema) or says the process is shutting down.", content_type = "application/problem+json", body = crate::error::Problem),
    ),
)]
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
    let (database, schema) = state.readiness.checks(&*state.health).await;
    let status = |ok: bool| if ok { "ok" } else { "failing" };
    if database && schema {
        // An instance in read-only or maintenance mode is still ready: it
        // answers, and admins must reach it to turn the switch off.
        let mode = state.maintenance.current().await;
        return Ok(HttpResponse::Ok().json(Ready {
            status: "ready",
            mode: mode.as_str(),
            checks: ReadyChecks {
                database: "ok",
                schema: "ok",
            },
        }));
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::ReadinessCache;

    #[derive(Default)]
    struct Counting(AtomicUsize);

    #[async_trait::async_trait]
    impl kg_application::HealthProbe for Counting {
        async fn database_reachable(&self) -> bool {
            self.0.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            true
        }
        async fn schema_current(&self) -> bool {
            true
        }
    }

    #[tokio::test]
    async fn a_flood_of_readiness_checks_costs_one_round_of_checks() {
        let cache = Arc::new(ReadinessCache::default());
        let probe = Arc::new(Counting::default());
        let calls = (0..200).map(|_| {
            let (cache, probe) = (cache.clone(), probe.clone());
            tokio::spawn(async move { cache.checks(&*probe).await })
        });
        for call in calls {
            assert_eq!(call.await.ok(), Some((true, true)));
        }
        assert_eq!(probe.0.load(Ordering::Relaxed), 1);
    }
}
