//! The maintenance switch, across instances sharing one database.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, fields, problem, spawn_app};

async fn token_on(app: &TestApp, email: &str) -> anyhow::Result<String> {
    let body: Value = app.login(email, PASSWORD).await?.json().await?;
    Ok(body["access_token"].as_str().unwrap_or_default().to_owned())
}

async fn set_mode(app: &TestApp, token: &str, mode: &str) -> anyhow::Result<reqwest::Response> {
    Ok(app
        .request(reqwest::Method::PUT, "/v1/admin/maintenance", token)
        .json(&json!({ "mode": mode }))
        .send()
        .await?)
}

/// Polls a write on `app` until it is refused with `code`, within the
/// documented bound (2 s) plus a margin for a slow machine.
async fn refused_within_bound(app: &TestApp, token: &str, code: &str) -> anyhow::Result<Duration> {
    let started = Instant::now();
    loop {
        let res = app
            .post(
                "/v1/entities",
                token,
                &json!({ "type": "Doc", "name": "probe" }),
            )
            .await?;
        if res.status() == StatusCode::SERVICE_UNAVAILABLE {
            assert_eq!(
                res.headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok()),
                Some("30")
            );
            let body: Value = res.json().await?;
            if body["code"] == code {
                return Ok(started.elapsed());
            }
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(6),
            "still accepting writes after {:?}",
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn read_only_set_on_one_instance_stops_writes_on_another_and_reads_go_on()
-> anyhow::Result<()> {
    let first = spawn_app().await?;
    let second = first.another_instance().await?;
    let admin = first.token("admin").await?;
    let editor_email = first.user("editor").await?;
    let editor = token_on(&second, &editor_email).await?;
    let viewer = first.token("viewer").await?;

    // Before: the second instance writes.
    let res = second
        .post(
            "/v1/entities",
            &editor,
            &json!({ "type": "Doc", "name": "before" }),
        )
        .await?;
    assert_eq!(res.status(), StatusCode::CREATED);
    // Warm the second instance's cached mode, so the test sees a refresh.
    assert_eq!(
        second.get("/v1/entities", &editor).await?.status(),
        StatusCode::OK
    );

    problem(
        set_mode(&first, &viewer, "read_only").await?,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await?;
    let p = problem(
        set_mode(&first, &admin, "closed").await?,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await?;
    assert_eq!(fields(&p), ["mode"]);
    let res = set_mode(&first, &admin, "read_only").await?;
    assert_eq!(res.status(), StatusCode::OK);
    let state: Value = res.json().await?;
    assert_eq!(state["mode"], "read_only");
    assert_eq!(state["refresh_seconds"], 2);

    refused_within_bound(&second, &editor, "read_only").await?;
    // Reads, health and sign-in keep working; health reports the mode.
    assert_eq!(
        second.get("/v1/entities", &editor).await?.status(),
        StatusCode::OK
    );
    let ready: Value = second
        .client
        .get(second.url("/health/ready"))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(ready["mode"], "read_only");
    assert_eq!(
        second.login(&editor_email, PASSWORD).await?.status(),
        StatusCode::OK
    );

    // Full maintenance: reads refused too, the switch itself still reachable.
    assert_eq!(
        set_mode(&first, &admin, "maintenance").await?.status(),
        StatusCode::OK
    );
    refused_within_bound(&second, &editor, "maintenance").await?;
    let started = Instant::now();
    loop {
        let res = second.get("/v1/entities", &editor).await?;
        if res.status() == StatusCode::SERVICE_UNAVAILABLE {
            problem(res, StatusCode::SERVICE_UNAVAILABLE, "maintenance").await?;
            break;
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(6),
            "reads still served"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The contract and its page stay up, so an admin can use them to turn it off.
    for path in ["/openapi.json", "/docs/index.html"] {
        let res = second.client.get(second.url(path)).send().await?;
        assert_eq!(res.status(), StatusCode::OK, "{path} in maintenance");
    }
    let admin_on_second = token_on(&second, &first.user("admin").await?).await?;
    let status: Value = second
        .get("/v1/admin/maintenance", &admin_on_second)
        .await?
        .json()
        .await?;
    assert_eq!(status["mode"], "maintenance");
    assert_eq!(
        set_mode(&second, &admin_on_second, "off").await?.status(),
        StatusCode::OK
    );
    // The instance that switched obeys at once.
    let res = second
        .post(
            "/v1/entities",
            &editor,
            &json!({ "type": "Doc", "name": "after" }),
        )
        .await?;
    assert_eq!(res.status(), StatusCode::CREATED);

    // Read it where the switch was turned off: the first instance may still
    // hold "maintenance" for up to the refresh bound.
    let audit: Value = second
        .get("/v1/audit?target_type=setting", &admin_on_second)
        .await?
        .json()
        .await?;
    let modes: Vec<&str> = audit["items"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|i| i["changes"]["mode"]["after"].as_str())
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(modes, ["read_only", "maintenance", "off"]);
    Ok(())
}
