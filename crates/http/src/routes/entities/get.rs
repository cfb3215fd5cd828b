//! `GET /v1/entities/{id}`.

use actix_web::{HttpResponse, web};
use kg_domain::EntityId;

use super::entity_response;
use crate::extract::{Authenticated, parse_id};
use crate::{ApiError, AppState};

pub(crate) async fn handle(
    state: web::Data<AppState>,
    Authenticated(ctx): Authenticated,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id: EntityId = parse_id(&path, "id")?;
    let entity = state.entities.get(&ctx, id).await?;
    Ok(entity_response(HttpResponse::Ok(), entity))
}
