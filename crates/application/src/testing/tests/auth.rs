//! Sign-in, sessions, passwords and throttling.

use kg_domain::*;

use super::*;
use crate::*;

#[tokio::test]
async fn every_login_failure_is_the_same_error_after_the_same_work() {
    let h = harness();
    let pw = "a-long-and-unusual-passphrase";
    let new = NewUser {
        email: "ada@example.org".into(),
        role: "editor".into(),
        password: pw.into(),
    };
    h.users.create_by_operator(new).await.expect("created");
    for (email, password) in [
        ("ada@example.org", "wrong-password-here"),
        ("nobody@example.org", pw),
        ("not an email", pw),
    ] {
        let r = h.auth.login(email, password.into()).await;
        assert!(matches!(r, Err(AppError::InvalidCredentials)), "{email}");
    }
    // Each attempt ran exactly one verification, against a dummy when unknown.
    assert_eq!(
        *h.hasher.verifications.lock().expect("lock"),
        vec![true, false, false]
    );
    let token = h
        .auth
        .login("ADA@example.org", pw.into())
        .await
        .expect("logged in");
    let actor = h
        .auth
        .authenticate(&token.access.access_token)
        .await
        .expect("authenticated");
    assert_eq!(actor.role, Role::Editor);
}

#[tokio::test]
async fn a_deactivated_user_is_refused_at_once() {
    let h = harness();
    let pw = "a-long-and-unusual-passphrase";
    let u = h
        .users
        .create_by_operator(NewUser {
            email: "ada@example.org".into(),
            role: "editor".into(),
            password: pw.into(),
        })
        .await
        .expect("created");
    let token = h
        .auth
        .login("ada@example.org", pw.into())
        .await
        .expect("logged in");
    h.store
        .with(|s| s.users.get_mut(&u.id).map(|u| u.is_active = false));
    assert!(matches!(
        h.auth.authenticate(&token.access.access_token).await,
        Err(AppError::Unauthenticated)
    ));
    assert!(matches!(
        h.auth.login("ada@example.org", pw.into()).await,
        Err(AppError::InvalidCredentials)
    ));
}

#[tokio::test]
async fn a_refresh_rotates_and_reusing_a_spent_token_revokes_the_family() {
    let h = harness();
    let first = signed_in(&h).await;
    let second = h.auth.refresh(&first.refresh_token).await.expect("rotated");
    assert_ne!(second.refresh_token, first.refresh_token);
    assert!(
        h.auth
            .authenticate(&second.access.access_token)
            .await
            .is_ok()
    );
    // The spent token is presented again after its grace: the whole
    // session ends.
    h.clock.advance(chrono::Duration::seconds(31));
    assert!(matches!(
        h.auth.refresh(&first.refresh_token).await,
        Err(AppError::InvalidRefreshToken)
    ));
    assert!(matches!(
        h.auth.refresh(&second.refresh_token).await,
        Err(AppError::InvalidRefreshToken)
    ));
    assert!(matches!(
        h.auth.authenticate(&second.access.access_token).await,
        Err(AppError::Unauthenticated)
    ));
}

#[tokio::test]
async fn a_double_refresh_within_the_grace_leaves_one_working_chain() {
    let h = harness();
    let first = signed_in(&h).await;
    let winner = h.auth.refresh(&first.refresh_token).await.expect("rotated");
    h.clock.advance(chrono::Duration::seconds(29));
    let second = h.auth.refresh(&first.refresh_token).await.expect("graced");
    assert_ne!(second.refresh_token, winner.refresh_token);
    for tokens in [&winner, &second] {
        assert!(
            h.auth
                .authenticate(&tokens.access.access_token)
                .await
                .is_ok()
        );
    }
    // The answer used first carries the session on, and spends the other:
    // presented, it is reuse, however soon.
    let next = h.auth.refresh(&second.refresh_token).await.expect("second");
    assert!(h.auth.authenticate(&next.access.access_token).await.is_ok());
    assert!(matches!(
        h.auth.refresh(&winner.refresh_token).await,
        Err(AppError::InvalidRefreshToken)
    ));
    assert!(matches!(
        h.auth.authenticate(&next.access.access_token).await,
        Err(AppError::Unauthenticated)
    ));
}

#[tokio::test]
async fn a_spent_token_is_graced_once_and_a_third_presentation_is_reuse() {
    let h = harness();
    let first = signed_in(&h).await;
    h.auth.refresh(&first.refresh_token).await.expect("rotated");
    let second = h.auth.refresh(&first.refresh_token).await.expect("graced");
    assert!(matches!(
        h.auth.refresh(&first.refresh_token).await,
        Err(AppError::InvalidRefreshToken)
    ));
    assert!(matches!(
        h.auth.authenticate(&second.access.access_token).await,
        Err(AppError::Unauthenticated)
    ));
}

#[tokio::test]
async fn a_refresh_token_the_session_never_issued_changes_nothing() {
    let h = harness();
    let tokens = signed_in(&h).await;
    // The session id is readable from a token; its secret is not.
    let mut forged = tokens.refresh_token.clone();
    forged.truncate(forged.len() - 8);
    forged.push_str("AAAAAAAA");
    assert_ne!(forged, tokens.refresh_token);
    assert!(matches!(
        h.auth.refresh(&forged).await,
        Err(AppError::InvalidRefreshToken)
    ));
    assert!(
        h.auth
            .authenticate(&tokens.access.access_token)
            .await
            .is_ok()
    );
    assert!(h.auth.refresh(&tokens.refresh_token).await.is_ok());
}

#[tokio::test]
async fn logout_ends_the_session_at_once() {
    let h = harness();
    let tokens = signed_in(&h).await;
    let ctx = context_of(&h, &tokens).await;
    h.auth.logout(&ctx).await.expect("logged out");
    assert!(matches!(
        h.auth.authenticate(&tokens.access.access_token).await,
        Err(AppError::Unauthenticated)
    ));
    assert!(matches!(
        h.auth.refresh(&tokens.refresh_token).await,
        Err(AppError::InvalidRefreshToken)
    ));
}

#[tokio::test]
async fn idle_and_absolute_expiry_end_a_session() {
    let h = harness();
    let tokens = signed_in(&h).await;
    h.clock.advance(chrono::Duration::days(6));
    let tokens = h
        .auth
        .refresh(&tokens.refresh_token)
        .await
        .expect("still active");
    h.clock.advance(chrono::Duration::days(7));
    assert!(matches!(
        h.auth.refresh(&tokens.refresh_token).await,
        Err(AppError::SessionExpired)
    ));

    let h = harness();
    let mut tokens = signed_in(&h).await;
    for _ in 0..4 {
        h.clock.advance(chrono::Duration::days(6));
        tokens = h
            .auth
            .refresh(&tokens.refresh_token)
            .await
            .expect("kept alive by use");
    }
    // Day 30 after login: never idle for 7 days, but at the absolute limit.
    h.clock.advance(chrono::Duration::days(6));
    assert!(matches!(
        h.auth.refresh(&tokens.refresh_token).await,
        Err(AppError::SessionExpired)
    ));
}

#[tokio::test]
async fn changing_the_password_checks_the_old_one_and_ends_other_sessions() {
    let h = harness();
    let mine = signed_in(&h).await;
    let other = h
        .auth
        .login("ada@example.org", PW.into())
        .await
        .expect("second login");
    let ctx = context_of(&h, &mine).await;
    let wrong = h
        .auth
        .change_password(
            &ctx,
            "not-it-at-all".into(),
            "a-brand-new-passphrase".into(),
        )
        .await;
    let Err(AppError::Validation(v)) = wrong else {
        panic!("expected a validation error")
    };
    assert_eq!(v.as_slice()[0].field, "current_password");
    let weak = h
        .auth
        .change_password(&ctx, PW.into(), "short".into())
        .await;
    assert!(matches!(weak, Err(AppError::Validation(_))));
    h.auth
        .change_password(&ctx, PW.into(), "a-brand-new-passphrase".into())
        .await
        .expect("changed");
    assert!(
        h.auth.authenticate(&mine.access.access_token).await.is_ok(),
        "this session stays"
    );
    assert!(matches!(
        h.auth.authenticate(&other.access.access_token).await,
        Err(AppError::Unauthenticated)
    ));
    assert!(matches!(
        h.auth.login("ada@example.org", PW.into()).await,
        Err(AppError::InvalidCredentials)
    ));
    assert!(
        h.auth
            .login("ada@example.org", "a-brand-new-passphrase".into())
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn a_refresh_token_is_not_an_access_token_nor_the_reverse() {
    let h = harness();
    let tokens = signed_in(&h).await;
    assert!(matches!(
        h.auth.authenticate(&tokens.refresh_token).await,
        Err(AppError::Unauthenticated)
    ));
    assert!(matches!(
        h.auth.refresh(&tokens.access.access_token).await,
        Err(AppError::InvalidRefreshToken)
    ));
}

#[tokio::test]
async fn repeated_failures_throttle_an_email_alike_whether_or_not_it_exists() {
    let h = harness();
    signed_in(&h).await;
    for email in ["ada@example.org", "nobody@example.org"] {
        for _ in 0..5 {
            assert!(matches!(
                h.auth.login(email, "wrong-password-here".into()).await,
                Err(AppError::InvalidCredentials)
            ));
        }
        for password in ["wrong-password-here", PW] {
            let r = h.auth.login(email, password.into()).await;
            assert!(
                matches!(
                    r,
                    Err(AppError::Throttled {
                        retry_after_secs: 30
                    })
                ),
                "{email}: {r:?}"
            );
        }
    }
    // The lock-out ends: no permanent lock, and a success clears the count.
    h.clock.advance(chrono::Duration::seconds(31));
    assert!(h.auth.login("ada@example.org", PW.into()).await.is_ok());
    assert!(matches!(
        h.auth
            .login("ada@example.org", "wrong-password-here".into())
            .await,
        Err(AppError::InvalidCredentials)
    ));
    // The unknown email, failing again after its lock-out, backs off longer.
    assert!(matches!(
        h.auth.login("nobody@example.org", "wrong".into()).await,
        Err(AppError::InvalidCredentials)
    ));
    assert!(matches!(
        h.auth.login("nobody@example.org", "wrong".into()).await,
        Err(AppError::Throttled {
            retry_after_secs: 60
        })
    ));
}

#[tokio::test]
async fn a_hash_with_old_parameters_is_replaced_at_the_next_login() {
    let h = harness();
    let tokens = signed_in(&h).await;
    let user = context_of(&h, &tokens).await.actor.user_id;
    h.store.with(|s| {
        s.users
            .get_mut(&user)
            .map(|u| u.password_hash = PasswordHash::from_phc(format!("old${PW}")))
    });
    h.auth
        .login("ada@example.org", PW.into())
        .await
        .expect("old hash still verifies");
    let stored = h.store.with(|s| {
        s.users
            .get(&user)
            .map(|u| u.password_hash.as_str().to_owned())
    });
    assert_eq!(stored, Some(format!("fake${PW}")));
    let last = h.store.with(|s| s.audit.last().cloned()).expect("audited");
    assert_eq!(last.target, AuditTarget::User(user));
    assert!(
        h.auth
            .authenticate(&tokens.access.access_token)
            .await
            .is_ok(),
        "sessions stay"
    );
}

#[tokio::test]
async fn guesses_at_the_current_password_are_throttled_like_logins() {
    let h = harness();
    let tokens = signed_in(&h).await;
    let ctx = context_of(&h, &tokens).await;
    for _ in 0..5 {
        let r = h
            .auth
            .change_password(
                &ctx,
                "a-wrong-guess-here".into(),
                "a-brand-new-passphrase".into(),
            )
            .await;
        assert!(matches!(r, Err(AppError::Validation(_))));
    }
    let r = h
        .auth
        .change_password(&ctx, PW.into(), "a-brand-new-passphrase".into())
        .await;
    assert!(matches!(r, Err(AppError::Throttled { .. })), "{r:?}");
}

#[tokio::test]
async fn an_operator_reset_replaces_the_password_ends_sessions_and_lifts_the_lock_out() {
    let h = harness();
    let tokens = signed_in(&h).await;
    for _ in 0..5 {
        let r = h
            .auth
            .login("ada@example.org", "a-wrong-guess-here".into())
            .await;
        assert!(r.is_err());
    }
    assert!(matches!(
        h.auth.login("ada@example.org", PW.into()).await,
        Err(AppError::Throttled { .. })
    ));

    let weak = h
        .auth
        .reset_password_by_operator("ada@example.org", "short".into())
        .await;
    let Err(AppError::Validation(v)) = weak else {
        panic!("expected a validation error")
    };
    assert_eq!(v.as_slice()[0].field, "password");
    assert!(matches!(
        h.auth
            .reset_password_by_operator("nobody@example.org", "a-brand-new-passphrase".into())
            .await,
        Err(AppError::NotFound(ResourceKind::User))
    ));

    let user = h
        .auth
        .reset_password_by_operator("ADA@example.org", "a-brand-new-passphrase".into())
        .await
        .expect("reset");
    assert!(matches!(
        h.auth.authenticate(&tokens.access.access_token).await,
        Err(AppError::Unauthenticated)
    ));
    assert!(matches!(
        h.auth.login("ada@example.org", PW.into()).await,
        Err(AppError::InvalidCredentials)
    ));
    assert!(
        h.auth
            .login("ada@example.org", "a-brand-new-passphrase".into())
            .await
            .is_ok(),
        "the lock-out is lifted"
    );
    let audited = h.store.with(|s| {
        s.audit
            .iter()
            .any(|a| a.target == AuditTarget::User(user.id) && a.changes["password"] == "reset")
    });
    assert!(audited);
}
