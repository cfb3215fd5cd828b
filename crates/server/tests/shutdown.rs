//! SIGTERM on the real binary during a stream of writes: readiness fails
//! first, in-flight requests finish, every acknowledged write is stored, and
//! the process exits 0.

// Shared with the fault and memory tests; this file needs only part of it.
#[allow(dead_code)]
mod common;

use std::time::{Duration, Instant};

use common::{Server, create_editor, kg};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_fails_readiness_finishes_in_flight_writes_and_exits_zero() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    create_editor(dir.path(), &[], "w@example.org")?;
    let mut server = Server::start(
        dir.path(),
        &[
            ("KG_SHUTDOWN_DRAIN_SECS", "1"),
            ("KG_SHUTDOWN_TIMEOUT_SECS", "10"),
        ],
    )
    .await?;
    let token = server.token("w@example.org").await?;
    let client = reqwest::Client::new();
    let base = server.base.clone();

    // Four writers until the server goes away; each keeps the names acknowledged.
    let writers = common::writers(&client, &base, &token);
    tokio::time::sleep(Duration::from_millis(500)).await;
    server.signal_term()?;

    // Readiness fails while the server still answers (the drain period).
    let signalled = Instant::now();
    let mut unready = false;
    while signalled.elapsed() < Duration::from_millis(900) {
        let res = client.get(format!("{base}/health/ready")).send().await?;
        if res.status() == reqwest::StatusCode::SERVICE_UNAVAILABLE {
            unready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(unready, "readiness failed within the drain period");

    let status = server.wait_exit().await?;
    assert_eq!(status.code(), Some(0), "a clean exit");
    let mut acknowledged = Vec::new();
    for w in writers {
        acknowledged.extend(w.await?);
    }
    assert!(
        acknowledged.len() > 10,
        "the writers were writing: {}",
        acknowledged.len()
    );

    let export = kg(dir.path(), &[]).arg("export").output()?;
    assert!(export.status.success());
    let stored: std::collections::HashSet<String> = String::from_utf8_lossy(&export.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["name"].as_str().map(str::to_owned))
        .collect();
    let lost: Vec<_> = acknowledged
        .iter()
        .filter(|n| !stored.contains(*n))
        .collect();
    assert!(lost.is_empty(), "acknowledged but not stored: {lost:?}");
    Ok(())
}
