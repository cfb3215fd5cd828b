//! Audit entries: one per change, written in the same transaction as it.

use chrono::{DateTime, Utc};
use kg_domain::{ApiKeyId, EntityId, EvidenceId, RelationshipId, UserId};

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditAction {
    /// A resource was created.
    Create,
    /// A resource was changed.
    Update,
    /// A resource was soft-deleted.
    Delete,
    /// A soft-deleted resource was brought back.
    Restore,
}

impl AuditAction {
    /// The action's stored name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Update => "update",
            Self::Delete => "delete",
            Self::Restore => "restore",
        }
    }

    /// The action with this stored name.
    #[must_use]
    pub fn parse(name: &str) -> Option<Self> {
        [Self::Create, Self::Update, Self::Delete, Self::Restore]
            .into_iter()
            .find(|a| a.as_str() == name)
    }
}

/// What it happened to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditTarget {
    /// An entity.
    Entity(EntityId),
    /// A relationship.
    Relationship(RelationshipId),
    /// An evidence record.
    Evidence(EvidenceId),
    /// A user account.
    User(UserId),
    /// An API key.
    ApiKey(ApiKeyId),
    /// A service setting (the maintenance switch).
    Setting,
}

impl AuditTarget {
    /// The target's kind as stored (`entity`, `relationship`, `user`).
    #[must_use]
    pub const fn kind(&self) -> &'static str {
        match self {
            Self::Entity(_) => "entity",
            Self::Relationship(_) => "relationship",
            Self::Evidence(_) => "evidence",
            Self::User(_) => "user",
            Self::ApiKey(_) => "api_key",
            Self::Setting => "setting",
        }
    }

    /// The target's id.
    #[must_use]
    pub const fn id(&self) -> uuid::Uuid {
        match self {
            Self::Entity(id) => id.as_uuid(),
            Self::Relationship(id) => id.as_uuid(),
            Self::Evidence(id) => id.as_uuid(),
            Self::User(id) => id.as_uuid(),
            Self::ApiKey(id) => id.as_uuid(),
            Self::Setting => uuid::Uuid::nil(),
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

/// An audit row as stored, for reading back.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    /// Its place in the log.
    pub seq: i64,
    /// Who did it.
    pub actor: UserId,
    /// What they did (`create`, `update`, `delete`, `restore`, or an
    /// account action).
    pub action: String,
    /// The kind of target (`entity`, `relationship`, `user`, `api_key`).
    pub target_type: String,
    /// The target's id.
    pub target_id: uuid::Uuid,
    /// In which request.
    pub request_id: Option<String>,
    /// When.
    pub at: DateTime<Utc>,
    /// What changed.
    pub changes: crate::StoredJson,
}

/// Which audit rows a read returns; every filter is optional.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AuditFilter {
    /// Done by this user.
    pub actor: Option<UserId>,
    /// To this target id.
    pub target_id: Option<uuid::Uuid>,
    /// To targets of this kind.
    pub target_type: Option<String>,
    /// This action.
    pub action: Option<String>,
    /// At or after this time.
    pub from: Option<DateTime<Utc>>,
    /// Before this time.
    pub until: Option<DateTime<Utc>>,
}
