//! `GET /v1/evidence/{id}`.

use actix_web::{HttpResponse, web};
use kg_domain::EvidenceId;

use super::EvidenceResponse;
use crate::extract::{Authenticated, parse_id};
use crate::{ApiError, AppState};

#[utoipa::path(
    get,
    path = "/v1/evidence/{id}",
    operation_id = "getEvidence",
    tag = "evidence",
    params(("id" = String, Path, format = Uuid, description = "The evidence record's id.")),
    responses(
        (status = 200, description = "The record, live or retracted.", body = EvidenceResponse),
        (status = 404, description = "`evidence_not_found`: no evidence record has this id.", content_type = "application/problem+json", body = crate::error::Problem),
    ),
)]
pub(crate) async fn handle(
    state: web::Data<AppState>,
    Authenticated(ctx): Authenticated,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id: EvidenceId = parse_id(&path, "id")?;
    let evidence = state.evidence.get(&ctx, id).await?;
    Ok(HttpResponse::Ok().json(EvidenceResponse::from(evidence)))
}
