//! User administration.

use kg_domain::*;

use super::*;
use crate::*;

#[tokio::test]
async fn only_admins_create_users_and_the_role_is_the_one_asked_for() {
    let h = harness();
    let new = NewUser {
        email: "admin@example.org".into(),
        role: "viewer".into(),
        password: "a-long-and-unusual-passphrase".into(),
    };
    assert!(matches!(
        h.users.create(&ctx(Role::Editor), new.clone()).await,
        Err(AppError::Forbidden)
    ));
    let u = h
        .users
        .create(&ctx(Role::Admin), new)
        .await
        .expect("created");
    assert_eq!(
        u.role,
        Role::Viewer,
        "an admin-looking address gets no role from its name"
    );
    assert!(!u.password_hash.as_str().is_empty());
}

#[tokio::test]
async fn demoting_a_user_ends_their_sessions_and_bumps_the_version() {
    let h = harness();
    let (admin, _) = admin_context(&h).await;
    let tokens = signed_in(&h).await;
    let user = context_of(&h, &tokens).await.actor.user_id;
    let updated = h
        .users
        .update(
            &admin,
            user,
            Some(Version::FIRST),
            UserPatch {
                role: Some(Role::Viewer),
                ..UserPatch::default()
            },
        )
        .await
        .expect("demoted");
    assert_eq!((updated.role, updated.version.get()), (Role::Viewer, 2));
    assert!(matches!(
        h.auth.authenticate(&tokens.access.access_token).await,
        Err(AppError::Unauthenticated)
    ));
    let stale = h
        .users
        .update(
            &admin,
            user,
            Some(Version::FIRST),
            UserPatch {
                role: Some(Role::Editor),
                ..UserPatch::default()
            },
        )
        .await;
    assert!(matches!(stale, Err(AppError::VersionMismatch)));
    let missing = h
        .users
        .update(
            &admin,
            user,
            None,
            UserPatch {
                role: Some(Role::Editor),
                ..UserPatch::default()
            },
        )
        .await;
    assert!(matches!(missing, Err(AppError::PreconditionRequired)));
}

#[tokio::test]
async fn admins_cannot_demote_or_deactivate_themselves_and_one_admin_always_remains() {
    let h = harness();
    let (ctx, admin) = admin_context(&h).await;
    let own = h
        .users
        .update(
            &ctx,
            admin.id,
            Some(Version::FIRST),
            UserPatch {
                role: Some(Role::Viewer),
                ..UserPatch::default()
            },
        )
        .await;
    assert!(matches!(
        own,
        Err(AppError::Conflict(Conflict::CannotModifySelf))
    ));
    assert!(matches!(
        h.users.deactivate(&ctx, admin.id).await,
        Err(AppError::Conflict(Conflict::CannotModifySelf))
    ));
    // Another admin acting on the last active admin.
    let other = h
        .users
        .create_by_operator(NewUser {
            email: "other@example.org".into(),
            role: "admin".into(),
            password: PW.into(),
        })
        .await
        .expect("other admin");
    let as_other = RequestContext {
        actor: Actor {
            user_id: other.id,
            role: Role::Admin,
            session: None,
            api_key: None,
        },
        request_id: None,
    };
    h.users
        .deactivate(&as_other, admin.id)
        .await
        .expect("two admins: one may go");
    let last = h
        .users
        .update(
            &ctx,
            other.id,
            Some(Version::FIRST),
            UserPatch {
                is_active: Some(false),
                ..UserPatch::default()
            },
        )
        .await;
    assert!(
        matches!(last, Err(AppError::Conflict(Conflict::LastActiveAdmin))),
        "{last:?}"
    );
}
