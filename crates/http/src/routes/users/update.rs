//! `PATCH /v1/users/{id}` (admins): a merge patch of `role` and `is_active`,
//! conditional on `If-Match`.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use kg_domain::UserId;
use serde_json::{Map, Value};

use super::UserResponse;
use crate::extract::{Authenticated, JsonBody, etag, if_match, parse_id};
use crate::{ApiError, AppState};

#[tracing::instrument(skip_all)]
pub(crate) async fn handle(
    state: web::Data<AppState>,
    req: HttpRequest,
    Authenticated(ctx): Authenticated,
    path: web::Path<String>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    ctx.actor.require_admin()?;
    let patch: Map<String, Value> = body.parse()?;
    let id: UserId = parse_id(&path, "id")?;
    let expected = if_match(&req)?;
    let user = state.users.update(&ctx, id, expected, &patch).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::ETAG, etag(user.version)))
        .json(UserResponse::from(user)))
}
