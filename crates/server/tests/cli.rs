//! The `kg` binary as an operator and a CI/CD pipeline use it.

use std::io::Write as _;
use std::process::{Command, Output, Stdio};

struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> anyhow::Result<Self> {
        Ok(Self {
            dir: tempfile::tempdir()?,
        })
    }

    fn kg(
        &self,
        args: &[&str],
        stdin: Option<&str>,
        extra: &[(&str, &str)],
    ) -> anyhow::Result<Output> {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_kg"));
        cmd.args(args)
            .current_dir(self.dir.path())
            .env_clear()
            .env("KG_DATA_DIR", self.dir.path().join("data"))
            .env("KG_LOG", "warn")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in extra {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn()?;
        if let Some(mut pipe) = child.stdin.take() {
            pipe.write_all(stdin.unwrap_or_default().as_bytes())?;
        }
        Ok(child.wait_with_output()?)
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn migrate_status_gates_a_pipeline_until_the_schema_is_current() -> anyhow::Result<()> {
    let env = Env::new()?;
    let status = env.kg(&["migrate", "status"], None, &[])?;
    assert_eq!(status.status.code(), Some(1), "{}", text(&status.stderr));
    assert!(text(&status.stdout).contains("pending"));
    let up = env.kg(&["migrate", "up"], None, &[])?;
    assert!(up.status.success(), "{}", text(&up.stderr));
    let status = env.kg(&["migrate", "status"], None, &[])?;
    assert!(status.status.success(), "{}", text(&status.stdout));
    assert!(text(&status.stdout).contains(", 0 pending"));
    let fresh = env.kg(&["migrate", "fresh"], None, &[])?;
    assert!(!fresh.status.success(), "fresh without --yes must refuse");
    Ok(())
}

#[test]
fn user_create_reads_the_password_from_stdin_and_applies_the_policy() -> anyhow::Result<()> {
    let env = Env::new()?;
    let weak = env.kg(
        &[
            "user",
            "create",
            "--email",
            "ops@example.org",
            "--role",
            "admin",
            "--password-stdin",
        ],
        Some("password1234\n"),
        &[],
    )?;
    assert!(!weak.status.success());
    assert!(
        text(&weak.stderr).contains("password"),
        "{}",
        text(&weak.stderr)
    );
    let ok = env.kg(
        &[
            "user",
            "create",
            "--email",
            "Ops@Example.org",
            "--role",
            "admin",
            "--password-stdin",
        ],
        Some("a-long-and-unusual-passphrase\n"),
        &[],
    )?;
    assert!(ok.status.success(), "{}", text(&ok.stderr));
    assert!(text(&ok.stdout).contains("created admin user ops@example.org"));
    assert!(!text(&ok.stdout).contains("passphrase") && !text(&ok.stderr).contains("passphrase"));
    let again = env.kg(
        &[
            "user",
            "create",
            "--email",
            "ops@example.org",
            "--role",
            "viewer",
            "--password-stdin",
        ],
        Some("another-long-passphrase\n"),
        &[],
    )?;
    assert!(!again.status.success(), "duplicate email accepted");
    Ok(())
}

#[test]
fn production_refuses_to_start_without_explicit_strong_settings() -> anyhow::Result<()> {
    let env = Env::new()?;
    let out = env.kg(&["check-config"], None, &[("KG_ENV", "production")])?;
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("KG_DATABASE_URL") && err.contains("KG_JWT_SECRET"),
        "{err}"
    );
    let out = env.kg(
        &["serve"],
        None,
        &[
            ("KG_ENV", "production"),
            ("KG_DATABASE_URL", "postgres://127.0.0.1:1/kg"),
            ("KG_JWT_SECRET", "changeme-changeme-changeme-changeme"),
        ],
    )?;
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("KG_JWT_SECRET"),
        "{}",
        text(&out.stderr)
    );
    assert!(
        !text(&out.stderr).contains("changeme-changeme"),
        "the secret itself is never printed"
    );
    Ok(())
}

#[test]
fn api_keys_are_created_for_an_existing_user_and_revoked_from_the_command_line()
-> anyhow::Result<()> {
    let env = Env::new()?;
    let out = env.kg(
        &[
            "api-key",
            "create",
            "--name",
            "etl",
            "--role",
            "editor",
            "--owner",
            "ops@example.org",
        ],
        None,
        &[],
    )?;
    assert!(!out.status.success(), "no such owner yet");
    let user = env.kg(
        &[
            "user",
            "create",
            "--email",
            "ops@example.org",
            "--role",
            "admin",
            "--password-stdin",
        ],
        Some("a-long-and-unusual-passphrase\n"),
        &[],
    )?;
    assert!(user.status.success(), "{}", text(&user.stderr));
    let admin_key = env.kg(
        &[
            "api-key",
            "create",
            "--name",
            "etl",
            "--role",
            "admin",
            "--owner",
            "ops@example.org",
        ],
        None,
        &[],
    )?;
    assert!(!admin_key.status.success(), "keys are never admins");
    let out = env.kg(
        &[
            "api-key",
            "create",
            "--name",
            "etl",
            "--role",
            "editor",
            "--owner",
            "ops@example.org",
            "--expires-in-days",
            "30",
        ],
        None,
        &[],
    )?;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("secret (shown once): kg_"), "{stdout}");
    let id = stdout
        .split(['(', ')'])
        .nth(1)
        .ok_or_else(|| anyhow::anyhow!("no id in {stdout}"))?
        .to_owned();
    let revoke = env.kg(&["api-key", "revoke", "--id", &id], None, &[])?;
    assert!(revoke.status.success(), "{}", text(&revoke.stderr));
    let again = env.kg(&["api-key", "revoke", "--id", &id], None, &[])?;
    assert!(!again.status.success(), "already revoked");
    Ok(())
}
