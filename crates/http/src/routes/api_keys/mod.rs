//! `/v1/api-keys` (admins): keys are shown once and stored hashed.

pub(crate) mod create;
pub(crate) mod list;
pub(crate) mod revoke;

use chrono::{DateTime, Utc};
use kg_domain::ApiKey;
use serde::Serialize;

/// A key as the API lists it: never the secret or its digest.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ApiKeyResponse {
    id: String,
    name: String,
    role: &'static str,
    created_by: String,
    created_at: DateTime<Utc>,
    #[schema(required = true)]
    expires_at: Option<DateTime<Utc>>,
    #[schema(required = true)]
    revoked_at: Option<DateTime<Utc>>,
    #[schema(required = true)]
    last_used_at: Option<DateTime<Utc>>,
}

impl From<ApiKey> for ApiKeyResponse {
    fn from(k: ApiKey) -> Self {
        Self {
            id: k.id.to_string(),
            name: k.name.as_str().to_owned(),
            role: k.role.as_str(),
            created_by: k.created_by.to_string(),
            created_at: k.created_at,
            expires_at: k.expires_at,
            revoked_at: k.revoked_at,
            last_used_at: k.last_used_at,
        }
    }
}
