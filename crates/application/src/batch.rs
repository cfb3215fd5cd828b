//! Batch ingestion: up to 1,000 entities and 1,000 relationships in one
//! atomic write, entities upserted by `external_id`, relationships naming
//! their ends by id or by `external_id`.
//!
//! The decisions (create, update or leave unchanged; which ends a
//! relationship has) are made here, by a [`BatchPlanner`] the repository
//! consults inside its transaction, so the adapter only reads and writes.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use kg_domain::{
    Attribution, Endpoints, Entity, EntityData, EntityId, ExternalId, Relationship,
    RelationshipData, RelationshipId, TypeName, UserId, Version, Violations,
};
use serde_json::{Map, Value};

use crate::draft::string_member;
use crate::entities::{changed_fields, created_changes};
use crate::{
    AppError, AttributionDraft, AuditAction, AuditEntry, AuditTarget, Clock, Completion,
    EntityDraft, IdempotentRequest, Keyed, NewChange, RepoError, RequestContext, ResourceKind,
    Respond, entity_document, relationship_document,
};

/// The most entities, and separately the most relationships, in one batch.
pub const MAX_BATCH_ITEMS: usize = 1000;

/// How a relationship in a batch names one of its ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndRef {
    /// An entity id.
    Id(EntityId),
    /// The external id of an entity in the batch or already stored.
    ExternalId(ExternalId),
}

/// A relationship of a batch, parsed, with its ends not yet resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchRelationship {
    /// The source.
    pub source: EndRef,
    /// The target.
    pub target: EndRef,
    /// Its type.
    pub kind: TypeName,
    /// Its confidence, source reference, source type and metadata.
    pub attribution: Attribution,
}

/// A parsed batch: every item valid on its own.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Batch {
    /// Entities, in request order.
    pub entities: Vec<EntityData>,
    /// Relationships, in request order.
    pub relationships: Vec<BatchRelationship>,
    /// Ids the entities must keep, by item (only when importing an export).
    pub entity_ids: Vec<Option<EntityId>>,
    /// Ids the relationships must keep, by item (only when importing).
    pub relationship_ids: Vec<Option<RelationshipId>>,
}

/// Whether items may carry the `id` they must keep: only `kg import`, which
/// reproduces an exported graph; the API always assigns ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ids {
    Assigned,
    Kept,
}

/// Whether `key` is a member a batch entity may have.
fn is_entity_field(key: &str) -> bool {
    EntityDraft::OWN_FIELDS.contains(&key) || AttributionDraft::FIELDS.contains(&key)
}

impl Batch {
    /// Parses raw items, reporting every problem of every item at once,
    /// each under `entities[i].field` or `relationships[i].field`.
    ///
    /// # Errors
    /// The [`Violations`] of all items, and of the batch's size.
    pub fn parse(entities: &[Value], relationships: &[Value]) -> Result<Self, Violations> {
        Self::parse_with(entities, relationships, Ids::Assigned)
    }

    /// Parses items of an export, which also carry the `id` each resource
    /// keeps. An item with an `id` that is live is upserted by it.
    ///
    /// # Errors
    /// As [`Self::parse`], and a malformed `id`.
    pub fn parse_export(entities: &[Value], relationships: &[Value]) -> Result<Self, Violations> {
        Self::parse_with(entities, relationships, Ids::Kept)
    }

    fn parse_with(
        entities: &[Value],
        relationships: &[Value],
        ids: Ids,
    ) -> Result<Self, Violations> {
        let mut v = Violations::new();
        for (name, len) in [
            ("entities", entities.len()),
            ("relationships", relationships.len()),
        ] {
            if len > MAX_BATCH_ITEMS {
                v.push(name, format!("must hold at most {MAX_BATCH_ITEMS} items"));
            }
        }
        if entities.is_empty() && relationships.is_empty() {
            v.push(
                "entities",
                "a batch needs at least one entity or relationship",
            );
        }
        if !v.is_empty() {
            return Err(v);
        }
        let mut batch = Self::default();
        let mut first_at: HashMap<ExternalId, usize> = HashMap::new();
        for (i, item) in entities.iter().enumerate() {
            let (item, id) = match take_id(item, ids) {
                Ok(split) => split,
                Err(e) => {
                    v.extend_prefixed(&format!("entities[{i}]"), e);
                    continue;
                }
            };
            batch.entity_ids.push(id.map(EntityId::from_uuid));
            match parse_entity(&item) {
                Ok(data) => {
                    if let Some(x) = &data.external_id
                        && let Some(first) = first_at.insert(x.clone(), i)
                    {
                        v.push(
                            format!("entities[{i}].external_id"),
                            format!("repeats entities[{first}]"),
                        );
                    }
                    batch.entities.push(data);
                }
                Err(e) => v.extend_prefixed(&format!("entities[{i}]"), e),
            }
        }
        for (i, item) in relationships.iter().enumerate() {
            let (item, id) = match take_id(item, ids) {
                Ok(split) => split,
                Err(e) => {
                    v.extend_prefixed(&format!("relationships[{i}]"), e);
                    continue;
                }
            };
            batch
                .relationship_ids
                .push(id.map(RelationshipId::from_uuid));
            match parse_relationship(&item) {
                Ok(r) => batch.relationships.push(r),
                Err(e) => v.extend_prefixed(&format!("relationships[{i}]"), e),
            }
        }
        if v.is_empty() { Ok(batch) } else { Err(v) }
    }
}

/// Splits off the `id` an exported item carries.
fn take_id(item: &Value, ids: Ids) -> Result<(Value, Option<uuid::Uuid>), Violations> {
    let mut item = item.clone();
    let id = match (ids, item.as_object_mut()) {
        (Ids::Kept, Some(map)) => map.remove("id"),
        _ => None,
    };
    match id {
        None | Some(Value::Null) => Ok((item, None)),
        Some(Value::String(s)) => match s.parse::<uuid::Uuid>() {
            Ok(id) => Ok((item, Some(id))),
            Err(_) => {
                let mut v = Violations::new();
                v.push("id", "must be a UUID");
                Err(v)
            }
        },
        Some(_) => {
            let mut v = Violations::new();
            v.push("id", "must be a UUID");
            Err(v)
        }
    }
}

fn object(item: &Value) -> Result<&Map<String, Value>, Violations> {
    item.as_object().ok_or_else(|| {
        let mut v = Violations::new();
        v.push("item", "must be a JSON object");
        v
    })
}

fn parse_entity(item: &Value) -> Result<EntityData, Violations> {
    let map = object(item)?;
    let mut v = Violations::new();
    for key in map.keys() {
        if !is_entity_field(key) {
            v.push(key.as_str(), "is not an entity field");
        }
    }
    let draft = EntityDraft {
        kind: string_member(map, "type", &mut v),
        name: string_member(map, "name", &mut v),
        external_id: string_member(map, "external_id", &mut v),
        attribution: AttributionDraft::from_members(map, &mut v),
    };
    match draft.parse() {
        Ok(data) if v.is_empty() => Ok(data),
        Ok(_) => Err(v),
        Err(more) => {
            v.extend(more);
            Err(v)
        }
    }
}

fn parse_end(map: &Map<String, Value>, end: &str, v: &mut Violations) -> Option<EndRef> {
    let by_id = format!("{end}_id");
    let by_external = format!("{end}_external_id");
    match (map.get(&by_id), map.get(&by_external)) {
        (Some(id), None) => match id.as_str().map(str::parse::<EntityId>) {
            Some(Ok(id)) => Some(EndRef::Id(id)),
            _ => {
                v.push(by_id, "must be a UUID");
                None
            }
        },
        (None, Some(external)) => match external.as_str().map(ExternalId::parse) {
            Some(Ok(x)) => Some(EndRef::ExternalId(x)),
            Some(Err(e)) => {
                v.push(by_external, e.to_string());
                None
            }
            None => {
                v.push(by_external, "must be a string");
                None
            }
        },
        (Some(_), Some(_)) => {
            let message = format!("give either {by_id} or {by_external}, not both");
            v.push(by_id, message);
            None
        }
        (None, None) => {
            v.push(by_id, format!("is required (or {by_external})"));
            None
        }
    }
}

/// Whether `key` is a member a batch relationship may have: each end by
/// id or by external id, its type, and its attribution.
fn is_relationship_field(key: &str) -> bool {
    [
        "source_id",
        "source_external_id",
        "target_id",
        "target_external_id",
        "type",
    ]
    .contains(&key)
        || AttributionDraft::FIELDS.contains(&key)
}

fn parse_relationship(item: &Value) -> Result<BatchRelationship, Violations> {
    let map = object(item)?;
    let mut v = Violations::new();
    for key in map.keys() {
        if !is_relationship_field(key) {
            v.push(key.as_str(), "is not a relationship field");
        }
    }
    let source = parse_end(map, "source", &mut v);
    let target = parse_end(map, "target", &mut v);
    let kind = match string_member(map, "type", &mut v) {
        Some(k) => v.check("type", TypeName::parse(k)),
        None => {
            v.push("type", "is required");
            None
        }
    };
    let attribution = AttributionDraft::parse_members(map, &mut v);
    match (source, target, kind, attribution) {
        (Some(source), Some(target), Some(kind), Some(attribution)) if v.is_empty() => {
            Ok(BatchRelationship {
                source,
                target,
                kind,
                attribution,
            })
        }
        _ => Err(v),
    }
}

/// What became of one item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// It was new and has been created.
    Created,
    /// It existed with other data and has been updated.
    Updated,
    /// It existed with exactly this data.
    Unchanged,
}

impl Outcome {
    /// The outcome's name in responses.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Updated => "updated",
            Self::Unchanged => "unchanged",
        }
    }
}

/// One item's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ItemResult {
    /// Its index in the request.
    pub index: usize,
    /// What became of it.
    pub outcome: Outcome,
    /// The resource's id.
    pub id: uuid::Uuid,
    /// The resource's version after the batch.
    pub version: Version,
}

/// What a batch did (or, in a dry run, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchReport {
    /// One result per entity item, in request order.
    pub entities: Vec<ItemResult>,
    /// One result per relationship item, in request order.
    pub relationships: Vec<ItemResult>,
}

impl BatchReport {
    /// How many items, entities and relationships together, had `outcome`.
    #[must_use]
    pub fn count(&self, outcome: Outcome) -> usize {
        self.entities
            .iter()
            .chain(&self.relationships)
            .filter(|r| r.outcome == outcome)
            .count()
    }
}

/// What a batch reads before it decides: live entities by external id, and
/// which of the entity ids it names are live.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StoredEntities {
    /// Live entities having one of the batch's external ids.
    pub by_external_id: HashMap<ExternalId, Entity>,
    /// The ids named by the batch that are live entities.
    pub live_ids: HashSet<EntityId>,
    /// Those live entities, by id.
    pub by_id: HashMap<EntityId, Entity>,
}

/// The rows a batch writes, with their audit and change-feed rows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BatchWrites {
    /// New entities.
    pub new_entities: Vec<Entity>,
    /// Changed entities (each already at its next version).
    pub changed_entities: Vec<Entity>,
    /// New relationships.
    pub new_relationships: Vec<Relationship>,
    /// Changed relationships.
    pub changed_relationships: Vec<Relationship>,
    /// Audit rows, one per effect.
    pub audit: Vec<AuditEntry>,
    /// Change-feed rows, one per effect.
    pub changes: Vec<NewChange>,
    /// The per-item report.
    pub report: BatchReport,
}

/// The decisions of a batch, made inside the repository's transaction.
pub trait BatchPlanner: Send + Sync {
    /// The external ids and entity ids whose stored state decides the batch.
    fn lookup(&self) -> (Vec<ExternalId>, Vec<EntityId>);

    /// Given the stored entities, the relationships' resolved ends and type,
    /// in item order, whose live duplicates must be read next.
    ///
    /// # Errors
    /// Violations naming each relationship whose end cannot be resolved.
    fn relationship_keys(
        &self,
        stored: &StoredEntities,
    ) -> Result<Vec<(EntityId, EntityId, TypeName)>, Violations>;

    /// Every write, given the stored entities, the keys
    /// [`relationship_keys`](Self::relationship_keys) returned, and the live
    /// relationships having one of them.
    fn plan(
        &self,
        stored: &StoredEntities,
        keys: &[(EntityId, EntityId, TypeName)],
        relationships: &[Relationship],
    ) -> BatchWrites;

    /// For a keyed request, the response to store with the writes.
    fn completion(&self, report: &BatchReport) -> Option<Completion>;
}

/// A batch with the actor and time it is applied by.
struct Plan<'a> {
    batch: Batch,
    actor: UserId,
    request_id: Option<String>,
    now: DateTime<Utc>,
    /// Ids for new entities, by item index, drawn once so every call agrees.
    new_ids: Vec<EntityId>,
    new_relationship_ids: Vec<RelationshipId>,
    keyed: Option<(IdempotentRequest, Respond<'a, BatchReport>)>,
}

impl Plan<'_> {
    fn audit(&self, action: AuditAction, target: AuditTarget, changes: Value) -> AuditEntry {
        AuditEntry {
            actor: self.actor,
            action,
            target,
            request_id: self.request_id.clone(),
            at: self.now,
            changes,
        }
    }

    /// The id each entity item will have: the stored one for an upsert
    /// (external ids are unique within a batch), a new one otherwise.
    fn entity_ids(&self, stored: &StoredEntities) -> Vec<EntityId> {
        self.batch
            .entities
            .iter()
            .zip(&self.new_ids)
            .map(|(data, new_id)| {
                data.external_id
                    .as_ref()
                    .and_then(|x| stored.by_external_id.get(x))
                    .map_or(*new_id, |e| e.id)
            })
            .collect()
    }
}

impl BatchPlanner for Plan<'_> {
    fn lookup(&self) -> (Vec<ExternalId>, Vec<EntityId>) {
        let mut external: Vec<ExternalId> = self
            .batch
            .entities
            .iter()
            .filter_map(|d| d.external_id.clone())
            .collect();
        let mut ids: Vec<EntityId> = self.batch.entity_ids.iter().flatten().copied().collect();
        for r in &self.batch.relationships {
            for end in [&r.source, &r.target] {
                match end {
                    EndRef::Id(id) => ids.push(*id),
                    EndRef::ExternalId(x) => external.push(x.clone()),
                }
            }
        }
        external.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        external.dedup();
        ids.sort();
        ids.dedup();
        (external, ids)
    }

    fn relationship_keys(
        &self,
        stored: &StoredEntities,
    ) -> Result<Vec<(EntityId, EntityId, TypeName)>, Violations> {
        let mut v = Violations::new();
        let mut keys = Vec::new();
        let mut first_at: HashMap<(EntityId, EntityId, &TypeName), usize> = HashMap::new();
        // Built once: the batch's own entities by external id, and its ids.
        let in_batch: HashMap<&ExternalId, EntityId> = self
            .batch
            .entities
            .iter()
            .zip(self.entity_ids(stored))
            .filter_map(|(d, id)| d.external_id.as_ref().map(|x| (x, id)))
            .collect();
        let new_ids: HashSet<EntityId> = self.new_ids.iter().copied().collect();
        // An entity of this batch (an import keeps ids) or a live one.
        let resolve = |end: &EndRef| match end {
            EndRef::Id(id) => (stored.live_ids.contains(id) || new_ids.contains(id)).then_some(*id),
            EndRef::ExternalId(x) => in_batch
                .get(x)
                .copied()
                .or_else(|| stored.by_external_id.get(x).map(|e| e.id)),
        };
        for (i, r) in self.batch.relationships.iter().enumerate() {
            let mut ends = [None, None];
            for (slot, (name, end)) in [("source", &r.source), ("target", &r.target)]
                .into_iter()
                .enumerate()
            {
                ends[slot] = resolve(end);
                if ends[slot].is_none() {
                    let field = match end {
                        EndRef::Id(_) => format!("relationships[{i}].{name}_id"),
                        EndRef::ExternalId(_) => format!("relationships[{i}].{name}_external_id"),
                    };
                    v.push(field, "names no live entity, in the batch or stored");
                }
            }
            let [Some(s), Some(t)] = ends else { continue };
            if s == t {
                v.push(
                    format!("relationships[{i}].target_id"),
                    "must differ from the source (no self-loops)",
                );
                continue;
            }
            if let Some(first) = first_at.insert((s, t, &r.kind), i) {
                v.push(
                    format!("relationships[{i}]"),
                    format!("repeats relationships[{first}] (same source, target and type)"),
                );
                continue;
            }
            keys.push((s, t, r.kind.clone()));
        }
        if v.is_empty() { Ok(keys) } else { Err(v) }
    }

    fn completion(&self, report: &BatchReport) -> Option<Completion> {
        self.keyed.as_ref().map(|(request, respond)| Completion {
            request: request.clone(),
            response: respond(report),
        })
    }

    fn plan(
        &self,
        stored: &StoredEntities,
        keys: &[(EntityId, EntityId, TypeName)],
        relationships: &[Relationship],
    ) -> BatchWrites {
        let mut w = BatchWrites::default();
        let ids = self.entity_ids(stored);
        for (i, (data, id)) in self.batch.entities.iter().zip(&ids).enumerate() {
            let stored_entity = data
                .external_id
                .as_ref()
                .and_then(|x| stored.by_external_id.get(x))
                .or_else(|| {
                    let kept = self.batch.entity_ids.get(i).copied().flatten()?;
                    stored.by_id.get(&kept)
                });
            let (outcome, version) = match stored_entity {
                Some(e) if &e.data == data => (Outcome::Unchanged, e.lifecycle.version),
                Some(e) => {
                    let mut next = e.clone();
                    next.data = data.clone();
                    next.lifecycle = e.lifecycle.revised(self.actor, self.now);
                    w.audit.push(self.audit(
                        AuditAction::Update,
                        AuditTarget::Entity(*id),
                        changed_fields(&entity_document(e), &entity_document(&next)),
                    ));
                    w.changes
                        .push(NewChange::entity(AuditAction::Update, &next));
                    let version = next.lifecycle.version;
                    w.changed_entities.push(next);
                    (Outcome::Updated, version)
                }
                None => {
                    let mut e = Entity::create(data.clone(), self.actor, self.now);
                    e.id = *id;
                    w.audit.push(self.audit(
                        AuditAction::Create,
                        AuditTarget::Entity(*id),
                        created_changes(&entity_document(&e)),
                    ));
                    w.changes.push(NewChange::entity(AuditAction::Create, &e));
                    let version = e.lifecycle.version;
                    w.new_entities.push(e);
                    (Outcome::Created, version)
                }
            };
            w.report.entities.push(ItemResult {
                index: i,
                outcome,
                id: id.as_uuid(),
                version,
            });
        }

        let existing: HashMap<(EntityId, EntityId, &TypeName), &Relationship> = relationships
            .iter()
            .map(|r| {
                (
                    (r.data.ends.source(), r.data.ends.target(), &r.data.kind),
                    r,
                )
            })
            .collect();
        for (i, ((s, t, kind), item)) in keys.iter().zip(&self.batch.relationships).enumerate() {
            let Ok(ends) = Endpoints::new(*s, *t) else {
                continue;
            };
            let data = RelationshipData {
                ends,
                kind: kind.clone(),
                attribution: item.attribution.clone(),
            };
            let (outcome, r) = match existing.get(&(*s, *t, kind)) {
                Some(r) if r.data == data => (Outcome::Unchanged, (*r).clone()),
                Some(r) => {
                    let mut next = (*r).clone();
                    next.data = data;
                    next.lifecycle = r.lifecycle.revised(self.actor, self.now);
                    w.audit.push(self.audit(
                        AuditAction::Update,
                        AuditTarget::Relationship(r.id),
                        changed_fields(&relationship_document(r), &relationship_document(&next)),
                    ));
                    w.changes
                        .push(NewChange::relationship(AuditAction::Update, &next));
                    w.changed_relationships.push(next.clone());
                    (Outcome::Updated, next)
                }
                None => {
                    let mut r = Relationship::create(data, self.actor, self.now);
                    r.id = self.new_relationship_ids[i];
                    w.audit.push(self.audit(
                        AuditAction::Create,
                        AuditTarget::Relationship(r.id),
                        created_changes(&relationship_document(&r)),
                    ));
                    w.changes
                        .push(NewChange::relationship(AuditAction::Create, &r));
                    w.new_relationships.push(r.clone());
                    (Outcome::Created, r)
                }
            };
            w.report.relationships.push(ItemResult {
                index: i,
                outcome,
                id: r.id.as_uuid(),
                version: r.lifecycle.version,
            });
        }
        w
    }
}

/// Storage that applies a batch atomically.
#[async_trait::async_trait]
pub trait BatchRepository: Send + Sync {
    /// In one transaction: reads what `planner.lookup` names (locking it),
    /// asks the planner for the relationships' keys, reads the live
    /// relationships with those keys (locking them), asks for the writes
    /// and, unless `dry_run`, makes them with their audit and change rows.
    /// A dry run writes nothing. Each step is a bounded number of
    /// statements, whatever the batch's size.
    ///
    /// # Errors
    /// `Invalid` with the planner's violations; `Conflict(ExternalIdTaken)`
    /// when a concurrent write took an external id; `DatabaseUnavailable`; `Other`.
    async fn apply(
        &self,
        planner: &dyn BatchPlanner,
        dry_run: bool,
    ) -> Result<BatchReport, RepoError>;
}

/// Applying batches.
#[derive(Clone)]
pub struct BatchService {
    repo: Arc<dyn BatchRepository>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for BatchService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchService").finish_non_exhaustive()
    }
}

impl BatchService {
    /// A service over the given ports.
    #[must_use]
    pub fn new(repo: Arc<dyn BatchRepository>, clock: Arc<dyn Clock>) -> Self {
        Self { repo, clock }
    }

    /// Applies a parsed batch atomically, or in a dry run reports what it
    /// would do and writes nothing.
    ///
    /// # Errors
    /// `Forbidden` for viewers; `Validation` naming each unresolvable item;
    /// `Conflict`; `DatabaseUnavailable`; `Internal`.
    pub async fn apply(
        &self,
        ctx: &RequestContext,
        batch: Batch,
        dry_run: bool,
    ) -> Result<BatchReport, AppError> {
        self.apply_keyed(ctx, batch, dry_run, None).await
    }

    /// Applies a batch and, for a keyed request, stores its response (built
    /// by `respond`) with the writes.
    ///
    /// # Errors
    /// As [`Self::apply`].
    #[tracing::instrument(skip_all, fields(entities = batch.entities.len(), relationships = batch.relationships.len(), dry_run))]
    pub async fn apply_keyed(
        &self,
        ctx: &RequestContext,
        batch: Batch,
        dry_run: bool,
        keyed: Keyed<'_, BatchReport>,
    ) -> Result<BatchReport, AppError> {
        ctx.actor.require_writer()?;
        let plan = Plan {
            new_ids: (0..batch.entities.len())
                .map(|i| {
                    batch
                        .entity_ids
                        .get(i)
                        .copied()
                        .flatten()
                        .unwrap_or_else(EntityId::generate)
                })
                .collect(),
            new_relationship_ids: (0..batch.relationships.len())
                .map(|i| {
                    batch
                        .relationship_ids
                        .get(i)
                        .copied()
                        .flatten()
                        .unwrap_or_else(RelationshipId::generate)
                })
                .collect(),
            batch,
            actor: ctx.actor.user_id,
            request_id: ctx.request_id.clone(),
            now: self.clock.now(),
            keyed: keyed.map(|(request, respond)| (request.clone(), respond)),
        };
        self.repo
            .apply(&plan, dry_run)
            .await
            .map_err(|e| AppError::from_repo(e, ResourceKind::Entity))
    }
}
