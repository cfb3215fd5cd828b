//! The fakes as a crate that links `kg-application` uses them: with the
//! `testing` feature, from outside, through the public API alone.

use std::sync::Arc;

use kg_application::testing::{FixedClock, InMemoryStore};
use kg_application::{
    Actor, AppError, AuditAction, EntityDraft, EntityService, RelationshipDraft,
    RelationshipService, RequestContext,
};
use kg_domain::{Role, UserId};

fn editor() -> RequestContext {
    RequestContext {
        actor: Actor {
            user_id: UserId::generate(),
            role: Role::Editor,
            session: None,
            api_key: None,
        },
        request_id: Some("outside-1".into()),
    }
}

fn draft(name: &str) -> EntityDraft {
    EntityDraft {
        kind: Some("Person".into()),
        name: Some(name.into()),
        ..EntityDraft::default()
    }
}

#[tokio::test]
async fn another_crate_can_run_the_use_cases_over_the_fakes()
-> Result<(), Box<dyn std::error::Error>> {
    let store = InMemoryStore::default();
    let clock = Arc::new(FixedClock::default());
    let entities = EntityService::new(Arc::new(store.clone()), clock.clone());
    let relationships = RelationshipService::new(Arc::new(store.clone()), clock.clone());
    let ctx = editor();

    let ada = entities.create(&ctx, draft("Ada").parse()?).await?;
    let engine = entities.create(&ctx, draft("Engine").parse()?).await?;
    let link = RelationshipDraft {
        source_id: Some(ada.id.to_string()),
        target_id: Some(engine.id.to_string()),
        kind: Some("PROGRAMMED".into()),
        ..RelationshipDraft::default()
    };
    relationships.create(&ctx, link.parse()?).await?;
    entities.delete(&ctx, ada.id).await?;

    // The store is open to inspection: the delete cascaded, and every
    // effect was audited with the request's id.
    let (live, actions) = store.with(|s| {
        let live = s
            .relationships
            .values()
            .filter(|r| r.lifecycle.is_live())
            .count();
        let actions: Vec<AuditAction> = s.audit.iter().map(|a| a.action).collect();
        (live, actions)
    });
    assert_eq!(live, 0);
    assert_eq!(
        actions,
        [
            AuditAction::Create,
            AuditAction::Create,
            AuditAction::Create,
            AuditAction::Delete,
            AuditAction::Delete,
        ]
    );
    assert!(store.with(|s| {
        s.audit
            .iter()
            .all(|a| a.request_id.as_deref() == Some("outside-1"))
    }));
    assert!(matches!(
        entities.get(&ctx, ada.id).await,
        Err(AppError::NotFound(_))
    ));

    // An admin's restore brings back the cascade, as the database does:
    // live again, deleted_by cleared, and each resource audited.
    let mut admin = editor();
    admin.actor.role = Role::Admin;
    let (_, restored) = entities.restore(&admin, ada.id).await?;
    assert_eq!(restored.len(), 1);
    assert!(
        restored
            .iter()
            .all(|r| r.lifecycle.is_live() && r.lifecycle.deleted_by.is_none())
    );
    let last: Vec<AuditAction> =
        store.with(|s| s.audit.iter().rev().take(2).map(|a| a.action).collect());
    assert_eq!(last, [AuditAction::Restore, AuditAction::Restore]);
    Ok(())
}

#[tokio::test]
async fn the_fake_unit_of_work_stores_everything_at_its_commit_or_nothing()
-> Result<(), Box<dyn std::error::Error>> {
    use kg_application::UnitOfWork as _;
    use kg_domain::Entity;

    let store = InMemoryStore::default();
    let ctx = editor();
    let entry = |e: &Entity| kg_application::AuditEntry {
        actor: ctx.actor.user_id,
        action: AuditAction::Create,
        target: kg_application::AuditTarget::Entity(e.id),
        request_id: None,
        at: chrono::Utc::now(),
        changes: serde_json::json!({}),
    };
    let a = Entity::create(draft("A").parse()?, ctx.actor.user_id, chrono::Utc::now());

    let work = store.begin().await?;
    work.entities().create(&a, &entry(&a), None).await?;
    assert!(
        work.entities().get(a.id).await?.is_some(),
        "it reads its own writes"
    );
    assert!(
        store.with(|s| s.entities.is_empty()),
        "nothing shows before the commit"
    );
    drop(work);
    assert!(store.with(|s| s.entities.is_empty() && s.audit.is_empty()));

    let work = store.begin().await?;
    work.entities().create(&a, &entry(&a), None).await?;
    work.commit().await?;
    assert_eq!(store.with(|s| (s.entities.len(), s.audit.len())), (1, 1));
    Ok(())
}
