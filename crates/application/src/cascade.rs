//! What deleting an entity takes with it and what restoring it brings back.
//!
//! The policy is decided here, once: a repository reads the rows inside its
//! transaction, asks [`plan_delete`] or [`plan_restore`] for the writes, and
//! makes them. The database adapter and the in-memory fake run the same
//! plans, so neither can drift from the other.

use std::collections::HashSet;

use kg_domain::{Entity, EntityId, Relationship};
use serde_json::json;

use crate::{AuditAction, AuditEntry, AuditTarget, NewChange, RestoreBlocker};

/// The writes of a delete or a restore: the entity and its cascade at their
/// next versions, with one audit entry and one change each.
#[derive(Debug, Clone, PartialEq)]
pub struct CascadeWrites {
    /// The entity as it is to be stored.
    pub entity: Entity,
    /// The relationships the cascade takes or brings back, as they are to be
    /// stored, in id order.
    pub relationships: Vec<Relationship>,
    /// The entity's audit entry (the one the use case made), then one per
    /// relationship naming the entity in `cascade_of`.
    pub audit: Vec<AuditEntry>,
    /// One change-feed row per resource, in the same order.
    pub changes: Vec<NewChange>,
}

/// Deleting `entity` (live, as stored) by `entry`: the entity and every
/// live relationship in `touching` (those with it at one end) are
/// soft-deleted together.
#[must_use]
pub fn plan_delete(
    entity: &Entity,
    touching: &[Relationship],
    entry: &AuditEntry,
) -> CascadeWrites {
    let mut deleted = entity.clone();
    deleted.lifecycle = entity.lifecycle.deleted(entry.actor, entry.at);
    let mut relationships: Vec<Relationship> = touching
        .iter()
        .map(|r| {
            let mut r = r.clone();
            r.lifecycle = r.lifecycle.deleted(entry.actor, entry.at);
            r
        })
        .collect();
    relationships.sort_by_key(|r| r.id);
    let changes = std::iter::once(NewChange::deleted(
        AuditTarget::Entity(entity.id),
        deleted.lifecycle.version,
        entry.at,
    ))
    .chain(relationships.iter().map(|r| {
        NewChange::deleted(
            AuditTarget::Relationship(r.id),
            r.lifecycle.version,
            entry.at,
        )
    }))
    .collect();
    CascadeWrites {
        audit: cascade_audit(entry, AuditAction::Delete, entity.id, &relationships),
        entity: deleted,
        relationships,
        changes,
    }
}

/// What a restore decides on, as the repository read it.
#[derive(Debug, Clone, Copy)]
pub struct RestoreState<'a> {
    /// The entity, soft-deleted.
    pub entity: &'a Entity,
    /// The relationships its deletion cascaded to, still deleted.
    pub cascaded: &'a [Relationship],
    /// The live entity that has the entity's external id now, if any.
    pub external_id_holder: Option<EntityId>,
    /// Which of [`other_ends`] are live entities now.
    pub live_other_ends: &'a HashSet<EntityId>,
}

/// The far ends of `cascaded` from `entity`, each once, in id order: the
/// entities a restore needs to be live.
#[must_use]
pub fn other_ends(entity: EntityId, cascaded: &[Relationship]) -> Vec<EntityId> {
    let mut ends: Vec<EntityId> = cascaded.iter().map(|r| other_end(entity, r)).collect();
    ends.sort();
    ends.dedup();
    ends
}

fn other_end(entity: EntityId, r: &Relationship) -> EntityId {
    if r.data.ends.source() == entity {
        r.data.ends.target()
    } else {
        r.data.ends.source()
    }
}

/// Restoring a soft-deleted entity by `entry`: the entity and exactly the
/// relationships its deletion cascaded to come back together, or nothing
/// does.
///
/// # Errors
/// Every [`RestoreBlocker`]: a live entity holding the external id, and
/// each relationship whose other end is no longer live.
pub fn plan_restore(
    state: RestoreState<'_>,
    entry: &AuditEntry,
) -> Result<CascadeWrites, Vec<RestoreBlocker>> {
    let entity = state.entity;
    let mut blockers = Vec::new();
    if let (Some(held_by), Some(external_id)) = (state.external_id_holder, &entity.data.external_id)
    {
        blockers.push(RestoreBlocker::ExternalIdTaken {
            external_id: external_id.to_string(),
            held_by,
        });
    }
    let mut cascaded: Vec<&Relationship> = state.cascaded.iter().collect();
    cascaded.sort_by_key(|r| r.id);
    for r in &cascaded {
        let other = other_end(entity.id, r);
        if !state.live_other_ends.contains(&other) {
            blockers.push(RestoreBlocker::OtherEndDeleted {
                relationship: r.id,
                entity: other,
            });
        }
    }
    if !blockers.is_empty() {
        return Err(blockers);
    }
    let mut restored = entity.clone();
    restored.lifecycle = entity.lifecycle.restored(entry.actor, entry.at);
    let relationships: Vec<Relationship> = cascaded
        .into_iter()
        .map(|r| {
            let mut r = r.clone();
            r.lifecycle = r.lifecycle.restored(entry.actor, entry.at);
            r
        })
        .collect();
    let changes = std::iter::once(NewChange::entity(AuditAction::Restore, &restored))
        .chain(
            relationships
                .iter()
                .map(|r| NewChange::relationship(AuditAction::Restore, r)),
        )
        .collect();
    Ok(CascadeWrites {
        audit: cascade_audit(entry, AuditAction::Restore, entity.id, &relationships),
        entity: restored,
        relationships,
        changes,
    })
}

/// The entity's entry, then one per relationship of its cascade.
fn cascade_audit(
    entry: &AuditEntry,
    action: AuditAction,
    entity: EntityId,
    relationships: &[Relationship],
) -> Vec<AuditEntry> {
    std::iter::once(entry.clone())
        .chain(relationships.iter().map(|r| AuditEntry {
            action,
            target: AuditTarget::Relationship(r.id),
            changes: json!({ "cascade_of": entity.to_string() }),
            ..entry.clone()
        }))
        .collect()
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use kg_domain::{Attribution, EntityData, EntityName, ExternalId, RelationshipData, TypeName};
    use kg_domain::{Endpoints, UserId};

    use super::*;

    fn entity(name: &str, external_id: Option<&str>) -> Result<Entity, Box<dyn std::error::Error>> {
        let data = EntityData {
            kind: TypeName::parse("Person")?,
            name: EntityName::parse(name)?,
            external_id: external_id.map(ExternalId::parse).transpose()?,
            attribution: Attribution::default(),
        };
        Ok(Entity::create(data, UserId::generate(), Utc::now()))
    }

    fn link(a: &Entity, b: &Entity) -> Result<Relationship, Box<dyn std::error::Error>> {
        let data = RelationshipData {
            ends: Endpoints::new(a.id, b.id)?,
            kind: TypeName::parse("KNOWS")?,
            attribution: Attribution::default(),
        };
        Ok(Relationship::create(data, UserId::generate(), Utc::now()))
    }

    fn entry(action: AuditAction, id: EntityId) -> AuditEntry {
        AuditEntry {
            actor: UserId::generate(),
            action,
            target: AuditTarget::Entity(id),
            request_id: Some("r".into()),
            at: Utc::now(),
            changes: json!({}),
        }
    }

    #[test]
    fn a_delete_takes_every_touching_relationship_and_audits_each()
    -> Result<(), Box<dyn std::error::Error>> {
        let (a, b, c) = (entity("A", None)?, entity("B", None)?, entity("C", None)?);
        let touching = [link(&c, &a)?, link(&a, &b)?];
        let e = entry(AuditAction::Delete, a.id);
        let w = plan_delete(&a, &touching, &e);
        assert!(!w.entity.lifecycle.is_live());
        assert_eq!(w.entity.lifecycle.version.get(), 2);
        let mut ids: Vec<_> = touching.iter().map(|r| r.id).collect();
        ids.sort();
        assert_eq!(
            w.relationships.iter().map(|r| r.id).collect::<Vec<_>>(),
            ids
        );
        assert!(
            w.relationships
                .iter()
                .all(|r| r.lifecycle.deleted_by == Some(e.actor))
        );
        assert_eq!(w.audit.len(), 3);
        assert_eq!(w.audit[0], e);
        assert!(
            w.audit[1..]
                .iter()
                .all(|x| x.changes["cascade_of"] == a.id.to_string())
        );
        assert!(w.changes.iter().all(|c| c.data.is_none()));
        Ok(())
    }

    #[test]
    fn a_restore_names_every_blocker_or_brings_everything_back()
    -> Result<(), Box<dyn std::error::Error>> {
        let (a, b, c) = (
            entity("A", Some("x:a"))?,
            entity("B", None)?,
            entity("C", None)?,
        );
        let e = entry(AuditAction::Delete, a.id);
        let deleted = plan_delete(&a, &[link(&a, &b)?, link(&c, &a)?], &e);
        let holder = EntityId::generate();
        let only_b: HashSet<EntityId> = [b.id].into();
        let restore = entry(AuditAction::Restore, a.id);
        let blocked = plan_restore(
            RestoreState {
                entity: &deleted.entity,
                cascaded: &deleted.relationships,
                external_id_holder: Some(holder),
                live_other_ends: &only_b,
            },
            &restore,
        );
        let Err(blockers) = blocked else {
            return Err("a blocked restore went through".into());
        };
        assert_eq!(blockers.len(), 2, "{blockers:?}");
        assert!(
            matches!(blockers[0], RestoreBlocker::ExternalIdTaken { held_by, .. } if held_by == holder)
        );
        assert!(
            matches!(blockers[1], RestoreBlocker::OtherEndDeleted { entity, .. } if entity == c.id)
        );

        let both: HashSet<EntityId> = other_ends(a.id, &deleted.relationships)
            .into_iter()
            .collect();
        let w = plan_restore(
            RestoreState {
                entity: &deleted.entity,
                cascaded: &deleted.relationships,
                external_id_holder: None,
                live_other_ends: &both,
            },
            &restore,
        )
        .map_err(|b| format!("{b:?}"))?;
        assert!(w.entity.lifecycle.is_live() && w.entity.lifecycle.version.get() == 3);
        assert!(
            w.relationships
                .iter()
                .all(|r| r.lifecycle.is_live() && r.lifecycle.version.get() == 3)
        );
        assert_eq!(w.audit.len(), 3);
        assert_eq!(w.changes.len(), 3);
        Ok(())
    }
}
