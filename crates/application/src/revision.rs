//! A client's change to a stored entity or relationship: the checks, the
//! next version and the audit entry, written once for both.

use chrono::{DateTime, Utc};
use kg_domain::{Entity, EntityData, Lifecycle, Relationship, RelationshipData, Version};
use serde_json::Value;

use crate::entities::changed_fields;
use crate::{
    AppError, AuditAction, AuditEntry, AuditTarget, RequestContext, entity_document,
    relationship_document,
};

/// A stored resource whose data a client revises.
pub(crate) trait Revisable: Clone {
    /// What the client chooses.
    type Data;

    fn lifecycle(&self) -> &Lifecycle;

    fn replace(&mut self, data: Self::Data, lifecycle: Lifecycle);

    fn target(&self) -> AuditTarget;

    fn document(&self) -> Value;
}

impl Revisable for Entity {
    type Data = EntityData;

    fn lifecycle(&self) -> &Lifecycle {
        &self.lifecycle
    }

    fn replace(&mut self, data: EntityData, lifecycle: Lifecycle) {
        self.restate(data, lifecycle);
    }

    fn target(&self) -> AuditTarget {
        AuditTarget::Entity(self.id)
    }

    fn document(&self) -> Value {
        entity_document(self)
    }
}

impl Revisable for Relationship {
    type Data = RelationshipData;

    fn lifecycle(&self) -> &Lifecycle {
        &self.lifecycle
    }

    fn replace(&mut self, data: RelationshipData, lifecycle: Lifecycle) {
        self.restate(data, lifecycle);
    }

    fn target(&self) -> AuditTarget {
        AuditTarget::Relationship(self.id)
    }

    fn document(&self) -> Value {
        relationship_document(self)
    }
}

/// What storing a revision needs: the resource at its next version, the
/// version it must still be at, and the audit entry naming each changed
/// field.
pub(crate) struct Revision<R> {
    pub(crate) revised: R,
    pub(crate) expected: Version,
    pub(crate) audit: AuditEntry,
}

/// The revision of `current` to `data` that `ctx` makes at `now`, provided
/// the client named the current version. The data is parsed before this
/// is called, so a bad patch is reported as such even with a stale version.
///
/// # Errors
/// `PreconditionRequired` without `expected`; `VersionMismatch` when it is
/// not the current version.
pub(crate) fn revise<R: Revisable>(
    ctx: &RequestContext,
    current: &R,
    data: R::Data,
    expected: Option<Version>,
    now: DateTime<Utc>,
) -> Result<Revision<R>, AppError> {
    let expected = expected.ok_or(AppError::PreconditionRequired)?;
    if current.lifecycle().version != expected {
        return Err(AppError::VersionMismatch);
    }
    let mut revised = current.clone();
    revised.replace(data, current.lifecycle().revised(ctx.actor.user_id, now));
    let audit = ctx.audit(
        AuditAction::Update,
        current.target(),
        now,
        changed_fields(&current.document(), &revised.document()),
    );
    Ok(Revision {
        revised,
        expected,
        audit,
    })
}
