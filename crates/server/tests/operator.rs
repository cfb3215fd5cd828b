//! An operator's account commands against a running kg: `kg user list`, and
//! `kg user set-password`, which replaces a password, ends the user's
//! sessions at once and lifts a login lock-out.

// Shared with the signal and fault tests; this file needs only part of it.
#[allow(dead_code)]
mod common;

use std::io::Write as _;
use std::process::{Output, Stdio};

use common::{PASSWORD, Server, create_editor, kg};
use reqwest::StatusCode;

const NEW_PASSWORD: &str = "another-long-unusual-passphrase";

fn set_password(dir: &std::path::Path, email: &str, password: &str) -> anyhow::Result<Output> {
    let mut child = kg(dir, &[])
        .args(["user", "set-password", "--email", email, "--password-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    if let Some(mut stdin) = child.stdin.take() {
        writeln!(stdin, "{password}")?;
    }
    Ok(child.wait_with_output()?)
}

async fn login(server: &Server, email: &str, password: &str) -> anyhow::Result<StatusCode> {
    Ok(reqwest::Client::new()
        .post(format!("{}/v1/auth/token", server.base))
        .json(&serde_json::json!({ "email": email, "password": password }))
        .send()
        .await?
        .status())
}

#[tokio::test]
async fn set_password_replaces_it_ends_sessions_and_lifts_a_lock_out() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    create_editor(dir.path(), &[], "ed@example.org")?;
    let mut server = Server::start(dir.path(), &[]).await?;
    let token = server.token("ed@example.org").await?;
    let me = |token: String| {
        let url = format!("{}/v1/auth/me", server.base);
        async move {
            anyhow::Ok(
                reqwest::Client::new()
                    .get(url)
                    .bearer_auth(token)
                    .send()
                    .await?
                    .status(),
            )
        }
    };
    assert_eq!(me(token.clone()).await?, StatusCode::OK);
    // Locked out by guesses.
    for _ in 0..6 {
        login(&server, "ed@example.org", "a-wrong-guess-here").await?;
    }
    assert_eq!(
        login(&server, "ed@example.org", PASSWORD).await?,
        StatusCode::TOO_MANY_REQUESTS
    );

    let weak = set_password(dir.path(), "ed@example.org", "short")?;
    assert!(!weak.status.success());
    assert!(String::from_utf8_lossy(&weak.stderr).contains("password"));
    let unknown = set_password(dir.path(), "nobody@example.org", NEW_PASSWORD)?;
    assert!(!unknown.status.success());

    let reset = set_password(dir.path(), "ed@example.org", NEW_PASSWORD)?;
    assert!(
        reset.status.success(),
        "{}",
        String::from_utf8_lossy(&reset.stderr)
    );
    assert_eq!(
        me(token).await?,
        StatusCode::UNAUTHORIZED,
        "the session ended"
    );
    assert_eq!(
        login(&server, "ed@example.org", PASSWORD).await?,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login(&server, "ed@example.org", NEW_PASSWORD).await?,
        StatusCode::OK,
        "the new password works and the lock-out is lifted"
    );

    let list = kg(dir.path(), &[]).args(["user", "list"]).output()?;
    assert!(list.status.success());
    let list = String::from_utf8_lossy(&list.stdout).into_owned();
    let row = list
        .lines()
        .find(|l| l.contains("ed@example.org"))
        .unwrap_or_default();
    let columns: Vec<&str> = row.split('\t').collect();
    assert_eq!(
        columns.get(1..4),
        Some(&["ed@example.org", "editor", "yes"][..]),
        "{list}"
    );
    assert!(!list.contains("hash"), "{list}");

    server.child.kill()?;
    server.child.wait()?;
    Ok(())
}
