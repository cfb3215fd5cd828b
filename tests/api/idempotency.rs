//! `Idempotency-Key` on creates.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, fields, problem, spawn_app};

async fn keyed(
    app: &TestApp,
    path: &str,
    token: &str,
    key: &str,
    body: &Value,
) -> anyhow::Result<reqwest::Response> {
    Ok(app
        .request(reqwest::Method::POST, path, token)
        .header("idempotency-key", key)
        .json(body)
        .send()
        .await?)
}

fn header(res: &reqwest::Response, name: &str) -> Option<String> {
    res.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

#[tokio::test]
async fn a_retried_create_replays_the_first_response_and_creates_nothing() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let token = app.token("editor").await?;
    let other = app.token("editor").await?;
    let body = json!({ "type": "Person", "name": "Ada", "metadata": { "born": 1815 } });

    let first = keyed(&app, "/v1/entities", &token, "ingest-42", &body).await?;
    assert_eq!(first.status(), StatusCode::CREATED);
    let (location, etag) = (header(&first, "location"), header(&first, "etag"));
    assert!(header(&first, "idempotent-replayed").is_none());
    let first_body: Value = first.json().await?;

    let again = keyed(&app, "/v1/entities", &token, "ingest-42", &body).await?;
    assert_eq!(again.status(), StatusCode::CREATED);
    assert_eq!(header(&again, "location"), location);
    assert_eq!(header(&again, "etag"), etag);
    assert_eq!(
        header(&again, "idempotent-replayed").as_deref(),
        Some("true")
    );
    assert_eq!(again.json::<Value>().await?, first_body);
    assert_eq!(app.count("entities").await?, 1);

    // Another body under the same key is refused; another principal's key
    // of the same name is its own.
    problem(
        keyed(
            &app,
            "/v1/entities",
            &token,
            "ingest-42",
            &json!({ "type": "Person", "name": "Eve" }),
        )
        .await?,
        StatusCode::UNPROCESSABLE_ENTITY,
        "idempotency_key_reused",
    )
    .await?;
    let theirs = keyed(&app, "/v1/entities", &other, "ingest-42", &body).await?;
    assert_eq!(theirs.status(), StatusCode::CREATED);
    assert_eq!(app.count("entities").await?, 2);

    // Relationships and batches honour keys too.
    let a: Value = first_body;
    let b = app
        .create_entity(&token, json!({ "type": "Person", "name": "Charles" }))
        .await?;
    let link = json!({ "source_id": a["id"], "target_id": b["id"], "type": "KNOWS" });
    let r1 = keyed(&app, "/v1/relationships", &token, "link-1", &link).await?;
    assert_eq!(r1.status(), StatusCode::CREATED);
    let r1: Value = r1.json().await?;
    let r2 = keyed(&app, "/v1/relationships", &token, "link-1", &link).await?;
    assert_eq!(
        r2.status(),
        StatusCode::CREATED,
        "not a duplicate_relationship"
    );
    assert_eq!(r2.json::<Value>().await?, r1);

    let batch = json!({ "entities": [{ "type": "Doc", "name": "d", "external_id": "d:1" }] });
    let b1: Value = keyed(&app, "/v1/batch", &token, "batch-1", &batch)
        .await?
        .json()
        .await?;
    assert_eq!(b1["summary"]["created"], 1);
    let changes = app.count("changes").await?;
    let b2 = keyed(&app, "/v1/batch", &token, "batch-1", &batch).await?;
    assert_eq!(header(&b2, "idempotent-replayed").as_deref(), Some("true"));
    assert_eq!(
        b2.json::<Value>().await?,
        b1,
        "the first answer, not 'unchanged'"
    );
    assert_eq!(app.count("changes").await?, changes);
    Ok(())
}

#[tokio::test]
async fn a_failed_create_frees_its_key_and_bad_keys_are_refused() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let token = app.token("editor").await?;
    app.create_entity(
        &token,
        json!({ "type": "Person", "name": "Ada", "external_id": "x:1" }),
    )
    .await?;
    problem(
        keyed(
            &app,
            "/v1/entities",
            &token,
            "retry-me",
            &json!({ "type": "Person", "name": "Ada", "external_id": "x:1" }),
        )
        .await?,
        StatusCode::CONFLICT,
        "external_id_taken",
    )
    .await?;
    let fixed = keyed(
        &app,
        "/v1/entities",
        &token,
        "retry-me",
        &json!({ "type": "Person", "name": "Ada", "external_id": "x:2" }),
    )
    .await?;
    assert_eq!(
        fixed.status(),
        StatusCode::CREATED,
        "the failed attempt kept no claim"
    );

    for bad in ["", &"k".repeat(256), "tab\there"] {
        let p = problem(
            keyed(
                &app,
                "/v1/entities",
                &token,
                bad,
                &json!({ "type": "P", "name": "n" }),
            )
            .await?,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        )
        .await?;
        assert_eq!(fields(&p), ["Idempotency-Key"], "{bad:?}");
    }
    assert_eq!(app.count("idempotency_keys").await?, 1);
    Ok(())
}

#[tokio::test]
async fn a_duplicate_while_the_first_is_in_flight_is_a_409_with_retry_after() -> anyhow::Result<()>
{
    use sha2::{Digest, Sha256};

    let app = spawn_app().await?;
    let token = app.token("editor").await?;
    let me: Value = app.get("/v1/auth/me", &token).await?.json().await?;
    let body = json!({ "type": "Person", "name": "Ada" });
    let raw = serde_json::to_vec(&body)?;
    // The claim a first request holds while it runs: same principal, key
    // and fingerprint (method, path, body), a lease that has not run out.
    let fingerprint: Vec<u8> = Sha256::new()
        .chain_update(b"POST\n/v1/entities\n")
        .chain_update(&raw)
        .finalize()
        .to_vec();
    let hex: String = fingerprint.iter().map(|b| format!("{b:02x}")).collect();
    let blob = if app.is_postgres() {
        format!("'\\x{hex}'::bytea")
    } else {
        format!("X'{hex}'")
    };
    let far = if app.is_postgres() {
        "now() + interval '1 hour'"
    } else {
        "'2999-01-01 00:00:00+00:00'"
    };
    let now = if app.is_postgres() {
        "now()"
    } else {
        "'2999-01-01 00:00:00+00:00'"
    };
    app.execute(&format!(
        "INSERT INTO idempotency_keys (principal, key, fingerprint, created_at, locked_until) \
         VALUES ('user:{}', 'busy', {blob}, {now}, {far})",
        me["id"].as_str().unwrap_or_default()
    ))
    .await?;
    let res = app
        .request(reqwest::Method::POST, "/v1/entities", &token)
        .header("idempotency-key", "busy")
        .header("content-type", "application/json")
        .body(raw)
        .send()
        .await?;
    assert_eq!(header(&res, "retry-after").as_deref(), Some("1"));
    problem(res, StatusCode::CONFLICT, "idempotency_key_in_flight").await?;
    assert_eq!(app.count("entities").await?, 0);
    Ok(())
}
