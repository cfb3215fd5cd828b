//! Evidence for entities and relationships, and the combined confidence
//! it gives them.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, fields, problem, spawn_app};

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap_or_default().to_owned()
}

/// The ids of a list page's items.
fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .map(|a| a.iter().map(id).collect())
        .unwrap_or_default()
}

async fn json_of(res: reqwest::Response, status: StatusCode) -> anyhow::Result<Value> {
    let got = res.status();
    let body: Value = res.json().await?;
    anyhow::ensure!(got == status, "expected {status}, got {got}: {body}");
    Ok(body)
}

/// Adds evidence to `fact` (a path such as `/v1/entities/…`); returns
/// the answer, which must be 201.
async fn add(app: &TestApp, token: &str, fact: &str, body: Value) -> anyhow::Result<Value> {
    let res = app.post(&format!("{fact}/evidence"), token, &body).await?;
    json_of(res, StatusCode::CREATED).await
}

async fn get(app: &TestApp, token: &str, path: &str) -> anyhow::Result<Value> {
    json_of(app.get(path, token).await?, StatusCode::OK).await
}

#[tokio::test]
async fn two_sources_combine_by_noisy_or_and_a_retraction_takes_one_back() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let token = app.token("editor").await?;
    let a = app
        .create_entity(&token, json!({ "type": "Person", "name": "Ada" }))
        .await?;
    let b = app
        .create_entity(&token, json!({ "type": "Person", "name": "Charles" }))
        .await?;
    let knows = json_of(
        app.create_relationship(&token, &a, &b, "KNOWS").await?,
        StatusCode::CREATED,
    )
    .await?;
    let fact = format!("/v1/relationships/{}", id(&knows));
    // No confidence and no source: nothing stated.
    assert_eq!(
        ids(&get(&app, &token, &format!("{fact}/evidence")).await?).len(),
        0
    );

    let first = add(
        &app,
        &token,
        &fact,
        json!({ "confidence": 0.6, "source": "doc:1", "source_type": "llm.extraction",
                "locator": { "page": 3, "quote": "Ada knew Charles" } }),
    )
    .await?;
    assert_eq!(first["confidence"], 0.6);
    assert_eq!(first["evidence"]["stated"], false);
    assert_eq!(first["evidence"]["fact_type"], "relationship");
    assert_eq!(first["evidence"]["fact_id"], knows["id"]);
    assert_eq!(first["evidence"]["locator"]["page"], 3);
    let second = add(
        &app,
        &token,
        &fact,
        json!({ "confidence": 0.5, "source": "doc:2" }),
    )
    .await?;
    assert_eq!(second["confidence"], 0.8);

    let read = get(&app, &token, &fact).await?;
    assert_eq!(read["confidence"], 0.8);
    assert_eq!(read["stated_confidence"], Value::Null);
    assert_eq!(read["version"], 3, "each change of confidence is a version");
    let listed = get(&app, &token, &format!("{fact}/evidence")).await?;
    assert_eq!(
        ids(&listed),
        [id(&first["evidence"]), id(&second["evidence"])]
    );
    // The confidence filter sees the combined confidence.
    let strong = get(&app, &token, "/v1/relationships?min_confidence=0.75").await?;
    assert_eq!(ids(&strong), [id(&knows)]);

    let first_path = format!("/v1/evidence/{}", id(&first["evidence"]));
    let res = app.delete(&first_path, &token).await?;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(get(&app, &token, &fact).await?["confidence"], 0.5);
    let retracted = get(&app, &token, &first_path).await?;
    assert!(retracted["retracted_at"].is_string(), "{retracted}");
    assert_eq!(retracted["version"], 2);
    assert_eq!(
        ids(&get(&app, &token, &format!("{fact}/evidence")).await?),
        [id(&second["evidence"])]
    );
    assert_eq!(
        ids(&get(
            &app,
            &token,
            &format!("{fact}/evidence?include_retracted=true")
        )
        .await?),
        [id(&first["evidence"]), id(&second["evidence"])]
    );
    // A retraction is taken once.
    problem(
        app.delete(&first_path, &token).await?,
        StatusCode::NOT_FOUND,
        "evidence_not_found",
    )
    .await?;

    let restored = json_of(
        app.post(&format!("{first_path}/restore"), &token, &json!({}))
            .await?,
        StatusCode::OK,
    )
    .await?;
    assert_eq!(restored["confidence"], 0.8);
    assert_eq!(restored["evidence"]["retracted_at"], Value::Null);
    assert_eq!(
        restored["evidence"]["recorded_at"],
        first["evidence"]["recorded_at"]
    );
    problem(
        app.post(&format!("{first_path}/restore"), &token, &json!({}))
            .await?,
        StatusCode::CONFLICT,
        "not_retracted",
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn a_facts_own_confidence_is_its_stated_evidence_and_follows_each_write() -> anyhow::Result<()>
{
    let app = spawn_app().await?;
    let token = app.token("editor").await?;
    let ada = app
        .create_entity(
            &token,
            json!({ "type": "Person", "name": "Ada", "confidence": 0.6, "source": "doc:1" }),
        )
        .await?;
    let fact = format!("/v1/entities/{}", id(&ada));
    assert_eq!(ada["confidence"], 0.6);
    assert_eq!(ada["stated_confidence"], 0.6);
    let stated = get(&app, &token, &format!("{fact}/evidence")).await?;
    assert_eq!(
        ids(&stated),
        [id(&ada)],
        "stated evidence has the fact's id"
    );
    let record = &stated["items"][0];
    assert_eq!(record["stated"], true);
    assert_eq!(
        (&record["confidence"], &record["source"]),
        (&json!(0.6), &json!("doc:1"))
    );
    assert_eq!(record["recorded_by"], ada["created_by"]);

    add(&app, &token, &fact, json!({ "confidence": 0.5 })).await?;
    let read = get(&app, &token, &fact).await?;
    assert_eq!(
        (
            &read["confidence"],
            &read["stated_confidence"],
            &read["version"]
        ),
        (&json!(0.8), &json!(0.6), &json!(2))
    );

    // Its writer changes what they state: the stated record follows, and
    // the added evidence still counts.
    let res = app
        .patch(&fact, &token, Some("\"2\""), &json!({ "confidence": 0.7 }))
        .await?;
    let patched = json_of(res, StatusCode::OK).await?;
    assert_eq!(patched["stated_confidence"], 0.7);
    assert_eq!(patched["confidence"], 0.85);
    let own = get(&app, &token, &format!("/v1/evidence/{}", id(&ada))).await?;
    assert_eq!(
        (&own["confidence"], &own["version"]),
        (&json!(0.7), &json!(3))
    );
    // Only a PATCH changes it.
    problem(
        app.delete(&format!("/v1/evidence/{}", id(&ada)), &token)
            .await?,
        StatusCode::CONFLICT,
        "evidence_stated",
    )
    .await?;

    // Stating nothing leaves no stated record (ADR 46); the added evidence
    // alone is left.
    let res = app
        .patch(
            &fact,
            &token,
            Some("\"3\""),
            &json!({ "confidence": null, "source": null }),
        )
        .await?;
    let cleared = json_of(res, StatusCode::OK).await?;
    assert_eq!(
        (&cleared["confidence"], &cleared["stated_confidence"]),
        (&json!(0.5), &Value::Null)
    );
    problem(
        app.get(&format!("/v1/evidence/{}", id(&ada)), &token)
            .await?,
        StatusCode::NOT_FOUND,
        "evidence_not_found",
    )
    .await?;
    assert_eq!(
        ids(&get(&app, &token, &format!("{fact}/evidence")).await?).len(),
        1
    );
    // Stating again brings it back.
    let res = app
        .patch(&fact, &token, Some("\"4\""), &json!({ "source": "doc:9" }))
        .await?;
    json_of(res, StatusCode::OK).await?;
    let own = get(&app, &token, &format!("/v1/evidence/{}", id(&ada))).await?;
    assert_eq!(
        (&own["retracted_at"], &own["source"], &own["confidence"]),
        (&Value::Null, &json!("doc:9"), &Value::Null)
    );
    Ok(())
}

#[tokio::test]
async fn batches_state_their_facts_evidence_and_keep_what_was_added() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let token = app.token("editor").await?;
    let batch = |confidence: f64| {
        json!({
            "entities": [
                { "type": "Paper", "name": "A", "external_id": "p:a", "confidence": confidence, "source": "run:1" },
                { "type": "Paper", "name": "B", "external_id": "p:b" },
            ],
            "relationships": [
                { "source_external_id": "p:a", "target_external_id": "p:b", "type": "CITES", "confidence": 0.9 },
            ],
        })
    };
    let report = json_of(
        app.post("/v1/batch", &token, &batch(0.6)).await?,
        StatusCode::OK,
    )
    .await?;
    let a = report["entities"][0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let b = report["entities"][1]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let cites = report["relationships"][0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let stated = get(&app, &token, "/v1/evidence").await?;
    let mut expected = vec![a.clone(), cites.clone()];
    expected.sort();
    assert_eq!(ids(&stated), expected, "B states nothing");

    let fact = format!("/v1/entities/{a}");
    add(
        &app,
        &token,
        &fact,
        json!({ "confidence": 0.5, "source": "doc:2" }),
    )
    .await?;
    // The same batch again changes nothing: what its writer states is as it was.
    let again = json_of(
        app.post("/v1/batch", &token, &batch(0.6)).await?,
        StatusCode::OK,
    )
    .await?;
    assert_eq!(
        again["summary"],
        json!({ "created": 0, "updated": 0, "corroborated": 0, "unchanged": 3 })
    );
    assert_eq!(get(&app, &token, &fact).await?["confidence"], 0.8);
    // A new statement restates it and keeps the added evidence.
    json_of(
        app.post("/v1/batch", &token, &batch(0.2)).await?,
        StatusCode::OK,
    )
    .await?;
    let read = get(&app, &token, &fact).await?;
    assert_eq!(
        (&read["stated_confidence"], &read["confidence"]),
        (&json!(0.2), &json!(0.6))
    );
    assert_eq!(
        get(&app, &token, &format!("/v1/evidence/{a}")).await?["confidence"],
        0.2
    );
    // Stating nothing leaves A no stated record (ADR 46), and B has none.
    let silent = json!({ "entities": [
        { "type": "Paper", "name": "A", "external_id": "p:a" },
        { "type": "Paper", "name": "B2", "external_id": "p:b" },
    ] });
    json_of(
        app.post("/v1/batch", &token, &silent).await?,
        StatusCode::OK,
    )
    .await?;
    problem(
        app.get(&format!("/v1/evidence/{a}"), &token).await?,
        StatusCode::NOT_FOUND,
        "evidence_not_found",
    )
    .await?;
    assert_eq!(get(&app, &token, &fact).await?["confidence"], 0.5);
    problem(
        app.get(&format!("/v1/evidence/{b}"), &token).await?,
        StatusCode::NOT_FOUND,
        "evidence_not_found",
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn a_stated_record_keeps_its_writers_recording_and_pages_with_the_rest() -> anyhow::Result<()>
{
    let app = spawn_app().await?;
    let writer = app.token("editor").await?;
    let other = app.token("editor").await?;
    let ada = app
        .create_entity(
            &writer,
            json!({ "type": "Person", "name": "Ada", "confidence": 0.6, "source": "doc:1" }),
        )
        .await?;
    let bob = app
        .create_entity(&writer, json!({ "type": "Person", "name": "Bob" }))
        .await?;
    let fact = format!("/v1/entities/{}", id(&ada));
    // Another editor's evidence revises the fact, not its writer's record.
    let added = add(&app, &other, &fact, json!({ "confidence": 0.5 })).await?;
    assert_eq!(get(&app, &writer, &fact).await?["version"], 2);
    let own = get(&app, &writer, &format!("/v1/evidence/{}", id(&ada))).await?;
    assert_eq!(
        (&own["recorded_by"], &own["recorded_at"], &own["version"]),
        (&ada["created_by"], &ada["created_at"], &json!(1))
    );
    assert_ne!(own["recorded_by"], added["evidence"]["recorded_by"]);

    // Stated and stored records page together, once each, in id order.
    let charles = app
        .create_entity(
            &writer,
            json!({ "type": "Person", "name": "Charles", "source": "doc:2" }),
        )
        .await?;
    let mut expected = vec![id(&ada), id(&added["evidence"]), id(&charles)];
    expected.sort();
    let mut seen = Vec::new();
    let mut path = "/v1/evidence?limit=1".to_owned();
    loop {
        let page = get(&app, &writer, &path).await?;
        seen.extend(ids(&page));
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/v1/evidence?limit=1&cursor={cursor}"),
            None => break,
        }
        anyhow::ensure!(seen.len() <= expected.len(), "{seen:?}");
    }
    assert_eq!(seen, expected, "Bob states nothing");
    assert!(!seen.contains(&id(&bob)));
    let by_source = get(&app, &writer, "/v1/evidence?source=doc:2").await?;
    assert_eq!(ids(&by_source), [id(&charles)]);
    Ok(())
}

/// The actions of an evidence record's audit rows, oldest first, and the page.
async fn evidence_audit(
    app: &TestApp,
    admin: &str,
    id: &str,
) -> anyhow::Result<(Vec<String>, Value)> {
    let audit = get(
        app,
        admin,
        &format!("/v1/audit?target_type=evidence&target_id={id}"),
    )
    .await?;
    let actions = audit["items"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|r| r["action"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    Ok((actions, audit))
}

/// Applies a batch; returns the report, which must be 200.
async fn batch(app: &TestApp, token: &str, body: &Value) -> anyhow::Result<Value> {
    json_of(app.post("/v1/batch", token, body).await?, StatusCode::OK).await
}

/// The outcomes of a batch report's entities and relationships, in order.
fn outcomes(report: &Value) -> Vec<&str> {
    ["entities", "relationships"]
        .iter()
        .flat_map(|list| report[*list].as_array().into_iter().flatten())
        .filter_map(|item| item["outcome"].as_str())
        .collect()
}

#[tokio::test]
async fn a_batch_from_another_source_corroborates_a_fact_instead_of_overwriting_it()
-> anyhow::Result<()> {
    let app = spawn_app().await?;
    let token = app.token("editor").await?;
    let admin = app.token("admin").await?;
    let from = |source: &str, name: &str, confidence: f64| {
        json!({
            "entities": [
                { "type": "Paper", "name": name, "external_id": "p:a", "confidence": confidence,
                  "source": source, "metadata": { "by": source } },
                { "type": "Paper", "name": "B", "external_id": "p:b" },
            ],
            "relationships": [
                { "source_external_id": "p:a", "target_external_id": "p:b", "type": "CITES",
                  "confidence": confidence, "source": source },
            ],
        })
    };
    let first = batch(&app, &token, &from("pipeline:a", "A", 0.6)).await?;
    let a = first["entities"][0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let cites = first["relationships"][0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let entity = format!("/v1/entities/{a}");
    let relationship = format!("/v1/relationships/{cites}");

    // A second pipeline names the same facts: its word is added, not
    // written over the first's.
    let second = batch(&app, &token, &from("pipeline:b", "A (renamed)", 0.5)).await?;
    assert_eq!(
        second["summary"],
        json!({ "created": 0, "updated": 0, "corroborated": 2, "unchanged": 1 })
    );
    assert_eq!(
        outcomes(&second),
        ["corroborated", "unchanged", "corroborated"]
    );
    assert_eq!(second["entities"][0]["version"], 2, "its confidence moved");
    let read = get(&app, &token, &entity).await?;
    assert_eq!(
        (&read["name"], &read["metadata"], &read["source"]),
        (
            &json!("A"),
            &json!({ "by": "pipeline:a" }),
            &json!("pipeline:a")
        ),
        "the writer's own fields stand"
    );
    assert_eq!(
        (
            &read["stated_confidence"],
            &read["confidence"],
            &read["version"]
        ),
        (&json!(0.6), &json!(0.8), &json!(2))
    );
    assert_eq!(get(&app, &token, &relationship).await?["confidence"], 0.8);
    let listed = get(&app, &token, &format!("{entity}/evidence")).await?;
    let added: Vec<&Value> = listed["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["stated"] == false)
        .collect();
    assert_eq!(added.len(), 1, "{listed}");
    assert_eq!(
        (
            &added[0]["source"],
            &added[0]["confidence"],
            &added[0]["locator"]
        ),
        (&json!("pipeline:b"), &json!(0.5), &json!({}))
    );
    let first_b = id(added[0]);

    // A dry run reports the same and writes nothing.
    let res = app
        .post(
            "/v1/batch?dry_run=true",
            &token,
            &from("pipeline:b", "A", 0.7),
        )
        .await?;
    let dry = json_of(res, StatusCode::OK).await?;
    assert_eq!(
        outcomes(&dry),
        ["corroborated", "unchanged", "corroborated"]
    );
    assert_eq!(
        get(&app, &token, &format!("{entity}/evidence")).await?,
        listed
    );

    // The same source saying the same again changes nothing.
    let again = batch(&app, &token, &from("pipeline:b", "A (renamed)", 0.5)).await?;
    assert_eq!(outcomes(&again), ["unchanged", "unchanged", "unchanged"]);
    assert_eq!(again["entities"][0]["version"], 2);

    // Saying something else, it replaces its own record.
    let revised = batch(&app, &token, &from("pipeline:b", "A", 0.7)).await?;
    assert_eq!(
        outcomes(&revised),
        ["corroborated", "unchanged", "corroborated"]
    );
    assert_eq!(get(&app, &token, &entity).await?["confidence"], 0.88);
    assert_eq!(get(&app, &token, &relationship).await?["confidence"], 0.88);
    let replaced = get(&app, &token, &format!("/v1/evidence/{first_b}")).await?;
    assert!(replaced["retracted_at"].is_string(), "{replaced}");
    let live = get(&app, &token, "/v1/evidence?source=pipeline:b").await?;
    assert_eq!(ids(&live).len(), 2, "one record of each fact: {live}");

    // The writer's own source restates it, and keeps the others' evidence.
    let restated = batch(&app, &token, &from("pipeline:a", "A2", 0.2)).await?;
    assert_eq!(outcomes(&restated), ["updated", "unchanged", "updated"]);
    let read = get(&app, &token, &entity).await?;
    assert_eq!(
        (
            &read["name"],
            &read["stated_confidence"],
            &read["confidence"]
        ),
        (&json!("A2"), &json!(0.2), &json!(0.76))
    );

    // Each effect is audited, and followed in the feed.
    let (actions, _) = evidence_audit(&app, &admin, &first_b).await?;
    assert_eq!(actions, ["create", "delete"]);
    let feed = get(&app, &token, "/v1/changes?limit=100").await?;
    let about_first_b: Vec<&str> = feed["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["resource_id"] == first_b.as_str())
        .filter_map(|c| c["action"].as_str())
        .collect();
    assert_eq!(about_first_b, ["create", "delete"]);
    Ok(())
}

#[tokio::test]
async fn evidence_is_checked_and_a_deleted_fact_takes_none() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let token = app.token("editor").await?;
    let ada = app
        .create_entity(&token, json!({ "type": "Person", "name": "Ada" }))
        .await?;
    let fact = format!("/v1/entities/{}", id(&ada));
    let path = format!("{fact}/evidence");
    for (body, field) in [
        (json!({}), "confidence"),
        (json!({ "source_type": "wiki" }), "confidence"),
        (json!({ "confidence": 1.5 }), "confidence"),
        (json!({ "source": "" }), "source"),
        (json!({ "confidence": 0.5, "locator": [1] }), "locator"),
        (
            json!({ "confidence": 0.5, "observed_at": "yesterday" }),
            "observed_at",
        ),
    ] {
        let p = problem(
            app.post(&path, &token, &body).await?,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        )
        .await?;
        assert!(fields(&p).contains(&field.to_owned()), "{body}: {p}");
    }
    problem(
        app.post(&path, &token, &json!({ "confidence": 0.5, "weight": 2 }))
            .await?,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await?;
    for query in ["metadata.k=v", "include_retracted=maybe", "limit=0"] {
        problem(
            app.get(&format!("/v1/evidence?{query}"), &token).await?,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        )
        .await?;
    }
    // Nothing was recorded by any of them.
    assert_eq!(app.count("evidence").await?, 0);

    let observed = add(
        &app,
        &token,
        &fact,
        json!({ "confidence": 0.5, "observed_at": "2020-01-02T03:04:05Z" }),
    )
    .await?;
    assert_eq!(observed["evidence"]["observed_at"], "2020-01-02T03:04:05Z");
    let record = format!("/v1/evidence/{}", id(&observed["evidence"]));

    let missing = format!("/v1/entities/{}/evidence", uuid::Uuid::now_v7());
    problem(
        app.post(&missing, &token, &json!({ "confidence": 0.5 }))
            .await?,
        StatusCode::NOT_FOUND,
        "entity_not_found",
    )
    .await?;
    problem(
        app.get(&format!("/v1/evidence/{}", uuid::Uuid::now_v7()), &token)
            .await?,
        StatusCode::NOT_FOUND,
        "evidence_not_found",
    )
    .await?;

    let res = app.delete(&fact, &token).await?;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    problem(
        app.post(&path, &token, &json!({ "confidence": 0.5 }))
            .await?,
        StatusCode::NOT_FOUND,
        "entity_not_found",
    )
    .await?;
    problem(
        app.get(&path, &token).await?,
        StatusCode::NOT_FOUND,
        "entity_not_found",
    )
    .await?;
    problem(
        app.delete(&record, &token).await?,
        StatusCode::CONFLICT,
        "fact_not_live",
    )
    .await?;
    // The record itself is still there, as it was.
    assert_eq!(
        get(&app, &token, &record).await?["retracted_at"],
        Value::Null
    );

    let viewer = app.token("viewer").await?;
    problem(
        app.delete(&record, &viewer).await?,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn evidence_changes_are_audited_and_followed_in_the_feed() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let token = app.token("editor").await?;
    let admin = app.token("admin").await?;
    let ada = app
        .create_entity(&token, json!({ "type": "Person", "name": "Ada" }))
        .await?;
    let fact = format!("/v1/entities/{}", id(&ada));
    let added = add(
        &app,
        &token,
        &fact,
        json!({ "confidence": 0.4, "source": "doc:1" }),
    )
    .await?;
    let evidence_id = id(&added["evidence"]);
    let res = app
        .delete(&format!("/v1/evidence/{evidence_id}"), &token)
        .await?;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);

    let feed = get(&app, &token, "/v1/changes?limit=100").await?;
    let seen: Vec<(String, String, Value)> = feed["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|c| {
            (
                c["resource_type"].as_str().unwrap_or_default().to_owned(),
                c["action"].as_str().unwrap_or_default().to_owned(),
                c["data"]["confidence"].clone(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("entity".to_owned(), "create".to_owned(), Value::Null),
            ("evidence".to_owned(), "create".to_owned(), json!(0.4)),
            ("entity".to_owned(), "update".to_owned(), json!(0.4)),
            ("evidence".to_owned(), "delete".to_owned(), Value::Null),
            ("entity".to_owned(), "update".to_owned(), Value::Null),
        ]
    );
    assert_eq!(feed["items"][1]["resource_id"], added["evidence"]["id"]);
    assert_eq!(feed["items"][1]["data"], added["evidence"]);

    let (actions, audit) = evidence_audit(&app, &admin, &evidence_id).await?;
    assert_eq!(actions, ["create", "delete"]);
    assert_eq!(
        audit["items"][0]["changes"]["confidence"],
        json!({ "after": 0.4 })
    );
    let history = get(&app, &token, &format!("{fact}/history")).await?;
    let confidence: Vec<Value> = history["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter(|r| r["action"] == "update")
        .map(|r| r["changes"]["confidence"].clone())
        .collect();
    assert_eq!(
        confidence,
        [
            json!({ "before": null, "after": 0.4 }),
            json!({ "before": 0.4, "after": null })
        ]
    );
    Ok(())
}

#[tokio::test]
async fn a_retried_addition_under_one_key_is_recorded_once() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let token = app.token("editor").await?;
    let ada = app
        .create_entity(&token, json!({ "type": "Person", "name": "Ada" }))
        .await?;
    let path = format!("/v1/entities/{}/evidence", id(&ada));
    let send = || {
        app.request(reqwest::Method::POST, &path, &token)
            .header("idempotency-key", "add-1")
            .json(&json!({ "confidence": 0.5 }))
            .send()
    };
    let first = send().await?;
    assert_eq!(first.status(), StatusCode::CREATED);
    let location = first
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let first: Value = first.json().await?;
    let again = send().await?;
    assert_eq!(again.status(), StatusCode::CREATED);
    assert_eq!(
        again
            .headers()
            .get("idempotent-replayed")
            .and_then(|v| v.to_str().ok()),
        Some("true")
    );
    assert_eq!(again.json::<Value>().await?, first);
    assert_eq!(
        location,
        Some(format!("/v1/evidence/{}", id(&first["evidence"])))
    );
    assert_eq!(app.count("evidence").await?, 1);
    Ok(())
}

#[tokio::test]
async fn concurrent_additions_to_one_fact_all_count() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let token = app.token("editor").await?;
    let ada = app
        .create_entity(&token, json!({ "type": "Person", "name": "Ada" }))
        .await?;
    let path = format!("/v1/entities/{}/evidence", id(&ada));
    let bodies: Vec<Value> = (0..12)
        .map(|i| json!({ "confidence": 0.1, "source": format!("doc:{i}") }))
        .collect();
    let additions = bodies.iter().map(|body| app.post(&path, &token, body));
    for res in futures_util::future::join_all(additions).await {
        assert_eq!(res?.status(), StatusCode::CREATED);
    }
    // Were any two combined from the same stored state, one would be lost
    // and the confidence would be 1 - 0.9^11 or less.
    let read = get(&app, &token, &format!("/v1/entities/{}", id(&ada))).await?;
    let confidence = read["confidence"].as_f64().unwrap_or_default();
    assert!(
        (confidence - (1.0 - 0.9_f64.powi(12))).abs() < 1e-9,
        "{confidence}"
    );
    assert_eq!(read["version"], 13);
    Ok(())
}
