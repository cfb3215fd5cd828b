//! `/v1/users`: admins manage accounts.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{fields, problem, spawn_app};

#[tokio::test]
async fn an_admin_creates_a_user_with_exactly_the_role_it_names() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let admin = app.token("admin").await?;
    // The seed made any admin@… address an admin; the role here is explicit.
    let res = app
        .post("/v1/users", &admin, &json!({ "email": "Admin@Corp.Example", "password": "correct horse battery", "role": "viewer" }))
        .await?;
    assert_eq!(res.status(), StatusCode::CREATED);
    let user: Value = res.json().await?;
    assert_eq!(user["email"], "admin@corp.example");
    assert_eq!(user["role"], "viewer");
    let login: Value = app
        .login("admin@corp.example", "correct horse battery")
        .await?
        .json()
        .await?;
    let viewer = login["access_token"].as_str().unwrap_or_default();
    let res = app
        .post(
            "/v1/entities",
            viewer,
            &json!({ "type": "Person", "name": "X" }),
        )
        .await?;
    problem(res, StatusCode::FORBIDDEN, "forbidden").await?;
    app.cleanup().await
}

#[tokio::test]
async fn user_lists_never_contain_a_secret() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let admin = app.token("admin").await?;
    app.user("editor").await?;
    let text = app.get("/v1/users", &admin).await?.text().await?;
    let body: Value = serde_json::from_str(&text)?;
    assert_eq!(body["items"].as_array().map(Vec::len), Some(2));
    assert!(
        !text.contains("argon2") && !text.contains("password"),
        "{text}"
    );
    app.cleanup().await
}

#[tokio::test]
async fn only_admins_manage_users() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    for role in ["editor", "viewer"] {
        let token = app.token(role).await?;
        problem(
            app.get("/v1/users", &token).await?,
            StatusCode::FORBIDDEN,
            "forbidden",
        )
        .await?;
        let res = app.post("/v1/users", &token, &json!({ "email": "x@example.org", "password": "correct horse battery", "role": "admin" })).await?;
        problem(res, StatusCode::FORBIDDEN, "forbidden").await?;
    }
    assert_eq!(app.count("users").await?, 2);
    app.cleanup().await
}

#[tokio::test]
async fn the_password_policy_and_unique_email_are_enforced() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let admin = app.token("admin").await?;
    for (password, email) in [
        ("short", "a@example.org"),
        ("password1234", "b@example.org"),
        ("c.person.name@example.org", "c.person.name@example.org"),
    ] {
        let res = app
            .post(
                "/v1/users",
                &admin,
                &json!({ "email": email, "password": password, "role": "viewer" }),
            )
            .await?;
        let body = problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await?;
        assert_eq!(fields(&body), ["password"], "{password}");
    }
    let body = json!({ "email": "dup@example.org", "password": "correct horse battery", "role": "superuser" });
    let res = app.post("/v1/users", &admin, &body).await?;
    assert_eq!(
        fields(&problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await?),
        ["role"]
    );
    let body = json!({ "email": "dup@example.org", "password": "correct horse battery", "role": "viewer" });
    assert_eq!(
        app.post("/v1/users", &admin, &body).await?.status(),
        StatusCode::CREATED
    );
    let again = json!({ "email": "DUP@example.org", "password": "correct horse battery", "role": "viewer" });
    problem(
        app.post("/v1/users", &admin, &again).await?,
        StatusCode::CONFLICT,
        "email_taken",
    )
    .await?;
    let extra = json!({ "email": "e@example.org", "password": "correct horse battery", "role": "viewer", "is_active": true });
    assert_eq!(
        fields(
            &problem(
                app.post("/v1/users", &admin, &extra).await?,
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed"
            )
            .await?
        ),
        ["is_active"]
    );
    app.cleanup().await
}
