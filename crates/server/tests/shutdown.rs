//! SIGTERM on the real binary during a stream of writes: readiness fails
//! first, in-flight requests finish, every acknowledged write is stored, and
//! the process exits 0.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const PASSWORD: &str = "a-long-and-unusual-passphrase";

fn kg(dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kg"));
    cmd.current_dir(dir)
        .env_clear()
        .env("KG_DATA_DIR", dir.join("data"))
        .env("KG_LOG", "warn");
    cmd
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_fails_readiness_finishes_in_flight_writes_and_exits_zero() -> anyhow::Result<()> {
    use std::io::Write as _;

    let dir = tempfile::tempdir()?;
    let mut create = kg(dir.path())
        .args([
            "user",
            "create",
            "--email",
            "w@example.org",
            "--role",
            "editor",
            "--password-stdin",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()?;
    create
        .stdin
        .take()
        .map(|mut s| s.write_all(PASSWORD.as_bytes()))
        .transpose()?;
    assert!(create.wait()?.success());

    let port = free_port()?;
    let base = format!("http://127.0.0.1:{port}");
    let mut server = kg(dir.path())
        .arg("serve")
        .env("KG_BIND", format!("127.0.0.1:{port}"))
        .env("KG_SHUTDOWN_DRAIN_SECS", "1")
        .env("KG_SHUTDOWN_TIMEOUT_SECS", "10")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let client = reqwest::Client::new();
    let started = Instant::now();
    loop {
        if let Ok(res) = client.get(format!("{base}/health/ready")).send().await
            && res.status() == reqwest::StatusCode::OK
        {
            break;
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(60),
            "kg did not start"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let login: serde_json::Value = client
        .post(format!("{base}/v1/auth/token"))
        .json(&serde_json::json!({ "email": "w@example.org", "password": PASSWORD }))
        .send()
        .await?
        .json()
        .await?;
    let token = login["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();

    // Four writers until the server goes away; each keeps the names acknowledged.
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let (client, base, token) = (client.clone(), base.clone(), token.clone());
            tokio::spawn(async move {
                let mut acknowledged = Vec::new();
                for i in 0.. {
                    let name = format!("w{w}-{i}");
                    let res = client
                        .post(format!("{base}/v1/entities"))
                        .bearer_auth(&token)
                        .json(&serde_json::json!({ "type": "Doc", "name": name }))
                        .send()
                        .await;
                    match res {
                        Ok(r) if r.status().is_success() => acknowledged.push(name),
                        Ok(_) => {}
                        Err(_) => break,
                    }
                }
                acknowledged
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let killed = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()?;
    assert!(killed.success());

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

    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = server.try_wait()? {
            break status;
        }
        anyhow::ensure!(Instant::now() < deadline, "kg did not exit after SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
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

    let export = kg(dir.path()).arg("export").output()?;
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
