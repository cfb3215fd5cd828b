//! `/v1/admin/maintenance`: the maintenance switch (admins).

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use kg_application::{ModeState, ServiceMode};
use serde::{Deserialize, Serialize};

use crate::extract::{Authenticated, JsonBody};
use crate::{ApiError, AppState};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SetMode {
    /// `off`, `read_only` (writes answer 503) or `maintenance` (everything
    /// but health, sign-in and this switch answers 503).
    #[schema(pattern = "^(off|read_only|maintenance)$")]
    mode: String,
}

/// The switch's position.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ModeResponse {
    /// `off`, `read_only` or `maintenance`.
    mode: &'static str,
    /// When it was last set; `null` if never.
    #[schema(required = true)]
    changed_at: Option<DateTime<Utc>>,
    /// Who last set it; `null` if never.
    #[schema(required = true)]
    changed_by: Option<String>,
    /// How long an instance may take to obey a change.
    refresh_seconds: u64,
}

fn body(state: &ModeState) -> ModeResponse {
    ModeResponse {
        mode: state.mode.as_str(),
        changed_at: state.changed_at,
        changed_by: state.changed_by.map(|u| u.to_string()),
        refresh_seconds: kg_application::MODE_REFRESH.as_secs(),
    }
}

#[utoipa::path(
    get,
    path = "/v1/admin/maintenance",
    operation_id = "getMaintenance",
    tag = "admin",
    responses(
        (status = 200, description = "The current mode.", body = ModeResponse),
    ),
)]
pub(crate) async fn get(
    state: web::Data<AppState>,
    Authenticated(ctx): Authenticated,
) -> Result<HttpResponse, ApiError> {
    ctx.actor.require_admin()?;
    let mode = state.maintenance.status().await?;
    Ok(HttpResponse::Ok().json(body(&mode)))
}

#[utoipa::path(
    put,
    path = "/v1/admin/maintenance",
    operation_id = "setMaintenance",
    tag = "admin",
    request_body(content = SetMode, content_type = "application/json"),
    responses(
        (status = 200, description = "The mode now stored; every instance obeys it within `refresh_seconds`.", body = ModeResponse),
    ),
)]
#[tracing::instrument(skip_all)]
pub(crate) async fn put(
    state: web::Data<AppState>,
    Authenticated(ctx): Authenticated,
    request: JsonBody,
) -> Result<HttpResponse, ApiError> {
    ctx.actor.require_admin()?;
    let request: SetMode = request.parse()?;
    let mode = ServiceMode::parse(&request.mode)
        .ok_or_else(|| ApiError::field("mode", "must be one of off, read_only, maintenance"))?;
    let stored = state.maintenance.set(&ctx, mode).await?;
    tracing::info!(mode = mode.as_str(), "maintenance switch set");
    Ok(HttpResponse::Ok().json(body(&stored)))
}
