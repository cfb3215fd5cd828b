//! `POST /v1/users`: an admin creates an account with a role.

use actix_web::{HttpResponse, web};
use kg_application::NewUser;
use serde::Deserialize;

use super::UserResponse;
use crate::extract::{Authenticated, JsonBody};
use crate::{ApiError, AppState};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateUserRequest {
    email: String,
    password: String,
    role: String,
}

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
