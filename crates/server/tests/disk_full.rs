//! SQLite on a full disk: writes answer 503 `database_unavailable` (never a
//! 500, and nothing acknowledged is lost), and kg writes again, without a
//! restart, once space returns.
//!
//! It mounts a small tmpfs as the data directory, which needs root, so it
//! is `#[ignore]`d in the test suite and run on its own by `.ci/run`.

// Shared with the signal and fault tests; this file needs only part of it.
#[allow(dead_code)]
mod common;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{Server, create_editor};

/// A tmpfs mounted at a directory until dropped.
struct Mount(PathBuf);

impl Mount {
    fn tmpfs(at: &Path, size: &str) -> anyhow::Result<Self> {
        std::fs::create_dir_all(at)?;
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .status()?;
        anyhow::ensure!(status.success(), "mount needs root");
        Ok(Self(at.to_owned()))
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Fills the file system holding `dir` until a write fails.
fn fill(dir: &Path) -> anyhow::Result<PathBuf> {
    let path = dir.join("filler");
    let mut file = std::fs::File::create(&path)?;
    let block = vec![0u8; 64 * 1024];
    loop {
        if file
            .write_all(&block)
            .and_then(|()| file.sync_all())
            .is_err()
        {
            return Ok(path);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "mounts a tmpfs, which needs root; .ci/run runs it alone"]
async fn sqlite_on_a_full_disk_answers_503_and_recovers_when_space_returns() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mount = Mount::tmpfs(&dir.path().join("data"), "16m")?;
    create_editor(dir.path(), &[], "w@example.org")?;
    let mut server = Server::start(dir.path(), &[]).await?;
    let token = server.token("w@example.org").await?;
    let client = reqwest::Client::new();
    let write = |name: String| {
        let (client, base, token) = (client.clone(), server.base.clone(), token.clone());
        async move {
            let res = client
                .post(format!("{base}/v1/entities"))
                .bearer_auth(&token)
                .json(&serde_json::json!({ "type": "Doc", "name": name, "metadata": { "pad": "x".repeat(4000) } }))
                .send()
                .await?;
            let status = res.status().as_u16();
            let body: serde_json::Value = res.json().await?;
            anyhow::Ok((status, body))
        }
    };
    let (status, _) = write("before".to_owned()).await?;
    assert_eq!(status, 201);

    let filler = fill(&mount.0)?;
    let mut acknowledged = Vec::new();
    let mut refused = None;
    for i in 0..500 {
        let name = format!("full-{i}");
        let (status, body) = write(name.clone()).await?;
        match status {
            201 => acknowledged.push(name),
            503 => {
                refused = Some(body);
                break;
            }
            other => anyhow::bail!("a write on a full disk answered {other}: {body}"),
        }
    }
    let refused = refused.ok_or_else(|| anyhow::anyhow!("500 writes fit on a full disk"))?;
    assert_eq!(refused["code"], "database_unavailable", "{refused}");
    // Reads still work.
    let res = client
        .get(format!("{}/v1/entities?name=before", server.base))
        .bearer_auth(&token)
        .send()
        .await?;
    assert_eq!(res.status(), 200);

    std::fs::remove_file(filler)?;
    let mut recovered = false;
    for i in 0..50 {
        let (status, _) = write(format!("after-{i}")).await?;
        if status == 201 {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(recovered, "no write succeeded once space returned");
    for name in acknowledged
        .iter()
        .chain(std::iter::once(&"before".to_owned()))
    {
        let page: serde_json::Value = client
            .get(format!("{}/v1/entities?name={name}", server.base))
            .bearer_auth(&token)
            .send()
            .await?
            .json()
            .await?;
        assert!(
            page["items"].as_array().is_some_and(|a| !a.is_empty()),
            "acknowledged {name} is missing"
        );
    }
    server.child.kill()?;
    server.child.wait()?;
    drop(mount);
    Ok(())
}
