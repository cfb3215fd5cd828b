//! Request rate limits.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{TestApp, problem, spawn_app_with};

fn header(res: &reqwest::Response, name: &str) -> Option<String> {
    res.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// A login attempt on a new connection (so requests spread over workers)
/// with a new forged `X-Forwarded-For` each time, which must not help.
async fn attempt(app: &TestApp, i: usize) -> anyhow::Result<reqwest::Response> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()?;
    Ok(client
        .post(app.url("/v1/auth/token"))
        .header("x-forwarded-for", format!("198.51.100.{i}"))
        .json(&json!({ "email": format!("user{i}@example.org"), "password": "not-the-password" }))
        .send()
        .await?)
}

#[tokio::test]
async fn the_auth_limit_is_per_client_across_workers_and_ignores_spoofed_forwarding()
-> anyhow::Result<()> {
    let app =
        spawn_app_with(&[("KG_RATE_LIMIT_AUTH_PER_MINUTE", "3"), ("KG_WORKERS", "2")]).await?;
    for i in 0..3 {
        assert_eq!(attempt(&app, i).await?.status(), StatusCode::UNAUTHORIZED);
    }
    let res = attempt(&app, 3).await?;
    assert_eq!(
        header(&res, "ratelimit-policy").as_deref(),
        Some("\"auth\";q=3;w=60")
    );
    let retry_after: u64 = header(&res, "retry-after").unwrap_or_default().parse()?;
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert!(header(&res, "ratelimit").is_some_and(|v| v.contains("r=0")));
    assert_eq!(
        header(&res, "x-request-id").map(|v| v.is_empty()),
        Some(false)
    );
    problem(res, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await?;
    assert_eq!(
        app.client
            .get(app.url("/health/live"))
            .send()
            .await?
            .status(),
        StatusCode::OK,
        "other routes are not limited by it"
    );
    Ok(())
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_bucket() -> anyhow::Result<()> {
    let app = spawn_app_with(&[
        ("KG_RATE_LIMIT_AUTH_PER_MINUTE", "2"),
        ("KG_TRUSTED_PROXIES", "127.0.0.1, ::1"),
    ])
    .await?;
    let login_from = |client_ip: &'static str| {
        app.client
            .post(app.url("/v1/auth/token"))
            .header("x-forwarded-for", format!("203.0.113.250, {client_ip}"))
            .json(&json!({ "email": "x@example.org", "password": "not-the-password" }))
            .send()
    };
    assert_eq!(
        login_from("198.51.100.1").await?.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login_from("198.51.100.1").await?.status(),
        StatusCode::UNAUTHORIZED
    );
    problem(
        login_from("198.51.100.1").await?,
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
    )
    .await?;
    assert_eq!(
        login_from("198.51.100.2").await?.status(),
        StatusCode::UNAUTHORIZED
    );
    Ok(())
}

#[tokio::test]
async fn each_principal_has_its_own_limit_elsewhere() -> anyhow::Result<()> {
    let app = spawn_app_with(&[("KG_RATE_LIMIT_PER_MINUTE", "3")]).await?;
    let busy = app.token("viewer").await?;
    let other = app.token("viewer").await?;
    for _ in 0..3 {
        assert_eq!(
            app.get("/v1/entities", &busy).await?.status(),
            StatusCode::OK
        );
    }
    let res = app
        .request(Method::GET, "/v1/entities", &busy)
        .send()
        .await?;
    assert_eq!(
        header(&res, "ratelimit-policy").as_deref(),
        Some("\"default\";q=3;w=60")
    );
    problem(res, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await?;
    assert_eq!(
        app.get("/v1/entities", &other).await?.status(),
        StatusCode::OK
    );
    Ok(())
}

#[tokio::test]
async fn an_encoded_path_does_not_escape_the_auth_limit() -> anyhow::Result<()> {
    let app = spawn_app_with(&[("KG_RATE_LIMIT_AUTH_PER_MINUTE", "2")]).await?;
    let login = |path: &'static str| {
        app.client
            .post(app.url(path))
            .json(&json!({ "email": "x@example.org", "password": "not-the-password" }))
            .send()
    };
    assert_eq!(
        login("/v1/auth/token").await?.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login("/v1/%61uth/token").await?.status(),
        StatusCode::UNAUTHORIZED,
        "routed, and counted"
    );
    problem(
        login("/v1/%61uth/token").await?,
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn a_second_forwarded_for_line_is_read_behind_a_trusted_proxy() -> anyhow::Result<()> {
    let app = spawn_app_with(&[
        ("KG_RATE_LIMIT_AUTH_PER_MINUTE", "2"),
        ("KG_TRUSTED_PROXIES", "127.0.0.1, ::1"),
    ])
    .await?;
    // The client forges the first line; the proxy adds the real address as a second line.
    let login = |forged: &'static str| {
        app.client
            .post(app.url("/v1/auth/token"))
            .header("x-forwarded-for", forged)
            .header("x-forwarded-for", "198.51.100.9")
            .json(&json!({ "email": "x@example.org", "password": "not-the-password" }))
            .send()
    };
    assert_eq!(login("1.1.1.1").await?.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(login("2.2.2.2").await?.status(), StatusCode::UNAUTHORIZED);
    problem(
        login("3.3.3.3").await?,
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
    )
    .await?;
    Ok(())
}
