//! `GET /v1/audit`: the audit log, filtered by actor, target, action and
//! time, oldest first, with a cursor (admins).

use actix_web::{HttpResponse, web};

use kg_application::{AuditAction, AuditFilter};
use kg_domain::{UserId, Violations};
use serde::Deserialize;

use super::{AuditPageResponse, log_position};
use crate::extract::Authenticated;
use crate::routes::time;
use crate::{ApiError, AppState};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Query {
    limit: Option<String>,
    cursor: Option<String>,
    actor_id: Option<String>,
    target_id: Option<String>,
    target_type: Option<String>,
    action: Option<String>,
    from: Option<String>,
    until: Option<String>,
}

const TARGET_TYPES: [&str; 6] = [
    "entity",
    "relationship",
    "evidence",
    "user",
    "api_key",
    "setting",
];

fn one_of(allowed: &'static [&'static str]) -> impl Fn(String) -> Result<String, String> {
    move |text| {
        if allowed.contains(&text.as_str()) {
            Ok(text)
        } else {
            Err(format!("must be one of {}", allowed.join(", ")))
        }
    }
}

#[utoipa::path(
    get,
    path = "/v1/audit",
    operation_id = "listAudit",
    tag = "admin",
    params(("limit" = Option<u16>, Query, minimum = 1, maximum = 100, description = "The page size (50 when absent)."), ("cursor" = Option<String>, Query, description = "The `next_cursor` of the previous page."), ("actor_id" = Option<String>, Query, format = Uuid, description = "Only changes by this user."), ("target_id" = Option<String>, Query, format = Uuid, description = "Only changes to this resource."), ("target_type" = Option<String>, Query, description = "`entity`, `relationship`, `evidence`, `user`, `api_key` or `setting`."), ("action" = Option<String>, Query, description = "`create`, `update`, `delete` or `restore`."), ("from" = Option<String>, Query, format = DateTime, description = "At or after this RFC 3339 time."), ("until" = Option<String>, Query, format = DateTime, description = "Before this RFC 3339 time.")),
    responses(
        (status = 200, description = "Audit rows, oldest first.", body = super::AuditPageResponse),
    ),
)]
pub(crate) async fn handle(
    state: web::Data<AppState>,
    Authenticated(ctx): Authenticated,
    query: web::Query<Query>,
) -> Result<HttpResponse, ApiError> {
    ctx.actor.require_admin()?;
    let q = query.into_inner();
    let mut v = Violations::new();
    let page = log_position(&mut v, q.limit.as_deref(), ("cursor", q.cursor.as_deref()));
    let actor = v.check_opt("actor_id", q.actor_id, |a: String| {
        a.parse::<UserId>().map_err(|_| "must be a UUID")
    });
    let target_id = v.check_opt("target_id", q.target_id, |t: String| {
        t.parse::<uuid::Uuid>().map_err(|_| "must be a UUID")
    });
    let target_type = v.check_opt("target_type", q.target_type, one_of(&TARGET_TYPES));
    let action = v.check_opt("action", q.action, |a: String| {
        AuditAction::parse(&a)
            .map(|_| a)
            .ok_or("must be one of create, update, delete, restore")
    });
    let from = v.check_opt("from", q.from, time);
    let until = v.check_opt("until", q.until, time);
    let (
        Some((after, limit)),
        Some(actor),
        Some(target_id),
        Some(target_type),
        Some(action),
        Some(from),
        Some(until),
    ) = (page, actor, target_id, target_type, action, from, until)
    else {
        return Err(ApiError::validation(&v));
    };
    if !v.is_empty() {
        return Err(ApiError::validation(&v));
    }
    let filter = AuditFilter {
        actor,
        target_id,
        target_type,
        action,
        from,
        until,
    };
    let page = state.history.audit(&ctx, &filter, after, limit).await?;
    Ok(HttpResponse::Ok().json(AuditPageResponse::from(page)))
}
