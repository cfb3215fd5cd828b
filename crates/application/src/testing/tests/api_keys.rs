//! API keys.

use kg_domain::*;

use super::*;
use crate::*;

#[tokio::test]
async fn an_api_key_acts_with_its_own_role_until_revoked_or_its_owner_is_deactivated() {
    let h = harness();
    let (admin, owner) = admin_context(&h).await;
    let viewer_key = NewApiKey {
        name: "reader".into(),
        role: "viewer".into(),
        expires_at: None,
    };
    let created = h.keys.create(&admin, viewer_key).await.expect("created");
    let actor = h
        .auth
        .authenticate(&created.secret)
        .await
        .expect("key works");
    assert_eq!(
        (actor.role, actor.user_id, actor.api_key),
        (Role::Viewer, owner.id, Some(created.key.id))
    );
    let key_ctx = RequestContext {
        actor,
        request_id: None,
    };
    assert!(
        matches!(h.auth.me(&key_ctx).await, Err(AppError::Forbidden)),
        "keys are not people"
    );
    assert!(matches!(
        h.keys.create(&key_ctx, NewApiKey::default()).await,
        Err(AppError::Forbidden)
    ));

    h.keys
        .revoke(&admin, created.key.id)
        .await
        .expect("revoked");
    assert!(matches!(
        h.auth.authenticate(&created.secret).await,
        Err(AppError::Unauthenticated)
    ));
    assert!(matches!(
        h.keys.revoke(&admin, created.key.id).await,
        Err(AppError::NotFound(ResourceKind::ApiKey))
    ));

    let editor_key = h
        .keys
        .create(
            &admin,
            NewApiKey {
                name: "writer".into(),
                role: "editor".into(),
                expires_at: None,
            },
        )
        .await
        .expect("created");
    h.store
        .with(|s| s.users.get_mut(&owner.id).map(|u| u.is_active = false));
    assert!(matches!(
        h.auth.authenticate(&editor_key.secret).await,
        Err(AppError::Unauthenticated)
    ));
}

#[tokio::test]
async fn api_keys_are_never_admins_and_expire() {
    let h = harness();
    let (admin, _) = admin_context(&h).await;
    let bad = h
        .keys
        .create(
            &admin,
            NewApiKey {
                name: " ".into(),
                role: "admin".into(),
                expires_at: Some(h.clock.now()),
            },
        )
        .await;
    let Err(AppError::Validation(v)) = bad else {
        panic!("expected validation")
    };
    let fields: Vec<_> = v.as_slice().iter().map(|f| f.field.as_str()).collect();
    assert_eq!(fields, ["name", "role", "expires_at"]);
    let soon = h.clock.now() + chrono::Duration::hours(1);
    let key = h
        .keys
        .create(
            &admin,
            NewApiKey {
                name: "short".into(),
                role: "viewer".into(),
                expires_at: Some(soon),
            },
        )
        .await
        .expect("created");
    assert!(h.auth.authenticate(&key.secret).await.is_ok());
    h.clock.advance(chrono::Duration::hours(1));
    assert!(matches!(
        h.auth.authenticate(&key.secret).await,
        Err(AppError::Unauthenticated)
    ));
}

#[tokio::test]
async fn a_key_never_has_more_rights_than_its_owner_has_now() {
    let h = harness();
    let (admin, owner) = admin_context(&h).await;
    let key = h
        .keys
        .create(
            &admin,
            NewApiKey {
                name: "w".into(),
                role: "editor".into(),
                expires_at: None,
            },
        )
        .await
        .expect("created");
    assert_eq!(
        h.auth.authenticate(&key.secret).await.expect("works").role,
        Role::Editor
    );
    h.store
        .with(|s| s.users.get_mut(&owner.id).map(|u| u.role = Role::Viewer));
    assert_eq!(
        h.auth.authenticate(&key.secret).await.expect("works").role,
        Role::Viewer
    );
}
