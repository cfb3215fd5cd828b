//! The decisions of a batch, made inside the repository's transaction.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use kg_domain::{
    Endpoints, Entity, EntityId, ExternalId, Relationship, RelationshipData, RelationshipId,
    TypeName, UserId, Violations,
};
use serde_json::Value;

use super::{Batch, BatchReport, EndRef, ItemResult, Outcome};
use crate::entities::{changed_fields, created_changes};
use crate::{
    AuditAction, AuditEntry, AuditTarget, Completion, IdempotentRequest, NewChange, Respond,
    entity_document, relationship_document,
};

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
pub(super) struct Plan<'a> {
    pub(super) batch: Batch,
    pub(super) actor: UserId,
    pub(super) request_id: Option<String>,
    pub(super) now: DateTime<Utc>,
    /// Ids for new entities, by item index, drawn once so every call agrees.
    pub(super) new_ids: Vec<EntityId>,
    pub(super) new_relationship_ids: Vec<RelationshipId>,
    pub(super) keyed: Option<(IdempotentRequest, Respond<'a, BatchReport>)>,
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
