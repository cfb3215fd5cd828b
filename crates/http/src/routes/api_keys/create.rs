//! `POST /v1/api-keys`: answers the secret once.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use kg_application::NewApiKey;
use serde::{Deserialize, Serialize};

use super::ApiKeyResponse;
use crate::extract::{Authenticated, JsonBody};
use crate::{ApiError, AppState};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateApiKeyRequest {
    #[schema(min_length = 1, max_length = 100)]
    name: String,
    /// API keys act as editors or viewers, never as admins.
    #[schema(pattern = "^(editor|viewer)$")]
    role: String,
    expires_at: Option<DateTime<Utc>>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct CreatedResponse {
    #[serde(flatten)]
    key: ApiKeyResponse,
    /// The secret: shown in this response only.
    secret: String,
}

#[utoipa::path(
    post,
    path = "/v1/api-keys",
    operation_id = "createApiKey",
    tag = "api-keys",
    request_body(content = CreateApiKeyRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "Created; `secret` is shown in this response only.", body = CreatedResponse, headers(("Location" = String))),
    ),
)]
#[tracing::instrument(skip_all)]
pub(crate) async fn handle(
    state: web::Data<AppState>,
    Authenticated(ctx): Authenticated,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    ctx.actor.require_admin()?;
    let body: CreateApiKeyRequest = body.parse()?;
    let created = state
        .api_keys
        .create(
            &ctx,
            NewApiKey {
                name: body.name,
                role: body.role,
                expires_at: body.expires_at,
            },
        )
        .await?;
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/v1/api-keys/{}", created.key.id)))
        .insert_header(("Cache-Control", "no-store"))
        .json(CreatedResponse {
            key: ApiKeyResponse::from(created.key),
            secret: created.secret,
        }))
}
