//! `PATCH /v1/users/{id}` (admins): a merge patch of `role` and `is_active`,
//! conditional on `If-Match`.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use kg_domain::UserId;
use serde_json::{Map, Value};

use super::UserResponse;
use crate::extract::{Authenticated, JsonBody, etag, if_match, parse_id};
use crate::{ApiError, AppState, merge_patch};

#[utoipa::path(
    patch,
    path = "/v1/users/{id}",
    operation_id = "updateUser",
    tag = "users",
    params(("id" = String, Path, format = Uuid, description = "The user's id."), ("If-Match" = String, Header, description = "The `ETag` of the version this change is based on.")),
    request_body(content = super::super::openapi::UserPatch, content_type = "application/merge-patch+json"),
    responses(
        (status = 200, description = "The changed account.", body = super::UserResponse, headers(("ETag" = String, description = "The version, for `If-Match`."))),
        (status = 404, description = "`user_not_found`: no user has this id.", content_type = "application/problem+json", body = crate::error::Problem),
        (status = 409, description = "`last_active_admin` or `cannot_modify_self`.", content_type = "application/problem+json", body = crate::error::Problem),
        (status = 412, description = "`precondition_failed`: `If-Match` is not the current version.", content_type = "application/problem+json", body = crate::error::Problem),
        (status = 428, description = "`precondition_required`: send `If-Match`.", content_type = "application/problem+json", body = crate::error::Problem),
    ),
)]
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
    let user = state
        .users
        .update(&ctx, id, expected, merge_patch::user(&patch))
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::ETAG, etag(user.version)))
        .json(UserResponse::from(user)))
}
