//! Duplicate candidates: live entities of an entity's type whose names are
//! like its name, scored the same on every database.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, fields, problem, spawn_app};

async fn person(app: &TestApp, token: &str, kind: &str, name: &str) -> anyhow::Result<String> {
    let e = app
        .create_entity(token, json!({ "type": kind, "name": name }))
        .await?;
    Ok(e["id"].as_str().unwrap_or_default().to_owned())
}

async fn duplicates(app: &TestApp, token: &str, path: &str) -> anyhow::Result<Value> {
    let res = app.get(path, token).await?;
    let status = res.status();
    let body: Value = res.json().await?;
    anyhow::ensure!(status == StatusCode::OK, "{status}: {body}");
    Ok(body)
}

/// `(name, score, same_name)` of each candidate, in order.
fn found(page: &Value) -> Vec<(String, f64, bool)> {
    page["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|d| {
            (
                d["entity"]["name"].as_str().unwrap_or_default().to_owned(),
                d["score"].as_f64().unwrap_or(-1.0),
                d["same_name"].as_bool().unwrap_or(false),
            )
        })
        .collect()
}

#[tokio::test]
async fn entities_named_alike_are_candidates_best_first() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let token = app.token("editor").await?;
    let viewer = app.token("viewer").await?;
    let ada = person(&app, &token, "Person", "Ada Lovelace").await?;
    person(&app, &token, "Person", "ADA LOVELACE").await?;
    person(&app, &token, "Person", "Lovelace, Ada").await?;
    person(&app, &token, "Person", "Ada King Lovelace").await?;
    person(&app, &token, "Person", "Charles Babbage").await?;
    person(&app, &token, "Ship", "Ada Lovelace").await?;
    let gone = person(&app, &token, "Person", "Ada Lovelace").await?;
    let res = app.delete(&format!("/v1/entities/{gone}"), &token).await?;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);

    // Viewers read them; the entity itself, other types, deleted entities
    // and names unlike it are not candidates.
    let path = format!("/v1/entities/{ada}/duplicates");
    let page = duplicates(&app, &viewer, &path).await?;
    let got = found(&page);
    let names: Vec<(&str, bool)> = got.iter().map(|(n, _, same)| (n.as_str(), *same)).collect();
    // "Lovelace, Ada" has the same words, so the same trigrams: 1, but
    // not the same name, which goes first.
    assert_eq!(
        names,
        [
            ("ADA LOVELACE", true),
            ("Lovelace, Ada", false),
            ("Ada King Lovelace", false)
        ]
    );
    assert!((got[0].1 - 1.0).abs() < 1e-9 && (got[1].1 - 1.0).abs() < 1e-9);
    // pg_trgm's similarity of the two names: 13 trigrams shared of 18.
    assert!((got[2].1 - 13.0 / 18.0).abs() < 1e-9, "{page}");
    assert_eq!(page["items"][2]["entity"]["type"], "Person");

    let strict = duplicates(&app, &token, &format!("{path}?min_score=0.9&limit=1")).await?;
    assert_eq!(found(&strict).len(), 1);
    assert_eq!(found(&strict)[0].0, "ADA LOVELACE");

    Ok(())
}

#[tokio::test]
async fn a_duplicates_request_is_checked() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let token = app.token("editor").await?;
    let ada = person(&app, &token, "Person", "Ada").await?;
    let path = format!("/v1/entities/{ada}/duplicates");
    let lonely = duplicates(&app, &token, &path).await?;
    assert_eq!(lonely, json!({ "items": [] }));

    let refused = problem(
        app.get(&format!("{path}?min_score=0.1&limit=101"), &token)
            .await?,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await?;
    assert_eq!(fields(&refused), ["min_score", "limit"]);
    let refused = problem(
        app.get(&format!("{path}?min_score=high&limit=x"), &token)
            .await?,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await?;
    assert_eq!(fields(&refused), ["min_score", "limit"]);
    let unknown = problem(
        app.get(&format!("{path}?near=1"), &token).await?,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await?;
    assert_eq!(fields(&unknown), ["near"]);
    let missing = uuid::Uuid::now_v7();
    problem(
        app.get(&format!("/v1/entities/{missing}/duplicates"), &token)
            .await?,
        StatusCode::NOT_FOUND,
        "entity_not_found",
    )
    .await?;
    Ok(())
}
