//! `DELETE /v1/evidence/{id}`: retracts a record, so that it no longer
//! counts towards its fact's confidence. Nothing is deleted: a retraction
//! is audited and can be undone.

use actix_web::{HttpResponse, web};
use kg_domain::EvidenceId;

use crate::extract::{Authenticated, parse_id};
use crate::{ApiError, AppState};

#[utoipa::path(
    delete,
    path = "/v1/evidence/{id}",
    operation_id = "retractEvidence",
    tag = "evidence",
    params(("id" = String, Path, format = Uuid, description = "The evidence record's id.")),
    responses(
        (status = 204, description = "Retracted; the fact's confidence is combined again without it."),
        (status = 404, description = "`evidence_not_found`: no live evidence record has this id.", content_type = "application/problem+json", body = crate::error::Problem),
        (status = 409, description = "`evidence_stated`: the record is its fact's own confidence and source, which change with the fact (PATCH it); or `fact_not_live`: the fact is deleted.", content_type = "application/problem+json", body = crate::error::Problem),
    ),
)]
#[tracing::instrument(skip_all)]
pub(crate) async fn handle(
    state: web::Data<AppState>,
    Authenticated(ctx): Authenticated,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id: EvidenceId = parse_id(&path, "id")?;
    state.evidence.retract(&ctx, id).await?;
    Ok(HttpResponse::NoContent().finish())
}
