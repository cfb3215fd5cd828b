//! The maintenance switch: `off`, `read_only` (writes refused) or
//! `maintenance` (the API refused), stored in the database so every
//! instance obeys it, each within its refresh interval.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use kg_domain::UserId;
use serde_json::json;

use crate::{
    AppError, AuditAction, AuditEntry, AuditTarget, Clock, RepoError, RequestContext, ResourceKind,
};

/// What the service accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ServiceMode {
    /// Everything.
    #[default]
    Off,
    /// Reads, sign-in and this switch; writes get 503.
    ReadOnly,
    /// Health, sign-in and this switch only.
    Maintenance,
}

impl ServiceMode {
    /// The mode's name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::ReadOnly => "read_only",
            Self::Maintenance => "maintenance",
        }
    }

    /// The mode with this name.
    #[must_use]
    pub fn parse(name: &str) -> Option<Self> {
        [Self::Off, Self::ReadOnly, Self::Maintenance]
            .into_iter()
            .find(|m| m.as_str() == name)
    }
}

/// The stored switch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ModeState {
    /// The mode.
    pub mode: ServiceMode,
    /// When it was last set; `None` if never.
    pub changed_at: Option<DateTime<Utc>>,
    /// By whom.
    pub changed_by: Option<UserId>,
}

/// Storage of the switch.
#[async_trait::async_trait]
pub trait ModeStore: Send + Sync {
    /// The stored state (`off` when never set).
    ///
    /// # Errors
    /// `DatabaseUnavailable` or `Other`.
    async fn get(&self) -> Result<ModeState, RepoError>;

    /// Stores `state` and its audit entry at once.
    ///
    /// # Errors
    /// `DatabaseUnavailable` or `Other`.
    async fn set(&self, state: &ModeState, audit: &AuditEntry) -> Result<(), RepoError>;
}

/// How often an instance re-reads the switch: the bound within which every
/// instance obeys a change.
pub const MODE_REFRESH: Duration = Duration::from_secs(2);

/// Reading (cached) and setting the switch.
#[derive(Clone)]
pub struct MaintenanceService {
    store: Arc<dyn ModeStore>,
    clock: Arc<dyn Clock>,
    cache: Arc<Mutex<Option<(ServiceMode, Instant)>>>,
    refresh: Duration,
}

impl std::fmt::Debug for MaintenanceService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MaintenanceService")
            .field("refresh", &self.refresh)
            .finish_non_exhaustive()
    }
}

impl MaintenanceService {
    /// A service re-reading the switch every `refresh`.
    #[must_use]
    pub fn new(store: Arc<dyn ModeStore>, clock: Arc<dyn Clock>, refresh: Duration) -> Self {
        Self {
            store,
            clock,
            cache: Arc::new(Mutex::new(None)),
            refresh,
        }
    }

    fn cached(&self) -> Option<(ServiceMode, Instant)> {
        *self
            .cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn remember(&self, mode: ServiceMode) {
        *self
            .cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some((mode, Instant::now()));
    }

    /// The mode every request is checked against: at most `refresh` old.
    /// When the database cannot be read, the last known mode holds (and
    /// `off` before any was read), so an outage does not lock the API.
    pub async fn current(&self) -> ServiceMode {
        if let Some((mode, at)) = self.cached()
            && at.elapsed() < self.refresh
        {
            return mode;
        }
        match self.store.get().await {
            Ok(state) => {
                self.remember(state.mode);
                state.mode
            }
            Err(e) => {
                let last = self.cached().map_or(ServiceMode::Off, |(m, _)| m);
                tracing::warn!(error = %e, mode = last.as_str(), "could not read the maintenance switch; keeping the last known mode");
                self.remember(last);
                last
            }
        }
    }

    /// The stored state, read now.
    ///
    /// # Errors
    /// `DatabaseUnavailable`; `Internal`.
    pub async fn status(&self) -> Result<ModeState, AppError> {
        self.store
            .get()
            .await
            .map_err(|e| AppError::from_repo(e, ResourceKind::Entity))
    }

    /// Sets the switch (admins), audited.
    ///
    /// # Errors
    /// `Forbidden` unless an admin; `DatabaseUnavailable`; `Internal`.
    pub async fn set(
        &self,
        ctx: &RequestContext,
        mode: ServiceMode,
    ) -> Result<ModeState, AppError> {
        ctx.actor.require_admin()?;
        let before = self.status().await?;
        let now = self.clock.now();
        let state = ModeState {
            mode,
            changed_at: Some(now),
            changed_by: Some(ctx.actor.user_id),
        };
        let audit = ctx.audit(
            AuditAction::Update,
            AuditTarget::Setting,
            now,
            json!({ "mode": { "before": before.mode.as_str(), "after": mode.as_str() } }),
        );
        self.store
            .set(&state, &audit)
            .await
            .map_err(|e| AppError::from_repo(e, ResourceKind::Entity))?;
        self.remember(mode);
        Ok(state)
    }
}
