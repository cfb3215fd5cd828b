//! Restore, an entity's history, and the audit log.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{fields, problem, spawn_app};

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn a_restore_brings_back_exactly_what_the_delete_cascaded_to() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let editor = app.token("editor").await?;
    let admin = app.token("admin").await?;
    let a = app
        .create_entity(
            &editor,
            json!({ "type": "Person", "name": "A", "external_id": "x:a" }),
        )
        .await?;
    let b = app
        .create_entity(&editor, json!({ "type": "Person", "name": "B" }))
        .await?;
    let c = app
        .create_entity(&editor, json!({ "type": "Person", "name": "C" }))
        .await?;
    let ab: Value = app
        .create_relationship(&editor, &a, &b, "KNOWS")
        .await?
        .json()
        .await?;
    let ca: Value = app
        .create_relationship(&editor, &c, &a, "KNOWS")
        .await?
        .json()
        .await?;
    // Deleted on its own before the entity: the restore must leave it deleted.
    let alone: Value = app
        .create_relationship(&editor, &a, &c, "MET")
        .await?
        .json()
        .await?;
    app.delete(&format!("/v1/relationships/{}", id(&alone)), &editor)
        .await?;

    let a_path = format!("/v1/entities/{}", id(&a));
    problem(
        app.post(&format!("{a_path}/restore"), &admin, &json!({}))
            .await?,
        StatusCode::CONFLICT,
        "not_deleted",
    )
    .await?;
    app.delete(&a_path, &editor).await?;
    problem(
        app.post(&format!("{a_path}/restore"), &editor, &json!({}))
            .await?,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await?;
    let res = app
        .post(&format!("{a_path}/restore"), &admin, &json!({}))
        .await?;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.headers().get("etag").and_then(|v| v.to_str().ok()),
        Some("\"3\"")
    );
    let restored: Value = res.json().await?;
    assert_eq!(restored["entity"]["id"], a["id"]);
    assert_eq!(restored["entity"]["version"], 3);
    let mut back: Vec<String> = restored["relationships"]
        .as_array()
        .map(|r| r.iter().map(id).collect())
        .unwrap_or_default();
    back.sort();
    let mut expected = vec![id(&ab), id(&ca)];
    expected.sort();
    assert_eq!(back, expected);
    assert_eq!(app.get(&a_path, &editor).await?.status(), StatusCode::OK);
    for r in [&ab, &ca] {
        let res = app
            .get(&format!("/v1/relationships/{}", id(r)), &editor)
            .await?;
        assert_eq!(res.status(), StatusCode::OK);
    }
    let res = app
        .get(&format!("/v1/relationships/{}", id(&alone)), &editor)
        .await?;
    assert_eq!(
        res.status(),
        StatusCode::NOT_FOUND,
        "not part of the cascade"
    );

    // Deleted again, then blocked twice over: its external_id is taken
    // and one link's other end is gone.
    app.delete(&a_path, &editor).await?;
    let usurper = app
        .create_entity(
            &editor,
            json!({ "type": "Person", "name": "A2", "external_id": "x:a" }),
        )
        .await?;
    app.delete(&format!("/v1/entities/{}", id(&b)), &editor)
        .await?;
    let p = problem(
        app.post(&format!("{a_path}/restore"), &admin, &json!({}))
            .await?,
        StatusCode::CONFLICT,
        "restore_conflict",
    )
    .await?;
    let mut named = fields(&p);
    named.sort();
    assert_eq!(
        named,
        [
            "external_id".to_owned(),
            format!("relationships/{}", id(&ab))
        ]
    );
    let text = p.to_string();
    assert!(
        text.contains(&id(&usurper)) && text.contains(&id(&b)),
        "{p}"
    );
    assert_eq!(
        app.get(&a_path, &editor).await?.status(),
        StatusCode::NOT_FOUND,
        "a blocked restore changes nothing"
    );
    problem(
        app.post(
            &format!("/v1/entities/{}/restore", uuid::Uuid::now_v7()),
            &admin,
            &json!({}),
        )
        .await?,
        StatusCode::NOT_FOUND,
        "entity_not_found",
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn history_says_who_when_in_which_request_and_what_changed() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let editor = app.token("editor").await?;
    let viewer = app.token("viewer").await?;
    let me: Value = app.get("/v1/auth/me", &editor).await?.json().await?;
    let e = app
        .create_entity(&editor, json!({ "type": "Person", "name": "Ada" }))
        .await?;
    let path = format!("/v1/entities/{}", id(&e));
    let res = app
        .request(reqwest::Method::PATCH, &path, &editor)
        .header("if-match", "\"1\"")
        .header("x-request-id", "rename-ada-1")
        .json(&json!({ "name": "Ada King", "metadata": { "title": "Countess" } }))
        .send()
        .await?;
    assert_eq!(res.status(), StatusCode::OK);
    app.delete(&path, &editor).await?;

    let history: Value = app
        .get(&format!("{path}/history"), &viewer)
        .await?
        .json()
        .await?;
    let items = history["items"].as_array().cloned().unwrap_or_default();
    let actions: Vec<&str> = items.iter().filter_map(|i| i["action"].as_str()).collect();
    assert_eq!(
        actions,
        ["create", "update", "delete"],
        "a deleted entity keeps its history"
    );
    for item in &items {
        assert_eq!(item["actor_id"], me["id"]);
        assert!(item["at"].is_string());
        assert_eq!(item["target_id"], e["id"]);
    }
    assert_eq!(items[1]["request_id"], "rename-ada-1");
    assert_eq!(
        items[1]["changes"]["name"],
        json!({ "before": "Ada", "after": "Ada King" })
    );
    assert_eq!(
        items[1]["changes"]["metadata"],
        json!({ "before": {}, "after": { "title": "Countess" } })
    );
    assert!(items[1]["changes"].get("type").is_none());

    let first: Value = app
        .get(&format!("{path}/history?limit=2"), &viewer)
        .await?
        .json()
        .await?;
    let cursor = first["next_cursor"].as_str().unwrap_or_default().to_owned();
    let rest: Value = app
        .get(&format!("{path}/history?limit=2&cursor={cursor}"), &viewer)
        .await?
        .json()
        .await?;
    assert_eq!(rest["items"][0], items[2]);
    assert!(rest["next_cursor"].is_null());
    problem(
        app.get(
            &format!("/v1/entities/{}/history", uuid::Uuid::now_v7()),
            &viewer,
        )
        .await?,
        StatusCode::NOT_FOUND,
        "entity_not_found",
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn the_audit_log_filters_pages_and_cannot_be_altered() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let editor = app.token("editor").await?;
    let admin = app.token("admin").await?;
    let me: Value = app.get("/v1/auth/me", &editor).await?.json().await?;
    let before = chrono::Utc::now();
    let mut made = Vec::new();
    for name in ["a", "b", "c"] {
        made.push(
            app.create_entity(&editor, json!({ "type": "Doc", "name": name }))
                .await?,
        );
    }
    app.delete(&format!("/v1/entities/{}", id(&made[1])), &editor)
        .await?;

    let q = format!(
        "/v1/audit?actor_id={}&target_type=entity&action=create&from={}",
        me["id"].as_str().unwrap_or_default(),
        before
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
            .replace('+', "%2B"),
    );
    let page: Value = app
        .get(&format!("{q}&limit=2"), &admin)
        .await?
        .json()
        .await?;
    let targets: Vec<&str> = page["items"]
        .as_array()
        .map(|a| a.iter().filter_map(|i| i["target_id"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(targets, [id(&made[0]), id(&made[1])]);
    let cursor = page["next_cursor"].as_str().unwrap_or_default().to_owned();
    let page: Value = app
        .get(&format!("{q}&limit=2&cursor={cursor}"), &admin)
        .await?
        .json()
        .await?;
    assert_eq!(page["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(page["items"][0]["target_id"], made[2]["id"]);
    assert!(page["next_cursor"].is_null());

    let deletes: Value = app
        .get(
            &format!("/v1/audit?target_id={}&action=delete", id(&made[1])),
            &admin,
        )
        .await?
        .json()
        .await?;
    assert_eq!(deletes["items"].as_array().map(Vec::len), Some(1));
    let until: Value = app
        .get(
            &format!(
                "/v1/audit?until={}",
                before.format("%Y-%m-%dT%H:%M:%S%.6fZ")
            ),
            &admin,
        )
        .await?
        .json()
        .await?;
    assert!(
        until["items"]
            .as_array()
            .is_some_and(|a| a.iter().all(|i| i["target_type"] != "entity")),
        "nothing of the graph happened before it: {until}"
    );

    let p = problem(
        app.get(
            "/v1/audit?actor_id=x&action=drop&from=yesterday&target_type=table&cursor=z",
            &admin,
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
        ["action", "actor_id", "cursor", "from", "target_type"]
    );

    // The database itself refuses to change or remove audit and feed rows.
    for sql in [
        "UPDATE audit_log SET action = 'create'",
        "DELETE FROM audit_log",
        "UPDATE changes SET version = 7",
        "DELETE FROM changes",
    ] {
        assert!(app.execute(sql).await.is_err(), "{sql} must be refused");
    }
    Ok(())
}
