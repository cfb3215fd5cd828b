//! The change feed: every create, update, delete and restore of entities and
//! relationships, in commit order, resumable from any position.

use chrono::{DateTime, Utc};
use kg_domain::{Entity, Evidence, Relationship, Version};
use serde::{Serialize, Serializer};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::{AuditAction, AuditTarget, Limit, entity_document, relationship_document};

/// A place in an ordered log (the change feed or the audit log): the
/// sequence number of the last row seen. Written as a decimal number; 0 is
/// the start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Position(i64);

/// Why a position is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("must be a position this service issued (a non-negative integer)")]
pub struct PositionError;

impl Position {
    /// Before the first row.
    pub const START: Self = Self(0);

    /// The position after the row numbered `seq`.
    #[must_use]
    pub const fn after(seq: i64) -> Self {
        Self(seq)
    }

    /// The last sequence number seen.
    #[must_use]
    pub const fn get(self) -> i64 {
        self.0
    }

    /// Parses a position a client sent back.
    ///
    /// # Errors
    /// [`PositionError`] unless `text` is a non-negative decimal integer.
    pub fn parse(text: &str) -> Result<Self, PositionError> {
        if text.is_empty() || text.len() > 19 || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(PositionError);
        }
        text.parse::<i64>().map(Self).map_err(|_| PositionError)
    }
}

impl std::fmt::Display for Position {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// JSON as the store kept it (a feed row's document, an audit row's
/// changes), held as its text and written out as it is: a page of them
/// costs what their text does, not the tree it would parse into.
#[derive(Debug, Clone)]
pub struct StoredJson(Box<RawValue>);

impl StoredJson {
    /// The JSON whose text is `text`.
    #[must_use]
    pub const fn new(text: Box<RawValue>) -> Self {
        Self(text)
    }

    /// Its JSON text.
    #[must_use]
    pub fn as_json(&self) -> &RawValue {
        &self.0
    }

    /// Its text parsed into a value.
    ///
    /// # Errors
    /// When the text holds a number too large for a JSON value here.
    pub fn to_value(&self) -> Result<Value, serde_json::Error> {
        serde_json::from_str(self.0.get())
    }
}

/// Two are equal when their texts are.
impl PartialEq for StoredJson {
    fn eq(&self, other: &Self) -> bool {
        self.0.get() == other.0.get()
    }
}

impl Serialize for StoredJson {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

/// One row of the change feed.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// Its place in the feed; strictly increasing in commit order.
    pub seq: i64,
    /// When the change was made.
    pub at: DateTime<Utc>,
    /// The entity or relationship changed.
    pub resource: AuditTarget,
    /// Create, update, delete or restore.
    pub action: AuditAction,
    /// The resource's version after the change.
    pub version: Version,
    /// The resource as it is after the change; `None` after a delete.
    pub data: Option<StoredJson>,
}

/// A change about to be written; the store assigns its `seq`.
#[derive(Debug, Clone, PartialEq)]
pub struct NewChange {
    /// When.
    pub at: DateTime<Utc>,
    /// What.
    pub resource: AuditTarget,
    /// Which action.
    pub action: AuditAction,
    /// The version after it.
    pub version: Version,
    /// The resource after it; `None` after a delete.
    pub data: Option<Value>,
}

impl NewChange {
    /// The change recording that `entity` now exists as it is.
    #[must_use]
    pub fn entity(action: AuditAction, entity: &Entity) -> Self {
        Self {
            at: entity.lifecycle.updated_at,
            resource: AuditTarget::Entity(entity.id),
            action,
            version: entity.lifecycle.version,
            data: Some(entity_document(entity)),
        }
    }

    /// The change recording that `relationship` now exists as it is.
    #[must_use]
    pub fn relationship(action: AuditAction, relationship: &Relationship) -> Self {
        Self {
            at: relationship.lifecycle.updated_at,
            resource: AuditTarget::Relationship(relationship.id),
            action,
            version: relationship.lifecycle.version,
            data: Some(relationship_document(relationship)),
        }
    }

    /// The change recording that `evidence` is, since `at`, as it is.
    #[must_use]
    pub fn evidence(action: AuditAction, evidence: &Evidence, at: DateTime<Utc>) -> Self {
        Self {
            at,
            resource: AuditTarget::Evidence(evidence.id),
            action,
            version: evidence.version,
            data: Some(crate::evidence_document(evidence)),
        }
    }

    /// The change recording that `resource` was deleted at `version`.
    #[must_use]
    pub const fn deleted(resource: AuditTarget, version: Version, at: DateTime<Utc>) -> Self {
        Self {
            at,
            resource,
            action: AuditAction::Delete,
            version,
            data: None,
        }
    }
}

/// A page of the feed and the position to continue from (the last row's, or
/// the one asked for when there is nothing new).
#[derive(Debug, Clone, PartialEq)]
pub struct ChangePage {
    /// The changes, oldest first.
    pub items: Vec<Change>,
    /// Where the next read starts.
    pub next: Position,
}

/// What a read of the feed asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeedRequest {
    /// Changes after this position.
    pub after: Position,
    /// At most this many.
    pub limit: Limit,
}
