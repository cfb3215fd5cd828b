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
fn check_config_shows_no_secret_of_the_database_url() -> anyhow::Result<()> {
    let env = Env::new()?;
    let url = "postgres://kg:s3cret-pw@127.0.0.1:1/kg?sslmode=require&password=hunter2&sslpassword=topsecret&application_name=kg";
    let out = env.kg(&["check-config"], None, &[("KG_DATABASE_URL", url)])?;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let printed = text(&out.stdout) + &text(&out.stderr);
    for secret in ["s3cret-pw", "hunter2", "topsecret"] {
        assert!(!printed.contains(secret), "{secret} shown: {printed}");
    }
    for kept in [
        "kg:***@127.0.0.1:1/kg",
        "sslmode=require",
        "password=***",
        "application_name=kg",
    ] {
        assert!(printed.contains(kept), "{kept} missing: {printed}");
    }
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

const PASSWORD: &str = "a-long-and-unusual-passphrase";

fn lines(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

#[cfg(unix)]
#[test]
fn an_export_file_is_private_and_replaces_a_link_without_writing_through_it() -> anyhow::Result<()>
{
    use std::os::unix::fs::PermissionsExt as _;

    let env = Env::new()?;
    let dir = env.dir.path();
    let elsewhere = dir.join("elsewhere.txt");
    std::fs::write(&elsewhere, "keep me")?;
    let output = dir.join("graph.jsonl");
    std::os::unix::fs::symlink(&elsewhere, &output)?;
    let path = output.to_str().ok_or_else(|| anyhow::anyhow!("path"))?;
    let run = env.kg(&["export", "--output", path], None, &[])?;
    assert!(run.status.success(), "{}", text(&run.stderr));
    assert_eq!(std::fs::read_to_string(&elsewhere)?, "keep me");
    let written = std::fs::symlink_metadata(&output)?;
    assert!(written.file_type().is_file(), "the link was replaced");
    assert_eq!(written.permissions().mode() & 0o777, 0o600);
    let leftovers: Vec<_> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with(".partial"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    Ok(())
}

#[test]
fn export_then_import_into_an_empty_database_reproduces_the_graph() -> anyhow::Result<()> {
    let (a, b) = (Env::new()?, Env::new()?);
    for env in [&a, &b] {
        let made = env.kg(
            &[
                "user",
                "create",
                "--email",
                "ops@example.org",
                "--role",
                "editor",
                "--password-stdin",
            ],
            Some(PASSWORD),
            &[],
        )?;
        assert!(made.status.success(), "{}", text(&made.stderr));
    }
    // A hand-written file: entities first, relationships by external id or
    // by id, one line broken, one relationship to a missing entity.
    let source = a.dir.path().join("graph.jsonl");
    std::fs::write(
        &source,
        [
            r#"{"record":"entity","type":"Person","name":"Ada","external_id":"p:ada","metadata":{"born":1815}}"#,
            r#"{"record":"entity","id":"0198f4d2-2b1a-7c00-8000-000000000001","type":"Machine","name":"Engine","confidence":0.9}"#,
            r#"{"record":"entity","type":"Person","name":""}"#,
            "",
            r#"{"record":"relationship","source_external_id":"p:ada","target_id":"0198f4d2-2b1a-7c00-8000-000000000001","type":"PROGRAMMED"}"#,
            r#"{"record":"relationship","source_external_id":"p:ada","target_external_id":"p:nobody","type":"KNOWS"}"#,
            r#"not json"#,
        ]
        .join("\n"),
    )?;
    let path = source.to_string_lossy().into_owned();
    let imported = a.kg(&["import", &path, "--as", "ops@example.org"], None, &[])?;
    let out = text(&imported.stdout);
    assert_eq!(
        imported.status.code(),
        Some(1),
        "{out} {}",
        text(&imported.stderr)
    );
    assert!(
        out.contains("7 lines: 3 created, 0 updated, 0 unchanged, 3 failed"),
        "{out}"
    );
    assert!(out.contains("line 3: entities[2].name"), "{out}");
    assert!(
        out.contains("line 6: relationships[1].target_external_id"),
        "{out}"
    );
    assert!(out.contains("line 7: not JSON"), "{out}");

    // Resuming from a line applies only what follows it; everything before
    // is already there and would be unchanged anyway.
    let resumed = a.kg(
        &[
            "import",
            &path,
            "--as",
            "ops@example.org",
            "--from-line",
            "5",
        ],
        None,
        &[],
    )?;
    assert!(
        text(&resumed.stdout).contains("0 created, 0 updated, 1 unchanged, 2 failed"),
        "{}",
        text(&resumed.stdout)
    );

    let exported = a.kg(&["export"], None, &[])?;
    assert!(exported.status.success(), "{}", text(&exported.stderr));
    let export = text(&exported.stdout);
    let records = lines(&export);
    assert_eq!(records.len(), 3, "{export}");
    assert!(
        records
            .iter()
            .any(|r| r["id"] == "0198f4d2-2b1a-7c00-8000-000000000001")
    );

    let file = b.dir.path().join("export.jsonl");
    std::fs::write(&file, &export)?;
    let file = file.to_string_lossy().into_owned();
    let into_b = b.kg(&["import", &file, "--as", "ops@example.org"], None, &[])?;
    assert!(
        into_b.status.success(),
        "{} {}",
        text(&into_b.stdout),
        text(&into_b.stderr)
    );
    assert!(
        text(&into_b.stdout).contains("3 created"),
        "{}",
        text(&into_b.stdout)
    );
    let again = b.kg(&["export"], None, &[])?;
    assert_eq!(
        lines(&text(&again.stdout)),
        records,
        "the same graph, ids and all"
    );
    let twice = b.kg(&["import", &file, "--as", "ops@example.org"], None, &[])?;
    assert!(
        text(&twice.stdout).contains("0 created, 0 updated, 3 unchanged"),
        "{}",
        text(&twice.stdout)
    );
    Ok(())
}

#[test]
fn maintenance_is_switched_and_reported_from_the_command_line() -> anyhow::Result<()> {
    let env = Env::new()?;
    let made = env.kg(
        &[
            "user",
            "create",
            "--email",
            "root@example.org",
            "--role",
            "admin",
            "--password-stdin",
        ],
        Some(PASSWORD),
        &[],
    )?;
    assert!(made.status.success(), "{}", text(&made.stderr));
    let status = env.kg(&["maintenance", "status"], None, &[])?;
    assert!(
        text(&status.stdout).contains("mode off (never set)"),
        "{}",
        text(&status.stdout)
    );
    let on = env.kg(
        &[
            "maintenance",
            "on",
            "--read-only",
            "--as",
            "root@example.org",
        ],
        None,
        &[],
    )?;
    assert!(on.status.success(), "{}", text(&on.stderr));
    let status = env.kg(&["maintenance", "status"], None, &[])?;
    assert!(
        text(&status.stdout).starts_with("mode read_only (set "),
        "{}",
        text(&status.stdout)
    );
    let nobody = env.kg(
        &["maintenance", "off", "--as", "ghost@example.org"],
        None,
        &[],
    )?;
    assert!(!nobody.status.success());
    let off = env.kg(
        &["maintenance", "off", "--as", "root@example.org"],
        None,
        &[],
    )?;
    assert!(
        text(&off.stdout).starts_with("mode off (set "),
        "{}",
        text(&off.stdout)
    );
    Ok(())
}
