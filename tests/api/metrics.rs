//! `GET /metrics`.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{problem, spawn_app, spawn_app_with};

fn line_value(text: &str, prefix: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test]
async fn metrics_count_requests_by_route_template_problems_batches_and_the_pool()
-> anyhow::Result<()> {
    let app = spawn_app().await?;
    let token = app.token("editor").await?;
    let unknown = uuid::Uuid::now_v7();
    for _ in 0..2 {
        app.get(&format!("/v1/entities/{unknown}"), &token).await?;
    }
    app.login("nobody@example.org", "wrong-password-entirely")
        .await?;
    let res = app
        .post(
            "/v1/batch",
            &token,
            &json!({ "entities": [{ "type": "Doc", "name": "a" }, { "type": "Doc", "name": "b" }] }),
        )
        .await?;
    assert_eq!(res.status(), StatusCode::OK);

    let res = app.client.get(app.url("/metrics")).send().await?;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/plain; version=0.0.4"))
    );
    let text = res.text().await?;
    assert_eq!(
        line_value(
            &text,
            "kg_http_requests_total{route=\"/v1/entities/{id}\",method=\"GET\",status=\"404\"}"
        ),
        Some(2.0),
        "{text}"
    );
    assert!(
        !text.contains(&unknown.to_string()),
        "raw paths never become labels"
    );
    assert_eq!(
        line_value(&text, "kg_problems_total{code=\"invalid_credentials\"}"),
        Some(1.0)
    );
    assert_eq!(
        line_value(&text, "kg_problems_total{code=\"entity_not_found\"}"),
        Some(2.0)
    );
    assert_eq!(
        line_value(&text, "kg_batch_items_total{outcome=\"created\"}"),
        Some(2.0)
    );
    assert_eq!(
        line_value(
            &text,
            "kg_http_request_duration_seconds_count{route=\"/v1/batch\",method=\"POST\"}"
        ),
        Some(1.0)
    );
    assert!(text.contains("le=\"+Inf\""));
    assert_eq!(
        line_value(&text, "kg_http_requests_in_flight"),
        Some(1.0),
        "the scrape itself"
    );
    assert_eq!(
        line_value(&text, "kg_db_pool_connections{state=\"max\"}"),
        Some(5.0)
    );
    assert!(line_value(&text, "kg_db_pool_acquire_seconds").is_some_and(|s| s >= 0.0));
    assert_eq!(
        line_value(&text, "kg_rate_limit_clients"),
        Some(1.0),
        "the sign-in's client, counted by the auth limit"
    );
    Ok(())
}

#[tokio::test]
async fn metrics_are_not_public_on_the_api_port_when_switched_off() -> anyhow::Result<()> {
    // Production's default: no separate listener, and not public on this one.
    let app = spawn_app_with(&[("KG_METRICS_PUBLIC", "false")]).await?;
    problem(
        app.client.get(app.url("/metrics")).send().await?,
        StatusCode::NOT_FOUND,
        "route_not_found",
    )
    .await?;
    assert!(app.metrics_base.is_none(), "no separate listener either");
    Ok(())
}

#[tokio::test]
async fn metrics_move_to_their_own_listener_when_configured() -> anyhow::Result<()> {
    let app = spawn_app_with(&[("KG_METRICS_ADDR", "127.0.0.1:0")]).await?;
    problem(
        app.client.get(app.url("/metrics")).send().await?,
        StatusCode::NOT_FOUND,
        "route_not_found",
    )
    .await?;
    let base = app.metrics_base.clone().unwrap_or_default();
    let res = app.client.get(format!("{base}/metrics")).send().await?;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.text().await?.contains("kg_http_requests_total"));
    let res = app.client.get(format!("{base}/v1/entities")).send().await?;
    assert_eq!(res.status(), StatusCode::NOT_FOUND, "only metrics there");
    Ok(())
}
