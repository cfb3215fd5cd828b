//! `/v1/admin/maintenance`: the maintenance switch (admins).

use actix_web::{HttpResponse, web};
use kg_application::{ModeState, ServiceMode};
use serde::Deserialize;
use serde_json::json;

use crate::extract::{Authenticated, JsonBody};
use crate::{ApiError, AppState};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SetMode {
    mode: String,
}

fn body(state: &ModeState) -> serde_json::Value {
    json!({
        "mode": state.mode.as_str(),
        "changed_at": state.changed_at,
        "changed_by": state.changed_by.map(|u| u.to_string()),
        "refresh_seconds": kg_application::MODE_REFRESH.as_secs(),
    })
}

pub(crate) async fn get(
    state: web::Data<AppState>,
    Authenticated(ctx): Authenticated,
) -> Result<HttpResponse, ApiError> {
    ctx.actor.require_admin()?;
    let mode = state.maintenance.status().await?;
    Ok(HttpResponse::Ok().json(body(&mode)))
}

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
