//! Who is acting, and for which request.

use kg_domain::{ApiKeyId, Role, SessionId, UserId};

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::{AppError, AuditAction, AuditEntry, AuditTarget};

/// An authenticated principal. Built only from verified credentials and the
/// stored user, never from anything a client sends in a body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Actor {
    /// The user acting.
    pub user_id: UserId,
    /// Their role as stored now.
    pub role: Role,
    /// The sign-in session the credentials belong to, if any.
    pub session: Option<SessionId>,
    /// The API key used, when the caller is a key acting for `user_id`.
    pub api_key: Option<ApiKeyId>,
}

impl Actor {
    /// # Errors
    /// [`AppError::Forbidden`] unless the actor may write graph data.
    pub fn require_writer(&self) -> Result<(), AppError> {
        if self.role.can_write_graph() {
            Ok(())
        } else {
            Err(AppError::Forbidden)
        }
    }

    /// # Errors
    /// [`AppError::Forbidden`] for API keys: self-service account routes
    /// are for people.
    pub fn require_person(&self) -> Result<(), AppError> {
        if self.api_key.is_none() {
            Ok(())
        } else {
            Err(AppError::Forbidden)
        }
    }

    /// # Errors
    /// [`AppError::Forbidden`] unless the actor is an admin.
    pub fn require_admin(&self) -> Result<(), AppError> {
        if self.role.is_admin() {
            Ok(())
        } else {
            Err(AppError::Forbidden)
        }
    }
}

/// The actor and the request id that every use case call carries, so the
/// audit trail can say who did what in which request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestContext {
    /// Who is acting.
    pub actor: Actor,
    /// The request's id, when the call came through the API.
    pub request_id: Option<String>,
}

impl RequestContext {
    /// The audit entry of `action` on `target` by this request's actor at
    /// `at`, with what changed.
    #[must_use]
    pub fn audit(
        &self,
        action: AuditAction,
        target: AuditTarget,
        at: DateTime<Utc>,
        changes: Value,
    ) -> AuditEntry {
        AuditEntry {
            actor: self.actor.user_id,
            action,
            target,
            request_id: self.request_id.clone(),
            at,
            changes,
        }
    }
}
