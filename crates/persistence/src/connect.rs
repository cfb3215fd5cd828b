//! Opening connection pools with the settings kg relies on.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseBackend, DatabaseConnection, DbErr,
    Statement,
};

/// Pool settings.
#[derive(Debug, Clone)]
pub struct DatabaseSettings {
    /// `postgres://…` or `sqlite://path?mode=rwc`.
    pub url: String,
    /// The most pooled connections.
    pub max_connections: u32,
    /// How long a request waits for a connection before it fails as unavailable.
    pub acquire_timeout: Duration,
    /// How long an SQLite writer waits for the write lock.
    pub sqlite_busy_timeout: Duration,
    /// How long one PostgreSQL statement may run before it is cancelled.
    pub statement_timeout: Duration,
    /// Whether to log every SQL statement (development only).
    pub log_statements: bool,
}

impl DatabaseSettings {
    /// Sensible defaults for `url`.
    #[must_use]
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            max_connections: 10,
            acquire_timeout: Duration::from_secs(3),
            sqlite_busy_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(30),
            log_statements: false,
        }
    }
}

/// How long a pooled connection may sit unused before it is pinged on
/// checkout, to catch one the server or a firewall dropped meanwhile.
const PING_WHEN_IDLE_FOR: Duration = Duration::from_secs(1);

fn options(settings: &DatabaseSettings, max_connections: u32) -> ConnectOptions {
    let mut options = ConnectOptions::new(settings.url.clone());
    let busy = settings.sqlite_busy_timeout;
    let statement_ms = settings.statement_timeout.as_millis().to_string();
    options
        .max_connections(max_connections)
        .min_connections(0)
        .acquire_timeout(settings.acquire_timeout)
        .connect_timeout(settings.acquire_timeout)
        // A connection in use within the last second is handed out as it
        // is: pinging on every checkout doubled a statement's round trips.
        .test_before_acquire_if_idle_for(PING_WHEN_IDLE_FOR)
        .sqlx_logging(settings.log_statements)
        .map_sqlx_sqlite_opts(move |o| {
            o.journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                .foreign_keys(true)
                .busy_timeout(busy)
        })
        .map_sqlx_postgres_opts(move |o| o.options([("statement_timeout", statement_ms.as_str())]));
    options
}

/// Opens the pool the service uses.
///
/// # Errors
/// When the database cannot be reached or the URL is malformed.
pub async fn connect(settings: &DatabaseSettings) -> Result<DatabaseConnection, DbErr> {
    Database::connect(options(settings, settings.max_connections.max(1))).await
}

/// Opens a single-connection pool for running migrations: SQLite's
/// `foreign_keys` pragma, which migrations toggle, is per connection.
///
/// # Errors
/// When the database cannot be reached or the URL is malformed.
pub async fn connect_for_migrations(
    settings: &DatabaseSettings,
) -> Result<DatabaseConnection, DbErr> {
    Database::connect(options(settings, 1)).await
}

/// The durability settings in force, as `(name, value, expected)` triples,
/// so start-up can refuse a database that would lose acknowledged writes.
///
/// # Errors
/// When the settings cannot be read.
pub async fn durability_report(
    db: &DatabaseConnection,
) -> Result<Vec<(String, String, String)>, DbErr> {
    let backend = db.get_database_backend();
    let checks: &[(&str, &str, &str)] = if backend == DatabaseBackend::Sqlite {
        &[
            ("journal_mode", "PRAGMA journal_mode", "wal"),
            ("synchronous", "PRAGMA synchronous", "2"),
            ("foreign_keys", "PRAGMA foreign_keys", "1"),
        ]
    } else {
        &[
            ("fsync", "SHOW fsync", "on"),
            ("synchronous_commit", "SHOW synchronous_commit", "on"),
        ]
    };
    let mut report = Vec::with_capacity(checks.len());
    for (name, sql, expected) in checks {
        let row = db
            .query_one_raw(Statement::from_string(backend, *sql))
            .await?;
        let value = match row {
            Some(row) => row
                .try_get_by_index::<String>(0)
                .or_else(|_| row.try_get_by_index::<i64>(0).map(|v| v.to_string()))
                .map_err(|e| DbErr::Custom(format!("reading {name}: {e}")))?,
            None => String::new(),
        };
        report.push(((*name).to_owned(), value, (*expected).to_owned()));
    }
    Ok(report)
}

/// Readiness checks against the service's own pool.
#[derive(Debug, Clone)]
pub struct SeaOrmHealthProbe {
    db: DatabaseConnection,
}

impl SeaOrmHealthProbe {
    /// A probe over `db`.
    #[must_use]
    pub const fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

/// How long a readiness check waits for the database.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

#[async_trait::async_trait]
impl kg_application::HealthProbe for SeaOrmHealthProbe {
    async fn database_reachable(&self) -> bool {
        matches!(
            tokio::time::timeout(PROBE_TIMEOUT, self.db.ping()).await,
            Ok(Ok(()))
        )
    }

    async fn schema_current(&self) -> bool {
        use sea_orm_migration::MigratorTrait as _;
        let pending = tokio::time::timeout(
            PROBE_TIMEOUT,
            kg_migration::Migrator::get_pending_migrations(&self.db),
        )
        .await;
        matches!(pending, Ok(Ok(list)) if list.is_empty())
    }
}

/// How many statements a pool has sent to the database: every query and
/// command sea-orm runs, in or out of a transaction (the `BEGIN` and
/// `COMMIT` around a transaction are not counted).
#[derive(Debug, Clone, Default)]
pub struct StatementCount(Arc<AtomicU64>);

impl StatementCount {
    /// Counts the statements of `db` and of every clone made of it from
    /// now on.
    #[must_use]
    pub fn attach(db: &mut DatabaseConnection) -> Self {
        let count = Self::default();
        let counter = count.0.clone();
        db.set_metric_callback(move |_| {
            counter.fetch_add(1, Ordering::Relaxed);
        });
        count
    }

    /// The statements sent so far.
    #[must_use]
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Pool statistics for metrics.
#[derive(Debug, Clone)]
pub struct SeaOrmPoolMonitor {
    db: DatabaseConnection,
    max: u32,
    statements: StatementCount,
}

impl SeaOrmPoolMonitor {
    /// A monitor of `db`'s pool, which opens at most `max` connections; its
    /// snapshots report the statements `statements` counted.
    #[must_use]
    pub const fn new(db: DatabaseConnection, max: u32, statements: StatementCount) -> Self {
        Self {
            db,
            max,
            statements,
        }
    }
}

#[async_trait::async_trait]
impl kg_application::PoolMonitor for SeaOrmPoolMonitor {
    async fn snapshot(&self) -> kg_application::PoolSnapshot {
        let started = std::time::Instant::now();
        let (size, idle, acquired) = match self.db.get_database_backend() {
            sea_orm::DatabaseBackend::Postgres => {
                let pool = self.db.get_postgres_connection_pool();
                (pool.size(), pool.num_idle(), pool.acquire().await.is_ok())
            }
            sea_orm::DatabaseBackend::Sqlite => {
                let pool = self.db.get_sqlite_connection_pool();
                (pool.size(), pool.num_idle(), pool.acquire().await.is_ok())
            }
            _ => (0, 0, false),
        };
        kg_application::PoolSnapshot {
            size,
            idle: u32::try_from(idle).unwrap_or(u32::MAX),
            max: self.max,
            acquire_seconds: acquired.then(|| started.elapsed().as_secs_f64()),
            statements: self.statements.get(),
        }
    }
}
