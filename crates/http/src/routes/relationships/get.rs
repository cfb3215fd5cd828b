//! `GET /v1/relationships/{id}`.

use actix_web::{HttpResponse, web};
use kg_domain::RelationshipId;

use super::relationship_response;
use crate::extract::{Authenticated, parse_id};
use crate::{ApiError, AppState};

pub(crate) async fn handle(
    state: web::Data<AppState>,
    Authenticated(ctx): Authenticated,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id: RelationshipId = parse_id(&path, "id")?;
    let relationship = state.relationships.get(&ctx, id).await?;
    Ok(relationship_response(HttpResponse::Ok(), relationship))
}
