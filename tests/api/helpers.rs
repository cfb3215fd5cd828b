//! `spawn_app` and typed helpers over the HTTP API.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use kg_application::NewUser;
use kg_persistence::testing::TestDatabase;
use kg_server::{Application, Services, Settings};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};
use serde_json::{Value, json};

pub const PASSWORD: &str = "a-long-and-unusual-passphrase";

/// What a test that waits for something within a bound allows on top of
/// it for the test machine's own scheduling.
const SCHEDULING_SLACK: Duration = Duration::from_millis(500);

pub struct TestApp {
    pub base: String,
    /// The separate metrics listener, when `KG_METRICS_ADDR` is set.
    pub metrics_base: Option<String>,
    pub client: reqwest::Client,
    services: Services,
    db: DatabaseConnection,
    /// The database, owned by the first instance: dropping the first
    /// instance removes it, whatever the test's outcome.
    database: Option<TestDatabase>,
    /// The signing secret, which every instance of one deployment shares.
    jwt_secret: String,
}

fn random_secret() -> String {
    (0..4)
        .map(|_| uuid::Uuid::new_v4().simple().to_string())
        .collect()
}

/// Everything the service logs during the test run, as JSON lines.
#[derive(Clone, Default)]
pub struct Logs(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Logs {
    type Writer = Self;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

impl Logs {
    /// The captured lines that contain `needle`.
    pub fn lines_with(&self, needle: &str) -> Vec<String> {
        let bytes = self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        String::from_utf8_lossy(&bytes)
            .lines()
            .filter(|l| l.contains(needle))
            .map(str::to_owned)
            .collect()
    }
}

/// The log capture, installed once for the whole test binary, in the same
/// JSON format production uses.
pub fn logs() -> &'static Logs {
    static LOGS: OnceLock<Logs> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Logs::default();
        let _ = tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_env_filter("info,sqlx=warn,sea_orm=warn")
            .with_writer(logs.clone())
            .try_init();
        logs
    })
}

pub async fn spawn_app() -> anyhow::Result<TestApp> {
    spawn_app_with(&[]).await
}

/// `spawn_app` with some settings overridden.
pub async fn spawn_app_with(overrides: &[(&str, &str)]) -> anyhow::Result<TestApp> {
    let database = TestDatabase::migrated().await?;
    start(database.url.clone(), Some(database), overrides).await
}

impl TestApp {
    /// Another instance of the service over the same database, as behind a
    /// load balancer (its own process state, the shared database and
    /// signing secret).
    pub async fn another_instance(&self) -> anyhow::Result<Self> {
        self.another_instance_with(&[]).await
    }

    /// [`Self::another_instance`] with some settings overridden.
    pub async fn another_instance_with(&self, overrides: &[(&str, &str)]) -> anyhow::Result<Self> {
        let url = self
            .database
            .as_ref()
            .map(|d| d.url.clone())
            .context("only the first instance knows its database")?;
        let mut all = vec![("KG_JWT_SECRET", self.jwt_secret.as_str())];
        all.extend_from_slice(overrides);
        start(url, None, &all).await
    }
}

async fn start(
    url: String,
    database: Option<TestDatabase>,
    overrides: &[(&str, &str)],
) -> anyhow::Result<TestApp> {
    logs();
    let mut vars: HashMap<&str, String> = HashMap::from([
        ("KG_DATABASE_URL", url.clone()),
        ("KG_JWT_SECRET", random_secret()),
        ("KG_BIND", "127.0.0.1:0".to_owned()),
        ("KG_WORKERS", "1".to_owned()),
        ("KG_DB_MAX_CONNECTIONS", "5".to_owned()),
        ("KG_AUTO_MIGRATE", "false".to_owned()),
        ("KG_CORS_ORIGINS", "https://app.example.org".to_owned()),
        // Generous limits: most tests are not about them.
        ("KG_RATE_LIMIT_AUTH_PER_MINUTE", "1000000".to_owned()),
        ("KG_RATE_LIMIT_PER_MINUTE", "1000000".to_owned()),
        (
            "KG_RATE_LIMIT_UNAUTHENTICATED_PER_MINUTE",
            "1000000".to_owned(),
        ),
    ]);
    for (key, value) in overrides {
        vars.insert(key, (*value).to_owned());
    }
    let jwt_secret = vars.get("KG_JWT_SECRET").cloned().unwrap_or_default();
    let settings = Settings::from_lookup(&|k| vars.get(k).cloned())?;
    let app = Application::build(settings).await?;
    let base = format!("http://127.0.0.1:{}", app.port());
    let metrics_base = app
        .metrics_port()
        .map(|port| format!("http://127.0.0.1:{port}"));
    let services = app.services().clone();
    tokio::spawn(app.run_until_stopped());
    let db = Database::connect(url.as_str()).await?;
    Ok(TestApp {
        base,
        metrics_base,
        client: reqwest::Client::new(),
        services,
        db,
        database,
        jwt_secret,
    })
}

impl TestApp {
    /// Creates a user as an operator would, returning its email.
    pub async fn user(&self, role: &str) -> anyhow::Result<String> {
        let email = format!("{role}-{}@example.org", uuid::Uuid::new_v4().simple());
        self.services
            .users
            .create_by_operator(NewUser {
                email: email.clone(),
                role: role.to_owned(),
                password: PASSWORD.to_owned(),
            })
            .await?;
        Ok(email)
    }

    pub async fn login(&self, email: &str, password: &str) -> anyhow::Result<Response> {
        Ok(self
            .client
            .post(self.url("/v1/auth/token"))
            .json(&json!({ "email": email, "password": password }))
            .send()
            .await?)
    }

    /// Logs in `email`, returning the token response.
    pub async fn session(&self, email: &str, password: &str) -> anyhow::Result<Value> {
        let res = self.login(email, password).await?;
        anyhow::ensure!(
            res.status() == StatusCode::OK,
            "login failed: {}",
            res.status()
        );
        Ok(res.json().await?)
    }

    pub async fn refresh(&self, refresh_token: &Value) -> anyhow::Result<Response> {
        Ok(self
            .client
            .post(self.url("/v1/auth/refresh"))
            .json(&json!({ "refresh_token": refresh_token }))
            .send()
            .await?)
    }

    /// A new API key with `role`, made by a new admin; returns its secret.
    pub async fn api_key(&self, role: &str) -> anyhow::Result<String> {
        let admin = self.token("admin").await?;
        let res = self
            .post(
                "/v1/api-keys",
                &admin,
                &json!({ "name": format!("{role} key"), "role": role }),
            )
            .await?;
        anyhow::ensure!(
            res.status() == StatusCode::CREATED,
            "api key: {}",
            res.status()
        );
        let body: Value = res.json().await?;
        body["secret"]
            .as_str()
            .map(str::to_owned)
            .context("no secret")
    }

    /// A bearer token for a new user with `role`.
    pub async fn token(&self, role: &str) -> anyhow::Result<String> {
        let email = self.user(role).await?;
        let res = self.login(&email, PASSWORD).await?;
        anyhow::ensure!(
            res.status() == StatusCode::OK,
            "login failed: {}",
            res.status()
        );
        let body: Value = res.json().await?;
        body["access_token"]
            .as_str()
            .map(str::to_owned)
            .context("no access_token")
    }

    /// The test's own connection to the service's database.
    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }

    pub fn is_postgres(&self) -> bool {
        self.db.get_database_backend() == sea_orm::DatabaseBackend::Postgres
    }

    /// Waits until this instance's principal cache has a channel vouching
    /// for it (PostgreSQL); at once on SQLite, which has no cache.
    pub async fn principals_vouched(&self) -> anyhow::Result<()> {
        if !self.is_postgres() {
            return Ok(());
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.services.principals.is_vouched() {
            anyhow::ensure!(Instant::now() < deadline, "no principal channel");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(())
    }

    /// How many principals this instance keeps in its cache.
    pub fn principals_kept(&self) -> usize {
        self.services.principals.len()
    }

    /// How long after a change to someone's standing, made elsewhere, this
    /// instance may still act on what it knew: nothing on SQLite, the
    /// cache's documented bound on PostgreSQL.
    pub fn staleness_bound(&self) -> Duration {
        if self.is_postgres() {
            kg_application::PRINCIPAL_STALENESS_BOUND
        } else {
            Duration::ZERO
        }
    }

    /// Asks `GET path` with `token` until it is refused as unauthenticated,
    /// failing when it is still served past [`Self::staleness_bound`] (and
    /// a little slack for a busy test machine's scheduling). Returns how
    /// long the refusal took.
    pub async fn refused_within_bound(&self, path: &str, token: &str) -> anyhow::Result<Duration> {
        let started = Instant::now();
        let deadline = started + self.staleness_bound() + SCHEDULING_SLACK;
        loop {
            let res = self.get(path, token).await?;
            if res.status() == StatusCode::UNAUTHORIZED {
                problem(res, StatusCode::UNAUTHORIZED, "unauthenticated").await?;
                return Ok(started.elapsed());
            }
            anyhow::ensure!(
                res.status() == StatusCode::OK,
                "neither served nor refused: {}",
                res.status()
            );
            anyhow::ensure!(
                Instant::now() < deadline,
                "still served {:?} after the change",
                started.elapsed()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn request(&self, method: Method, path: &str, token: &str) -> RequestBuilder {
        self.client
            .request(method, self.url(path))
            .bearer_auth(token)
    }

    pub async fn get(&self, path: &str, token: &str) -> anyhow::Result<Response> {
        Ok(self.request(Method::GET, path, token).send().await?)
    }

    pub async fn post(&self, path: &str, token: &str, body: &Value) -> anyhow::Result<Response> {
        Ok(self
            .request(Method::POST, path, token)
            .json(body)
            .send()
            .await?)
    }

    /// A merge patch conditional on `if_match` (sent only when given).
    pub async fn patch(
        &self,
        path: &str,
        token: &str,
        if_match: Option<&str>,
        body: &Value,
    ) -> anyhow::Result<Response> {
        let mut req = self.request(Method::PATCH, path, token).json(body);
        if let Some(tag) = if_match {
            req = req.header("if-match", tag);
        }
        Ok(req.send().await?)
    }

    pub async fn delete(&self, path: &str, token: &str) -> anyhow::Result<Response> {
        Ok(self.request(Method::DELETE, path, token).send().await?)
    }

    /// Creates an entity and returns its JSON; fails the test unless 201.
    pub async fn create_entity(&self, token: &str, body: Value) -> anyhow::Result<Value> {
        let res = self.post("/v1/entities", token, &body).await?;
        let status = res.status();
        let json: Value = res.json().await?;
        anyhow::ensure!(
            status == StatusCode::CREATED,
            "create failed: {status} {json}"
        );
        Ok(json)
    }

    pub async fn create_relationship(
        &self,
        token: &str,
        source: &Value,
        target: &Value,
        kind: &str,
    ) -> anyhow::Result<Response> {
        self.post(
            "/v1/relationships",
            token,
            &json!({ "source_id": source["id"], "target_id": target["id"], "type": kind }),
        )
        .await
    }

    /// Rows in a table, read directly from the database.
    pub async fn count(&self, table: &str) -> anyhow::Result<i64> {
        let backend = self.db.get_database_backend();
        let row = self
            .db
            .query_one_raw(Statement::from_string(
                backend,
                format!("SELECT COUNT(*) FROM {table}"),
            ))
            .await?
            .context("no row")?;
        Ok(row.try_get_by_index::<i64>(0)?)
    }

    pub async fn execute(&self, sql: &str) -> Result<u64, sea_orm::DbErr> {
        let backend = self.db.get_database_backend();
        self.db
            .execute_raw(Statement::from_string(backend, sql.to_owned()))
            .await
            .map(|r| r.rows_affected())
    }

    pub async fn audit_request_ids(&self) -> anyhow::Result<Vec<Option<String>>> {
        let backend = self.db.get_database_backend();
        let rows = self
            .db
            .query_all_raw(Statement::from_string(
                backend,
                "SELECT request_id FROM audit_log WHERE target_type = 'entity' ORDER BY id"
                    .to_owned(),
            ))
            .await?;
        rows.iter()
            .map(|r| r.try_get_by_index::<Option<String>>(0).map_err(Into::into))
            .collect()
    }
}

/// Reads a problem response, checking its envelope.
pub async fn problem(res: Response, status: StatusCode, code: &str) -> anyhow::Result<Value> {
    anyhow::ensure!(
        res.status() == status,
        "expected {status}, got {}",
        res.status()
    );
    let content_type = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    anyhow::ensure!(
        content_type == "application/problem+json",
        "content type {content_type}"
    );
    let request_id = res
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body: Value = res.json().await?;
    anyhow::ensure!(body["code"] == code, "expected code {code}, got {body}");
    anyhow::ensure!(body["status"] == status.as_u16(), "status field {body}");
    anyhow::ensure!(
        body["request_id"] == request_id.as_str(),
        "request id {body} vs header {request_id}"
    );
    anyhow::ensure!(
        body["type"].is_string() && body["title"].is_string() && body["detail"].is_string(),
        "{body}"
    );
    Ok(body)
}

/// The fields a 422 names.
pub fn fields(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .filter_map(|e| e["field"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}
