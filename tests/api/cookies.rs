//! Cookie sessions for browsers, with CSRF protection.

use std::collections::HashMap;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, problem, spawn_app, spawn_app_with};

/// The cookies a response sets, by name, with their attributes.
fn set_cookies(res: &reqwest::Response) -> HashMap<String, String> {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|c| Some((c.split('=').next()?.to_owned(), c.to_owned())))
        .collect()
}

fn value(set_cookie: &str) -> String {
    set_cookie
        .split(';')
        .next()
        .and_then(|kv| kv.split_once('='))
        .map(|(_, v)| v.to_owned())
        .unwrap_or_default()
}

async fn cookie_login(app: &TestApp, email: &str) -> anyhow::Result<(String, String, String)> {
    let res = app
        .client
        .post(app.url("/v1/auth/token"))
        .json(&json!({ "email": email, "password": PASSWORD, "cookie": true }))
        .send()
        .await?;
    anyhow::ensure!(
        res.status() == StatusCode::OK,
        "cookie login: {}",
        res.status()
    );
    let cookies = set_cookies(&res);
    for name in ["kg_access", "kg_refresh"] {
        let c = cookies.get(name).map(String::as_str).unwrap_or_default();
        for attribute in ["HttpOnly", "Secure", "SameSite=Strict"] {
            anyhow::ensure!(c.contains(attribute), "{name} lacks {attribute}: {c}");
        }
    }
    let body: Value = res.json().await?;
    anyhow::ensure!(
        body.get("access_token").is_none() && body.get("refresh_token").is_none(),
        "tokens in the body: {body}"
    );
    let csrf = body["csrf_token"].as_str().unwrap_or_default().to_owned();
    Ok((
        value(&cookies["kg_access"]),
        value(&cookies["kg_refresh"]),
        csrf,
    ))
}

#[tokio::test]
async fn a_cookie_session_needs_its_csrf_token_on_every_unsafe_request() -> anyhow::Result<()> {
    let app = spawn_app_with(&[("KG_COOKIE_AUTH", "true")]).await?;
    let email = app.user("editor").await?;
    let (access, _, csrf) = cookie_login(&app, &email).await?;
    let cookie = format!("kg_access={access}");
    let create = |csrf: Option<&str>| {
        let mut req = app
            .client
            .post(app.url("/v1/entities"))
            .header("cookie", &cookie)
            .json(&json!({ "type": "T", "name": "n" }));
        if let Some(token) = csrf {
            req = req.header("x-csrf-token", token);
        }
        req.send()
    };
    assert_eq!(
        app.client
            .get(app.url("/v1/entities"))
            .header("cookie", &cookie)
            .send()
            .await?
            .status(),
        StatusCode::OK
    );
    problem(
        create(None).await?,
        StatusCode::FORBIDDEN,
        "csrf_token_invalid",
    )
    .await?;
    problem(
        create(Some("forged")).await?,
        StatusCode::FORBIDDEN,
        "csrf_token_invalid",
    )
    .await?;
    // Another session's token does not fit this one.
    let (_, _, other_csrf) = cookie_login(&app, &email).await?;
    problem(
        create(Some(&other_csrf)).await?,
        StatusCode::FORBIDDEN,
        "csrf_token_invalid",
    )
    .await?;
    assert_eq!(create(Some(&csrf)).await?.status(), StatusCode::CREATED);
    assert_eq!(app.count("entities").await?, 1);
    Ok(())
}

#[tokio::test]
async fn cookie_sessions_refresh_with_csrf_and_logout_clears_them() -> anyhow::Result<()> {
    let app = spawn_app_with(&[("KG_COOKIE_AUTH", "true")]).await?;
    let email = app.user("viewer").await?;
    let (access, refresh, csrf) = cookie_login(&app, &email).await?;
    let refresh_with = |csrf: Option<&str>| {
        let mut req = app
            .client
            .post(app.url("/v1/auth/refresh"))
            .header("cookie", format!("kg_refresh={refresh}"))
            .json(&json!({}));
        if let Some(token) = csrf {
            req = req.header("x-csrf-token", token);
        }
        req.send()
    };
    problem(
        refresh_with(None).await?,
        StatusCode::FORBIDDEN,
        "csrf_token_invalid",
    )
    .await?;
    let res = refresh_with(Some(&csrf)).await?;
    assert_eq!(res.status(), StatusCode::OK);
    let renewed = set_cookies(&res);
    let new_access = value(&renewed["kg_access"]);
    assert_ne!(new_access, access);

    let res = app
        .client
        .request(Method::POST, app.url("/v1/auth/logout"))
        .header("cookie", format!("kg_access={new_access}"))
        .header("x-csrf-token", &csrf)
        .send()
        .await?;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let cleared = set_cookies(&res);
    assert!(cleared["kg_access"].contains("Max-Age=0"), "{cleared:?}");
    let res = app
        .client
        .get(app.url("/v1/entities"))
        .header("cookie", format!("kg_access={new_access}"))
        .send()
        .await?;
    problem(res, StatusCode::UNAUTHORIZED, "unauthenticated").await?;
    Ok(())
}

#[tokio::test]
async fn cookies_are_ignored_and_refused_unless_enabled() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let email = app.user("viewer").await?;
    let res = app
        .client
        .post(app.url("/v1/auth/token"))
        .json(&json!({ "email": email, "password": PASSWORD, "cookie": true }))
        .send()
        .await?;
    let body = problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await?;
    assert_eq!(crate::helpers::fields(&body), ["cookie"]);
    let token = app.session(&email, PASSWORD).await?["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let res = app
        .client
        .get(app.url("/v1/entities"))
        .header("cookie", format!("kg_access={token}"))
        .send()
        .await?;
    problem(res, StatusCode::UNAUTHORIZED, "unauthenticated").await?;
    Ok(())
}
