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
    Ok(())
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
    Ok(())
}

#[tokio::test]
async fn a_relationship_patch_needs_the_current_etag_and_one_of_two_racers_wins()
-> anyhow::Result<()> {
    let app = spawn_app().await?;
    let token = app.token("editor").await?;
    let a = app
        .create_entity(&token, json!({ "type": "Person", "name": "A" }))
        .await?;
    let b = app
        .create_entity(&token, json!({ "type": "Person", "name": "B" }))
        .await?;
    let res = app.create_relationship(&token, &a, &b, "KNOWS").await?;
    let etag = res
        .headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .unwrap_or_default();
    assert_eq!(etag, "\"1\"");
    let r: Value = res.json().await?;
    let path = format!("/v1/relationships/{}", r["id"].as_str().unwrap_or_default());

    let patch = json!({ "confidence": 0.4, "metadata": { "page": 12 } });
    problem(
        app.patch(&path, &token, None, &patch).await?,
        StatusCode::PRECONDITION_REQUIRED,
        "precondition_required",
    )
    .await?;
    let bad = problem(
        app.patch(
            &path,
            &token,
            Some("\"9\""),
            &json!({ "target_id": a["id"] }),
        )
        .await?,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await?;
    assert_eq!(
        fields(&bad),
        ["target_id"],
        "validation precedes the version"
    );

    // Two writers holding the same ETag: exactly one wins.
    let one = json!({ "confidence": 0.1 });
    let two = json!({ "confidence": 0.2 });
    let (first, second) = tokio::join!(
        app.patch(&path, &token, Some(&etag), &one),
        app.patch(&path, &token, Some(&etag), &two),
    );
    let mut statuses = [first?.status(), second?.status()];
    statuses.sort();
    assert_eq!(
        statuses,
        [StatusCode::OK, StatusCode::PRECONDITION_FAILED],
        "one PATCH wins, the other is stale"
    );

    let res = app.patch(&path, &token, Some("\"2\""), &patch).await?;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.headers().get("etag").and_then(|v| v.to_str().ok()),
        Some("\"3\"")
    );
    let updated: Value = res.json().await?;
    assert_eq!(updated["confidence"], 0.4);
    assert_eq!(updated["metadata"], json!({ "page": 12 }));
    assert_eq!(updated["version"], 3);
    // Changing the type onto an existing triple is a conflict.
    app.create_relationship(&token, &a, &b, "MET").await?;
    problem(
        app.patch(&path, &token, Some("\"3\""), &json!({ "type": "MET" }))
            .await?,
        StatusCode::CONFLICT,
        "duplicate_relationship",
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn relationship_lists_filter_by_confidence_creation_time_and_metadata() -> anyhow::Result<()>
{
    let app = spawn_app().await?;
    let token = app.token("editor").await?;
    let a = app
        .create_entity(&token, json!({ "type": "P", "name": "a" }))
        .await?;
    let b = app
        .create_entity(&token, json!({ "type": "P", "name": "b" }))
        .await?;
    let mut made = Vec::new();
    for (kind, confidence, meta) in [
        ("CITES", 0.9, json!({ "page": 12 })),
        ("QUOTES", 0.4, json!({ "page": 3 })),
        ("MENTIONS", 0.95, json!({ "page": "12" })),
    ] {
        let r: Value = app
            .post(
                "/v1/relationships",
                &token,
                &json!({ "source_id": a["id"], "target_id": b["id"], "type": kind, "confidence": confidence, "metadata": meta }),
            )
            .await?
            .json()
            .await?;
        made.push(r);
    }
    let kinds = |page: &Value| -> Vec<String> {
        page["items"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|i| i["type"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let get = |q: String| {
        let (app, token) = (&app, &token);
        async move {
            anyhow::Ok(
                app.get(&format!("/v1/relationships?{q}"), token)
                    .await?
                    .json::<Value>()
                    .await?,
            )
        }
    };
    assert_eq!(
        kinds(&get("min_confidence=0.5".into()).await?),
        ["CITES", "MENTIONS"]
    );
    assert_eq!(
        kinds(&get("metadata.page=12".into()).await?),
        ["CITES", "MENTIONS"]
    );
    assert_eq!(
        kinds(&get("metadata.page=12&min_confidence=0.92".into()).await?),
        ["MENTIONS"]
    );
    let first = made[0]["created_at"]
        .as_str()
        .unwrap_or_default()
        .replace('+', "%2B");
    assert_eq!(
        kinds(&get(format!("created_after={first}")).await?),
        ["QUOTES", "MENTIONS"]
    );
    let p = problem(
        app.get(
            "/v1/relationships?metadata.=1&source_id=x&source_id=y",
            &token,
        )
        .await?,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await?;
    let mut named = fields(&p);
    named.sort();
    named.dedup();
    assert_eq!(named, ["metadata.", "source_id"], "repeated and not a UUID");
    Ok(())
}

// An end being deleted by a transaction that has not committed yet: the
// link waits for it, then sees the end deleted and is refused. Without the
// share lock on the ends (PostgreSQL: the insert's trigger, migration 17)
// the link would check the end while its delete is still invisible, and a
// live relationship would point at a deleted entity.
#[tokio::test]
async fn a_link_waits_for_a_concurrent_delete_of_its_end_and_is_refused() -> anyhow::Result<()> {
    use sea_orm::{ConnectionTrait as _, TransactionTrait as _};

    let app = spawn_app().await?;
    if !app.is_postgres() {
        // SQLite's single writer makes the two take turns.
        return Ok(());
    }
    let token = app.token("editor").await?;
    let from = app
        .create_entity(&token, json!({ "type": "Doc", "name": "from" }))
        .await?;
    let to = app
        .create_entity(&token, json!({ "type": "Doc", "name": "to" }))
        .await?;
    let deleting = app.connection().begin().await?;
    deleting
        .execute_unprepared(&format!(
            "UPDATE entities SET deleted_at = now() WHERE id = '{}'",
            to["id"].as_str().unwrap_or_default()
        ))
        .await?;
    let body = json!({ "source_id": from["id"], "target_id": to["id"], "type": "CITES" });
    // The link's backend, waiting on the deleting transaction's row lock
    // (not a beat of the principal channel waiting on NOTIFY's lock).
    let waiting = format!(
        "SELECT count(*) AS n FROM pg_stat_activity \
         WHERE datname = current_database() AND wait_event_type = 'Lock' \
           AND wait_event IN ('transactionid', 'tuple') AND application_name <> '{}'",
        kg_persistence::PRINCIPALS_APPLICATION_NAME
    );
    let (linked, committed) = tokio::join!(app.post("/v1/relationships", &token, &body), async {
        // Commit once the link is seen waiting for the delete's lock.
        let mut waited = false;
        for _ in 0..250 {
            let row = app
                .connection()
                .query_one_raw(sea_orm::Statement::from_string(
                    app.connection().get_database_backend(),
                    waiting.clone(),
                ))
                .await?;
            if row.and_then(|r| r.try_get::<i64>("", "n").ok()) == Some(1) {
                waited = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        deleting.commit().await?;
        anyhow::Ok(waited)
    });
    assert!(committed?, "the link waited for the delete's lock");
    let refused = problem(
        linked?,
        StatusCode::UNPROCESSABLE_ENTITY,
        "relationship_endpoint_not_live",
    )
    .await?;
    assert_eq!(fields(&refused), ["target_id"]);
    assert_eq!(app.count("relationships").await?, 0, "nothing written");
    Ok(())
}
