//! `/v1/users` (admins): accounts, never with a password or hash.

pub(crate) mod create;
pub(crate) mod delete;
pub(crate) mod get;
pub(crate) mod list;
pub(crate) mod update;

use chrono::{DateTime, Utc};
use kg_domain::User;
use serde::Serialize;

/// A user as the API shows it. There is deliberately no field for the hash.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct UserResponse {
    id: String,
    email: String,
    role: &'static str,
    is_active: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    version: i64,
}

impl From<User> for UserResponse {
    fn from(u: User) -> Self {
        Self {
            id: u.id.to_string(),
            email: u.email.as_str().to_owned(),
            role: u.role.as_str(),
            is_active: u.is_active,
            created_at: u.created_at,
            updated_at: u.updated_at,
            version: u.version.get(),
        }
    }
}
