//! `GET /v1/entities/{id}/neighbors`.

use std::collections::HashSet;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, fields, problem, spawn_app};

fn ids(v: &Value, key: &str) -> Vec<String> {
    v[key]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|n| n["id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap_or_default().to_owned()
}

async fn link(
    app: &TestApp,
    token: &str,
    a: &Value,
    b: &Value,
    kind: &str,
    confidence: f64,
) -> anyhow::Result<Value> {
    let res = app
        .post(
            "/v1/relationships",
            token,
            &json!({ "source_id": a["id"], "target_id": b["id"], "type": kind, "confidence": confidence }),
        )
        .await?;
    anyhow::ensure!(res.status() == StatusCode::CREATED, "{}", res.status());
    Ok(res.json().await?)
}

#[tokio::test]
async fn neighbors_follow_direction_types_and_confidence_level_by_level() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let token = app.token("editor").await?;
    let mk = |name: &'static str, kind: &'static str| json!({ "type": kind, "name": name });
    let ada = app.create_entity(&token, mk("Ada", "Person")).await?;
    let charles = app.create_entity(&token, mk("Charles", "Person")).await?;
    let engine = app.create_entity(&token, mk("Engine", "Machine")).await?;
    let london = app.create_entity(&token, mk("London", "Place")).await?;
    let mary = app.create_entity(&token, mk("Mary", "Person")).await?;
    let knows = link(&app, &token, &ada, &charles, "KNOWS", 0.9).await?;
    let designed = link(&app, &token, &charles, &engine, "DESIGNED", 0.95).await?;
    link(&app, &token, &engine, &london, "BUILT_IN", 0.3).await?;
    let taught = link(&app, &token, &mary, &ada, "TAUGHT", 0.8).await?;

    let base = format!("/v1/entities/{}/neighbors", id(&ada));
    let get = |q: &str| {
        let url = format!("{base}{q}");
        let app = &app;
        let token = &token;
        async move { anyhow::Ok(app.get(&url, token).await?.json::<Value>().await?) }
    };
    let one = get("").await?;
    assert_eq!(
        ids(&one, "nodes"),
        [id(&ada), id(&charles), id(&mary)],
        "depth 1, both ways"
    );
    let mut edges = ids(&one, "edges");
    edges.sort();
    let mut expected = vec![id(&knows), id(&taught)];
    expected.sort();
    assert_eq!(edges, expected);
    assert_eq!(one["truncated"], false);

    let out = get("?depth=3&direction=out").await?;
    assert_eq!(
        ids(&out, "nodes"),
        [id(&ada), id(&charles), id(&engine), id(&london)]
    );
    let confident = get("?depth=3&direction=out&min_confidence=0.5").await?;
    assert_eq!(
        ids(&confident, "nodes"),
        [id(&ada), id(&charles), id(&engine)]
    );
    let people = get("?depth=3&type=Person").await?;
    assert_eq!(ids(&people, "nodes"), [id(&ada), id(&charles), id(&mary)]);
    let designed_only = get("?depth=3&relationship_type=KNOWS&direction=out").await?;
    assert_eq!(ids(&designed_only, "nodes"), [id(&ada), id(&charles)]);
    let incoming = get("?direction=in").await?;
    assert_eq!(ids(&incoming, "nodes"), [id(&ada), id(&mary)]);
    let budget = get("?depth=3&max_nodes=2&direction=out").await?;
    assert_eq!(ids(&budget, "nodes").len(), 2);
    assert_eq!(budget["truncated"], true);
    assert_eq!(ids(&budget, "edges"), [id(&knows)]);
    let _ = designed;

    let p = problem(
        app.get(
            &format!("{base}?depth=4&max_nodes=1001&direction=up&min_confidence=2"),
            &token,
        )
        .await?,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await?;
    let mut named = fields(&p);
    named.sort();
    assert_eq!(named, ["depth", "direction", "max_nodes", "min_confidence"]);
    problem(
        app.get(
            &format!("/v1/entities/{}/neighbors", uuid::Uuid::now_v7()),
            &token,
        )
        .await?,
        StatusCode::NOT_FOUND,
        "entity_not_found",
    )
    .await?;
    Ok(())
}

/// The SQL that makes a new id on each database.
fn new_id(app: &TestApp) -> &'static str {
    if app.is_postgres() {
        "gen_random_uuid()"
    } else {
        "randomblob(16)"
    }
}

#[tokio::test]
async fn depth_three_on_a_graph_of_100_000_relationships_stays_within_its_budget()
-> anyhow::Result<()> {
    const NODES: i64 = 20_000;
    let app = spawn_app().await?;
    let token = app.token("editor").await?;
    let hub = app
        .create_entity(&token, json!({ "type": "Node", "name": "hub" }))
        .await?;
    // Bulk-load the graph in SQL: 20,000 entities and five blocks of 20,000
    // relationships, each node linking to a scattered other node per block.
    // Every timestamp and author is copied from the editor's account.
    app.execute(&format!(
        "INSERT INTO entities (id, kind, name, metadata, created_at, created_by, updated_at, updated_by, version) \
         WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {last}) \
         SELECT {new_id}, 'Node', 'n' || i, '{{}}', u.created_at, u.id, u.created_at, u.id, 1 \
         FROM n, (SELECT id, created_at FROM users ORDER BY created_at DESC LIMIT 1) u",
        last = NODES - 1,
        new_id = new_id(&app),
    ))
    .await?;
    let inserted = app
        .execute(&format!(
            "INSERT INTO relationships (id, source_id, target_id, kind, metadata, created_at, created_by, updated_at, updated_by, version) \
             WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {last}) \
             SELECT {new_id}, s.id, t.id, 'R' || (n.i / {NODES}), '{{}}', s.created_at, s.created_by, s.created_at, s.created_by, 1 \
             FROM n \
             JOIN entities s ON s.name = 'n' || (n.i % {NODES}) \
             JOIN entities t ON t.name = 'n' || (((n.i % {NODES}) * 7919 + (n.i / {NODES}) * 13 + 1) % {NODES}) \
             WHERE s.id <> t.id",
            last = 5 * NODES - 1,
            new_id = new_id(&app),
        ))
        .await?;
    assert!(inserted > 99_000, "{inserted} relationships");
    for i in 0..20 {
        let target: Value = app
            .get(&format!("/v1/entities?name=n{i}&limit=1"), &token)
            .await?
            .json()
            .await?;
        link(
            &app,
            &token,
            &hub,
            &target["items"][0],
            &format!("HUB{i}"),
            1.0,
        )
        .await?;
    }
    assert!(app.count("relationships").await? >= 100_000);

    let res = app
        .get(
            &format!("/v1/entities/{}/neighbors?depth=3", id(&hub)),
            &token,
        )
        .await?;
    assert_eq!(res.status(), StatusCode::OK);
    let found: Value = res.json().await?;
    let nodes: HashSet<String> = ids(&found, "nodes").into_iter().collect();
    assert_eq!(found["truncated"], true);
    assert_eq!(nodes.len(), 1000, "the budget fills, and no more");
    assert!(found["edges"].as_array().is_some_and(|e| e.len() >= 999));
    for edge in found["edges"].as_array().cloned().unwrap_or_default() {
        for end in ["source_id", "target_id"] {
            let end = edge[end].as_str().unwrap_or_default();
            assert!(nodes.contains(end), "edge end {end} is a returned node");
        }
    }
    let small: Value = app
        .get(
            &format!("/v1/entities/{}/neighbors?depth=3&max_nodes=50", id(&hub)),
            &token,
        )
        .await?
        .json()
        .await?;
    assert_eq!(ids(&small, "nodes").len(), 50);
    assert_eq!(small["truncated"], true);
    Ok(())
}

#[tokio::test]
async fn a_hub_in_the_frontier_gives_its_share_and_not_its_degree() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let token = app.token("editor").await?;
    // A start with 100 spokes; the first spoke has 60 leaves of its own.
    let node = |x: String| json!({ "type": "Node", "name": x.clone(), "external_id": x });
    let link = |a: String, b: String| json!({ "source_external_id": a, "target_external_id": b, "type": "LINKS" });
    let mut entities = vec![node("start".to_owned())];
    let mut relationships = Vec::new();
    for i in 0..100 {
        entities.push(node(format!("spoke{i}")));
        relationships.push(link("start".to_owned(), format!("spoke{i}")));
    }
    for j in 0..60 {
        entities.push(node(format!("leaf{j}")));
        relationships.push(link("spoke0".to_owned(), format!("leaf{j}")));
    }
    let res = app
        .post(
            "/v1/batch",
            &token,
            &json!({ "entities": entities, "relationships": relationships }),
        )
        .await?;
    assert_eq!(res.status(), StatusCode::OK);
    let start = app
        .get("/v1/entities?name=start&limit=1", &token)
        .await?
        .json::<Value>()
        .await?["items"][0]
        .clone();
    let spoke = app
        .get("/v1/entities?name=spoke0&limit=1", &token)
        .await?
        .json::<Value>()
        .await?["items"][0]
        .clone();
    let found: Value = app
        .get(
            &format!(
                "/v1/entities/{}/neighbors?depth=2&direction=out",
                id(&start)
            ),
            &token,
        )
        .await?
        .json()
        .await?;
    // Level two has 100 nodes and 4,000 rows: 40 per node. The spoke with
    // 60 leaves gives its 40 with the lowest relationship ids, and the
    // answer says it was cut short, although the budget of 1,000 is far.
    assert_eq!(found["truncated"], true);
    assert_eq!(ids(&found, "nodes").len(), 1 + 100 + 40);
    let leaves: Value = app
        .get(
            &format!("/v1/relationships?source_id={}&limit=100", id(&spoke)),
            &token,
        )
        .await?
        .json()
        .await?;
    let first: HashSet<String> = leaves["items"]
        .as_array()
        .map(|a| {
            a.iter()
                .take(40)
                .filter_map(|r| r["target_id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(first.len(), 40, "relationships are listed in id order");
    let returned: HashSet<String> = ids(&found, "nodes").into_iter().collect();
    assert!(first.is_subset(&returned), "the lowest ids are followed");
    Ok(())
}

#[tokio::test]
async fn depth_three_from_a_hub_of_200_000_relationships_answers_within_its_budgets()
-> anyhow::Result<()> {
    const LEAVES: i64 = 200_000;
    let app = spawn_app().await?;
    let token = app.token("editor").await?;
    let hub = app
        .create_entity(&token, json!({ "type": "Hub", "name": "hub" }))
        .await?;
    // 200,000 leaves, each the target of one relationship from the hub,
    // none with a confidence; authored as the hub was.
    app.execute(&format!(
        "INSERT INTO entities (id, kind, name, metadata, created_at, created_by, updated_at, updated_by, version) \
         WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {last}) \
         SELECT {new_id}, 'Leaf', 'l' || i, '{{}}', h.created_at, h.created_by, h.created_at, h.created_by, 1 \
         FROM n, (SELECT created_at, created_by FROM entities WHERE kind = 'Hub') h",
        last = LEAVES - 1,
        new_id = new_id(&app),
    ))
    .await?;
    let linked = app
        .execute(&format!(
            "INSERT INTO relationships (id, source_id, target_id, kind, metadata, created_at, created_by, updated_at, updated_by, version) \
             SELECT {new_id}, h.id, e.id, 'LINKS', '{{}}', e.created_at, e.created_by, e.created_at, e.created_by, 1 \
             FROM entities e, (SELECT id FROM entities WHERE kind = 'Hub') h WHERE e.kind = 'Leaf'",
            new_id = new_id(&app),
        ))
        .await?;
    assert_eq!(i64::try_from(linked)?, LEAVES);
    let base = format!("/v1/entities/{}/neighbors?depth=3", id(&hub));
    let get = |q: &'static str| {
        let url = format!("{base}{q}");
        let app = &app;
        let token = &token;
        async move {
            let res = app.get(&url, token).await?;
            anyhow::ensure!(res.status() == StatusCode::OK, "{url}: {}", res.status());
            anyhow::Ok(res.json::<Value>().await?)
        }
    };
    let reasons = |v: &Value| -> Vec<String> {
        v["truncated_by"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r.as_str().map(str::to_owned))
            .collect()
    };

    // Unfiltered: the hub gives its share, the node budget fills, and the
    // answer is within its edge budget.
    let all = get("").await?;
    assert_eq!(ids(&all, "nodes").len(), 1000);
    let edges = all["edges"].as_array().map_or(0, Vec::len);
    assert!((999..=2000).contains(&edges), "{edges} edges");
    assert_eq!(all["truncated"], true);
    assert_eq!(reasons(&all), ["nodes", "rows"]);

    // Filters that no relationship of the hub passes: the level examines
    // its budget of the hub's relationships, not all 200,000, finds none,
    // and says the rest went unread.
    for filter in [
        "&relationship_type=ABSENT",
        "&type=Absent",
        "&min_confidence=0.5",
        "&direction=out&relationship_type=ABSENT&max_nodes=10",
    ] {
        let none = get(filter).await?;
        assert_eq!(ids(&none, "nodes"), [id(&hub)], "{filter}");
        assert_eq!(ids(&none, "edges"), Vec::<String>::new(), "{filter}");
        assert_eq!(none["truncated"], true, "{filter}");
        assert_eq!(reasons(&none), ["rows"], "{filter}");
    }
    // A filter that the hub's relationships pass finds them as before.
    let links = get("&relationship_type=LINKS&type=Leaf&max_nodes=20").await?;
    assert_eq!(ids(&links, "nodes").len(), 20);
    assert_eq!(reasons(&links), ["nodes", "rows"]);
    Ok(())
}
