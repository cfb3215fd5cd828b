//! `/v1/evidence`, and the evidence of each fact under
//! `/v1/entities/{id}/evidence` and `/v1/relationships/{id}/evidence`.

pub(crate) mod add;
pub(crate) mod get;
pub(crate) mod list;
pub(crate) mod restore;
pub(crate) mod retract;

use kg_domain::{SourceRef, TypeName, Violations};

use crate::routes::{ListParams, PageResponse, page_request};
use crate::{ApiError, AppState};

/// Evidence as the API shows it: the application's one document of it.
pub(crate) use kg_application::EvidenceDocument as EvidenceResponse;

/// The parameters every evidence list takes.
const PARAMS: [&str; 5] = [
    "limit",
    "cursor",
    "source",
    "source_type",
    "include_retracted",
];

/// A page of evidence matching the query, of `fact` when given.
pub(crate) async fn page(
    state: &AppState,
    ctx: &kg_application::RequestContext,
    query: &[(String, String)],
    fact: Option<kg_domain::Fact>,
) -> Result<PageResponse<EvidenceResponse>, ApiError> {
    let mut v = Violations::new();
    let mut params = ListParams::read(&mut v, query, &PARAMS);
    if !params.metadata.is_empty() {
        v.push("metadata", "evidence lists take no metadata filters");
    }
    let (limit, cursor) = (params.take("limit"), params.take("cursor"));
    let page = page_request(&mut v, limit.as_deref(), cursor.as_deref());
    let filter = kg_application::EvidenceFilter {
        fact,
        source: v
            .check_opt("source", params.take("source"), SourceRef::parse)
            .flatten(),
        source_type: v
            .check_opt("source_type", params.take("source_type"), TypeName::parse)
            .flatten(),
        include_retracted: v
            .check_opt(
                "include_retracted",
                params.take("include_retracted"),
                |t| match t.as_str() {
                    "true" => Ok(true),
                    "false" => Ok(false),
                    _ => Err("must be true or false"),
                },
            )
            .flatten()
            .unwrap_or(false),
    };
    let Some(page) = page.filter(|_| v.is_empty()) else {
        return Err(ApiError::validation(&v));
    };
    let evidence = state.evidence.list(ctx, &filter, page).await?;
    Ok(PageResponse::from_page(evidence, EvidenceResponse::from))
}
