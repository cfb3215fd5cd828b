//! What handlers share: the use cases and the HTTP settings.

use kg_application::{
    ApiKeyService, AuthService, BatchService, EntityService, EvidenceService, GraphService,
    HistoryService, IdempotencyService, MaintenanceService, RelationshipService, UserService,
};

/// Limits and switches of the HTTP layer.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// The largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// The largest body of `POST /v1/batch`, in bytes.
    pub max_batch_body_bytes: usize,
    /// Whether to send `Strict-Transport-Security` (behind TLS only).
    pub hsts: bool,
    /// Browser origins allowed to call the API (exact `scheme://host[:port]`).
    pub cors_origins: Vec<String>,
    /// Whether logins may ask for cookie sessions (with CSRF protection).
    pub cookie_auth: bool,
    /// Whether `/metrics` is served with the API (`false` when it has a
    /// listener of its own).
    pub metrics_with_api: bool,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            max_body_bytes: 1024 * 1024,
            max_batch_body_bytes: 16 * 1024 * 1024,
            hsts: false,
            cors_origins: Vec::new(),
            cookie_auth: false,
            metrics_with_api: true,
        }
    }
}

/// The use cases behind the routes. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// Entities.
    pub entities: EntityService,
    /// Relationships.
    pub relationships: RelationshipService,
    /// Evidence for entities and relationships.
    pub evidence: EvidenceService,
    /// User accounts.
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
    /// Request metrics, shared by every worker.
    pub metrics: std::sync::Arc<crate::Metrics>,
    /// The database pool, for metrics.
    pub pool: std::sync::Arc<dyn kg_application::PoolMonitor>,
    /// Set when the process is shutting down: readiness fails from then on.
    pub shutting_down: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// Request rate limits, shared by every worker.
    pub limits: crate::RateLimits,
    /// Readiness checks.
    pub health: std::sync::Arc<dyn kg_application::HealthProbe>,
    /// Their last results, answered again for a second.
    pub readiness: std::sync::Arc<crate::ReadinessCache>,
    /// HTTP limits.
    pub settings: HttpSettings,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}
