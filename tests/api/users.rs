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
    Ok(())
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
    Ok(())
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
    Ok(())
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
    Ok(())
}

async fn create_user(
    app: &crate::helpers::TestApp,
    admin: &str,
    email: &str,
    role: &str,
) -> anyhow::Result<Value> {
    let res = app
        .post(
            "/v1/users",
            admin,
            &json!({ "email": email, "password": "correct horse battery", "role": role }),
        )
        .await?;
    anyhow::ensure!(
        res.status() == StatusCode::CREATED,
        "create user: {}",
        res.status()
    );
    Ok(res.json().await?)
}

fn patch_user<'a>(
    app: &'a crate::helpers::TestApp,
    token: &'a str,
    id: &'a str,
    if_match: &'a str,
    body: &'a Value,
) -> reqwest::RequestBuilder {
    app.request(reqwest::Method::PATCH, &format!("/v1/users/{id}"), token)
        .header("if-match", if_match)
        .json(body)
}

#[tokio::test]
async fn an_admin_demotes_and_deactivates_a_user_whose_sessions_end_at_once() -> anyhow::Result<()>
{
    let app = spawn_app().await?;
    let admin = app.token("admin").await?;
    let user = create_user(&app, &admin, "ed@example.org", "editor").await?;
    let id = user["id"].as_str().unwrap_or_default();
    let session = app
        .session("ed@example.org", "correct horse battery")
        .await?;
    let ed = session["access_token"].as_str().unwrap_or_default();
    assert_eq!(
        app.post("/v1/entities", ed, &json!({ "type": "T", "name": "n" }))
            .await?
            .status(),
        StatusCode::CREATED
    );

    let res = app.get(&format!("/v1/users/{id}"), &admin).await?;
    assert_eq!(
        res.headers().get("etag").and_then(|v| v.to_str().ok()),
        Some("\"1\"")
    );
    problem(
        patch_user(&app, &admin, id, "\"9\"", &json!({ "role": "viewer" }))
            .send()
            .await?,
        StatusCode::PRECONDITION_FAILED,
        "precondition_failed",
    )
    .await?;
    let res = patch_user(&app, &admin, id, "\"1\"", &json!({ "role": "viewer" }))
        .send()
        .await?;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.headers().get("etag").and_then(|v| v.to_str().ok()),
        Some("\"2\"")
    );
    let body: Value = res.json().await?;
    assert_eq!(
        (body["role"].as_str(), body["version"].as_i64()),
        (Some("viewer"), Some(2))
    );
    problem(
        app.get("/v1/entities", ed).await?,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    )
    .await?;
    problem(
        app.refresh(&session["refresh_token"]).await?,
        StatusCode::UNAUTHORIZED,
        "invalid_refresh_token",
    )
    .await?;

    assert_eq!(
        app.delete(&format!("/v1/users/{id}"), &admin)
            .await?
            .status(),
        StatusCode::NO_CONTENT
    );
    problem(
        app.login("ed@example.org", "correct horse battery").await?,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await?;
    let shown: Value = app
        .get(&format!("/v1/users/{id}"), &admin)
        .await?
        .json()
        .await?;
    assert_eq!(shown["is_active"], false);
    Ok(())
}

#[tokio::test]
async fn admins_cannot_demote_or_deactivate_themselves() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let admin = app.token("admin").await?;
    let me: Value = app.get("/v1/auth/me", &admin).await?.json().await?;
    let id = me["id"].as_str().unwrap_or_default();
    problem(
        patch_user(&app, &admin, id, "\"1\"", &json!({ "role": "editor" }))
            .send()
            .await?,
        StatusCode::CONFLICT,
        "cannot_modify_self",
    )
    .await?;
    problem(
        patch_user(&app, &admin, id, "\"1\"", &json!({ "is_active": false }))
            .send()
            .await?,
        StatusCode::CONFLICT,
        "cannot_modify_self",
    )
    .await?;
    problem(
        app.delete(&format!("/v1/users/{id}"), &admin).await?,
        StatusCode::CONFLICT,
        "cannot_modify_self",
    )
    .await?;
    let body = problem(
        patch_user(
            &app,
            &admin,
            id,
            "\"1\"",
            &json!({ "password_hash": "x", "email": "y@example.org" }),
        )
        .send()
        .await?,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await?;
    let mut f = fields(&body);
    f.sort();
    assert_eq!(f, ["email", "password_hash"]);
    Ok(())
}

#[tokio::test]
async fn two_admins_demoting_each_other_at_once_leave_exactly_one_admin() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let a = app.token("admin").await?;
    let b = app.token("admin").await?;
    let a_id = app.get("/v1/auth/me", &a).await?.json::<Value>().await?["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let b_id = app.get("/v1/auth/me", &b).await?.json::<Value>().await?["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let demote = json!({ "role": "viewer" });
    let (ra, rb) = tokio::join!(
        patch_user(&app, &a, &b_id, "\"1\"", &demote).send(),
        patch_user(&app, &b, &a_id, "\"1\"", &demote).send()
    );
    let statuses = [ra?.status(), rb?.status()];
    assert_eq!(
        statuses.iter().filter(|s| **s == StatusCode::OK).count(),
        1,
        "{statuses:?}"
    );
    let admins = app
        .count("users WHERE role = 'admin' AND is_active = true")
        .await?;
    assert_eq!(admins, 1);
    Ok(())
}

#[tokio::test]
async fn only_admins_read_or_change_a_user() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let admin = app.token("admin").await?;
    let user = create_user(&app, &admin, "v@example.org", "viewer").await?;
    let id = user["id"].as_str().unwrap_or_default();
    for role in ["editor", "viewer"] {
        let token = app.token(role).await?;
        problem(
            app.get(&format!("/v1/users/{id}"), &token).await?,
            StatusCode::FORBIDDEN,
            "forbidden",
        )
        .await?;
        problem(
            patch_user(&app, &token, id, "\"1\"", &json!({ "role": "admin" }))
                .send()
                .await?,
            StatusCode::FORBIDDEN,
            "forbidden",
        )
        .await?;
        problem(
            app.delete(&format!("/v1/users/{id}"), &token).await?,
            StatusCode::FORBIDDEN,
            "forbidden",
        )
        .await?;
    }
    let shown: Value = app
        .get(&format!("/v1/users/{id}"), &admin)
        .await?
        .json()
        .await?;
    assert_eq!(
        (shown["role"].as_str(), shown["is_active"].as_bool()),
        (Some("viewer"), Some(true))
    );
    problem(
        app.get(&format!("/v1/users/{}", uuid::Uuid::now_v7()), &admin)
            .await?,
        StatusCode::NOT_FOUND,
        "user_not_found",
    )
    .await?;
    Ok(())
}
