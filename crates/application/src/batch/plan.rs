//! The decisions of a batch, made inside the repository's transaction.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use kg_domain::{
    Attribution, Endpoints, Entity, EntityId, Evidence, EvidenceId, ExternalId, Fact, Metadata,
    Relationship, RelationshipData, RelationshipId, TypeName, UserId, Version, Violations,
};
use serde_json::Value;

use super::{Batch, BatchReport, EndRef, ItemResult, Outcome};
use crate::entities::{changed_fields, created_changes};
use crate::evidence::{Corroboration, corroborate};
use crate::{
    AuditAction, AuditEntry, AuditTarget, Completion, FactState, IdempotentRequest, NewChange,
    Respond, entity_document, relationship_document,
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
    /// Evidence recorded for existing facts by other sources.
    pub new_evidence: Vec<Evidence>,
    /// Earlier evidence that the new evidence replaces, now retracted.
    pub superseded_evidence: Vec<Evidence>,
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

    /// The stored facts that items from another source than their
    /// writer's corroborate (ADR 44), given the same as
    /// [`plan`](Self::plan) but evidence: their live added evidence is
    /// read next, for the plan.
    fn corroborated(
        &self,
        stored: &StoredEntities,
        keys: &[(EntityId, EntityId, TypeName)],
        relationships: &[Relationship],
    ) -> Vec<Fact>;

    /// Every write, given the stored entities, the keys
    /// [`relationship_keys`](Self::relationship_keys) returned, the live
    /// relationships having one of them, and the live added (not stated)
    /// evidence of the facts [`corroborated`](Self::corroborated) named.
    fn plan(
        &self,
        stored: &StoredEntities,
        keys: &[(EntityId, EntityId, TypeName)],
        relationships: &[Relationship],
        evidence: &[Evidence],
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

    /// The stored entity item `i` upserts: the live one with its external
    /// id or, importing, with the id it keeps.
    fn stored_entity<'s>(&self, i: usize, stored: &'s StoredEntities) -> Option<&'s Entity> {
        self.batch.entities[i]
            .external_id
            .as_ref()
            .and_then(|x| stored.by_external_id.get(x))
            .or_else(|| {
                let kept = self.batch.entity_ids.get(i).copied().flatten()?;
                stored.by_id.get(&kept)
            })
    }

    /// Whether an item stating `item` of a fact whose writer stated
    /// `stored` is another source's word for it (ADR 44): the item names a
    /// source, the fact's writer stated something (a confidence or a
    /// source) and did not name that source. An import reproduces its
    /// export, so its items restate and never corroborate.
    fn corroborates(&self, stored: &Attribution, item: &Attribution) -> bool {
        !self.batch.reproduces
            && item.source_ref.is_some()
            && (stored.confidence.is_some() || stored.source_ref.is_some())
            && stored.source_ref != item.source_ref
    }

    /// The evidence an item from another source records for `fact`.
    fn evidence(&self, fact: Fact, item: &Attribution) -> Evidence {
        Evidence {
            id: EvidenceId::generate(),
            fact,
            stated: false,
            confidence: item.confidence,
            source_ref: item.source_ref.clone(),
            source_type: item.source_type.clone(),
            locator: Metadata::default(),
            observed_at: self.now,
            recorded_at: self.now,
            recorded_by: self.actor,
            retracted: None,
            version: Version::FIRST,
        }
    }

    /// Records the corroboration of `fact` by an item stating `item`, or
    /// returns `None` when that source said the same already.
    fn corroboration(
        &self,
        w: &mut BatchWrites,
        fact: FactState,
        item: &Attribution,
        evidence: &HashMap<Fact, Vec<Evidence>>,
    ) -> Option<Version> {
        let record = self.evidence(fact.fact(), item);
        let entry = self.audit(
            AuditAction::Create,
            AuditTarget::Evidence(record.id),
            Value::Null,
        );
        let live = evidence.get(&fact.fact()).map_or(&[][..], Vec::as_slice);
        let Corroboration {
            evidence,
            superseded,
            fact: revised,
            audit,
            changes,
        } = corroborate(&fact, live, record, &entry)?;
        w.new_evidence.push(evidence);
        w.superseded_evidence.extend(superseded);
        w.audit.extend(audit);
        w.changes.extend(changes);
        Some(match revised {
            Some(FactState::Entity(e)) => {
                let version = e.lifecycle.version;
                w.changed_entities.push(e);
                version
            }
            Some(FactState::Relationship(r)) => {
                let version = r.lifecycle.version;
                w.changed_relationships.push(r);
                version
            }
            None => fact.version(),
        })
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

    fn corroborated(
        &self,
        stored: &StoredEntities,
        keys: &[(EntityId, EntityId, TypeName)],
        relationships: &[Relationship],
    ) -> Vec<Fact> {
        let mut facts: Vec<Fact> = (0..self.batch.entities.len())
            .filter_map(|i| {
                let e = self.stored_entity(i, stored)?;
                self.corroborates(&e.data.attribution, &self.batch.entities[i].attribution)
                    .then_some(Fact::Entity(e.id))
            })
            .collect();
        let existing = by_key(relationships);
        for ((s, t, kind), item) in keys.iter().zip(&self.batch.relationships) {
            if let Some(r) = existing.get(&(*s, *t, kind))
                && self.corroborates(&r.data.attribution, &item.attribution)
            {
                facts.push(Fact::Relationship(r.id));
            }
        }
        facts
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
        evidence: &[Evidence],
    ) -> BatchWrites {
        let mut w = BatchWrites::default();
        let mut by_fact: HashMap<Fact, Vec<Evidence>> = HashMap::new();
        for e in evidence {
            by_fact.entry(e.fact).or_default().push(e.clone());
        }
        let ids = self.entity_ids(stored);
        for (i, (data, id)) in self.batch.entities.iter().zip(&ids).enumerate() {
            let (outcome, version) = match self.stored_entity(i, stored) {
                Some(e) if &e.data == data => (Outcome::Unchanged, e.lifecycle.version),
                Some(e) if self.corroborates(&e.data.attribution, &data.attribution) => self
                    .corroboration(
                        &mut w,
                        FactState::Entity(e.clone()),
                        &data.attribution,
                        &by_fact,
                    )
                    .map_or((Outcome::Unchanged, e.lifecycle.version), |v| {
                        (Outcome::Corroborated, v)
                    }),
                Some(e) => {
                    let mut next = e.clone();
                    next.restate(data.clone(), e.lifecycle.revised(self.actor, self.now));
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

        let existing = by_key(relationships);
        for (i, ((s, t, kind), item)) in keys.iter().zip(&self.batch.relationships).enumerate() {
            let Ok(ends) = Endpoints::new(*s, *t) else {
                continue;
            };
            let data = RelationshipData {
                ends,
                kind: kind.clone(),
                attribution: item.attribution.clone(),
            };
            let (outcome, id, version) = match existing.get(&(*s, *t, kind)) {
                Some(r) if r.data == data => (Outcome::Unchanged, r.id, r.lifecycle.version),
                Some(r) if self.corroborates(&r.data.attribution, &data.attribution) => self
                    .corroboration(
                        &mut w,
                        FactState::Relationship((*r).clone()),
                        &data.attribution,
                        &by_fact,
                    )
                    .map_or((Outcome::Unchanged, r.id, r.lifecycle.version), |v| {
                        (Outcome::Corroborated, r.id, v)
                    }),
                Some(r) => {
                    let mut next = (*r).clone();
                    next.restate(data, r.lifecycle.revised(self.actor, self.now));
                    w.audit.push(self.audit(
                        AuditAction::Update,
                        AuditTarget::Relationship(r.id),
                        changed_fields(&relationship_document(r), &relationship_document(&next)),
                    ));
                    w.changes
                        .push(NewChange::relationship(AuditAction::Update, &next));
                    let version = next.lifecycle.version;
                    w.changed_relationships.push(next);
                    (Outcome::Updated, r.id, version)
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
                    let (id, version) = (r.id, r.lifecycle.version);
                    w.new_relationships.push(r);
                    (Outcome::Created, id, version)
                }
            };
            w.report.relationships.push(ItemResult {
                index: i,
                outcome,
                id: id.as_uuid(),
                version,
            });
        }
        w
    }
}

/// Live relationships by their ends and type.
fn by_key(
    relationships: &[Relationship],
) -> HashMap<(EntityId, EntityId, &TypeName), &Relationship> {
    relationships
        .iter()
        .map(|r| {
            (
                (r.data.ends.source(), r.data.ends.target(), &r.data.kind),
                r,
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use kg_domain::{Confidence, EntityData, EntityName, SourceRef};

    use super::*;

    fn paper(source: &str, confidence: f64) -> Result<EntityData, Box<dyn std::error::Error>> {
        Ok(EntityData {
            kind: TypeName::parse("Paper")?,
            name: EntityName::parse("A")?,
            external_id: Some(ExternalId::parse("p:a")?),
            attribution: Attribution {
                confidence: Some(Confidence::new(confidence)?),
                source_ref: Some(SourceRef::parse(source)?),
                ..Attribution::default()
            },
        })
    }

    fn plan(batch: Batch) -> Plan<'static> {
        Plan {
            new_ids: vec![EntityId::generate(); batch.entities.len()],
            new_relationship_ids: Vec::new(),
            batch,
            actor: UserId::generate(),
            request_id: None,
            now: Utc::now(),
            keyed: None,
        }
    }

    /// What a batch of `item` does to `stored`, and the evidence it records.
    fn outcome(planned: &Plan<'_>, stored: &Entity) -> (Outcome, Vec<Evidence>) {
        let stored = StoredEntities {
            by_external_id: HashMap::from([(
                stored
                    .data
                    .external_id
                    .clone()
                    .unwrap_or_else(|| unreachable!()),
                stored.clone(),
            )]),
            ..StoredEntities::default()
        };
        let w = planned.plan(&stored, &[], &[], &[]);
        (w.report.entities[0].outcome, w.new_evidence)
    }

    #[test]
    fn another_source_corroborates_but_an_import_restates() -> Result<(), Box<dyn std::error::Error>>
    {
        let stored = Entity::create(paper("pipeline:a", 0.6)?, UserId::generate(), Utc::now());
        let item = paper("pipeline:b", 0.5)?;

        let api = plan(Batch::new(vec![item.clone()], Vec::new())?);
        let found = StoredEntities {
            by_external_id: HashMap::from([(
                item.external_id.clone().ok_or("no external id")?,
                stored.clone(),
            )]),
            ..StoredEntities::default()
        };
        assert_eq!(
            api.corroborated(&found, &[], &[]),
            [Fact::Entity(stored.id)]
        );
        let (got, evidence) = outcome(&api, &stored);
        assert_eq!(got, Outcome::Corroborated);
        assert_eq!(evidence.len(), 1);
        assert_eq!(evidence[0].confidence, Some(Confidence::new(0.5)?));
        assert!(!evidence[0].stated);

        let import = plan(Batch::new(vec![item], Vec::new())?.keeping_ids(vec![None], Vec::new())?);
        assert_eq!(import.corroborated(&found, &[], &[]), []);
        let (got, evidence) = outcome(&import, &stored);
        assert_eq!(got, Outcome::Updated, "an import reproduces its export");
        assert_eq!(evidence, []);
        Ok(())
    }

    #[test]
    fn an_item_naming_no_source_or_the_writers_own_restates()
    -> Result<(), Box<dyn std::error::Error>> {
        let stored = Entity::create(paper("pipeline:a", 0.6)?, UserId::generate(), Utc::now());
        let mut unnamed = paper("pipeline:b", 0.5)?;
        unnamed.attribution.source_ref = None;
        for item in [paper("pipeline:a", 0.5)?, unnamed] {
            let (got, evidence) = outcome(&plan(Batch::new(vec![item], Vec::new())?), &stored);
            assert_eq!((got, evidence), (Outcome::Updated, Vec::new()));
        }
        // A fact whose writer stated nothing takes the first source as its own.
        let mut silent = stored.clone();
        silent.data.attribution = Attribution::default();
        let (got, evidence) = outcome(
            &plan(Batch::new(vec![paper("pipeline:b", 0.5)?], Vec::new())?),
            &silent,
        );
        assert_eq!((got, evidence), (Outcome::Updated, Vec::new()));
        Ok(())
    }
}
