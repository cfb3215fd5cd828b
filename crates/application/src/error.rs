//! The application's errors, and the errors adapters report to it.

use kg_domain::Violations;

/// What kind of resource was not found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceKind {
    /// An entity.
    Entity,
    /// A relationship.
    Relationship,
    /// An evidence record.
    Evidence,
    /// A user.
    User,
    /// An API key.
    ApiKey,
}

/// A uniqueness or reference rule that a write would break.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Conflict {
    /// Another live entity has this `external_id`.
    #[error("another live entity has this external_id")]
    ExternalIdTaken,
    /// A live relationship with the same source, target and type exists.
    #[error("a live relationship with the same source, target and type exists")]
    DuplicateRelationship,
    /// The relationship's source entity does not exist or is deleted.
    #[error("the source entity does not exist or is deleted")]
    SourceNotLive,
    /// The relationship's target entity does not exist or is deleted.
    #[error("the target entity does not exist or is deleted")]
    TargetNotLive,
    /// Another user has this email address.
    #[error("a user with this email already exists")]
    EmailTaken,
    /// The change would leave no active admin.
    #[error("the last active admin cannot be demoted or deactivated")]
    LastActiveAdmin,
    /// Admins cannot change their own role or deactivate themselves.
    #[error("you cannot change your own role or deactivate yourself")]
    CannotModifySelf,
    /// Only a deleted resource can be restored.
    #[error("the resource is not deleted")]
    NotDeleted,
    /// Only retracted evidence can be restored.
    #[error("the evidence is not retracted")]
    NotRetracted,
    /// The evidence is of a deleted fact.
    #[error("the evidence's fact is deleted; restore the fact first")]
    FactNotLive,
    /// A fact's stated evidence changes with the fact only.
    #[error("stated evidence is the fact's own confidence and source: change the fact instead")]
    EvidenceStated,
}

/// One reason a deleted entity cannot be restored as it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RestoreBlocker {
    /// A live entity now has the deleted entity's `external_id`.
    ExternalIdTaken {
        /// The external id.
        external_id: String,
        /// The live entity that has it.
        held_by: kg_domain::EntityId,
    },
    /// A relationship to restore points at an entity that is deleted now.
    OtherEndDeleted {
        /// The relationship that would be restored.
        relationship: kg_domain::RelationshipId,
        /// Its deleted other end.
        entity: kg_domain::EntityId,
    },
}

/// What a repository adapter reports.
#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    /// The resource does not exist (or is not live, where that matters).
    #[error("not found")]
    NotFound,
    /// The stored version differs from the expected one.
    #[error("version mismatch")]
    VersionMismatch,
    /// A database constraint refused the write.
    #[error("conflict: {0}")]
    Conflict(Conflict),
    /// A restore would break the rules in each of these ways.
    #[error("restore blocked")]
    RestoreBlocked(Vec<RestoreBlocker>),
    /// The input, checked against stored state, breaks these rules.
    #[error("invalid: {0}")]
    Invalid(Violations),
    /// A dependency other than the database is saturated; worth retrying.
    #[error("unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The database could not be reached, or did not answer, in time; worth
    /// retrying.
    #[error("database unavailable")]
    DatabaseUnavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// Anything else: a bug or a broken database.
    #[error("storage failure")]
    Other(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Every way a use case can fail. The HTTP layer maps each variant to one
/// status and one stable problem code.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The input breaks one or more rules.
    #[error("validation failed: {0}")]
    Validation(Violations),
    /// No such resource, or not visible to the caller.
    #[error("{0:?} not found")]
    NotFound(ResourceKind),
    /// A uniqueness or reference rule.
    #[error(transparent)]
    Conflict(Conflict),
    /// A deleted entity cannot be restored as it was, for these reasons.
    #[error("the entity cannot be restored as it was")]
    RestoreBlocked(Vec<RestoreBlocker>),
    /// The write was based on a version that is no longer current.
    #[error("the resource has changed since it was read")]
    VersionMismatch,
    /// An `Idempotency-Key` already answered a different request.
    #[error("the idempotency key was used for a different request")]
    IdempotencyKeyReused,
    /// The first request with this `Idempotency-Key` is still running.
    #[error("a request with this idempotency key is in flight")]
    IdempotencyInFlight,
    /// A conditional write was sent without the version it is based on.
    #[error("the write must name the version it is based on")]
    PreconditionRequired,
    /// No valid credentials were presented.
    #[error("authentication required")]
    Unauthenticated,
    /// Login failed; deliberately says nothing about why.
    #[error("invalid credentials")]
    InvalidCredentials,
    /// A refresh token that is unknown, spent, or of a revoked session.
    #[error("invalid refresh token")]
    InvalidRefreshToken,
    /// The session was idle too long or reached its absolute lifetime.
    #[error("session expired")]
    SessionExpired,
    /// Too many failed logins for this email; retry later.
    #[error("too many failed logins; retry in {retry_after_secs} s")]
    Throttled {
        /// Seconds until a login may be tried again.
        retry_after_secs: u64,
    },
    /// Authenticated, but not allowed to do this.
    #[error("forbidden")]
    Forbidden,
    /// A dependency is unavailable; the client may retry.
    #[error("service unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The database is unreachable or overloaded; the client may retry.
    #[error("database unavailable")]
    DatabaseUnavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A bug or an unexpected failure of a dependency.
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl AppError {
    /// Maps a repository error, naming the resource for `NotFound`.
    #[must_use]
    pub fn from_repo(err: RepoError, kind: ResourceKind) -> Self {
        match err {
            RepoError::NotFound => Self::NotFound(kind),
            RepoError::VersionMismatch => Self::VersionMismatch,
            RepoError::Conflict(c) => Self::Conflict(c),
            RepoError::RestoreBlocked(b) => Self::RestoreBlocked(b),
            RepoError::Invalid(v) => Self::Validation(v),
            RepoError::Unavailable(source) => Self::Unavailable(source),
            RepoError::DatabaseUnavailable(source) => Self::DatabaseUnavailable(source),
            RepoError::Other(source) => Self::Internal(source),
        }
    }
}

impl From<Violations> for AppError {
    fn from(v: Violations) -> Self {
        Self::Validation(v)
    }
}
