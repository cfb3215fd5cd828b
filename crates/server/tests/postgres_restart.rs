//! PostgreSQL stopped under a running kg, then started again: requests fail
//! fast with 503 while it is down, kg serves again without a restart, and no
//! acknowledged write is lost.
//!
//! It stops the machine's PostgreSQL cluster, so it is `#[ignore]`d in the
//! test suite and run on its own by `.ci/run` (with `--ignored`), after every
//! other test.

// Shared with the signal and fault tests; this file needs only part of it.
#[allow(dead_code)]
mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{Server, create_editor};

fn cluster(action: &str) -> anyhow::Result<()> {
    let version = std::fs::read_dir("/etc/postgresql")?
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .next()
        .ok_or_else(|| anyhow::anyhow!("no PostgreSQL cluster in /etc/postgresql"))?;
    let mut args = vec!["--skip-systemctl-redirect", &version, "main", action];
    if action == "stop" {
        args.extend(["-m", "fast"]);
    }
    let status = Command::new("pg_ctlcluster").args(&args).status()?;
    anyhow::ensure!(status.success(), "pg_ctlcluster {action} failed");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "stops the machine's PostgreSQL; .ci/run runs it alone"]
async fn kg_survives_a_postgres_restart_and_loses_no_acknowledged_write() -> anyhow::Result<()> {
    let database = kg_persistence::testing::TestDatabase::create().await?;
    anyhow::ensure!(
        database.url.starts_with("postgres"),
        "run with KG_TEST_DATABASE=postgres"
    );
    let dir = tempfile::tempdir()?;
    let env = [
        ("KG_DATABASE_URL", database.url.as_str()),
        ("KG_DB_ACQUIRE_TIMEOUT_SECS", "1"),
    ];
    create_editor(dir.path(), &env, "w@example.org")?;
    let server = Server::start(dir.path(), &env).await?;
    let token = server.token("w@example.org").await?;
    let client = reqwest::Client::new();
    let write = |name: String| {
        let (client, base, token) = (client.clone(), server.base.clone(), token.clone());
        async move {
            client
                .post(format!("{base}/v1/entities"))
                .bearer_auth(&token)
                .json(&serde_json::json!({ "type": "Doc", "name": name }))
                .send()
                .await
        }
    };
    let mut acknowledged = Vec::new();
    for i in 0..5 {
        let name = format!("before-{i}");
        if write(name.clone()).await?.status().is_success() {
            acknowledged.push(name);
        }
    }

    cluster("stop")?;
    let outage = async {
        let mut slowest = Duration::ZERO;
        for i in 0..5 {
            let started = Instant::now();
            let res = write(format!("during-{i}")).await?;
            slowest = slowest.max(started.elapsed());
            anyhow::ensure!(
                res.status() == reqwest::StatusCode::SERVICE_UNAVAILABLE,
                "{}",
                res.status()
            );
            anyhow::ensure!(res.headers().contains_key("retry-after"));
            let body: serde_json::Value = res.json().await?;
            anyhow::ensure!(body["code"] == "database_unavailable", "{body}");
        }
        anyhow::Ok(slowest)
    }
    .await;
    // Whatever happened, bring PostgreSQL back before judging.
    cluster("start")?;
    let slowest = outage?;
    assert!(
        slowest < Duration::from_secs(5),
        "a request hung for {slowest:?}"
    );

    let started = Instant::now();
    loop {
        let name = format!("after-{}", acknowledged.len());
        if let Ok(res) = write(name.clone()).await
            && res.status().is_success()
        {
            acknowledged.push(name);
            break;
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(60),
            "kg never recovered"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let page: serde_json::Value = client
        .get(format!("{}/v1/entities?limit=100", server.base))
        .bearer_auth(&token)
        .send()
        .await?
        .json()
        .await?;
    let stored: Vec<&str> = page["items"]
        .as_array()
        .map(|a| a.iter().filter_map(|e| e["name"].as_str()).collect())
        .unwrap_or_default();
    for name in &acknowledged {
        assert!(
            stored.contains(&name.as_str()),
            "{name} was acknowledged but is gone"
        );
    }
    assert!(
        stored.iter().all(|n| !n.starts_with("during-")),
        "nothing refused was stored"
    );
    let mut server = server;
    server.signal_term()?;
    assert_eq!(server.wait_exit().await?.code(), Some(0));
    database.remove().await?;
    Ok(())
}
