//! Settings: read once from `KG_*` variables (and an optional `.env`),
//! validated once, reporting every problem with the setting's name.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use kg_auth::JwtSecret;

/// Which defaults apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    /// Embedded SQLite, generated secret, migrations applied at start.
    Development,
    /// Everything explicit; migrations only through the CLI.
    Production,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line.
    Json,
    /// Human-readable.
    Pretty,
}

/// Where the JWT secret comes from.
#[derive(Clone)]
pub enum SecretSource {
    /// Given directly (`KG_JWT_SECRET`).
    Value(JwtSecret),
    /// Read from a file (`KG_JWT_SECRET_FILE`).
    File(PathBuf),
    /// Development only: generated once into the data directory.
    Generated(PathBuf),
}

impl std::fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Value(_) => f.write_str("Value(<redacted>)"),
            Self::File(p) => f.debug_tuple("File").field(p).finish(),
            Self::Generated(p) => f.debug_tuple("Generated").field(p).finish(),
        }
    }
}

/// Every setting kg reads. See `.env.example` for each one's meaning.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `KG_ENV`.
    pub env: Environment,
    /// `KG_BIND`.
    pub bind: SocketAddr,
    /// `KG_DATA_DIR`.
    pub data_dir: PathBuf,
    /// `KG_DATABASE_URL`.
    pub database_url: String,
    /// `KG_DB_MAX_CONNECTIONS`.
    pub db_max_connections: u32,
    /// `KG_DB_ACQUIRE_TIMEOUT_SECS`.
    pub db_acquire_timeout: Duration,
    /// `KG_SHUTDOWN_DRAIN_SECS`: after SIGTERM, how long readiness fails
    /// while requests are still served, so load balancers stop sending.
    pub shutdown_drain: Duration,
    /// `KG_SHUTDOWN_TIMEOUT_SECS`: then, how long in-flight requests get.
    pub shutdown_timeout: u64,
    /// `KG_DB_STATEMENT_TIMEOUT_SECS` (PostgreSQL).
    pub db_statement_timeout: Duration,
    /// `KG_DB_BUSY_TIMEOUT_SECS` (SQLite): how long a writer waits for the lock.
    pub db_busy_timeout: Duration,
    /// `KG_TRAVERSAL_TIME_BUDGET_MS`: how long one neighbors traversal may
    /// take before it answers what it has, truncated.
    pub traversal_time_budget: Duration,
    /// `KG_JWT_SECRET` / `KG_JWT_SECRET_FILE`.
    pub jwt_secret: SecretSource,
    /// `KG_ACCESS_TOKEN_TTL_SECS`.
    pub access_token_ttl: Duration,
    /// `KG_SESSION_IDLE_SECS`.
    pub session_idle: Duration,
    /// `KG_SESSION_ABSOLUTE_SECS`.
    pub session_absolute: Duration,
    /// `KG_PURGE_INTERVAL_SECS`: how often rows past their use (sessions,
    /// refresh tokens, throttle rows, idempotency keys) are deleted.
    pub purge_interval: Duration,
    /// `KG_REFRESH_REUSE_GRACE_SECS`: how recently spent a refresh token
    /// may be presented once more without revoking its session.
    pub refresh_reuse_grace: Duration,
    /// `KG_AUTO_MIGRATE`.
    pub auto_migrate: bool,
    /// `KG_MAX_BODY_BYTES`.
    pub max_body_bytes: usize,
    /// `KG_MAX_BATCH_BODY_BYTES`: the body limit of `POST /v1/batch`.
    pub max_batch_body_bytes: usize,
    /// `KG_HSTS`.
    pub hsts: bool,
    /// `KG_CORS_ORIGINS`.
    pub cors_origins: Vec<String>,
    /// `KG_COOKIE_AUTH`.
    pub cookie_auth: bool,
    /// `KG_RATE_LIMIT_AUTH_PER_MINUTE`.
    pub rate_limit_auth_per_minute: std::num::NonZeroU32,
    /// `KG_RATE_LIMIT_PER_MINUTE`.
    pub rate_limit_per_minute: std::num::NonZeroU32,
    /// `KG_RATE_LIMIT_UNAUTHENTICATED_PER_MINUTE`.
    pub rate_limit_unauthenticated_per_minute: std::num::NonZeroU32,
    /// `KG_TRUSTED_PROXIES`.
    pub trusted_proxies: kg_http::TrustedProxies,
    /// `KG_REDIS_URL` and `KG_REDIS_KEY_PREFIX`: the rate-limit budget
    /// several instances share; each instance its own when unset.
    pub redis: Option<crate::shared_limits::RedisSettings>,
    /// `KG_METRICS_ADDR`: serve `/metrics` on this separate listener (and
    /// not on the API's) when set.
    pub metrics_addr: Option<SocketAddr>,
    /// `KG_METRICS_PUBLIC`: without `KG_METRICS_ADDR`, serve `/metrics` to
    /// anyone on the API's listener. On in development, off in production,
    /// where the metrics would tell anyone about the service's traffic.
    pub metrics_public: bool,
    /// `KG_WORKERS`.
    pub workers: usize,
    /// `KG_PASSWORD_HASH_CONCURRENCY`.
    pub password_hash_concurrency: usize,
    /// `KG_LOG_FORMAT`.
    pub log_format: LogFormat,
    /// `KG_LOG`.
    pub log_filter: String,
}

/// Every problem found in the settings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid configuration:\n  - {}", .0.join("\n  - "))]
pub struct SettingsError(pub Vec<String>);

fn cores() -> usize {
    std::thread::available_parallelism().map_or(2, std::num::NonZero::get)
}

struct Reader<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
    problems: Vec<String>,
}

impl Reader<'_> {
    fn raw(&self, name: &str) -> Option<String> {
        (self.lookup)(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    fn parse<T: std::str::FromStr>(&mut self, name: &str, default: T, expected: &str) -> T {
        match self.raw(name) {
            None => default,
            Some(v) => v.parse().unwrap_or_else(|_| {
                self.problems
                    .push(format!("{name}={v:?} is invalid: expected {expected}"));
                default
            }),
        }
    }

    fn bounded<T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy>(
        &mut self,
        name: &str,
        default: T,
        min: T,
        max: T,
    ) -> T {
        let value = self.parse(name, default, &format!("a number from {min} to {max}"));
        if value < min || value > max {
            self.problems.push(format!(
                "{name}={value} is out of range: expected {min} to {max}"
            ));
            return default;
        }
        value
    }

    fn per_minute(&mut self, name: &str, default: u32) -> std::num::NonZeroU32 {
        let value = self.bounded(name, default, 1, 1_000_000);
        std::num::NonZeroU32::new(value).unwrap_or(std::num::NonZeroU32::MIN)
    }

    /// A comma-separated list of exact origins (`https://app.example.org`).
    fn origins(&mut self, name: &str) -> Vec<String> {
        let Some(raw) = self.raw(name) else {
            return Vec::new();
        };
        let mut origins = Vec::new();
        for origin in raw.split(',').map(str::trim).filter(|o| !o.is_empty()) {
            if origin == "*" {
                self.problems.push(format!(
                    "{name} must list exact origins; '*' is not allowed"
                ));
                continue;
            }
            let host = origin
                .strip_prefix("https://")
                .or_else(|| origin.strip_prefix("http://"));
            let valid = host.is_some_and(|h| {
                !h.is_empty()
                    && !h.contains(['/', '*', ' ', '?', '#', '@'])
                    && h.chars().all(|c| c.is_ascii_graphic())
            });
            if valid {
                origins.push(origin.to_owned());
            } else {
                self.problems.push(format!("{name} entry {origin:?} is not an origin like https://app.example.org (no path, no wildcard)"));
            }
        }
        origins
    }

    fn flag(&mut self, name: &str, default: bool) -> bool {
        match self
            .raw(name)
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None => default,
            Some("true" | "1" | "yes" | "on") => true,
            Some("false" | "0" | "no" | "off") => false,
            Some(other) => {
                self.problems.push(format!(
                    "{name}={other:?} is invalid: expected true or false"
                ));
                default
            }
        }
    }
}

impl Settings {
    /// Reads the process environment.
    ///
    /// # Errors
    /// [`SettingsError`] listing every invalid or missing setting.
    pub fn from_env() -> Result<Self, SettingsError> {
        Self::from_lookup(&|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup` (the environment, or a map in tests).
    ///
    /// # Errors
    /// [`SettingsError`] listing every invalid or missing setting.
    pub fn from_lookup(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let mut r = Reader {
            lookup,
            problems: Vec::new(),
        };
        let env = match r.raw("KG_ENV").as_deref() {
            None | Some("development") => Environment::Development,
            Some("production") => Environment::Production,
            Some(other) => {
                r.problems.push(format!(
                    "KG_ENV={other:?} is invalid: expected development or production"
                ));
                Environment::Development
            }
        };
        let production = env == Environment::Production;
        let bind = r.parse(
            "KG_BIND",
            SocketAddr::from(([127, 0, 0, 1], 8080)),
            "address:port, e.g. 127.0.0.1:8080",
        );
        let data_dir = PathBuf::from(r.raw("KG_DATA_DIR").unwrap_or_else(|| "./data".to_owned()));
        let database_url = match r.raw("KG_DATABASE_URL") {
            Some(url)
                if url.starts_with("postgres://")
                    || url.starts_with("postgresql://")
                    || url.starts_with("sqlite:") =>
            {
                url
            }
            Some(url) => {
                let scheme = url.split(':').next().unwrap_or_default().to_owned();
                r.problems.push(format!(
                    "KG_DATABASE_URL has scheme {scheme:?}: expected postgres:// or sqlite:"
                ));
                String::new()
            }
            None if production => {
                r.problems.push(
                    "KG_DATABASE_URL is required in production (postgres://user@host/db)"
                        .to_owned(),
                );
                String::new()
            }
            None => format!("sqlite://{}?mode=rwc", data_dir.join("kg.db").display()),
        };
        let jwt_secret = match (r.raw("KG_JWT_SECRET"), r.raw("KG_JWT_SECRET_FILE")) {
            (Some(_), Some(_)) => {
                r.problems
                    .push("set only one of KG_JWT_SECRET and KG_JWT_SECRET_FILE".to_owned());
                SecretSource::Generated(data_dir.join("jwt_secret"))
            }
            (Some(secret), None) => match JwtSecret::new(secret.into_bytes()) {
                Ok(s) => SecretSource::Value(s),
                Err(e) => {
                    r.problems.push(format!("KG_JWT_SECRET {e}"));
                    SecretSource::Generated(data_dir.join("jwt_secret"))
                }
            },
            (None, Some(path)) => SecretSource::File(PathBuf::from(path)),
            (None, None) if production => {
                r.problems.push(
                    "KG_JWT_SECRET or KG_JWT_SECRET_FILE is required in production".to_owned(),
                );
                SecretSource::Generated(data_dir.join("jwt_secret"))
            }
            (None, None) => SecretSource::Generated(data_dir.join("jwt_secret")),
        };
        let settings = Self {
            env,
            bind,
            database_url,
            db_max_connections: r.bounded("KG_DB_MAX_CONNECTIONS", 10, 1, 1000),
            db_acquire_timeout: Duration::from_secs(r.bounded(
                "KG_DB_ACQUIRE_TIMEOUT_SECS",
                3,
                1,
                60,
            )),
            db_statement_timeout: Duration::from_secs(r.bounded(
                "KG_DB_STATEMENT_TIMEOUT_SECS",
                30,
                1,
                3600,
            )),
            db_busy_timeout: Duration::from_secs(r.bounded("KG_DB_BUSY_TIMEOUT_SECS", 5, 1, 60)),
            traversal_time_budget: Duration::from_millis(r.bounded(
                "KG_TRAVERSAL_TIME_BUDGET_MS",
                2000,
                10,
                60_000,
            )),
            shutdown_drain: Duration::from_secs(r.bounded("KG_SHUTDOWN_DRAIN_SECS", 0, 0, 120)),
            shutdown_timeout: r.bounded("KG_SHUTDOWN_TIMEOUT_SECS", 25, 1, 600),
            jwt_secret,
            access_token_ttl: Duration::from_secs(r.bounded(
                "KG_ACCESS_TOKEN_TTL_SECS",
                900,
                60,
                86_400,
            )),
            session_idle: Duration::from_secs(r.bounded(
                "KG_SESSION_IDLE_SECS",
                7 * 86_400,
                300,
                90 * 86_400,
            )),
            session_absolute: Duration::from_secs(r.bounded(
                "KG_SESSION_ABSOLUTE_SECS",
                30 * 86_400,
                300,
                365 * 86_400,
            )),
            purge_interval: Duration::from_secs(r.bounded(
                "KG_PURGE_INTERVAL_SECS",
                3600,
                1,
                86_400,
            )),
            refresh_reuse_grace: Duration::from_secs(r.bounded(
                "KG_REFRESH_REUSE_GRACE_SECS",
                30,
                0,
                300,
            )),
            auto_migrate: r.flag("KG_AUTO_MIGRATE", !production),
            max_body_bytes: r.bounded("KG_MAX_BODY_BYTES", 1024 * 1024, 1024, 64 * 1024 * 1024),
            max_batch_body_bytes: r.bounded(
                "KG_MAX_BATCH_BODY_BYTES",
                16 * 1024 * 1024,
                1024,
                256 * 1024 * 1024,
            ),
            hsts: r.flag("KG_HSTS", false),
            cors_origins: r.origins("KG_CORS_ORIGINS"),
            cookie_auth: r.flag("KG_COOKIE_AUTH", false),
            rate_limit_auth_per_minute: r.per_minute("KG_RATE_LIMIT_AUTH_PER_MINUTE", 30),
            rate_limit_per_minute: r.per_minute("KG_RATE_LIMIT_PER_MINUTE", 600),
            rate_limit_unauthenticated_per_minute: r
                .per_minute("KG_RATE_LIMIT_UNAUTHENTICATED_PER_MINUTE", 60),
            trusted_proxies: match r
                .raw("KG_TRUSTED_PROXIES")
                .map(|v| kg_http::TrustedProxies::parse(&v))
            {
                None => kg_http::TrustedProxies::default(),
                Some(Ok(proxies)) => proxies,
                Some(Err(e)) => {
                    r.problems.push(format!("KG_TRUSTED_PROXIES: {e}"));
                    kg_http::TrustedProxies::default()
                }
            },
            redis: {
                let prefix = r.raw("KG_REDIS_KEY_PREFIX");
                if prefix.as_ref().is_some_and(|p| {
                    p.len() > 64 || p.chars().any(|c| c.is_whitespace() || c.is_control())
                }) {
                    r.problems.push(
                        "KG_REDIS_KEY_PREFIX must be at most 64 characters without spaces"
                            .to_owned(),
                    );
                }
                let timeout = Duration::from_millis(r.bounded("KG_REDIS_TIMEOUT_MS", 250, 10, 5000));
                match r.raw("KG_REDIS_URL") {
                    Some(url) => {
                        // The value itself may hold a password: never repeated.
                        if url.starts_with("rediss://") {
                            r.problems.push(
                                "KG_REDIS_URL: TLS to Redis (rediss://) is not built in; reach Redis over a private network or a TLS tunnel with redis://".to_owned(),
                            );
                        } else if !url.starts_with("redis://") {
                            r.problems.push("KG_REDIS_URL must be a redis:// URL".to_owned());
                        }
                        Some(crate::shared_limits::RedisSettings {
                            url: secrecy::SecretString::from(url),
                            timeout,
                            prefix: prefix.unwrap_or_else(|| "kg:".to_owned()),
                        })
                    }
                    None => {
                        if prefix.is_some() {
                            r.problems.push(
                                "KG_REDIS_KEY_PREFIX is set but KG_REDIS_URL is not".to_owned(),
                            );
                        }
                        None
                    }
                }
            },
            metrics_addr: r.raw("KG_METRICS_ADDR").and_then(|v| {
                v.parse().map_or_else(
                    |_| {
                        r.problems.push(format!(
                            "KG_METRICS_ADDR={v:?} is invalid: expected address:port, e.g. 127.0.0.1:9090"
                        ));
                        None
                    },
                    Some,
                )
            }),
            metrics_public: r.flag("KG_METRICS_PUBLIC", !production),
            workers: r.bounded("KG_WORKERS", cores(), 1, 256),
            password_hash_concurrency: r.bounded("KG_PASSWORD_HASH_CONCURRENCY", cores(), 1, 64),
            log_format: match r.raw("KG_LOG_FORMAT").as_deref() {
                None => {
                    if production {
                        LogFormat::Json
                    } else {
                        LogFormat::Pretty
                    }
                }
                Some("json") => LogFormat::Json,
                Some("pretty") => LogFormat::Pretty,
                Some(other) => {
                    r.problems.push(format!(
                        "KG_LOG_FORMAT={other:?} is invalid: expected json or pretty"
                    ));
                    LogFormat::Json
                }
            },
            log_filter: r
                .raw("KG_LOG")
                .unwrap_or_else(|| "info,sqlx=warn,sea_orm=warn".to_owned()),
            data_dir,
        };
        if settings.session_idle > settings.session_absolute {
            r.problems
                .push("KG_SESSION_IDLE_SECS must not exceed KG_SESSION_ABSOLUTE_SECS".to_owned());
        }
        if production && settings.auto_migrate {
            r.problems.push("KG_AUTO_MIGRATE=true is not allowed in production: run `kg migrate up` before rolling out".to_owned());
        }
        if r.problems.is_empty() {
            Ok(settings)
        } else {
            Err(SettingsError(r.problems))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn load(vars: &[(&str, &str)]) -> Result<Settings, SettingsError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Settings::from_lookup(&|k| map.get(k).cloned())
    }

    #[test]
    fn development_needs_nothing() {
        let s = load(&[]).expect("defaults are valid");
        assert_eq!(s.env, Environment::Development);
        assert!(s.database_url.starts_with("sqlite://"));
        assert!(matches!(s.jwt_secret, SecretSource::Generated(_)));
        assert!(s.auto_migrate);
        assert_eq!(s.bind.to_string(), "127.0.0.1:8080");
    }

    #[test]
    fn metrics_are_public_on_the_api_port_only_in_development_unless_asked() {
        let production = [
            ("KG_ENV", "production"),
            ("KG_DATABASE_URL", "postgres://db/kg"),
            ("KG_JWT_SECRET_FILE", "/run/secrets/kg_jwt"),
        ];
        assert!(load(&[]).expect("defaults").metrics_public);
        assert!(!load(&production).expect("production").metrics_public);
        let mut asked = production.to_vec();
        asked.push(("KG_METRICS_PUBLIC", "true"));
        assert!(load(&asked).expect("production").metrics_public);
    }

    #[test]
    fn production_requires_a_database_and_a_secret_and_names_both() {
        let err = load(&[("KG_ENV", "production")]).expect_err("incomplete");
        assert_eq!(err.0.len(), 2, "{err}");
        assert!(err.to_string().contains("KG_DATABASE_URL"));
        assert!(err.to_string().contains("KG_JWT_SECRET"));
    }

    #[test]
    fn production_refuses_a_weak_or_short_secret() {
        for secret in ["short", "my-super-secret-jwt-key-for-production!"] {
            let err = load(&[
                ("KG_ENV", "production"),
                ("KG_DATABASE_URL", "postgres://db/kg"),
                ("KG_JWT_SECRET", secret),
            ])
            .expect_err("weak");
            assert!(err.to_string().contains("KG_JWT_SECRET"), "{err}");
        }
    }

    #[test]
    fn every_bad_value_is_reported_at_once() {
        let err = load(&[
            ("KG_BIND", "nowhere"),
            ("KG_DB_MAX_CONNECTIONS", "0"),
            ("KG_LOG_FORMAT", "xml"),
            ("KG_HSTS", "maybe"),
        ])
        .expect_err("invalid");
        assert_eq!(err.0.len(), 4, "{err}");
    }

    #[test]
    fn rate_limits_and_trusted_proxies_are_checked() {
        let s = load(&[
            ("KG_RATE_LIMIT_AUTH_PER_MINUTE", "5"),
            ("KG_TRUSTED_PROXIES", "10.0.0.0/8, ::1"),
        ])
        .expect("valid");
        assert_eq!(s.rate_limit_auth_per_minute.get(), 5);
        assert_eq!(s.rate_limit_per_minute.get(), 600);
        let err = load(&[
            ("KG_RATE_LIMIT_PER_MINUTE", "0"),
            ("KG_TRUSTED_PROXIES", "10.0.0.0/40"),
        ])
        .expect_err("invalid");
        assert_eq!(err.0.len(), 2, "{err}");
    }

    #[test]
    fn a_redis_url_is_checked_and_never_printed() {
        let s =
            load(&[("KG_REDIS_URL", "redis://:hunter2-secret@10.0.0.5:6379/0")]).expect("valid");
        let redis = s.redis.as_ref().expect("set");
        assert_eq!(redis.prefix, "kg:");
        assert!(!format!("{s:?}").contains("hunter2-secret"));
        assert!(load(&[]).expect("valid").redis.is_none());
        let err = load(&[("KG_REDIS_URL", "http://10.0.0.5:6379")]).expect_err("invalid");
        assert_eq!(err.0.len(), 1, "{err}");
        assert!(!err.to_string().contains("10.0.0.5"), "{err}");
        let err = load(&[("KG_REDIS_URL", "rediss://:pw@10.0.0.5")]).expect_err("no TLS");
        assert!(
            err.to_string().contains("TLS") && !err.to_string().contains("pw@"),
            "{err}"
        );
        let err = load(&[("KG_REDIS_KEY_PREFIX", "kg:")]).expect_err("a prefix alone");
        assert_eq!(err.0.len(), 1, "{err}");
        let s = load(&[
            ("KG_REDIS_URL", "redis://127.0.0.1"),
            ("KG_REDIS_KEY_PREFIX", "blue:"),
        ])
        .expect("valid");
        assert_eq!(s.redis.map(|r| r.prefix).as_deref(), Some("blue:"));
    }

    #[test]
    fn cors_origins_must_be_exact() {
        let s = load(&[(
            "KG_CORS_ORIGINS",
            "https://app.example.org, http://localhost:5173",
        )])
        .expect("valid");
        assert_eq!(
            s.cors_origins,
            ["https://app.example.org", "http://localhost:5173"]
        );
        for bad in [
            "*",
            "https://*.example.org",
            "app.example.org",
            "https://app.example.org/",
            "ftp://x.org",
        ] {
            let err = load(&[("KG_CORS_ORIGINS", bad)]).expect_err(bad);
            assert!(err.to_string().contains("KG_CORS_ORIGINS"), "{err}");
        }
    }

    #[test]
    fn the_secret_never_appears_in_debug_output() {
        let secret = "Zk3pQ9vX2mL7wR4tY8uB1nC6hJ5gF0dSaE";
        let s = load(&[("KG_JWT_SECRET", secret)]).expect("valid");
        assert!(!format!("{s:?}").contains(secret));
    }
}
