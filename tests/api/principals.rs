//! The principal cache across instances (ADR 34): a change to someone's
//! standing made on one instance, or in the database itself, is obeyed by
//! every other instance within the documented bound, and a lost channel
//! falls back to the database, never to what was cached. SQLite has no
//! cache; there every test here holds at once.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, problem, spawn_app};

/// Two instances over one database, both with a vouched cache.
async fn two_instances() -> anyhow::Result<(TestApp, TestApp)> {
    let first = spawn_app().await?;
    let second = first.another_instance().await?;
    first.principals_vouched().await?;
    second.principals_vouched().await?;
    Ok((first, second))
}

/// Makes `second` know `token`'s principal, so that the next answer there
/// could come from its cache.
async fn warm(second: &TestApp, token: &str) -> anyhow::Result<()> {
    for _ in 0..2 {
        let res = second.get("/v1/entities", token).await?;
        anyhow::ensure!(res.status() == StatusCode::OK, "{}", res.status());
    }
    Ok(())
}

/// An editor key made by `admin` on `first`, known to `second` (cached
/// there on PostgreSQL): its secret and id.
async fn key_known_to(
    first: &TestApp,
    second: &TestApp,
    admin: &str,
) -> anyhow::Result<(String, String)> {
    let created: Value = first
        .post(
            "/v1/api-keys",
            admin,
            &json!({ "name": "pipeline", "role": "editor" }),
        )
        .await?
        .json()
        .await?;
    let field = |name: &str| created[name].as_str().unwrap_or_default().to_owned();
    let (secret, id) = (field("secret"), field("id"));
    warm(second, &secret).await?;
    anyhow::ensure!(
        !second.is_postgres() || second.principals_kept() >= 1,
        "the key is not cached"
    );
    Ok((secret, id))
}

#[tokio::test]
async fn a_logout_on_one_instance_is_obeyed_by_another_within_the_bound() -> anyhow::Result<()> {
    let (first, second) = two_instances().await?;
    let token = first.token("editor").await?;
    warm(&second, &token).await?;
    let res = first
        .request(Method::POST, "/v1/auth/logout", &token)
        .send()
        .await?;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    // The instance that ended the session obeys at once.
    problem(
        first.get("/v1/entities", &token).await?,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    )
    .await?;
    second.refused_within_bound("/v1/entities", &token).await?;
    Ok(())
}

#[tokio::test]
async fn a_revoked_key_is_refused_by_every_instance_within_the_bound() -> anyhow::Result<()> {
    let (first, second) = two_instances().await?;
    let admin = first.token("admin").await?;
    let (secret, id) = key_known_to(&first, &second, &admin).await?;
    let secret = secret.as_str();
    let res = first
        .request(Method::DELETE, &format!("/v1/api-keys/{id}"), &admin)
        .send()
        .await?;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    problem(
        first.get("/v1/entities", secret).await?,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    )
    .await?;
    second.refused_within_bound("/v1/entities", secret).await?;
    Ok(())
}

// A demotion ends the user's sessions; a key the user made lives on, with
// no more than the user's new role.
#[tokio::test]
async fn a_demotion_on_one_instance_is_obeyed_by_another_within_the_bound() -> anyhow::Result<()> {
    let (first, second) = two_instances().await?;
    let owner = first.token("admin").await?;
    let (key, _) = key_known_to(&first, &second, &owner).await?;
    let key = key.as_str();
    let me: Value = first.get("/v1/auth/me", &owner).await?.json().await?;
    let id = me["id"].as_str().unwrap_or_default();
    let admin = first.token("admin").await?;
    let res = first
        .request(Method::PATCH, &format!("/v1/users/{id}"), &admin)
        .header("if-match", "\"1\"")
        .header("content-type", "application/merge-patch+json")
        .body(json!({ "role": "viewer" }).to_string())
        .send()
        .await?;
    assert_eq!(res.status(), StatusCode::OK, "{}", res.text().await?);
    let write = json!({ "type": "T", "name": "n" });
    let started = std::time::Instant::now();
    let bound = second.staleness_bound() + Duration::from_millis(500);
    loop {
        let res = second.post("/v1/entities", key, &write).await?;
        if res.status() == StatusCode::FORBIDDEN {
            problem(res, StatusCode::FORBIDDEN, "forbidden").await?;
            break;
        }
        anyhow::ensure!(res.status() == StatusCode::CREATED, "{}", res.status());
        anyhow::ensure!(
            started.elapsed() < bound,
            "still an editor {:?} after the demotion",
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

#[tokio::test]
async fn a_lost_channel_falls_back_to_the_database_never_to_the_cache() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    if !app.is_postgres() {
        return Ok(());
    }
    app.principals_vouched().await?;
    let token = app.token("editor").await?;
    warm(&app, &token).await?;
    // Cut the instance's channel, then change the user while no one
    // listens: the change's notification reaches nobody.
    let cut = app
        .execute(&format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND application_name = '{}'",
            kg_persistence::PRINCIPALS_APPLICATION_NAME
        ))
        .await?;
    anyhow::ensure!(cut >= 1, "no channel connection to cut");
    app.execute("UPDATE users SET is_active = false WHERE role = 'editor'")
        .await?;
    app.refused_within_bound("/v1/entities", &token).await?;
    // The channel comes back by itself, and vouches again.
    app.principals_vouched().await?;
    app.refused_within_bound("/v1/entities", &token).await?;
    Ok(())
}

/// On PostgreSQL, an instance whose cache keeps an editor's session, and
/// the editor's token; `None` on SQLite, which has no cache.
async fn cached_editor() -> anyhow::Result<Option<(TestApp, String)>> {
    let app = spawn_app().await?;
    if !app.is_postgres() {
        return Ok(None);
    }
    app.principals_vouched().await?;
    let token = app.token("editor").await?;
    warm(&app, &token).await?;
    anyhow::ensure!(app.principals_kept() >= 1, "the session is not cached");
    Ok(Some((app, token)))
}

// Changes made while a trigger is disabled notify no one: the channel
// then stops vouching, and the instance reads the database again.
#[tokio::test]
async fn a_disabled_trigger_stops_the_cache_within_the_bound() -> anyhow::Result<()> {
    let Some((app, token)) = cached_editor().await? else {
        return Ok(());
    };
    app.execute("ALTER TABLE users DISABLE TRIGGER users_notify_update")
        .await?;
    app.execute("UPDATE users SET is_active = false WHERE role = 'editor'")
        .await?;
    app.refused_within_bound("/v1/entities", &token).await?;
    Ok(())
}

// A trigger disabled and enabled again inside the transaction that makes
// the change it hides: no beat ever finds the trigger missing, but the
// beats' fingerprint of the triggers changes, and the cache starts over.
#[tokio::test]
async fn a_trigger_disabled_around_a_change_starts_the_cache_over() -> anyhow::Result<()> {
    use sea_orm::{ConnectionTrait as _, TransactionTrait as _};

    let Some((app, token)) = cached_editor().await? else {
        return Ok(());
    };
    let hiding = app.connection().begin().await?;
    for sql in [
        "ALTER TABLE users DISABLE TRIGGER users_notify_update",
        "UPDATE users SET is_active = false WHERE role = 'editor'",
        "ALTER TABLE users ENABLE TRIGGER users_notify_update",
    ] {
        hiding.execute_unprepared(sql).await?;
    }
    hiding.commit().await?;
    app.refused_within_bound("/v1/entities", &token).await?;
    Ok(())
}
