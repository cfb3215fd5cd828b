//! Use cases on API keys.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use kg_domain::{ApiKey, ApiKeyId, ApiKeyName, Role, UserId, Violations};
use serde_json::json;

use crate::principals::PrincipalCache;
use crate::{
    ApiKeyRepository, ApiKeySecrets, AppError, AuditAction, AuditEntry, AuditTarget, Clock, Page,
    PageRequest, RequestContext, ResourceKind,
};

/// A key as an admin or operator asks for it; nothing checked yet.
#[derive(Debug, Clone, Default)]
pub struct NewApiKey {
    /// Its human name.
    pub name: String,
    /// `editor` or `viewer`.
    pub role: String,
    /// When it should stop working, if ever.
    pub expires_at: Option<DateTime<Utc>>,
}

/// A key just made, with its secret: the only time the secret exists
/// outside the client's hands.
#[derive(Clone)]
pub struct CreatedApiKey {
    /// The stored key.
    pub key: ApiKey,
    /// The secret to hand over once.
    pub secret: String,
}

impl std::fmt::Debug for CreatedApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedApiKey")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

/// Managing API keys.
#[derive(Clone)]
pub struct ApiKeyService {
    keys: Arc<dyn ApiKeyRepository>,
    secrets: Arc<dyn ApiKeySecrets>,
    clock: Arc<dyn Clock>,
    principals: Arc<PrincipalCache>,
}

impl std::fmt::Debug for ApiKeyService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKeyService").finish_non_exhaustive()
    }
}

fn key_err(e: crate::RepoError) -> AppError {
    AppError::from_repo(e, ResourceKind::ApiKey)
}

impl ApiKeyService {
    /// A service over the given ports.
    #[must_use]
    pub fn new(
        keys: Arc<dyn ApiKeyRepository>,
        secrets: Arc<dyn ApiKeySecrets>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            keys,
            secrets,
            clock,
            principals: Arc::new(PrincipalCache::default()),
        }
    }

    /// The service with `principals` as this instance's cache of
    /// authenticated principals (see [`crate::AuthService::with_principals`]),
    /// which it invalidates when it changes someone's standing.
    #[must_use]
    pub fn with_principals(mut self, principals: Arc<PrincipalCache>) -> Self {
        self.principals = principals;
        self
    }

    /// An admin creates a key acting for themselves with `role`.
    ///
    /// # Errors
    /// `Forbidden` unless the actor is an admin (not a key); `Validation`;
    /// `DatabaseUnavailable`; `Internal`.
    pub async fn create(
        &self,
        ctx: &RequestContext,
        new: NewApiKey,
    ) -> Result<CreatedApiKey, AppError> {
        ctx.actor.require_admin()?;
        ctx.actor.require_person()?;
        self.insert(new, ctx.actor.user_id, Some(ctx)).await
    }

    /// An operator creates a key for `owner` from the command line.
    ///
    /// # Errors
    /// `Validation`; `DatabaseUnavailable`; `Internal`.
    pub async fn create_by_operator(
        &self,
        owner: UserId,
        new: NewApiKey,
    ) -> Result<CreatedApiKey, AppError> {
        self.insert(new, owner, None).await
    }

    async fn insert(
        &self,
        new: NewApiKey,
        owner: UserId,
        ctx: Option<&RequestContext>,
    ) -> Result<CreatedApiKey, AppError> {
        let now = self.clock.now();
        let mut v = Violations::new();
        let name = v.check("name", ApiKeyName::parse(&new.name));
        let role = match new.role.as_str() {
            "editor" => Some(Role::Editor),
            "viewer" => Some(Role::Viewer),
            _ => {
                v.push("role", "must be editor or viewer");
                None
            }
        };
        if new.expires_at.is_some_and(|e| e <= now) {
            v.push("expires_at", "must be in the future");
        }
        let (Some(name), Some(role)) = (name, role) else {
            return Err(AppError::Validation(v));
        };
        if !v.is_empty() {
            return Err(AppError::Validation(v));
        }
        let (secret, digest) = self.secrets.mint();
        let key = ApiKey {
            id: ApiKeyId::generate(),
            name,
            role,
            digest,
            created_by: owner,
            created_at: now,
            expires_at: new.expires_at,
            revoked_at: None,
            last_used_at: None,
        };
        // From the command line the owner is recorded as the actor.
        let audit = AuditEntry {
            actor: ctx.map_or(owner, |c| c.actor.user_id),
            action: AuditAction::Create,
            target: AuditTarget::ApiKey(key.id),
            request_id: ctx.and_then(|c| c.request_id.clone()),
            at: now,
            changes: json!({
                "name": { "after": key.name.as_str() },
                "role": { "after": key.role.as_str() },
                "via": if ctx.is_some() { "api" } else { "command line" },
            }),
        };
        self.keys
            .create(&key, Some(&audit))
            .await
            .map_err(key_err)?;
        Ok(CreatedApiKey { key, secret })
    }

    /// A page of keys, without secrets.
    ///
    /// # Errors
    /// `Forbidden` unless the actor is an admin; `DatabaseUnavailable`; `Internal`.
    pub async fn list(
        &self,
        ctx: &RequestContext,
        page: PageRequest,
    ) -> Result<Page<ApiKey>, AppError> {
        ctx.actor.require_admin()?;
        self.keys.list(page).await.map_err(key_err)
    }

    /// Revokes a key; it fails on its next use.
    ///
    /// # Errors
    /// `Forbidden` unless the actor is an admin; `NotFound`; `DatabaseUnavailable`; `Internal`.
    pub async fn revoke(&self, ctx: &RequestContext, id: ApiKeyId) -> Result<(), AppError> {
        ctx.actor.require_admin()?;
        let now = self.clock.now();
        let audit = ctx.audit(AuditAction::Delete, AuditTarget::ApiKey(id), now, json!({}));
        let revoked = self.keys.revoke(id, now, Some(&audit)).await;
        self.principals.invalidate();
        revoked.map_err(key_err)
    }

    /// Revokes a key from the command line.
    ///
    /// # Errors
    /// `NotFound`; `DatabaseUnavailable`; `Internal`.
    pub async fn revoke_by_operator(&self, id: ApiKeyId) -> Result<(), AppError> {
        let key = self
            .keys
            .get(id)
            .await
            .map_err(key_err)?
            .ok_or(AppError::NotFound(ResourceKind::ApiKey))?;
        let now = self.clock.now();
        let audit = AuditEntry {
            actor: key.created_by,
            action: AuditAction::Delete,
            target: AuditTarget::ApiKey(id),
            request_id: None,
            at: now,
            changes: json!({ "via": "command line" }),
        };
        let revoked = self.keys.revoke(id, now, Some(&audit)).await;
        self.principals.invalidate();
        revoked.map_err(key_err)
    }
}
