//! `POST /v1/users`: an admin creates an account with a role.

use actix_web::{HttpResponse, web};
use kg_application::NewUser;
use serde::Deserialize;

use super::UserResponse;
use crate::extract::{Authenticated, JsonBody};
use crate::{ApiError, AppState};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateUserRequest {
    #[schema(format = Email, max_length = 254)]
    email: String,
    /// 12 to 128 characters.
    #[schema(min_length = 12, max_length = 128, format = Password)]
    password: String,
    #[schema(pattern = "^(admin|editor|viewer)$")]
    role: String,
}

#[utoipa::path(
    post,
    path = "/v1/users",
    operation_id = "createUser",
    tag = "users",
    request_body(content = CreateUserRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "Created.", body = super::UserResponse, headers(("Location" = String))),
        (status = 409, description = "`email_taken`: the email is registered.", content_type = "application/problem+json", body = crate::error::Problem),
    ),
)]
#[tracing::instrument(skip_all)]
pub(crate) async fn handle(
    state: web::Data<AppState>,
    Authenticated(ctx): Authenticated,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    ctx.actor.require_admin()?;
    let body: CreateUserRequest = body.parse()?;
    let new = NewUser {
        email: body.email,
        role: body.role,
        password: body.password,
    };
    let user = state.users.create(&ctx, new).await?;
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/v1/users/{}", user.id)))
        .json(UserResponse::from(user)))
}
