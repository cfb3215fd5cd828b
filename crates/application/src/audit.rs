//! Audit entries: one per change, written in the same transaction as it.

use chrono::{DateTime, Utc};
use kg_domain::{ApiKeyId, EntityId, RelationshipId, UserId};

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditAction {
    /// A resource was created.
    Create,
    /// A resource was changed.
    Update,
    /// A resource was soft-deleted.
    Delete,
}

impl AuditAction {
    /// The action's stored name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Update => "update",
            Self::Delete => "delete",
        }
    }
}

/// What it happened to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditTarget {
    /// An entity.
    Entity(EntityId),
    /// A relationship.
    Relationship(RelationshipId),
    /// A user account.
    User(UserId),
    /// An API key.
    ApiKey(ApiKeyId),
}

impl AuditTarget {
    /// The target's kind as stored (`entity`, `relationship`, `user`).
    #[must_use]
    pub const fn kind(&self) -> &'static str {
        match self {
            Self::Entity(_) => "entity",
            Self::Relationship(_) => "relationship",
            Self::User(_) => "user",
            Self::ApiKey(_) => "api_key",
        }
    }

    /// The target's id.
    #[must_use]
    pub const fn id(&self) -> uuid::Uuid {
        match self {
            Self::Entity(id) => id.as_uuid(),
            Self::Relationship(id) => id.as_uuid(),
            Self::User(id) => id.as_uuid(),
            Self::ApiKey(id) => id.as_uuid(),
        }
    }
}

/// One row of the audit trail.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    /// Who did it.
    pub actor: UserId,
    /// What they did.
    pub action: AuditAction,
    /// To what.
    pub target: AuditTarget,
    /// In which request, when it came through the API.
    pub request_id: Option<String>,
    /// When.
    pub at: DateTime<Utc>,
    /// What changed: `{"field": {"before": …, "after": …}}`; never a secret.
    pub changes: serde_json::Value,
}
