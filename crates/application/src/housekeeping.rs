//! Rows that only grow until something removes them: sessions past any
//! use, the refresh tokens they spent, and login-throttle rows that no
//! longer count or lock.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::{AppError, Clock, RepoError, ResourceKind, SessionPolicy, ThrottlePolicy};

/// When each kind of row may go, as instants: a row older than its bound
/// can no longer change any answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PurgeRules {
    /// Now.
    pub now: DateTime<Utc>,
    /// A session last used before this is idle-expired.
    pub idle_before: DateTime<Utc>,
    /// A refresh token spent before this is no longer checked for reuse
    /// (its session, were it still used, has been refreshed since).
    pub spent_before: DateTime<Utc>,
    /// A throttle row whose last failure is before this no longer counts,
    /// unless it still locks at `now`.
    pub failure_before: DateTime<Utc>,
}

/// How many rows one purge removed, by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    /// Sessions expired (idle or absolute) or revoked.
    pub sessions: u64,
    /// Refresh tokens: those of the sessions removed, and those spent
    /// before [`PurgeRules::spent_before`].
    pub refresh_tokens: u64,
    /// Login-throttle rows.
    pub throttle_rows: u64,
}

/// Removing rows past their use.
#[async_trait]
pub trait Housekeeping: Send + Sync {
    /// Deletes every row the rules allow, in statements of bounded size.
    ///
    /// # Errors
    /// `DatabaseUnavailable` or `Other`; rows deleted before the error stay
    /// deleted.
    async fn purge(&self, rules: &PurgeRules) -> Result<Purged, RepoError>;
}

/// The purge, with the rules the session and throttle policies imply.
#[derive(Clone)]
pub struct HousekeepingService {
    store: Arc<dyn Housekeeping>,
    clock: Arc<dyn Clock>,
    sessions: SessionPolicy,
    throttle: ThrottlePolicy,
}

impl std::fmt::Debug for HousekeepingService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HousekeepingService")
            .finish_non_exhaustive()
    }
}

impl HousekeepingService {
    /// A service over `store`.
    #[must_use]
    pub fn new(
        store: Arc<dyn Housekeeping>,
        clock: Arc<dyn Clock>,
        sessions: SessionPolicy,
        throttle: ThrottlePolicy,
    ) -> Self {
        Self {
            store,
            clock,
            sessions,
            throttle,
        }
    }

    /// The rules at `now`.
    #[must_use]
    pub fn rules(&self, now: DateTime<Utc>) -> PurgeRules {
        PurgeRules {
            now,
            idle_before: now - self.sessions.idle,
            spent_before: now - self.sessions.idle,
            failure_before: now - self.throttle.window,
        }
    }

    /// Purges what the rules allow now.
    ///
    /// # Errors
    /// `DatabaseUnavailable`; `Internal`.
    pub async fn purge(&self) -> Result<Purged, AppError> {
        self.store
            .purge(&self.rules(self.clock.now()))
            .await
            .map_err(|e| AppError::from_repo(e, ResourceKind::User))
    }
}
