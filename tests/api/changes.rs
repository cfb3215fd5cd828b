//! `GET /v1/changes`: a consumer that follows the feed rebuilds the live graph.

use std::collections::BTreeMap;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, fields, problem, spawn_app};

/// A consumer's copy of the graph, built only from the feed.
#[derive(Default)]
struct Replica {
    cursor: String,
    resources: BTreeMap<String, Value>,
    last_seq: i64,
}

impl Replica {
    /// Reads every page available now; returns how many changes it applied.
    async fn follow(&mut self, app: &TestApp, token: &str) -> anyhow::Result<usize> {
        let mut applied = 0;
        loop {
            let path = if self.cursor.is_empty() {
                "/v1/changes?limit=100".to_owned()
            } else {
                format!("/v1/changes?limit=100&after={}", self.cursor)
            };
            let res = app.get(&path, token).await?;
            anyhow::ensure!(res.status() == StatusCode::OK, "{}", res.status());
            let page: Value = res.json().await?;
            let items = page["items"].as_array().cloned().unwrap_or_default();
            for c in &items {
                let seq = c["seq"].as_i64().unwrap_or_default();
                anyhow::ensure!(seq > self.last_seq, "feed went backwards: {c}");
                self.last_seq = seq;
                let key = format!(
                    "{}/{}",
                    c["resource_type"],
                    c["resource_id"].as_str().unwrap_or_default()
                );
                if c["action"] == "delete" {
                    anyhow::ensure!(c["data"].is_null(), "{c}");
                    self.resources.remove(&key);
                } else {
                    anyhow::ensure!(c["data"]["version"] == c["version"], "{c}");
                    self.resources.insert(key, c["data"].clone());
                }
            }
            applied += items.len();
            self.cursor = page["next_cursor"].as_str().unwrap_or_default().to_owned();
            if items.len() < 100 {
                return Ok(applied);
            }
        }
    }
}

/// Every live entity and relationship, as the API lists them.
async fn live_graph(app: &TestApp, token: &str) -> anyhow::Result<BTreeMap<String, Value>> {
    let mut graph = BTreeMap::new();
    for (kind, path) in [
        ("entity", "/v1/entities"),
        ("relationship", "/v1/relationships"),
    ] {
        let mut cursor: Option<String> = None;
        loop {
            let url = match &cursor {
                Some(c) => format!("{path}?limit=100&cursor={c}"),
                None => format!("{path}?limit=100"),
            };
            let page: Value = app.get(&url, token).await?.json().await?;
            for item in page["items"].as_array().cloned().unwrap_or_default() {
                let id = item["id"].as_str().unwrap_or_default().to_owned();
                graph.insert(format!("\"{kind}\"/{id}"), item);
            }
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => break,
            }
        }
    }
    Ok(graph)
}

/// One writer's share of the work: create, update, link, delete, restore.
async fn writer(app: &TestApp, token: &str, admin: &str, n: usize) -> anyhow::Result<()> {
    let mut mine: Vec<Value> = Vec::new();
    for i in 0..12 {
        let e = app
            .create_entity(token, json!({ "type": "Doc", "name": format!("w{n}-{i}") }))
            .await?;
        if let Some(prev) = mine.last() {
            let res = app.create_relationship(token, prev, &e, "NEXT").await?;
            anyhow::ensure!(res.status() == StatusCode::CREATED, "{}", res.status());
        }
        if i % 3 == 1 {
            let path = format!("/v1/entities/{}", e["id"].as_str().unwrap_or_default());
            let res = app
                .patch(
                    &path,
                    token,
                    Some("\"1\""),
                    &json!({ "metadata": { "i": i } }),
                )
                .await?;
            anyhow::ensure!(res.status() == StatusCode::OK, "{}", res.status());
        }
        mine.push(e);
    }
    // Delete every fourth entity (cascading to its links), restore one of them.
    for (i, e) in mine.iter().enumerate().filter(|(i, _)| i % 4 == 2) {
        let path = format!("/v1/entities/{}", e["id"].as_str().unwrap_or_default());
        let res = app.delete(&path, token).await?;
        anyhow::ensure!(res.status() == StatusCode::NO_CONTENT, "{}", res.status());
        if i == 2 {
            let res = app
                .post(&format!("{path}/restore"), admin, &json!({}))
                .await?;
            anyhow::ensure!(res.status() == StatusCode::OK, "{}", res.status());
        }
    }
    Ok(())
}

#[tokio::test]
async fn a_consumer_following_the_feed_during_concurrent_writes_rebuilds_the_live_graph()
-> anyhow::Result<()> {
    let app = spawn_app().await?;
    let editor = app.token("editor").await?;
    let admin = app.token("admin").await?;
    let viewer = app.token("viewer").await?;

    let mut replica = Replica::default();
    let writers = async {
        let (a, b, c, d) = tokio::join!(
            writer(&app, &editor, &admin, 0),
            writer(&app, &editor, &admin, 1),
            writer(&app, &editor, &admin, 2),
            writer(&app, &editor, &admin, 3),
        );
        a.and(b).and(c).and(d)
    };
    let consumer = async {
        // Follow while the writers run.
        let mut polls = 0;
        loop {
            replica.follow(&app, &viewer).await?;
            polls += 1;
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            if polls > 2000 {
                break;
            }
            if app.count("changes").await? >= EXPECTED_CHANGES {
                break;
            }
        }
        anyhow::Ok(())
    };
    let (written, followed) = tokio::join!(writers, consumer);
    written?;
    followed?;
    replica.follow(&app, &viewer).await?;

    let live = live_graph(&app, &viewer).await?;
    assert!(live.len() > 60, "the writers built a graph: {}", live.len());
    assert_eq!(
        replica.resources.keys().collect::<Vec<_>>(),
        live.keys().collect::<Vec<_>>(),
        "the replica has exactly the live resources"
    );
    assert_eq!(replica.resources, live, "and each exactly as it is now");
    // Resuming from any cursor yields exactly the rest of the feed.
    let all: Value = app
        .get("/v1/changes?limit=100", &viewer)
        .await?
        .json()
        .await?;
    let third = all["items"][2]["seq"].as_i64().unwrap_or_default();
    let rest: Value = app
        .get(&format!("/v1/changes?limit=5&after={third}"), &viewer)
        .await?
        .json()
        .await?;
    assert_eq!(rest["items"][0], all["items"][3]);
    assert_eq!(rest["next_cursor"], all["items"][7]["seq"].to_string());
    Ok(())
}

/// Each writer: 12 creates, 11 links, 4 updates, 3 entity deletes that
/// cascade to 2 links each (the first entity deleted is index 2), and one
/// restore of an entity with its 2 links.
const EXPECTED_CHANGES: i64 = 4 * (12 + 11 + 4 + 3 * 3 + 3);

#[tokio::test]
async fn the_feed_reports_each_kind_of_change_and_refuses_a_bad_cursor() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let token = app.token("editor").await?;
    let admin = app.token("admin").await?;
    let a = app
        .create_entity(&token, json!({ "type": "Person", "name": "A" }))
        .await?;
    let b = app
        .create_entity(&token, json!({ "type": "Person", "name": "B" }))
        .await?;
    let r: Value = app
        .create_relationship(&token, &a, &b, "KNOWS")
        .await?
        .json()
        .await?;
    let a_path = format!("/v1/entities/{}", a["id"].as_str().unwrap_or_default());
    app.delete(&a_path, &token).await?;
    app.post(&format!("{a_path}/restore"), &admin, &json!({}))
        .await?;

    let page: Value = app.get("/v1/changes", &token).await?.json().await?;
    let summary: Vec<(String, String, i64)> = page["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|c| {
            (
                c["action"].as_str().unwrap_or_default().to_owned(),
                c["resource_id"].as_str().unwrap_or_default().to_owned(),
                c["version"].as_i64().unwrap_or_default(),
            )
        })
        .collect();
    let id = |v: &Value| v["id"].as_str().unwrap_or_default().to_owned();
    assert_eq!(
        summary,
        [
            ("create".to_owned(), id(&a), 1),
            ("create".to_owned(), id(&b), 1),
            ("create".to_owned(), id(&r), 1),
            ("delete".to_owned(), id(&a), 2),
            ("delete".to_owned(), id(&r), 2),
            ("restore".to_owned(), id(&a), 3),
            ("restore".to_owned(), id(&r), 3),
        ]
    );
    let end = page["next_cursor"].as_str().unwrap_or_default().to_owned();
    let empty: Value = app
        .get(&format!("/v1/changes?after={end}"), &token)
        .await?
        .json()
        .await?;
    assert_eq!(empty["items"], json!([]));
    assert_eq!(
        empty["next_cursor"],
        end.as_str(),
        "an empty page keeps the cursor"
    );

    for bad in ["-1", "abc", "1.5", "99999999999999999999"] {
        let p = problem(
            app.get(&format!("/v1/changes?after={bad}"), &token).await?,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        )
        .await?;
        assert_eq!(fields(&p), ["after"], "{bad}");
    }
    let p = problem(
        app.get("/v1/changes?limit=101", &token).await?,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await?;
    assert_eq!(fields(&p), ["limit"]);
    Ok(())
}

#[tokio::test]
async fn a_full_batch_reaches_the_feed_in_the_order_it_was_written() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let token = app.token("editor").await?;
    let entities: Vec<Value> = (0..1000)
        .map(|i| json!({ "type": "Doc", "name": format!("d{i}"), "external_id": format!("d:{i}") }))
        .collect();
    let relationships: Vec<Value> = (0..1000)
        .map(|i| {
            json!({
                "source_external_id": format!("d:{i}"),
                "target_external_id": format!("d:{}", (i + 1) % 1000),
                "type": "NEXT",
            })
        })
        .collect();
    let res = app
        .post(
            "/v1/batch",
            &token,
            &json!({ "entities": entities, "relationships": relationships }),
        )
        .await?;
    assert_eq!(res.status(), StatusCode::OK);
    let mut replica = Replica::default();
    let mut kinds = Vec::new();
    let mut cursor = String::new();
    loop {
        let path = format!(
            "/v1/changes?limit=100&after={}",
            if cursor.is_empty() { "0" } else { &cursor }
        );
        let page: Value = app.get(&path, &token).await?.json().await?;
        let items = page["items"].as_array().cloned().unwrap_or_default();
        kinds.extend(
            items
                .iter()
                .map(|c| c["resource_type"].as_str().unwrap_or_default().to_owned()),
        );
        cursor = page["next_cursor"].as_str().unwrap_or_default().to_owned();
        if items.len() < 100 {
            break;
        }
    }
    replica.follow(&app, &token).await?;
    assert_eq!(replica.resources.len(), 2000, "every change is in the feed");
    assert_eq!(kinds.len(), 2000);
    // Each relationship's create comes after the creates of its ends.
    assert!(
        kinds[..1000].iter().all(|k| k == "entity")
            && kinds[1000..].iter().all(|k| k == "relationship"),
        "entity creates first, then relationship creates"
    );
    Ok(())
}
