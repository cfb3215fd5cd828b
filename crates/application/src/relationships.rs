//! Use cases on relationships.

use std::sync::Arc;

use kg_domain::{EntityId, Relationship, RelationshipData, RelationshipId, TypeName, Version};
use serde_json::json;

use crate::entities::created_changes;
use crate::revision::revise;
use crate::{
    AppError, AuditAction, AuditTarget, Clock, Completion, Keyed, Page, PageRequest,
    RelationshipRepository, RequestContext, ResourceKind, relationship_document,
};
use crate::{PatchRequest, RelationshipPatch};

/// Which way a relationship points, seen from one entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direction {
    /// The entity is the source.
    Outgoing,
    /// The entity is the target.
    Incoming,
    /// Either.
    #[default]
    Both,
}

impl Direction {
    /// The ways this follows a relationship, each as "outgoing?": from its
    /// source (`true`), from its target (`false`), or both, outgoing first.
    #[must_use]
    pub const fn ways(self) -> &'static [bool] {
        match self {
            Self::Outgoing => &[true],
            Self::Incoming => &[false],
            Self::Both => &[true, false],
        }
    }
}

/// Which live relationships a list returns.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RelationshipFilter {
    /// Exactly this source.
    pub source_id: Option<EntityId>,
    /// Exactly this target.
    pub target_id: Option<EntityId>,
    /// Touching this entity, in the given direction.
    pub touching: Option<(EntityId, Direction)>,
    /// Exactly this type.
    pub kind: Option<TypeName>,
    /// Confidence at least this; relationships without one are excluded.
    pub min_confidence: Option<kg_domain::Confidence>,
    /// Created strictly after this time.
    pub created_after: Option<chrono::DateTime<chrono::Utc>>,
    /// Metadata members equal to these values, as on entities.
    pub metadata: Vec<(crate::MetadataKey, String)>,
}

/// Creating, reading, changing and deleting relationships.
#[derive(Clone)]
pub struct RelationshipService {
    relationships: Arc<dyn RelationshipRepository>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for RelationshipService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelationshipService")
            .finish_non_exhaustive()
    }
}

impl RelationshipService {
    /// A service over the given ports.
    #[must_use]
    pub fn new(relationships: Arc<dyn RelationshipRepository>, clock: Arc<dyn Clock>) -> Self {
        Self {
            relationships,
            clock,
        }
    }

    /// Creates a relationship between two live entities.
    ///
    /// # Errors
    /// `Forbidden` for viewers; `Conflict(SourceNotLive | TargetNotLive |
    /// DuplicateRelationship)`; `DatabaseUnavailable`; `Internal`.
    pub async fn create(
        &self,
        ctx: &RequestContext,
        data: RelationshipData,
    ) -> Result<Relationship, AppError> {
        self.create_keyed(ctx, data, None).await
    }

    /// Creates a relationship and, for a keyed request, stores its response
    /// (built by `respond`) with it.
    ///
    /// # Errors
    /// As [`Self::create`].
    #[tracing::instrument(skip_all, fields(relationship_id))]
    pub async fn create_keyed(
        &self,
        ctx: &RequestContext,
        data: RelationshipData,
        keyed: Keyed<'_, Relationship>,
    ) -> Result<Relationship, AppError> {
        ctx.actor.require_writer()?;
        let now = self.clock.now();
        let relationship = Relationship::create(data, ctx.actor.user_id, now);
        tracing::Span::current()
            .record("relationship_id", tracing::field::display(relationship.id));
        let audit = ctx.audit(
            AuditAction::Create,
            AuditTarget::Relationship(relationship.id),
            now,
            created_changes(&relationship_document(&relationship)),
        );
        let completion = keyed.map(|(request, respond)| Completion {
            request: request.clone(),
            response: respond(&relationship),
        });
        self.relationships
            .create(&relationship, &audit, completion.as_ref())
            .await
            .map_err(|e| AppError::from_repo(e, ResourceKind::Relationship))?;
        Ok(relationship)
    }

    /// A live relationship.
    ///
    /// # Errors
    /// `NotFound`; `DatabaseUnavailable`; `Internal`.
    pub async fn get(
        &self,
        _ctx: &RequestContext,
        id: RelationshipId,
    ) -> Result<Relationship, AppError> {
        self.relationships
            .get(id)
            .await
            .map_err(|e| AppError::from_repo(e, ResourceKind::Relationship))?
            .ok_or(AppError::NotFound(ResourceKind::Relationship))
    }

    /// A page of live relationships.
    ///
    /// # Errors
    /// `DatabaseUnavailable`; `Internal`.
    pub async fn list(
        &self,
        _ctx: &RequestContext,
        filter: &RelationshipFilter,
        page: PageRequest,
    ) -> Result<Page<Relationship>, AppError> {
        self.relationships
            .list(filter, page)
            .await
            .map_err(|e| AppError::from_repo(e, ResourceKind::Relationship))
    }

    /// Soft-deletes a relationship.
    ///
    /// # Errors
    /// `Forbidden` for viewers; `NotFound`; `DatabaseUnavailable`; `Internal`.
    #[tracing::instrument(skip_all, fields(relationship_id = %id))]
    pub async fn delete(&self, ctx: &RequestContext, id: RelationshipId) -> Result<(), AppError> {
        ctx.actor.require_writer()?;
        let audit = ctx.audit(
            AuditAction::Delete,
            AuditTarget::Relationship(id),
            self.clock.now(),
            json!({}),
        );
        self.relationships
            .soft_delete(id, &audit)
            .await
            .map_err(|e| AppError::from_repo(e, ResourceKind::Relationship))
    }

    /// Applies `patch` to a relationship that is still at `expected`. Its
    /// ends cannot change.
    ///
    /// # Errors
    /// `Forbidden` for viewers; `NotFound`; `Validation` with what the
    /// patch's reader refused and what the stored ends make invalid (before the
    /// version); `PreconditionRequired` without `expected`;
    /// `VersionMismatch`; `Conflict(DuplicateRelationship)`; `Unavailable`;
    /// `Internal`.
    #[tracing::instrument(skip_all, fields(relationship_id = %id))]
    pub async fn update(
        &self,
        ctx: &RequestContext,
        id: RelationshipId,
        expected: Option<Version>,
        patch: impl Into<PatchRequest<RelationshipPatch>>,
    ) -> Result<Relationship, AppError> {
        ctx.actor.require_writer()?;
        let current = self.get(ctx, id).await?;
        let data = patch.into().apply(&current.data)?;
        let r = revise(ctx, &current, data, expected, self.clock.now())?;
        self.relationships
            .update(&r.revised, r.expected, &r.audit)
            .await
            .map_err(|e| AppError::from_repo(e, ResourceKind::Relationship))?;
        let updated = r.revised;
        Ok(updated)
    }
}
