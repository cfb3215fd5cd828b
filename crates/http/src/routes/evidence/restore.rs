//! `POST /v1/evidence/{id}/restore`: undoes a retraction.

use actix_web::{HttpResponse, web};
use kg_domain::EvidenceId;

use super::add::AddedEvidence;
use crate::extract::{Authenticated, parse_id};
use crate::{ApiError, AppState};

#[utoipa::path(
    post,
    path = "/v1/evidence/{id}/restore",
    operation_id = "restoreEvidence",
    tag = "evidence",
    params(("id" = String, Path, format = Uuid, description = "The evidence record's id.")),
    responses(
        (status = 200, description = "Restored; `confidence` is the fact's combined confidence now.", body = AddedEvidence),
        (status = 404, description = "`evidence_not_found`: no evidence record has this id.", content_type = "application/problem+json", body = crate::error::Problem),
        (status = 409, description = "`not_retracted`: the record counts already; `evidence_stated`; or `fact_not_live`: the fact is deleted.", content_type = "application/problem+json", body = crate::error::Problem),
    ),
)]
#[tracing::instrument(skip_all)]
pub(crate) async fn handle(
    state: web::Data<AppState>,
    Authenticated(ctx): Authenticated,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id: EvidenceId = parse_id(&path, "id")?;
    let writes = state.evidence.restore(&ctx, id).await?;
    Ok(HttpResponse::Ok().json(AddedEvidence::of(&writes)))
}
