//! Entities and relationships: writes, audit, patches, restore, pages.

use kg_domain::*;
use serde_json::json;

use super::*;
use crate::*;

#[tokio::test]
async fn viewers_cannot_write_and_nothing_is_stored() {
    let h = harness();
    let err = h.entities.create(&ctx(Role::Viewer), person("Ada")).await;
    assert!(matches!(err, Err(AppError::Forbidden)));
    assert!(
        h.store
            .with(|s| s.entities.is_empty() && s.audit.is_empty())
    );
}

#[tokio::test]
async fn creating_an_entity_writes_one_audit_entry_naming_actor_and_request() {
    let h = harness();
    let c = ctx(Role::Editor);
    let e = h.entities.create(&c, person("Ada")).await.expect("created");
    let audit = h.store.with(|s| s.audit.clone());
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].actor, c.actor.user_id);
    assert_eq!(audit[0].target, AuditTarget::Entity(e.id));
    assert_eq!(audit[0].request_id.as_deref(), Some("req-1"));
    assert_eq!(audit[0].changes["name"]["after"], json!("Ada"));
}

#[tokio::test]
async fn deleting_an_entity_soft_deletes_its_relationships() {
    let h = harness();
    let c = ctx(Role::Editor);
    let a = h.entities.create(&c, person("A")).await.expect("a");
    let b = h.entities.create(&c, person("B")).await.expect("b");
    let r = h
        .relationships
        .create(&c, knows(a.id, b.id))
        .await
        .expect("r");
    let cascaded = h.entities.delete(&c, a.id).await.expect("deleted");
    assert_eq!(cascaded, vec![r.id]);
    assert!(matches!(
        h.relationships.get(&c, r.id).await,
        Err(AppError::NotFound(ResourceKind::Relationship))
    ));
    assert!(matches!(
        h.entities.get(&c, a.id).await,
        Err(AppError::NotFound(ResourceKind::Entity))
    ));
}

#[tokio::test]
async fn a_relationship_to_a_deleted_entity_is_a_conflict() {
    let h = harness();
    let c = ctx(Role::Editor);
    let a = h.entities.create(&c, person("A")).await.expect("a");
    let b = h.entities.create(&c, person("B")).await.expect("b");
    h.entities.delete(&c, b.id).await.expect("deleted");
    let err = h.relationships.create(&c, knows(a.id, b.id)).await;
    assert!(matches!(
        err,
        Err(AppError::Conflict(Conflict::TargetNotLive))
    ));
}

#[tokio::test]
async fn an_update_applies_a_merge_patch_and_bumps_the_version() {
    let h = harness();
    let c = ctx(Role::Editor);
    let e = h.entities.create(&c, person("Ada")).await.expect("created");
    let patch = EntityPatch {
        name: EntityName::parse("Ada King").ok(),
        attribution: AttributionPatch {
            confidence: Edit::Set(Confidence::new(0.75).expect("valid")),
            ..AttributionPatch::default()
        },
        ..EntityPatch::default()
    };
    let u = h
        .entities
        .update(&c, e.id, Some(Version::FIRST), patch)
        .await
        .expect("updated");
    assert_eq!(u.data.name.as_str(), "Ada King");
    assert_eq!(u.lifecycle.version.get(), 2);
    let audit = h.store.with(|s| s.audit.last().cloned()).expect("audited");
    assert_eq!(
        audit.changes["name"],
        json!({"before": "Ada", "after": "Ada King"})
    );
    assert!(
        audit.changes.get("type").is_none(),
        "unchanged fields are not listed"
    );
}

#[tokio::test]
async fn a_stale_version_is_refused_but_validation_comes_first() {
    let h = harness();
    let c = ctx(Role::Editor);
    let e = h.entities.create(&c, person("Ada")).await.expect("created");
    let stale = Some(Version::FIRST.next());
    let good = || EntityPatch {
        name: EntityName::parse("X").ok(),
        ..EntityPatch::default()
    };
    // Only the merged metadata can break a rule once a patch is typed.
    let bad = || EntityPatch {
        attribution: AttributionPatch {
            metadata: Some(MetadataPatch::new(json!([2.0]))),
            ..AttributionPatch::default()
        },
        ..EntityPatch::default()
    };
    assert!(matches!(
        h.entities.update(&c, e.id, stale, good()).await,
        Err(AppError::VersionMismatch)
    ));
    assert!(matches!(
        h.entities.update(&c, e.id, stale, bad()).await,
        Err(AppError::Validation(_))
    ));
    assert!(matches!(
        h.entities
            .update(&ctx(Role::Viewer), e.id, stale, bad())
            .await,
        Err(AppError::Forbidden)
    ));
    assert!(matches!(
        h.entities
            .update(&ctx(Role::Viewer), e.id, None, good())
            .await,
        Err(AppError::Forbidden)
    ));
    assert!(matches!(
        h.entities.update(&c, e.id, None, good()).await,
        Err(AppError::PreconditionRequired)
    ));
}

#[tokio::test]
async fn a_relationship_patch_changes_attributes_but_never_its_ends() {
    let h = harness();
    let c = ctx(Role::Editor);
    let a = h.entities.create(&c, person("A")).await.expect("a");
    let b = h.entities.create(&c, person("B")).await.expect("b");
    let r = h
        .relationships
        .create(&c, knows(a.id, b.id))
        .await
        .expect("r");
    let moved = RelationshipPatch {
        target_id: Some(a.id),
        attribution: AttributionPatch {
            confidence: Edit::Set(Confidence::new(0.5).expect("valid")),
            ..AttributionPatch::default()
        },
        ..RelationshipPatch::default()
    };
    let Err(AppError::Validation(v)) = h
        .relationships
        .update(&c, r.id, Some(Version::FIRST), moved)
        .await
    else {
        panic!("changing an end must be refused");
    };
    assert!(v.as_slice().iter().any(|x| x.field == "target_id"), "{v:?}");
    let same_ends = || RelationshipPatch {
        source_id: Some(a.id),
        attribution: AttributionPatch {
            confidence: Edit::Set(Confidence::new(0.5).expect("valid")),
            metadata: Some(MetadataPatch::new(json!({"page": 3}))),
            ..AttributionPatch::default()
        },
        ..RelationshipPatch::default()
    };
    let u = h
        .relationships
        .update(&c, r.id, Some(Version::FIRST), same_ends())
        .await
        .expect("updated");
    assert_eq!(
        u.data.attribution.confidence.map(Confidence::get),
        Some(0.5)
    );
    assert_eq!(u.data.attribution.metadata.to_value(), json!({"page": 3}));
    assert_eq!(u.lifecycle.version.get(), 2);
    assert!(matches!(
        h.relationships
            .update(&c, r.id, Some(Version::FIRST), same_ends())
            .await,
        Err(AppError::VersionMismatch)
    ));
    let audit = h.store.with(|s| s.audit.last().cloned()).expect("audited");
    assert_eq!(
        audit.changes["confidence"],
        json!({"before": null, "after": 0.5})
    );
}

#[tokio::test]
async fn only_admins_restore_and_a_restore_brings_back_exactly_the_cascade() {
    let h = harness();
    let c = ctx(Role::Editor);
    let admin = ctx(Role::Admin);
    let a = h.entities.create(&c, person("A")).await.expect("a");
    let b = h.entities.create(&c, person("B")).await.expect("b");
    let x = h.entities.create(&c, person("X")).await.expect("x");
    let ab = h
        .relationships
        .create(&c, knows(a.id, b.id))
        .await
        .expect("ab");
    let ax = h
        .relationships
        .create(&c, knows(a.id, x.id))
        .await
        .expect("ax");
    // Deleted on its own before the entity: not part of the cascade.
    h.relationships.delete(&c, ax.id).await.expect("ax deleted");
    h.entities.delete(&c, a.id).await.expect("a deleted");
    assert!(matches!(
        h.entities.restore(&c, a.id).await,
        Err(AppError::Forbidden)
    ));
    let (restored, rels) = h.entities.restore(&admin, a.id).await.expect("restored");
    assert_eq!(restored.lifecycle.version.get(), 3);
    assert_eq!(rels.iter().map(|r| r.id).collect::<Vec<_>>(), vec![ab.id]);
    assert!(h.relationships.get(&c, ax.id).await.is_err());
    assert!(matches!(
        h.entities.restore(&admin, a.id).await,
        Err(AppError::Conflict(Conflict::NotDeleted))
    ));
}

#[tokio::test]
async fn a_restore_whose_relationship_lost_its_other_end_names_it() {
    let h = harness();
    let c = ctx(Role::Editor);
    let admin = ctx(Role::Admin);
    let a = h.entities.create(&c, person("A")).await.expect("a");
    let b = h.entities.create(&c, person("B")).await.expect("b");
    let ab = h
        .relationships
        .create(&c, knows(a.id, b.id))
        .await
        .expect("ab");
    h.entities.delete(&c, a.id).await.expect("a deleted");
    h.entities.delete(&c, b.id).await.expect("b deleted");
    let Err(AppError::RestoreBlocked(blockers)) = h.entities.restore(&admin, a.id).await else {
        panic!("the restore must be blocked");
    };
    assert_eq!(
        blockers,
        vec![RestoreBlocker::OtherEndDeleted {
            relationship: ab.id,
            entity: b.id
        }]
    );
    assert!(
        h.entities.get(&c, a.id).await.is_err(),
        "nothing was restored"
    );
}

#[tokio::test]
async fn lists_page_through_everything_exactly_once() {
    let h = harness();
    let c = ctx(Role::Editor);
    for i in 0..7 {
        h.entities
            .create(&c, person(&format!("P{i}")))
            .await
            .expect("created");
    }
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let p = h
            .entities
            .list(
                &c,
                &EntityFilter::default(),
                PageRequest {
                    limit: Limit::new(3).expect("valid"),
                    after,
                },
            )
            .await
            .expect("page");
        seen.extend(p.items.iter().map(|e| e.id));
        match p.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(seen.len(), 7);
    assert_eq!(sorted, seen);
}

#[tokio::test]
async fn a_refused_member_is_reported_with_what_the_stored_entity_shows_after_it_is_found() {
    let h = harness();
    let c = ctx(Role::Editor);
    let e = h.entities.create(&c, person("Ada")).await.expect("created");
    let mut refused = Violations::new();
    refused.push("name", "must not be empty");
    let request = || PatchRequest {
        patch: EntityPatch {
            attribution: AttributionPatch {
                metadata: Some(MetadataPatch::new(json!([1]))),
                ..AttributionPatch::default()
            },
            ..EntityPatch::default()
        },
        refused: refused.clone(),
    };
    let Err(AppError::Validation(v)) = h
        .entities
        .update(&c, e.id, Some(Version::FIRST), request())
        .await
    else {
        panic!("a refused member must fail the update");
    };
    let fields: Vec<_> = v.as_slice().iter().map(|f| f.field.as_str()).collect();
    assert_eq!(fields, ["name", "metadata"]);
    assert!(matches!(
        h.entities
            .update(&c, EntityId::generate(), Some(Version::FIRST), request())
            .await,
        Err(AppError::NotFound(ResourceKind::Entity))
    ));
}
