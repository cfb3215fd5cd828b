//! `POST /v1/batch`.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, fields, problem, spawn_app};

fn thousand() -> Value {
    let entities: Vec<Value> = (0..1000)
        .map(|i| {
            json!({
                "type": "Paper",
                "name": format!("Paper {i}"),
                "external_id": format!("doi:10.1/{i}"),
                "confidence": 0.5,
                "metadata": { "n": i },
            })
        })
        .collect();
    let relationships: Vec<Value> = (0..1000)
        .map(|i| {
            json!({
                "source_external_id": format!("doi:10.1/{i}"),
                "target_external_id": format!("doi:10.1/{}", (i + 7) % 1000),
                "type": "CITES",
                "confidence": 0.8,
            })
        })
        .collect();
    json!({ "entities": entities, "relationships": relationships })
}

async fn graph_rows(app: &TestApp) -> anyhow::Result<[i64; 4]> {
    Ok([
        app.count("entities").await?,
        app.count("relationships").await?,
        app.count("changes").await?,
        app.count("audit_log WHERE target_type IN ('entity', 'relationship')")
            .await?,
    ])
}

#[tokio::test]
async fn a_thousand_entities_and_relationships_land_atomically_or_not_at_all() -> anyhow::Result<()>
{
    let app = spawn_app().await?;
    let token = app.token("editor").await?;

    // One invalid item anywhere: nothing is written, and it is named.
    let mut bad = thousand();
    bad["entities"][517]["confidence"] = json!(1.5);
    bad["relationships"][802]["target_external_id"] = json!("doi:nowhere");
    let p = problem(
        app.post("/v1/batch", &token, &bad).await?,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await?;
    assert_eq!(fields(&p), ["entities[517].confidence"]);
    assert_eq!(graph_rows(&app).await?, [0, 0, 0, 0]);
    let mut unresolved = thousand();
    unresolved["relationships"][802]["target_external_id"] = json!("doi:nowhere");
    let p = problem(
        app.post("/v1/batch", &token, &unresolved).await?,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await?;
    assert_eq!(fields(&p), ["relationships[802].target_external_id"]);
    assert_eq!(graph_rows(&app).await?, [0, 0, 0, 0]);

    // A dry run reports without writing.
    let res = app
        .post("/v1/batch?dry_run=true", &token, &thousand())
        .await?;
    assert_eq!(res.status(), StatusCode::OK);
    let report: Value = res.json().await?;
    assert_eq!(report["dry_run"], true);
    assert_eq!(
        report["summary"],
        json!({ "created": 2000, "updated": 0, "corroborated": 0, "unchanged": 0 })
    );
    assert_eq!(graph_rows(&app).await?, [0, 0, 0, 0]);

    let res = app.post("/v1/batch", &token, &thousand()).await?;
    assert_eq!(res.status(), StatusCode::OK);
    let report: Value = res.json().await?;
    assert_eq!(
        report["summary"],
        json!({ "created": 2000, "updated": 0, "corroborated": 0, "unchanged": 0 })
    );
    assert_eq!(report["entities"][3]["index"], 3);
    assert_eq!(report["entities"][3]["outcome"], "created");
    assert_eq!(graph_rows(&app).await?, [1000, 1000, 2000, 2000]);
    let third = report["entities"][3]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let stored: Value = app
        .get(&format!("/v1/entities/{third}"), &token)
        .await?
        .json()
        .await?;
    assert_eq!(stored["external_id"], "doi:10.1/3");
    assert_eq!(stored["metadata"], json!({ "n": 3 }));

    // The same batch again changes nothing; one edited item is an update.
    let mut again = thousand();
    again["entities"][3]["name"] = json!("Paper three, revised");
    again["relationships"][9]["confidence"] = json!(0.9);
    let report: Value = app.post("/v1/batch", &token, &again).await?.json().await?;
    assert_eq!(
        report["summary"],
        json!({ "created": 0, "updated": 2, "corroborated": 0, "unchanged": 1998 })
    );
    assert_eq!(report["entities"][3]["outcome"], "updated");
    assert_eq!(
        report["entities"][3]["id"],
        third.as_str(),
        "upserted by external_id"
    );
    assert_eq!(report["entities"][3]["version"], 2);
    assert_eq!(report["relationships"][9]["outcome"], "updated");
    assert_eq!(graph_rows(&app).await?, [1000, 1000, 2002, 2002]);
    let stored: Value = app
        .get(&format!("/v1/entities/{third}"), &token)
        .await?
        .json()
        .await?;
    assert_eq!(stored["name"], "Paper three, revised");
    assert_eq!(stored["version"], 2);
    Ok(())
}

#[tokio::test]
async fn batch_items_may_name_stored_entities_and_every_rule_is_checked() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let token = app.token("editor").await?;
    let viewer = app.token("viewer").await?;
    let ada = app
        .create_entity(
            &token,
            json!({ "type": "Person", "name": "Ada", "external_id": "p:ada" }),
        )
        .await?;
    let body = json!({
        "entities": [{ "type": "Machine", "name": "Engine", "external_id": "m:engine" }],
        "relationships": [
            { "source_id": ada["id"], "target_external_id": "m:engine", "type": "PROGRAMMED" },
            { "source_external_id": "p:ada", "target_external_id": "m:engine", "type": "DESCRIBED" },
        ],
    });
    problem(
        app.post("/v1/batch", &viewer, &body).await?,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await?;
    let report: Value = app.post("/v1/batch", &token, &body).await?.json().await?;
    assert_eq!(
        report["summary"],
        json!({ "created": 3, "updated": 0, "corroborated": 0, "unchanged": 0 })
    );
    let out: Value = app
        .get(
            &format!(
                "/v1/relationships?source_id={}",
                ada["id"].as_str().unwrap_or_default()
            ),
            &token,
        )
        .await?
        .json()
        .await?;
    assert_eq!(out["items"].as_array().map(Vec::len), Some(2));

    let p = problem(
        app.post(
            "/v1/batch",
            &token,
            &json!({
                "entities": [
                    { "type": "X", "name": "a", "external_id": "dup" },
                    { "type": "X", "name": "b", "external_id": "dup" },
                    "not an object",
                    { "type": "X", "name": "c", "colour": "red" },
                ],
                "relationships": [
                    { "source_external_id": "dup", "source_id": ada["id"], "target_id": "nope", "type": "T" },
                    { "source_id": ada["id"], "target_id": ada["id"], "type": "SELF" },
                ],
            }),
        )
        .await?,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await?;
    let mut named = fields(&p);
    named.sort();
    assert_eq!(
        named,
        [
            "entities[1].external_id",
            "entities[2].item",
            "entities[3].colour",
            "relationships[0].source_id",
            "relationships[0].target_id",
        ]
    );
    // A self-loop is only visible once the ends are resolved.
    let p = problem(
        app.post(
            "/v1/batch",
            &token,
            &json!({ "relationships": [
                { "source_id": ada["id"], "target_external_id": "p:ada", "type": "SELF" },
            ] }),
        )
        .await?,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await?;
    assert_eq!(fields(&p), ["relationships[0].target_id"]);
    let too_many: Vec<Value> = (0..1001)
        .map(|i| json!({ "type": "X", "name": format!("{i}") }))
        .collect();
    let p = problem(
        app.post("/v1/batch", &token, &json!({ "entities": too_many }))
            .await?,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await?;
    assert_eq!(fields(&p), ["entities"]);
    problem(
        app.post("/v1/batch", &token, &json!({})).await?,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await?;
    Ok(())
}
