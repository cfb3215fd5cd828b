//! How many statements each common request sends to the database. These are
//! regression guards that do not depend on time: a change that adds a query
//! to a read or a round trip to a write fails here, on either database.

use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app};

/// `kg_db_statements_total`, as the service reports it now.
pub(crate) async fn statements(app: &TestApp) -> anyhow::Result<u64> {
    let text = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await?
        .text()
        .await?;
    text.lines()
        .find_map(|l| l.strip_prefix("kg_db_statements_total "))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no statement count in {text}"))
}

/// The statements one request costs: the fewest over its tries (three
/// requests of the same kind), so that the maintenance switch's periodic
/// re-read (one statement, at most every few seconds) does not count.
async fn cost(
    app: &TestApp,
    expected: StatusCode,
    tries: impl IntoIterator<Item = RequestBuilder>,
) -> anyhow::Result<u64> {
    let mut fewest = u64::MAX;
    for request in tries {
        let before = statements(app).await?;
        let res = request.send().await?;
        anyhow::ensure!(res.status() == expected, "{}", res.status());
        drop(res.bytes().await?);
        fewest = fewest.min(statements(app).await? - before);
    }
    Ok(fewest)
}

fn id(v: &Value) -> &str {
    v["id"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn reads_and_writes_send_a_fixed_number_of_statements() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    // On PostgreSQL a known principal costs nothing once the instance's
    // principal channel vouches for its cache (ADR 34); on SQLite, which
    // has no cache, authentication is one statement.
    app.principals_vouched().await?;
    let postgres = app.is_postgres();
    let auth = u64::from(!postgres);
    let token = app.token("editor").await?;
    let hub = app
        .create_entity(&token, json!({ "type": "Hub", "name": "hub" }))
        .await?;
    for i in 0..5 {
        let leaf = app
            .create_entity(
                &token,
                json!({ "type": "Leaf", "name": format!("leaf {i}") }),
            )
            .await?;
        app.create_relationship(&token, &hub, &leaf, "HAS").await?;
    }
    let hub_path = format!("/v1/entities/{}", id(&hub));
    let get = |path: &str| {
        (0..3)
            .map(|_| app.request(Method::GET, path, &token))
            .collect::<Vec<_>>()
    };

    // Authentication (session and user together), then one for the work.
    assert_eq!(
        cost(&app, StatusCode::OK, get(&hub_path)).await?,
        auth + 1,
        "GET an entity"
    );
    let list = cost(&app, StatusCode::OK, get("/v1/entities?type=Leaf&limit=3")).await?;
    assert_eq!(list, auth + 1, "a page of a list");
    let neighbors = get(&format!("{hub_path}/neighbors?depth=1"));
    let neighbors = cost(&app, StatusCode::OK, neighbors).await?;
    assert_eq!(
        neighbors,
        auth + 2,
        "neighbors at depth 1: the start, then one step"
    );

    // A create: the row, its audit row and its feed row: on PostgreSQL one
    // statement; on SQLite three, and the feed row's position in the same
    // transaction.
    let creates = (0..3).map(|i| {
        app.request(Method::POST, "/v1/entities", &token)
            .json(&json!({ "type": "Doc", "name": format!("doc {i}") }))
    });
    let create = cost(&app, StatusCode::CREATED, creates).await?;
    assert_eq!(
        create,
        auth + if postgres { 1 } else { 4 },
        "POST an entity"
    );

    // A link: on PostgreSQL one statement as well, its insert's trigger
    // checking and locking its ends; SQLite reads its ends first.
    let leaves = app
        .get("/v1/entities?type=Leaf&limit=4", &token)
        .await?
        .json::<Value>()
        .await?;
    let leaf = |n: usize| {
        leaves["items"][n]["id"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    let links = (0..3).map(|i| {
        app.request(Method::POST, "/v1/relationships", &token)
            .json(&json!({ "source_id": leaf(0), "target_id": leaf(i + 1), "type": "NEAR" }))
    });
    let link = cost(&app, StatusCode::CREATED, links).await?;
    assert_eq!(
        link,
        auth + if postgres { 1 } else { 5 },
        "POST a relationship"
    );

    let batches = (0..3).map(|i| {
        let entities: Vec<Value> = (0..100)
            .map(|n| json!({ "type": "Doc", "name": format!("b{i}-{n}"), "external_id": format!("b:{i}:{n}") }))
            .collect();
        let relationships: Vec<Value> = (1..100)
            .map(|n| {
                json!({
                    "source_external_id": format!("b:{i}:{}", n - 1),
                    "target_external_id": format!("b:{i}:{n}"),
                    "type": "NEXT",
                })
            })
            .collect();
        app.request(Method::POST, "/v1/batch", &token)
            .json(&json!({ "entities": entities, "relationships": relationships }))
    });
    let batch = cost(&app, StatusCode::OK, batches).await?;
    // Look up the external ids and the relationships; insert both kinds;
    // the audit and feed rows (one statement on PostgreSQL; on SQLite two,
    // and the feed rows' positions).
    assert_eq!(
        batch,
        auth + if postgres { 5 } else { 7 },
        "a batch of 199 items"
    );
    Ok(())
}
