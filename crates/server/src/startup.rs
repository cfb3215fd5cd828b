//! Building the application from settings.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::HttpServer;
use actix_web::dev::Server;
use anyhow::{Context as _, bail};
use kg_application::{
    ApiKeyService, AuthPorts, AuthService, BatchService, Clock, EntityService, EvidenceService,
    GraphService, HistoryService, HousekeepingService, IdempotencyService, MODE_REFRESH,
    MaintenanceService, PrincipalCache, RelationshipService, SessionPolicy, SystemClock,
    ThrottlePolicy, UserService,
};
use kg_auth::{
    Argon2Hasher, HasherConfig, JwtConfig, JwtIssuer, OpaqueApiKeys, OpaqueRefreshTokens,
};
use kg_http::{AppState, HttpSettings, RateLimits};
use kg_persistence::{
    DatabaseConnection, DatabaseSettings, MigrationCommand, SeaOrmApiKeyRepository, SeaOrmAuditLog,
    SeaOrmBatchRepository, SeaOrmChangeFeed, SeaOrmEntityRepository, SeaOrmEvidenceRepository,
    SeaOrmHousekeeping, SeaOrmIdempotencyStore, SeaOrmLoginThrottle, SeaOrmModeStore,
    SeaOrmRelationshipRepository, SeaOrmSessionRepository, SeaOrmUserRepository, connect,
    connect_for_migrations, durability_report, migrate,
};

use crate::{Settings, load_secret};

fn database_settings(settings: &Settings) -> DatabaseSettings {
    let mut db = DatabaseSettings::new(settings.database_url.clone());
    db.max_connections = settings.db_max_connections;
    db.acquire_timeout = settings.db_acquire_timeout;
    db.statement_timeout = settings.db_statement_timeout;
    db.sqlite_busy_timeout = settings.db_busy_timeout;
    db
}

/// Creates the directory of an SQLite database file, if that is the database.
///
/// # Errors
/// When the directory cannot be created.
pub fn ensure_sqlite_dir(settings: &Settings) -> anyhow::Result<()> {
    let path = settings
        .database_url
        .strip_prefix("sqlite://")
        .map(|rest| rest.split('?').next().unwrap_or_default());
    if let Some(parent) = path
        .and_then(|p| std::path::Path::new(p).parent())
        .filter(|p| !p.as_os_str().is_empty())
    {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    Ok(())
}

/// Applies pending migrations when allowed, and refuses a schema behind
/// this build otherwise.
///
/// # Errors
/// When migrations fail or are pending and may not be applied here.
pub async fn prepare_schema(settings: &Settings) -> anyhow::Result<()> {
    ensure_sqlite_dir(settings)?;
    let conn = connect_for_migrations(&database_settings(settings))
        .await
        .context("connecting to the database")?;
    let status = migrate(&conn, MigrationCommand::Status)
        .await
        .context("reading the migration status")?;
    if !status.is_current() {
        if !settings.auto_migrate {
            bail!(
                "the database schema is behind this build ({} pending); run `kg migrate up` first",
                status.pending.len()
            );
        }
        let report = migrate(&conn, MigrationCommand::Up)
            .await
            .context("applying migrations")?;
        tracing::info!(applied = report.applied.len(), "migrations applied");
    }
    conn.close()
        .await
        .context("closing the migration connection")?;
    Ok(())
}

/// Opens the service's pool and checks the durability settings.
///
/// # Errors
/// When the database cannot be reached or would not keep acknowledged writes.
pub async fn open_database(settings: &Settings) -> anyhow::Result<DatabaseConnection> {
    ensure_sqlite_dir(settings)?;
    let db = connect(&database_settings(settings))
        .await
        .context("connecting to the database")?;
    for (name, value, expected) in durability_report(&db)
        .await
        .context("reading durability settings")?
    {
        if value != expected {
            bail!(
                "database setting {name} is {value:?}; kg requires {expected:?} so acknowledged writes survive a crash"
            );
        }
    }
    Ok(db)
}

/// The limiters every worker shares, counting in Redis when it is set.
fn rate_limits(settings: &Settings) -> anyhow::Result<RateLimits> {
    let limits = RateLimits::new(
        settings.rate_limit_auth_per_minute,
        settings.rate_limit_per_minute,
        settings.trusted_proxies.clone(),
    )
    .with_failed_authentication(settings.rate_limit_unauthenticated_per_minute);
    Ok(match &settings.redis {
        Some(redis) => limits.with_shared_budget(
            crate::shared_limits::RedisBudget::new(redis).map_err(anyhow::Error::msg)?,
            redis.timeout,
        ),
        None => limits,
    })
}

fn session_policy(settings: &Settings) -> anyhow::Result<SessionPolicy> {
    let duration = |d: std::time::Duration| {
        chrono::Duration::from_std(d).context("session duration out of range")
    };
    Ok(SessionPolicy {
        idle: duration(settings.session_idle)?,
        absolute: duration(settings.session_absolute)?,
        reuse_grace: duration(settings.refresh_reuse_grace)?,
    })
}

/// The use cases, wired to the sea-orm, argon2 and JWT adapters.
#[derive(Debug, Clone)]
pub struct Services {
    /// Entities.
    pub entities: EntityService,
    /// Relationships.
    pub relationships: RelationshipService,
    /// Evidence for entities and relationships.
    pub evidence: EvidenceService,
    /// Users.
    pub users: UserService,
    /// Login and authentication.
    pub auth: AuthService,
    /// API keys.
    pub api_keys: ApiKeyService,
    /// The change feed, entity histories and the audit log.
    pub history: HistoryService,
    /// Traversal.
    pub graph: GraphService,
    /// Batch ingestion.
    pub batch: BatchService,
    /// Idempotency keys of creates.
    pub idempotency: IdempotencyService,
    /// The maintenance switch.
    pub maintenance: MaintenanceService,
    /// Purging rows past their use.
    pub housekeeping: HousekeepingService,
    /// The principals authentication keeps while a change channel vouches
    /// for them, shared by `auth`, `users` and `api_keys`.
    pub principals: Arc<PrincipalCache>,
}

/// Wires the use cases over `db`.
///
/// # Errors
/// When the secret cannot be loaded or the hasher cannot start.
pub fn build_services(settings: &Settings, db: &DatabaseConnection) -> anyhow::Result<Services> {
    let secret = load_secret(&settings.jwt_secret)?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let api_keys = Arc::new(SeaOrmApiKeyRepository::new(db.clone()));
    let key_secrets = Arc::new(OpaqueApiKeys);
    let users = Arc::new(SeaOrmUserRepository::new(db.clone()));
    let hasher = Arc::new(
        Argon2Hasher::new(HasherConfig {
            max_concurrent: settings.password_hash_concurrency,
            ..HasherConfig::default()
        })
        .map_err(|e| anyhow::anyhow!("starting the password hasher: {e}"))?,
    );
    let tokens = Arc::new(JwtIssuer::new(
        &secret,
        JwtConfig {
            access_ttl: settings.access_token_ttl,
            ..JwtConfig::default()
        },
    ));
    let entities = Arc::new(SeaOrmEntityRepository::new(db.clone()));
    let relationships = Arc::new(SeaOrmRelationshipRepository::new(db.clone()));
    let principals = Arc::new(PrincipalCache::default());
    Ok(Services {
        entities: EntityService::new(entities.clone(), clock.clone()),
        relationships: RelationshipService::new(relationships.clone(), clock.clone()),
        evidence: EvidenceService::new(
            Arc::new(SeaOrmEvidenceRepository::new(db.clone())),
            clock.clone(),
        ),
        graph: GraphService::new(entities, relationships)
            .with_time_budget(settings.traversal_time_budget),
        batch: BatchService::new(
            Arc::new(SeaOrmBatchRepository::new(db.clone())),
            clock.clone(),
        ),
        idempotency: IdempotencyService::new(
            Arc::new(SeaOrmIdempotencyStore::new(db.clone())),
            clock.clone(),
        ),
        maintenance: MaintenanceService::new(
            Arc::new(SeaOrmModeStore::new(db.clone())),
            clock.clone(),
            MODE_REFRESH,
        ),
        housekeeping: HousekeepingService::new(
            Arc::new(SeaOrmHousekeeping::new(db.clone())),
            clock.clone(),
            session_policy(settings)?,
            ThrottlePolicy::default(),
        ),
        users: UserService::new(users.clone(), hasher.clone(), clock.clone())
            .with_principals(principals.clone()),
        auth: AuthService::new(
            AuthPorts {
                users,
                sessions: Arc::new(SeaOrmSessionRepository::new(db.clone())),
                hasher,
                tokens,
                refresh: Arc::new(OpaqueRefreshTokens),
                throttle: Arc::new(SeaOrmLoginThrottle::new(db.clone())),
                api_keys: api_keys.clone(),
                key_secrets: key_secrets.clone(),
                clock: clock.clone(),
            },
            session_policy(settings)?,
            ThrottlePolicy::default(),
        )
        .with_principals(principals.clone()),
        api_keys: ApiKeyService::new(api_keys, key_secrets, clock)
            .with_principals(principals.clone()),
        history: HistoryService::new(
            Arc::new(SeaOrmChangeFeed::new(db.clone())),
            Arc::new(SeaOrmAuditLog::new(db.clone())),
        ),
        principals,
    })
}

/// A bound, ready-to-run server.
pub struct Application {
    port: u16,
    server: Server,
    services: Services,
    metrics: Option<(Server, u16)>,
    shutting_down: Arc<std::sync::atomic::AtomicBool>,
    drain: std::time::Duration,
    /// The PostgreSQL database whose principal channel drives the cache;
    /// `None` on SQLite, which has none.
    principal_channel: Option<String>,
    /// The rate limiters, whose housekeeping runs beside the server.
    limits: RateLimits,
    /// The metrics the routes and the periodic purge count into.
    metrics_registry: Arc<kg_http::Metrics>,
    /// How often rows past their use are purged.
    purge_interval: std::time::Duration,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl Application {
    /// Prepares the schema, opens the database, wires the services and binds
    /// the listener (`KG_BIND`; port 0 picks a free port).
    ///
    /// # Errors
    /// Any start-up failure, with its cause.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        prepare_schema(&settings).await?;
        let mut db = open_database(&settings).await?;
        // Before any clone: every repository's statements are counted.
        let statements = kg_persistence::StatementCount::attach(&mut db);
        let services = build_services(&settings, &db)?;
        let listener = TcpListener::bind(settings.bind)
            .with_context(|| format!("binding {}", settings.bind))?;
        let port = listener
            .local_addr()
            .context("reading the bound address")?
            .port();
        let shutting_down = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let metrics_registry = Arc::new(kg_http::Metrics::default());
        let state = AppState {
            entities: services.entities.clone(),
            relationships: services.relationships.clone(),
            evidence: services.evidence.clone(),
            users: services.users.clone(),
            auth: services.auth.clone(),
            api_keys: services.api_keys.clone(),
            history: services.history.clone(),
            graph: services.graph.clone(),
            batch: services.batch.clone(),
            idempotency: services.idempotency.clone(),
            maintenance: services.maintenance.clone(),
            metrics: metrics_registry.clone(),
            shutting_down: shutting_down.clone(),
            pool: Arc::new(kg_persistence::SeaOrmPoolMonitor::new(
                db.clone(),
                settings.db_max_connections,
                statements,
            )),
            health: Arc::new(kg_persistence::SeaOrmHealthProbe::new(db.clone())),
            readiness: Arc::default(),
            // Built here, once: every worker shares these limiters.
            limits: rate_limits(&settings)?,
            settings: HttpSettings {
                max_body_bytes: settings.max_body_bytes,
                max_batch_body_bytes: settings.max_batch_body_bytes,
                hsts: settings.hsts,
                cors_origins: settings.cors_origins.clone(),
                cookie_auth: settings.cookie_auth,
                metrics_with_api: settings.metrics_addr.is_none() && settings.metrics_public,
            },
        };
        let metrics = match settings.metrics_addr {
            Some(addr) => {
                let listener = TcpListener::bind(addr)
                    .with_context(|| format!("binding the metrics listener {addr}"))?;
                let port = listener
                    .local_addr()
                    .context("reading the metrics address")?
                    .port();
                let state = state.clone();
                let server = HttpServer::new(move || kg_http::metrics_app(state.clone()))
                    .workers(1)
                    .listen(listener)
                    .context("listening for metrics")?
                    .run();
                Some((server, port))
            }
            None => None,
        };
        let limits = state.limits.clone();
        // A handler's panic is logged once, as its request's 500.
        kg_http::quiet_contained_panics();
        let server = HttpServer::new(move || kg_http::app(state.clone()))
            .workers(settings.workers)
            .shutdown_timeout(settings.shutdown_timeout)
            // Signals are ours: see `serve`.
            .disable_signals()
            .listen(listener)
            .context("listening")?
            .run();
        Ok(Self {
            port,
            server,
            services,
            metrics,
            shutting_down,
            drain: settings.shutdown_drain,
            principal_channel: (db.get_database_backend()
                == kg_persistence::DatabaseBackend::Postgres)
                .then(|| settings.database_url.clone()),
            limits,
            metrics_registry: metrics_registry.clone(),
            purge_interval: settings.purge_interval,
        })
    }

    /// The port of the separate metrics listener, when `KG_METRICS_ADDR` is set.
    #[must_use]
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics.as_ref().map(|(_, port)| *port)
    }

    /// The port the server listens on.
    #[must_use]
    pub const fn port(&self) -> u16 {
        self.port
    }

    /// The wired use cases, for operator commands and tests.
    #[must_use]
    pub const fn services(&self) -> &Services {
        &self.services
    }

    /// Serves until SIGTERM or SIGINT. Then readiness fails at once, requests
    /// are still served for the drain period (`KG_SHUTDOWN_DRAIN_SECS`), the
    /// listener closes, and in-flight requests get up to
    /// `KG_SHUTDOWN_TIMEOUT_SECS` to finish.
    ///
    /// # Errors
    /// When the server fails or the signal handlers cannot be installed.
    pub async fn serve(self) -> std::io::Result<()> {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        let handle = self.server.handle();
        let flag = self.shutting_down.clone();
        let drain = self.drain;
        tokio::spawn(async move {
            tokio::select! {
                _ = terminate.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            flag.store(true, std::sync::atomic::Ordering::Relaxed);
            tracing::info!(
                drain_secs = drain.as_secs(),
                "shutting down: readiness fails, draining"
            );
            tokio::time::sleep(drain).await;
            handle.stop(true).await;
        });
        self.run_until_stopped().await
    }

    /// Serves until the server is stopped, finishing in-flight requests.
    ///
    /// # Errors
    /// When the server fails.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let purger = tokio::spawn(purge_periodically(
            self.services.idempotency.clone(),
            self.services.housekeeping.clone(),
            self.metrics_registry.clone(),
            self.purge_interval,
        ));
        let tidier = tokio::spawn(self.limits.keep_tidy());
        let principals = self.principal_channel.map(|url| {
            tokio::spawn(kg_persistence::follow_principal_changes(
                url,
                self.services.principals.clone(),
            ))
        });
        let metrics = self.metrics.map(|(server, _)| {
            let handle = server.handle();
            (handle, tokio::spawn(server))
        });
        let result = self.server.await;
        purger.abort();
        tidier.abort();
        if let Some(principals) = principals {
            principals.abort();
        }
        if let Some((handle, task)) = metrics {
            handle.stop(true).await;
            match task.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "the metrics listener failed"),
                Err(e) => tracing::warn!(error = %e, "the metrics listener task failed"),
            }
        }
        result
    }
}

/// Every `interval`, removes rows past their use: idempotency keys past
/// their 24-hour window, dead sessions and their refresh tokens, long-spent
/// refresh tokens and stale login-throttle rows; counts them in
/// `kg_purged_rows_total`. Each instance runs it; the deletes are
/// idempotent.
async fn purge_periodically(
    idempotency: IdempotencyService,
    housekeeping: HousekeepingService,
    metrics: Arc<kg_http::Metrics>,
    interval: std::time::Duration,
) {
    let mut every = tokio::time::interval(interval);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        match idempotency.purge_expired().await {
            Ok(n) => metrics.purged("idempotency_keys", n),
            Err(e) => tracing::warn!(error = %e, "could not purge idempotency keys"),
        }
        match housekeeping.purge().await {
            Ok(purged) => {
                metrics.purged("sessions", purged.sessions);
                metrics.purged("refresh_tokens", purged.refresh_tokens);
                metrics.purged("login_throttle", purged.throttle_rows);
                if purged != kg_application::Purged::default() {
                    tracing::info!(
                        sessions = purged.sessions,
                        refresh_tokens = purged.refresh_tokens,
                        login_throttle = purged.throttle_rows,
                        "purged rows past their use"
                    );
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not purge sessions and throttle rows"),
        }
    }
}
