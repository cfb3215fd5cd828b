//! Durability of the real binary: `kill -9` during a stream of writes loses
//! no write that was acknowledged, and a database that would lose
//! acknowledged writes is refused at start. Each runs on the database of
//! `KG_TEST_DATABASE` (embedded SQLite by default).

// Shared with the signal and fault tests; this file needs only part of it.
#[allow(dead_code)]
mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::{Server, create_editor, database_env, kg};
use kg_persistence::testing::TestDatabase;
use sea_orm::ConnectionTrait as _;

/// Every `Doc` name stored, read page by page.
async fn stored_names(server: &Server, token: &str) -> anyhow::Result<HashSet<String>> {
    let client = reqwest::Client::new();
    let mut names = HashSet::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!("{}/v1/entities?type=Doc&limit=100", server.base);
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let page: serde_json::Value = client
            .get(url)
            .bearer_auth(token)
            .send()
            .await?
            .json()
            .await?;
        names.extend(
            page["items"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|e| e["name"].as_str().map(str::to_owned)),
        );
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return Ok(names),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_nine_under_writes_loses_no_acknowledged_write() -> anyhow::Result<()> {
    let database = TestDatabase::create().await?;
    let dir = tempfile::tempdir()?;
    let env = database_env(&database);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    create_editor(dir.path(), &env, "w@example.org")?;
    let mut server = Server::start(dir.path(), &env).await?;
    let token = server.token("w@example.org").await?;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?;

    // Four writers until the server goes away; each keeps the names acknowledged.
    let writers = common::writers(&client, &server.base, &token);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // SIGKILL: no shutdown, no flush, nothing the process can do.
    server.child.kill()?;
    server.child.wait()?;
    let mut acknowledged = Vec::new();
    for writer in writers {
        acknowledged.extend(writer.await?);
    }
    anyhow::ensure!(
        acknowledged.len() >= 10,
        "only {} writes",
        acknowledged.len()
    );
    eprintln!("{} writes acknowledged before kill -9", acknowledged.len());

    let server = Server::start(dir.path(), &env).await?;
    let token = server.token("w@example.org").await?;
    let stored = stored_names(&server, &token).await?;
    let lost: Vec<_> = acknowledged
        .iter()
        .filter(|n| !stored.contains(*n))
        .collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged writes lost: {lost:?}",
        lost.len(),
        acknowledged.len()
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_that_would_lose_acknowledged_writes_is_refused_at_start() -> anyhow::Result<()>
{
    let database = TestDatabase::create().await?;
    let dir = tempfile::tempdir()?;
    let env = database_env(&database);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    // `kg serve`'s exit and what it said, or a failure if it still serves
    // after 60 s (which is what it would do without the check).
    let serve = || -> anyhow::Result<(std::process::ExitStatus, String)> {
        let mut child = kg(dir.path(), &env)
            .args(["serve"])
            .env("KG_BIND", "127.0.0.1:0")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()?;
        let started = std::time::Instant::now();
        while child.try_wait()?.is_none() {
            if started.elapsed() > Duration::from_secs(60) {
                child.kill()?;
                anyhow::bail!("kg is serving a database without durable commits");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let out = child.wait_with_output()?;
        Ok((
            out.status,
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ))
    };
    if database.url.starts_with("postgres") {
        // A database whose commits return before they are on disk.
        let name = database
            .url
            .rsplit('/')
            .next()
            .and_then(|n| n.split('?').next())
            .unwrap_or_default()
            .to_owned();
        let db =
            kg_persistence::connect(&kg_persistence::DatabaseSettings::new(database.url.clone()))
                .await?;
        db.execute_unprepared(&format!(
            "ALTER DATABASE \"{name}\" SET synchronous_commit = off"
        ))
        .await?;
        db.close().await?;
        let (status, stderr) = serve()?;
        assert!(
            !status.success(),
            "kg served a database without durable commits"
        );
        assert!(
            stderr.contains("synchronous_commit"),
            "the refusal names the setting: {stderr}"
        );
    } else {
        // SQLite's settings are the connection's own: every connection kg
        // opens reports the ones that keep acknowledged writes.
        std::fs::create_dir_all(dir.path().join("data"))?;
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("data").join("check.db").display()
        );
        let db = kg_persistence::connect(&kg_persistence::DatabaseSettings::new(url)).await?;
        for (name, value, expected) in kg_persistence::durability_report(&db).await? {
            assert_eq!(value, expected, "{name}");
        }
    }
    Ok(())
}
