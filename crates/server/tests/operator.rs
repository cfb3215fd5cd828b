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

/// The status of a login, and the problem's code when it fails.
async fn login(
    server: &Server,
    email: &str,
    password: &str,
) -> anyhow::Result<(StatusCode, String)> {
    let res = reqwest::Client::new()
        .post(format!("{}/v1/auth/token", server.base))
        .json(&serde_json::json!({ "email": email, "password": password }))
        .send()
        .await?;
    let status = res.status();
    let body: serde_json::Value = res.json().await?;
    Ok((status, body["code"].as_str().unwrap_or_default().to_owned()))
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
        (StatusCode::TOO_MANY_REQUESTS, "login_throttled".to_owned())
    );

    let weak = set_password(dir.path(), "ed@example.org", "short")?;
    assert!(!weak.status.success());
    assert!(
        String::from_utf8_lossy(&weak.stderr).contains("password: must be at least 12 characters"),
        "{}",
        String::from_utf8_lossy(&weak.stderr)
    );
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
        (StatusCode::UNAUTHORIZED, "invalid_credentials".to_owned()),
        "the old password is refused as wrong, no longer as locked out"
    );
    assert_eq!(
        login(&server, "ed@example.org", NEW_PASSWORD).await?.0,
        StatusCode::OK,
        "the new password works"
    );

    let list = kg(dir.path(), &[]).args(["user", "list"]).output()?;
    assert!(list.status.success());
    let list = String::from_utf8_lossy(&list.stdout).into_owned();
    let rows: Vec<Vec<&str>> = list.lines().map(|l| l.split('\t').collect()).collect();
    assert_eq!(
        rows.first().map(Vec::as_slice),
        Some(&["id", "email", "role", "active", "created_at"][..]),
        "{list}"
    );
    assert_eq!(rows.len(), 2, "{list}");
    assert_eq!(
        rows[1].get(1..4),
        Some(&["ed@example.org", "editor", "yes"][..]),
        "{list}"
    );
    assert!(!list.contains("$argon2"), "{list}");

    server.child.kill()?;
    server.child.wait()?;
    Ok(())
}
