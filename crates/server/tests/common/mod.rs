//! Running the real `kg` binary as a server, for the signal and fault tests.

use std::io::Write as _;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const PASSWORD: &str = "a-long-and-unusual-passphrase";

/// The settings that point `kg` at `database`: none for SQLite, whose file
/// lives in the server's data directory.
pub fn database_env(
    database: &kg_persistence::testing::TestDatabase,
) -> Vec<(&'static str, String)> {
    if database.url.starts_with("postgres") {
        vec![("KG_DATABASE_URL", database.url.clone())]
    } else {
        Vec::new()
    }
}

/// `kg` in `dir`, with nothing from this environment but `extra`.
pub fn kg(dir: &std::path::Path, extra: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kg"));
    cmd.current_dir(dir)
        .env_clear()
        .env("KG_DATA_DIR", dir.join("data"))
        .env("KG_LOG", "warn");
    for (k, v) in extra {
        cmd.env(k, v);
    }
    cmd
}

/// Creates an editor `email` with the shared password.
pub fn create_editor(
    dir: &std::path::Path,
    extra: &[(&str, &str)],
    email: &str,
) -> anyhow::Result<()> {
    create_user(dir, extra, email, "editor")
}

/// Creates a user `email` with `role` and the shared password.
pub fn create_user(
    dir: &std::path::Path,
    extra: &[(&str, &str)],
    email: &str,
    role: &str,
) -> anyhow::Result<()> {
    let mut create = kg(dir, extra)
        .args([
            "user",
            "create",
            "--email",
            email,
            "--role",
            role,
            "--password-stdin",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()?;
    if let Some(mut stdin) = create.stdin.take() {
        stdin.write_all(PASSWORD.as_bytes())?;
    }
    anyhow::ensure!(create.wait()?.success(), "user create failed");
    Ok(())
}

/// A running `kg serve` and its base URL.
pub struct Server {
    pub child: Child,
    pub base: String,
}

impl Server {
    /// Starts `kg serve` on a free port and waits until it is ready.
    pub async fn start(dir: &std::path::Path, extra: &[(&str, &str)]) -> anyhow::Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let child = kg(dir, extra)
            .arg("serve")
            .env("KG_BIND", format!("127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let server = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        let client = reqwest::Client::new();
        let started = Instant::now();
        loop {
            if let Ok(res) = client
                .get(format!("{}/health/ready", server.base))
                .send()
                .await
                && res.status() == reqwest::StatusCode::OK
            {
                return Ok(server);
            }
            anyhow::ensure!(
                started.elapsed() < Duration::from_secs(60),
                "kg did not start"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// An access token for `email`.
    pub async fn token(&self, email: &str) -> anyhow::Result<String> {
        let login: serde_json::Value = reqwest::Client::new()
            .post(format!("{}/v1/auth/token", self.base))
            .json(&serde_json::json!({ "email": email, "password": PASSWORD }))
            .send()
            .await?
            .json()
            .await?;
        Ok(login["access_token"]
            .as_str()
            .unwrap_or_default()
            .to_owned())
    }

    /// Sends SIGTERM.
    pub fn signal_term(&self) -> anyhow::Result<()> {
        let killed = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()?;
        anyhow::ensure!(killed.success(), "kill failed");
        Ok(())
    }

    /// Waits (30 s at most) for the process to exit.
    pub async fn wait_exit(&mut self) -> anyhow::Result<std::process::ExitStatus> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            anyhow::ensure!(Instant::now() < deadline, "kg did not exit");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// A server still running when its test ends, passing or failing, is
/// stopped with it.
impl Drop for Server {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Four writers creating `Doc` entities on `base` until the server goes
/// away; each answers the names that were acknowledged with a 2xx.
pub fn writers(
    client: &reqwest::Client,
    base: &str,
    token: &str,
) -> Vec<tokio::task::JoinHandle<Vec<String>>> {
    (0..4)
        .map(|w| {
            let (client, base, token) = (client.clone(), base.to_owned(), token.to_owned());
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
        .collect()
}
