//! `/v1/relationships` and an entity's relationships.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{fields, problem, spawn_app};

#[tokio::test]
async fn relationships_connect_live_entities_and_die_with_them() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let token = app.token("editor").await?;
    let ada = app
        .create_entity(&token, json!({ "type": "Person", "name": "Ada" }))
        .await?;
    let charles = app
        .create_entity(&token, json!({ "type": "Person", "name": "Charles" }))
        .await?;
    let engine = app
        .create_entity(&token, json!({ "type": "Machine", "name": "Engine" }))
        .await?;

    let res = app
        .create_relationship(&token, &ada, &charles, "KNOWS")
        .await?;
    assert_eq!(res.status(), StatusCode::CREATED);
    let knows: Value = res.json().await?;
    assert_eq!(knows["source_id"], ada["id"]);
    let works: Value = app
        .create_relationship(&token, &charles, &engine, "DESIGNED")
        .await?
        .json()
        .await?;
    let programmed: Value = app
        .create_relationship(&token, &ada, &engine, "PROGRAMMED")
        .await?
        .json()
        .await?;

    let id = |v: &Value| v["id"].as_str().unwrap_or_default().to_owned();
    let ids = |v: &Value| -> Vec<String> {
        v["items"]
            .as_array()
            .map(|a| a.iter().map(id).collect())
            .unwrap_or_default()
    };
    let page: Value = app
        .get(&format!("/v1/relationships?source_id={}", id(&ada)), &token)
        .await?
        .json()
        .await?;
    assert_eq!(ids(&page), [id(&knows), id(&programmed)]);
    let page: Value = app
        .get(
            &format!("/v1/relationships?target_id={}&type=DESIGNED", id(&engine)),
            &token,
        )
        .await?
        .json()
        .await?;
    assert_eq!(ids(&page), [id(&works)]);
    let page: Value = app
        .get(
            &format!("/v1/entities/{}/relationships?direction=in", id(&engine)),
            &token,
        )
        .await?
        .json()
        .await?;
    assert_eq!(ids(&page), [id(&works), id(&programmed)]);
    let page: Value = app
        .get(
            &format!("/v1/entities/{}/relationships", id(&charles)),
            &token,
        )
        .await?
        .json()
        .await?;
    assert_eq!(ids(&page), [id(&knows), id(&works)]);

    // Deleting Ada soft-deletes exactly her two relationships.
    assert_eq!(
        app.delete(&format!("/v1/entities/{}", id(&ada)), &token)
            .await?
            .status(),
        StatusCode::NO_CONTENT
    );
    problem(
        app.get(&format!("/v1/relationships/{}", id(&knows)), &token)
            .await?,
        StatusCode::NOT_FOUND,
        "relationship_not_found",
    )
    .await?;
    problem(
        app.get(&format!("/v1/relationships/{}", id(&programmed)), &token)
            .await?,
        StatusCode::NOT_FOUND,
        "relationship_not_found",
    )
    .await?;
    assert_eq!(
        app.get(&format!("/v1/relationships/{}", id(&works)), &token)
            .await?
            .status(),
        StatusCode::OK
    );
    let page: Value = app.get("/v1/relationships", &token).await?.json().await?;
    assert_eq!(ids(&page), [id(&works)]);
    // 3 entities + 3 relationships created, 1 entity + 2 relationships deleted.
    assert_eq!(
        app.count("audit_log WHERE target_type IN ('entity', 'relationship')")
            .await?,
        9
    );
    app.cleanup().await
}

#[tokio::test]
async fn relationship_rules_are_enforced() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let token = app.token("editor").await?;
    let a = app
        .create_entity(&token, json!({ "type": "Person", "name": "A" }))
        .await?;
    let b = app
        .create_entity(&token, json!({ "type": "Person", "name": "B" }))
        .await?;
    assert_eq!(
        app.create_relationship(&token, &a, &b, "KNOWS")
            .await?
            .status(),
        StatusCode::CREATED
    );
    problem(
        app.create_relationship(&token, &a, &b, "KNOWS").await?,
        StatusCode::CONFLICT,
        "duplicate_relationship",
    )
    .await?;
    assert_eq!(
        app.create_relationship(&token, &b, &a, "KNOWS")
            .await?
            .status(),
        StatusCode::CREATED
    );

    let body = problem(
        app.create_relationship(&token, &a, &a, "KNOWS").await?,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await?;
    assert_eq!(fields(&body), ["target_id"]);
    let ghost = json!({ "id": uuid::Uuid::now_v7().to_string() });
    let body = problem(
        app.create_relationship(&token, &ghost, &b, "KNOWS").await?,
        StatusCode::UNPROCESSABLE_ENTITY,
        "relationship_endpoint_not_live",
    )
    .await?;
    assert_eq!(fields(&body), ["source_id"]);
    app.delete(
        &format!("/v1/entities/{}", b["id"].as_str().unwrap_or_default()),
        &token,
    )
    .await?;
    let body = problem(
        app.create_relationship(&token, &a, &b, "LIKES").await?,
        StatusCode::UNPROCESSABLE_ENTITY,
        "relationship_endpoint_not_live",
    )
    .await?;
    assert_eq!(fields(&body), ["target_id"]);
    let bad =
        json!({ "source_id": "nope", "target_id": a["id"], "type": "bad type", "confidence": 2 });
    let body = problem(
        app.post("/v1/relationships", &token, &bad).await?,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await?;
    assert_eq!(fields(&body), ["source_id", "type", "confidence"]);
    assert_eq!(app.count("relationships").await?, 2);
    app.cleanup().await
}
