//! `/v1/audit`, and the audit rows the entity history shares.

pub(crate) mod list;

use chrono::{DateTime, Utc};
use kg_application::{AuditPage, AuditRecord, Limit, Position, StoredJson};
use kg_domain::Violations;
use serde::Serialize;

use crate::ApiError;

/// One audit row as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct AuditResponse {
    seq: i64,
    at: DateTime<Utc>,
    actor_id: String,
    action: String,
    target_type: String,
    target_id: String,
    #[schema(required = true)]
    request_id: Option<String>,
    #[schema(value_type = serde_json::Value)]
    changes: StoredJson,
}

impl From<AuditRecord> for AuditResponse {
    fn from(r: AuditRecord) -> Self {
        Self {
            seq: r.seq,
            at: r.at,
            actor_id: r.actor.to_string(),
            action: r.action,
            target_type: r.target_type,
            target_id: r.target_id.to_string(),
            request_id: r.request_id,
            changes: r.changes,
        }
    }
}

/// A page of audit rows.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct AuditPageResponse {
    items: Vec<AuditResponse>,
    #[schema(required = true)]
    next_cursor: Option<String>,
}

impl From<AuditPage> for AuditPageResponse {
    fn from(p: AuditPage) -> Self {
        Self {
            items: p.items.into_iter().map(Into::into).collect(),
            next_cursor: p.next.map(|n| n.to_string()),
        }
    }
}

/// The query parameter that carries a log position: `cursor` on audit
/// lists, `after` on the change feed.
pub(crate) type CursorName = &'static str;

/// Parses `limit` and a log position, collecting problems.
pub(crate) fn log_position(
    v: &mut Violations,
    limit: Option<&str>,
    (name, cursor): (CursorName, Option<&str>),
) -> Option<(Position, Limit)> {
    let limit = crate::routes::limit(v, limit);
    let after = v.check_opt(name, cursor, Position::parse);
    Some((after?.unwrap_or(Position::START), limit?))
}

/// The position and page size of a log read, or 422 naming the parameter.
pub(crate) fn log_page(
    limit: Option<&str>,
    cursor: (CursorName, Option<&str>),
) -> Result<(Position, Limit), ApiError> {
    let mut v = Violations::new();
    match log_position(&mut v, limit, cursor) {
        Some(p) if v.is_empty() => Ok(p),
        _ => Err(ApiError::validation(&v)),
    }
}
