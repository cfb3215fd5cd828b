//! Logging in and bearer authentication.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{PASSWORD, logs, problem, spawn_app};

#[tokio::test]
async fn a_wrong_password_is_refused_for_every_email_alike() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let email = app.user("admin").await?;
    let mut bodies = Vec::new();
    for (email, password) in [
        (email.as_str(), "not-the-right-password"),
        ("nobody@example.org", "not-the-right-password"),
        ("admin@example.org", "anything-at-all-really"),
        ("not an email", PASSWORD),
        (email.as_str(), ""),
    ] {
        let res = app.login(email, password).await?;
        assert_eq!(
            res.headers()
                .get("www-authenticate")
                .and_then(|v| v.to_str().ok()),
            Some("Bearer realm=\"kg\"")
        );
        assert_eq!(
            res.headers()
                .get("cache-control")
                .and_then(|v| v.to_str().ok()),
            Some("no-store")
        );
        let mut body = problem(res, StatusCode::UNAUTHORIZED, "invalid_credentials").await?;
        body.as_object_mut().map(|m| m.remove("request_id"));
        bodies.push(body);
    }
    assert!(
        bodies.windows(2).all(|w| w[0] == w[1]),
        "responses differ: {bodies:?}"
    );
    Ok(())
}

#[tokio::test]
async fn the_right_password_yields_a_short_lived_bearer_token() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let email = app.user("editor").await?;
    let res = app.login(&email.to_uppercase(), PASSWORD).await?;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await?;
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    let token = body["access_token"].as_str().unwrap_or_default();
    let me: Value = app.get("/v1/auth/me", token).await?.json().await?;
    assert_eq!(me["email"], email.as_str());
    assert_eq!(me["role"], "editor");
    assert!(me.get("password_hash").is_none() && me.get("password").is_none());
    Ok(())
}

#[tokio::test]
async fn requests_without_a_valid_token_are_401() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let token = app.token("viewer").await?;
    let res = app.client.get(app.url("/v1/entities")).send().await?;
    problem(res, StatusCode::UNAUTHORIZED, "unauthenticated").await?;
    let mut tampered = token.clone();
    tampered.pop();
    tampered.push(if token.ends_with('A') { 'B' } else { 'A' });
    for bad in [
        tampered.as_str(),
        "garbage",
        "",
        "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",
    ] {
        let res = app.get("/v1/entities", bad).await?;
        problem(res, StatusCode::UNAUTHORIZED, "unauthenticated").await?;
    }
    let res = app
        .client
        .get(app.url("/v1/entities"))
        .header("authorization", format!("Basic {token}"))
        .send()
        .await?;
    problem(res, StatusCode::UNAUTHORIZED, "unauthenticated").await?;
    Ok(())
}

// Deactivated in the database itself, as another process would (the
// command line, an operator's SQL): refused at once on SQLite, and within
// the principal cache's bound on PostgreSQL, where the instance may have
// cached the principal (ADR 34).
#[tokio::test]
async fn a_user_deactivated_elsewhere_is_refused_within_the_staleness_bound() -> anyhow::Result<()>
{
    let app = spawn_app().await?;
    app.principals_vouched().await?;
    let token = app.token("editor").await?;
    for _ in 0..2 {
        assert_eq!(
            app.get("/v1/entities", &token).await?.status(),
            StatusCode::OK
        );
    }
    app.execute("UPDATE users SET is_active = false WHERE role = 'editor'")
        .await?;
    app.refused_within_bound("/v1/entities", &token).await?;
    Ok(())
}

#[tokio::test]
async fn no_log_line_carries_a_password_a_hash_or_a_token() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let email = app.user("editor").await?;
    app.login(&email, "a-wrong-but-secret-guess").await?;
    let token = app.token("editor").await?;
    app.get("/v1/entities", &token).await?;
    let session = app.session(&email, PASSWORD).await?;
    let refresh = session["refresh_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(refresh.starts_with("kgr_"));
    app.refresh(&session["refresh_token"]).await?;
    app.client
        .get(app.url("/v1/entities"))
        .header("authorization", format!("Bearer {token}x"))
        .send()
        .await?;
    assert!(
        !logs().lines_with("request").is_empty(),
        "requests are logged"
    );
    for secret in [
        PASSWORD,
        "a-wrong-but-secret-guess",
        token.as_str(),
        refresh.as_str(),
        "$argon2id$",
    ] {
        assert!(
            logs().lines_with(secret).is_empty(),
            "{secret} appears in the logs"
        );
    }
    Ok(())
}

#[tokio::test]
async fn repeated_failures_throttle_known_and_unknown_emails_identically() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let known = app.user("editor").await?;
    let unknown = "nobody-at-all@example.org";
    let mut throttled = Vec::new();
    for email in [known.as_str(), unknown] {
        for _ in 0..5 {
            problem(
                app.login(email, "a-wrong-guess-of-it").await?,
                StatusCode::UNAUTHORIZED,
                "invalid_credentials",
            )
            .await?;
        }
        for password in ["a-wrong-guess-of-it", PASSWORD] {
            let res = app.login(email, password).await?;
            let retry_after = res
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            assert_eq!(retry_after.as_deref(), Some("30"), "{email}");
            let mut body = problem(res, StatusCode::TOO_MANY_REQUESTS, "login_throttled").await?;
            body.as_object_mut().map(|m| m.remove("request_id"));
            throttled.push(body);
        }
    }
    assert!(throttled.windows(2).all(|w| w[0] == w[1]), "{throttled:?}");
    // Another email is not affected, and the lock-out is not permanent.
    assert_eq!(
        app.login(&app.user("viewer").await?, PASSWORD)
            .await?
            .status(),
        StatusCode::OK
    );
    app.execute("UPDATE login_throttle SET locked_until = '2000-01-01T00:00:00+00:00'")
        .await?;
    assert_eq!(app.login(&known, PASSWORD).await?.status(), StatusCode::OK);
    Ok(())
}

#[tokio::test]
async fn a_parallel_burst_of_guesses_gets_no_more_than_five_tries() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let email = app.user("editor").await?;
    // Wrong guesses only: a right one in the burst would, if it were
    // checked before the lock, sign in and clear the count, as it should.
    let guesses = (0..19).map(|_| app.login(&email, "a-wrong-guess-of-it"));
    let results = futures_util::future::join_all(guesses).await;
    let mut statuses = Vec::new();
    for res in results {
        statuses.push(res?.status());
    }
    let tried = statuses
        .iter()
        .filter(|s| **s != StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert!(tried <= 5, "{tried} guesses were checked: {statuses:?}");
    assert!(statuses.iter().all(|s| s.as_u16() < 500), "{statuses:?}");
    // The burst locked the email: even the right password waits it out.
    assert_eq!(
        app.login(&email, PASSWORD).await?.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    Ok(())
}
