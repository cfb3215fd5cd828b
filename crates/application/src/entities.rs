//! Use cases on entities.

use std::sync::Arc;

use kg_domain::{
    Confidence, Entity, EntityData, EntityId, Relationship, RelationshipId, TypeName, Version,
};
use serde_json::{Value, json};

use crate::revision::revise;
use crate::{
    AppError, AttributionDraft, AuditAction, AuditTarget, Clock, Completion, EntityRepository,
    Keyed, Page, PageRequest, RequestContext, ResourceKind, entity_document,
};
use crate::{Duplicate, DuplicateQuery, EntityPatch, PatchRequest, rank_duplicates};

/// Which live entities a list returns. Type, source type, name prefix and
/// creation time are index-backed; `name_contains` uses a trigram index on
/// PostgreSQL where available.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EntityFilter {
    /// Exactly this type.
    pub kind: Option<TypeName>,
    /// Names starting with this text (case-sensitive).
    pub name_prefix: Option<String>,
    /// Confidence at least this; entities without one are excluded.
    pub min_confidence: Option<Confidence>,
    /// Exactly this source type.
    pub source_type: Option<TypeName>,
    /// Names containing this text, compared case-insensitively (already
    /// folded with [`str::to_lowercase`]).
    pub name_contains: Option<String>,
    /// Created strictly after this time.
    pub created_after: Option<chrono::DateTime<chrono::Utc>>,
    /// Metadata members equal to these values (strings, or the JSON text
    /// of numbers and booleans); all must match.
    pub metadata: Vec<(MetadataKey, String)>,
}

/// The case-folded form that case-insensitive search compares, the same on
/// every database: Unicode lowercase.
#[must_use]
pub fn fold(text: &str) -> String {
    text.to_lowercase()
}

/// A metadata member name a filter may name: 1–64 ASCII letters, digits,
/// `_` or `-`, so it is safe in any JSON path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataKey(String);

impl MetadataKey {
    /// # Errors
    /// A message unless the key is 1–64 of `[A-Za-z0-9_-]`.
    pub fn parse(text: &str) -> Result<Self, &'static str> {
        if (1..=64).contains(&text.len())
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            Ok(Self(text.to_owned()))
        } else {
            Err("must be 1 to 64 ASCII letters, digits, '_' or '-'")
        }
    }

    /// The key.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Creating, reading, changing and deleting entities.
#[derive(Clone)]
pub struct EntityService {
    entities: Arc<dyn EntityRepository>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for EntityService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EntityService").finish_non_exhaustive()
    }
}

impl EntityService {
    /// A service over the given ports.
    #[must_use]
    pub fn new(entities: Arc<dyn EntityRepository>, clock: Arc<dyn Clock>) -> Self {
        Self { entities, clock }
    }

    /// Creates an entity.
    ///
    /// # Errors
    /// `Forbidden` for viewers; `Validation`; `Conflict(ExternalIdTaken)`;
    /// `DatabaseUnavailable`; `Internal`.
    pub async fn create(&self, ctx: &RequestContext, data: EntityData) -> Result<Entity, AppError> {
        self.create_keyed(ctx, data, None).await
    }

    /// Creates an entity and, for a keyed request, stores its response
    /// (built by `respond`) with it.
    ///
    /// # Errors
    /// As [`Self::create`].
    #[tracing::instrument(skip_all, fields(entity_id))]
    pub async fn create_keyed(
        &self,
        ctx: &RequestContext,
        data: EntityData,
        keyed: Keyed<'_, Entity>,
    ) -> Result<Entity, AppError> {
        ctx.actor.require_writer()?;
        let now = self.clock.now();
        let entity = Entity::create(data, ctx.actor.user_id, now);
        tracing::Span::current().record("entity_id", tracing::field::display(entity.id));
        let audit = ctx.audit(
            AuditAction::Create,
            AuditTarget::Entity(entity.id),
            now,
            created_changes(&entity_document(&entity)),
        );
        let completion = keyed.map(|(request, respond)| Completion {
            request: request.clone(),
            response: respond(&entity),
        });
        self.entities
            .create(&entity, &audit, completion.as_ref())
            .await
            .map_err(|e| AppError::from_repo(e, ResourceKind::Entity))?;
        Ok(entity)
    }

    /// A live entity.
    ///
    /// # Errors
    /// `NotFound`; `DatabaseUnavailable`; `Internal`.
    pub async fn get(&self, _ctx: &RequestContext, id: EntityId) -> Result<Entity, AppError> {
        self.entities
            .get(id)
            .await
            .map_err(|e| AppError::from_repo(e, ResourceKind::Entity))?
            .ok_or(AppError::NotFound(ResourceKind::Entity))
    }

    /// The live entities of a live entity's type likely to be the same
    /// thing, best first (ADR 45).
    ///
    /// # Errors
    /// `NotFound` unless a live entity has the id; `DatabaseUnavailable`;
    /// `Internal`.
    pub async fn duplicates(
        &self,
        ctx: &RequestContext,
        id: EntityId,
        query: DuplicateQuery,
    ) -> Result<Vec<Duplicate>, AppError> {
        let of = self.get(ctx, id).await?;
        let candidates = self
            .entities
            .duplicate_candidates(&of)
            .await
            .map_err(|e| AppError::from_repo(e, ResourceKind::Entity))?;
        Ok(rank_duplicates(&of, candidates, query))
    }

    /// A page of live entities.
    ///
    /// # Errors
    /// `DatabaseUnavailable`; `Internal`.
    pub async fn list(
        &self,
        _ctx: &RequestContext,
        filter: &EntityFilter,
        page: PageRequest,
    ) -> Result<Page<Entity>, AppError> {
        self.entities
            .list(filter, page)
            .await
            .map_err(|e| AppError::from_repo(e, ResourceKind::Entity))
    }

    /// Applies `patch` to an entity that is still at `expected`.
    ///
    /// # Errors
    /// `Forbidden` for viewers; `NotFound`; `Validation` with what the
    /// patch's reader refused and what the stored resource makes invalid
    /// (checked before the version, so a bad patch is reported as such); `PreconditionRequired`
    /// without `expected`; `VersionMismatch`;
    /// `Conflict(ExternalIdTaken)`; `DatabaseUnavailable`; `Internal`.
    #[tracing::instrument(skip_all, fields(entity_id = %id))]
    pub async fn update(
        &self,
        ctx: &RequestContext,
        id: EntityId,
        expected: Option<Version>,
        patch: impl Into<PatchRequest<EntityPatch>>,
    ) -> Result<Entity, AppError> {
        ctx.actor.require_writer()?;
        let current = self.get(ctx, id).await?;
        let data = patch.into().apply(&current.data)?;
        let r = revise(ctx, &current, data, expected, self.clock.now())?;
        self.entities
            .update(&r.revised, r.expected, &r.audit)
            .await
            .map_err(|e| AppError::from_repo(e, ResourceKind::Entity))?;
        let updated = r.revised;
        Ok(updated)
    }

    /// Soft-deletes an entity and its live relationships, returning those.
    ///
    /// # Errors
    /// `Forbidden` for viewers; `NotFound`; `DatabaseUnavailable`; `Internal`.
    #[tracing::instrument(skip_all, fields(entity_id = %id))]
    pub async fn delete(
        &self,
        ctx: &RequestContext,
        id: EntityId,
    ) -> Result<Vec<RelationshipId>, AppError> {
        ctx.actor.require_writer()?;
        let audit = ctx.audit(
            AuditAction::Delete,
            AuditTarget::Entity(id),
            self.clock.now(),
            json!({}),
        );
        self.entities
            .soft_delete(id, &audit)
            .await
            .map_err(|e| AppError::from_repo(e, ResourceKind::Entity))
    }

    /// Restores a soft-deleted entity and exactly the relationships its
    /// deletion cascaded to.
    ///
    /// # Errors
    /// `Forbidden` unless the actor is an admin; `NotFound`;
    /// `Conflict(NotDeleted)` for a live entity; `RestoreBlocked` naming
    /// what now conflicts; `DatabaseUnavailable`; `Internal`.
    #[tracing::instrument(skip_all, fields(entity_id = %id))]
    pub async fn restore(
        &self,
        ctx: &RequestContext,
        id: EntityId,
    ) -> Result<(Entity, Vec<Relationship>), AppError> {
        ctx.actor.require_admin()?;
        let audit = ctx.audit(
            AuditAction::Restore,
            AuditTarget::Entity(id),
            self.clock.now(),
            json!({}),
        );
        self.entities
            .restore(id, &audit)
            .await
            .map_err(|e| AppError::from_repo(e, ResourceKind::Entity))
    }
}

/// The fields of a document that describe the resource itself, not its
/// identity or lifecycle: an entity's or a relationship's own, then its
/// attribution's.
fn attribute_fields() -> impl Iterator<Item = &'static str> {
    ["type", "name", "external_id", "source_id", "target_id"]
        .into_iter()
        .chain(AttributionDraft::FIELDS)
}

/// `{"field": {"after": …}}` for each attribute a new resource has.
pub(crate) fn created_changes(document: &Value) -> Value {
    let fields = attribute_fields()
        .filter_map(|k| {
            let v = document.get(k).filter(|v| !v.is_null())?;
            Some((k.to_owned(), json!({ "after": v })))
        })
        .collect();
    Value::Object(fields)
}

/// `{"field": {"before": …, "after": …}}` for each attribute that differs.
pub(crate) fn changed_fields(before: &Value, after: &Value) -> Value {
    let fields = attribute_fields()
        .filter_map(|k| {
            let (b, a) = (before.get(k), after.get(k));
            (a != b).then(|| (k.to_owned(), json!({ "before": b, "after": a })))
        })
        .collect();
    Value::Object(fields)
}
