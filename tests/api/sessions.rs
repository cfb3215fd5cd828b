//! Sessions: refresh-token rotation, reuse detection, logout, password change.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, fields, logs, problem, spawn_app, spawn_app_with};

fn access(tokens: &Value) -> &str {
    tokens["access_token"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn logout_kills_the_access_token_on_the_next_request() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let email = app.user("editor").await?;
    let tokens = app.session(&email, PASSWORD).await?;
    assert!(
        tokens["refresh_token"]
            .as_str()
            .is_some_and(|t| t.starts_with("kgr_") && t.len() >= 64)
    );
    assert_eq!(
        app.get("/v1/auth/me", access(&tokens)).await?.status(),
        StatusCode::OK
    );
    let res = app
        .request(Method::POST, "/v1/auth/logout", access(&tokens))
        .send()
        .await?;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        res.headers()
            .get("cache-control")
            .and_then(|v| v.to_str().ok()),
        Some("no-store")
    );
    problem(
        app.get("/v1/auth/me", access(&tokens)).await?,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    )
    .await?;
    problem(
        app.refresh(&tokens["refresh_token"]).await?,
        StatusCode::UNAUTHORIZED,
        "invalid_refresh_token",
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn a_reused_refresh_token_kills_its_family_newest_included() -> anyhow::Result<()> {
    // No grace: the first re-presentation of a spent token is reuse.
    let app = spawn_app_with(&[("KG_REFRESH_REUSE_GRACE_SECS", "0")]).await?;
    let email = app.user("viewer").await?;
    let first = app.session(&email, PASSWORD).await?;
    let res = app.refresh(&first["refresh_token"]).await?;
    assert_eq!(res.status(), StatusCode::OK);
    let second: Value = res.json().await?;
    assert_ne!(second["refresh_token"], first["refresh_token"]);
    assert_eq!(
        app.get("/v1/entities", access(&second)).await?.status(),
        StatusCode::OK
    );

    problem(
        app.refresh(&first["refresh_token"]).await?,
        StatusCode::UNAUTHORIZED,
        "invalid_refresh_token",
    )
    .await?;
    problem(
        app.refresh(&second["refresh_token"]).await?,
        StatusCode::UNAUTHORIZED,
        "invalid_refresh_token",
    )
    .await?;
    problem(
        app.get("/v1/entities", access(&second)).await?,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    )
    .await?;
    assert!(
        !logs().lines_with("refresh token reuse detected").is_empty(),
        "reuse is logged as a security event"
    );
    // Another login of the same user is unaffected.
    let other = app.session(&email, PASSWORD).await?;
    assert_eq!(
        app.get("/v1/entities", access(&other)).await?.status(),
        StatusCode::OK
    );
    Ok(())
}

#[tokio::test]
async fn a_concurrent_double_refresh_leaves_the_user_signed_in_with_working_tokens()
-> anyhow::Result<()> {
    let app = spawn_app().await?;
    let email = app.user("viewer").await?;
    let tokens = app.session(&email, PASSWORD).await?;
    let (a, b) = tokio::join!(
        app.refresh(&tokens["refresh_token"]),
        app.refresh(&tokens["refresh_token"])
    );
    let (a, b) = (a?, b?);
    assert_eq!((a.status(), b.status()), (StatusCode::OK, StatusCode::OK));
    let (a, b): (Value, Value) = (a.json().await?, b.json().await?);
    assert_ne!(a["refresh_token"], b["refresh_token"]);
    for answer in [&a, &b] {
        assert_eq!(
            app.get("/v1/entities", access(answer)).await?.status(),
            StatusCode::OK
        );
    }
    // The answer used first carries the session on; the other answer was
    // spent with it, so presenting it is reuse and the session ends.
    let res = app.refresh(&a["refresh_token"]).await?;
    assert_eq!(res.status(), StatusCode::OK);
    let next: Value = res.json().await?;
    assert_eq!(
        app.get("/v1/entities", access(&next)).await?.status(),
        StatusCode::OK
    );
    problem(
        app.refresh(&b["refresh_token"]).await?,
        StatusCode::UNAUTHORIZED,
        "invalid_refresh_token",
    )
    .await?;
    problem(
        app.get("/v1/entities", access(&next)).await?,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn a_refresh_token_the_session_never_issued_is_refused_and_ends_nothing() -> anyhow::Result<()>
{
    let app = spawn_app_with(&[("KG_REFRESH_REUSE_GRACE_SECS", "0")]).await?;
    let email = app.user("viewer").await?;
    let tokens = app.session(&email, PASSWORD).await?;
    // The session id can be read from a token: its last characters cannot.
    let real = tokens["refresh_token"].as_str().unwrap_or_default();
    let forged = format!("{}{}", &real[..real.len() - 8], "AAAAAAAA");
    assert_ne!(forged, real);
    problem(
        app.refresh(&json!(forged)).await?,
        StatusCode::UNAUTHORIZED,
        "invalid_refresh_token",
    )
    .await?;
    assert_eq!(
        app.get("/v1/entities", access(&tokens)).await?.status(),
        StatusCode::OK
    );
    assert_eq!(
        app.refresh(&tokens["refresh_token"]).await?.status(),
        StatusCode::OK,
        "the real token still works"
    );
    Ok(())
}

#[tokio::test]
async fn a_password_change_needs_the_old_password_and_ends_other_sessions() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let email = app.user("editor").await?;
    let mine = app.session(&email, PASSWORD).await?;
    let other = app.session(&email, PASSWORD).await?;
    let change = |current: &str, new: &str| {
        app.request(Method::POST, "/v1/auth/password", access(&mine))
            .json(&json!({ "current_password": current, "new_password": new }))
            .send()
    };
    let body = problem(
        change("not-the-password", "a-brand-new-passphrase").await?,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await?;
    assert_eq!(fields(&body), ["current_password"]);
    let body = problem(
        change(PASSWORD, "short").await?,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await?;
    assert_eq!(fields(&body), ["new_password"]);
    assert_eq!(
        app.get("/v1/auth/me", access(&other)).await?.status(),
        StatusCode::OK,
        "nothing changed yet"
    );

    assert_eq!(
        change(PASSWORD, "a-brand-new-passphrase").await?.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.get("/v1/auth/me", access(&mine)).await?.status(),
        StatusCode::OK
    );
    problem(
        app.get("/v1/auth/me", access(&other)).await?,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    )
    .await?;
    problem(
        app.refresh(&other["refresh_token"]).await?,
        StatusCode::UNAUTHORIZED,
        "invalid_refresh_token",
    )
    .await?;
    problem(
        app.login(&email, PASSWORD).await?,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await?;
    app.session(&email, "a-brand-new-passphrase").await?;
    assert!(logs().lines_with("a-brand-new-passphrase").is_empty());
    Ok(())
}

#[tokio::test]
async fn access_and_refresh_tokens_cannot_stand_in_for_each_other() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let email = app.user("viewer").await?;
    let tokens = app.session(&email, PASSWORD).await?;
    let refresh = tokens["refresh_token"].as_str().unwrap_or_default();
    problem(
        app.get("/v1/entities", refresh).await?,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    )
    .await?;
    problem(
        app.refresh(&tokens["access_token"]).await?,
        StatusCode::UNAUTHORIZED,
        "invalid_refresh_token",
    )
    .await?;
    problem(
        app.refresh(&json!("kgr_AAAA")).await?,
        StatusCode::UNAUTHORIZED,
        "invalid_refresh_token",
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn an_idle_session_expires_and_a_deactivated_user_cannot_refresh() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let email = app.user("viewer").await?;
    let idle = app.session(&email, PASSWORD).await?;
    app.execute("UPDATE sessions SET last_used_at = '2000-01-01T00:00:00+00:00'")
        .await?;
    problem(
        app.refresh(&idle["refresh_token"]).await?,
        StatusCode::UNAUTHORIZED,
        "session_expired",
    )
    .await?;

    let fresh = app.session(&email, PASSWORD).await?;
    app.execute("UPDATE users SET is_active = false").await?;
    problem(
        app.refresh(&fresh["refresh_token"]).await?,
        StatusCode::UNAUTHORIZED,
        "invalid_refresh_token",
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn dead_sessions_are_purged_on_schedule_and_counted() -> anyhow::Result<()> {
    let app = spawn_app_with(&[("KG_PURGE_INTERVAL_SECS", "1")]).await?;
    let email = app.user("viewer").await?;
    let kept = app.session(&email, PASSWORD).await?;
    let ended = app.session(&email, PASSWORD).await?;
    let res = app
        .request(Method::POST, "/v1/auth/logout", access(&ended))
        .send()
        .await?;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let before = app.count("sessions").await?;
    let purged = |text: &str| {
        text.lines()
            .find(|l| l.starts_with("kg_purged_rows_total{table=\"sessions\"}"))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or_default()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let text = app
            .client
            .get(app.url("/metrics"))
            .send()
            .await?
            .text()
            .await?;
        if app.count("sessions").await? < before && purged(&text) >= 1 {
            break;
        }
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "the revoked session was not purged: {before} sessions, metrics say {}",
            purged(&text)
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    // The live session is untouched, and the ended one stays ended.
    assert_eq!(
        app.get("/v1/auth/me", access(&kept)).await?.status(),
        StatusCode::OK
    );
    problem(
        app.refresh(&ended["refresh_token"]).await?,
        StatusCode::UNAUTHORIZED,
        "invalid_refresh_token",
    )
    .await?;
    Ok(())
}
