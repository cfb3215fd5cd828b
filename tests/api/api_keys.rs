//! `/v1/api-keys` and authenticating with a key.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{logs, problem, spawn_app};

#[tokio::test]
async fn a_key_is_shown_once_stored_hashed_and_acts_with_its_role() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let admin = app.token("admin").await?;
    let res = app
        .post(
            "/v1/api-keys",
            &admin,
            &json!({ "name": "nightly extractor", "role": "editor" }),
        )
        .await?;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(
        res.headers()
            .get("cache-control")
            .and_then(|v| v.to_str().ok()),
        Some("no-store")
    );
    let created: Value = res.json().await?;
    let secret = created["secret"].as_str().unwrap_or_default().to_owned();
    assert!(secret.starts_with("kg_") && secret.len() >= 46, "{secret}");

    let listed = app.get("/v1/api-keys", &admin).await?.text().await?;
    assert!(
        listed.contains("nightly extractor")
            && !listed.contains(&secret)
            && !listed.contains("digest")
    );

    // Bearer and X-API-Key both work; the key writes as an editor.
    let e = app
        .create_entity(&secret, json!({ "type": "Person", "name": "via bearer" }))
        .await?;
    let res = app
        .client
        .get(app.url(&format!(
            "/v1/entities/{}",
            e["id"].as_str().unwrap_or_default()
        )))
        .header("x-api-key", &secret)
        .send()
        .await?;
    assert_eq!(res.status(), StatusCode::OK);
    let admin_id = app
        .get("/v1/auth/me", &admin)
        .await?
        .json::<Value>()
        .await?["id"]
        .clone();
    assert_eq!(
        e["created_by"], admin_id,
        "a key acts for the admin who made it"
    );
    let last_used: Value = app.get("/v1/api-keys", &admin).await?.json().await?;
    assert!(last_used["items"][0]["last_used_at"].is_string());

    // Revoked keys fail on their next use.
    let id = created["id"].as_str().unwrap_or_default();
    assert_eq!(
        app.delete(&format!("/v1/api-keys/{id}"), &admin)
            .await?
            .status(),
        StatusCode::NO_CONTENT
    );
    problem(
        app.get("/v1/entities", &secret).await?,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    )
    .await?;
    problem(
        app.delete(&format!("/v1/api-keys/{id}"), &admin).await?,
        StatusCode::NOT_FOUND,
        "api_key_not_found",
    )
    .await?;
    assert!(
        logs().lines_with(&secret).is_empty(),
        "the secret never reaches a log line"
    );
    Ok(())
}

#[tokio::test]
async fn keys_are_refused_in_query_strings_on_personal_routes_and_once_expired()
-> anyhow::Result<()> {
    let app = spawn_app().await?;
    // So that the key's last answers below can come from the cache.
    app.principals_vouched().await?;
    let secret = app.api_key("viewer").await?;
    let res = app
        .client
        .get(app.url(&format!("/v1/entities?api_key={secret}")))
        .send()
        .await?;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(
        logs().lines_with(&secret).is_empty(),
        "a key in a URL is never logged"
    );
    problem(
        app.get("/v1/auth/me", &secret).await?,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await?;
    let res = app
        .request(Method::POST, "/v1/auth/logout", &secret)
        .send()
        .await?;
    problem(res, StatusCode::FORBIDDEN, "forbidden").await?;
    assert_eq!(
        app.get("/v1/entities", &secret).await?.status(),
        StatusCode::OK,
        "logout did not end the key"
    );
    // Expired in the database itself, as another process would: within
    // the principal cache's bound (ADR 34).
    app.execute("UPDATE api_keys SET expires_at = '2000-01-01T00:00:00+00:00'")
        .await?;
    app.refused_within_bound("/v1/entities", &secret).await?;
    Ok(())
}

#[tokio::test]
async fn keys_are_never_admins_and_bad_requests_name_the_field() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let admin = app.token("admin").await?;
    for (body, field) in [
        (json!({ "name": "k", "role": "admin" }), "role"),
        (json!({ "name": "", "role": "viewer" }), "name"),
        (
            json!({ "name": "k", "role": "viewer", "expires_at": "2001-01-01T00:00:00Z" }),
            "expires_at",
        ),
        (
            json!({ "name": "k", "role": "viewer", "expires_at": "tomorrow" }),
            "expires_at",
        ),
        (
            json!({ "name": "k", "role": "viewer", "secret": "mine" }),
            "secret",
        ),
    ] {
        let res = app.post("/v1/api-keys", &admin, &body).await?;
        let problem = problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await?;
        assert_eq!(crate::helpers::fields(&problem), [field], "{body}");
    }
    assert_eq!(app.count("api_keys").await?, 0);
    Ok(())
}
