//! A database that does not answer in time: requests fail fast with 503
//! `database_unavailable` and `Retry-After`, never hang, and the service
//! recovers by itself.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, Statement, TransactionTrait};
use serde_json::{Value, json};

use crate::helpers::{problem, spawn_app_with};

#[tokio::test]
async fn a_locked_database_answers_503_database_unavailable_quickly_and_then_recovers()
-> anyhow::Result<()> {
    let app = spawn_app_with(&[
        ("KG_DB_MAX_CONNECTIONS", "1"),
        ("KG_DB_ACQUIRE_TIMEOUT_SECS", "1"),
        ("KG_DB_STATEMENT_TIMEOUT_SECS", "2"),
        ("KG_DB_BUSY_TIMEOUT_SECS", "2"),
    ])
    .await?;
    let token = app.token("editor").await?;
    // Warm the cached maintenance mode so it is not what waits below.
    assert_eq!(
        app.get("/v1/entities", &token).await?.status(),
        StatusCode::OK
    );

    // Another client holds the write lock (SQLite) or an exclusive lock on
    // the entities table (PostgreSQL).
    let db = app.connection();
    let holder = db.begin().await?;
    let backend = holder.get_database_backend();
    let sql = if app.is_postgres() {
        "LOCK TABLE entities IN ACCESS EXCLUSIVE MODE"
    } else {
        "UPDATE users SET updated_at = updated_at"
    };
    holder
        .execute_raw(Statement::from_string(backend, sql.to_owned()))
        .await?;

    let started = Instant::now();
    let body = json!({ "type": "Doc", "name": "blocked" });
    let (waiting, queued) = tokio::join!(app.post("/v1/entities", &token, &body), async {
        // A second request finds the only connection taken.
        tokio::time::sleep(Duration::from_millis(200)).await;
        app.post("/v1/entities", &token, &body).await
    });
    for res in [waiting?, queued?] {
        assert_eq!(
            res.headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok()),
            Some("2")
        );
        problem(res, StatusCode::SERVICE_UNAVAILABLE, "database_unavailable").await?;
    }
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "no request waited past its timeouts: {:?}",
        started.elapsed()
    );
    holder.rollback().await?;

    let res = app.post("/v1/entities", &token, &body).await?;
    assert_eq!(
        res.status(),
        StatusCode::CREATED,
        "served again without a restart"
    );
    let created: Value = res.json().await?;
    assert_eq!(created["name"], "blocked");
    assert_eq!(app.count("entities").await?, 1, "nothing half-written");
    Ok(())
}
