//! The ports: what the use cases need from the outside world.
//!
//! Every method documents which [`RepoError`] the adapter must return in
//! which case. Write methods receive the [`AuditEntry`] that describes them
//! and must store both atomically: either the change and its audit row are
//! both durable, or neither is.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kg_domain::{
    Email, Entity, EntityId, Password, PasswordHash, Relationship, RelationshipId, User, UserId,
    Version,
};

use crate::{
    AuditEntry, EntityFilter, IssuedToken, Page, PageRequest, RelationshipFilter, RepoError,
    TokenError,
};

/// The time now. A port so tests can control it.
pub trait Clock: Send + Sync {
    /// The current time in UTC.
    fn now(&self) -> DateTime<Utc>;
}

/// The system clock, at microsecond precision: the finest both databases
/// store, so a resource reads back exactly as its write response showed it.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        use chrono::SubsecRound as _;
        Utc::now().trunc_subsecs(6)
    }
}

/// Storage of entities.
#[async_trait]
pub trait EntityRepository: Send + Sync {
    /// Stores a new entity and its audit entry.
    ///
    /// # Errors
    /// `Conflict(ExternalIdTaken)` when a live entity has its `external_id`;
    /// `Unavailable` when storage cannot be reached; `Other` otherwise.
    async fn create(&self, entity: &Entity, audit: &AuditEntry) -> Result<(), RepoError>;

    /// A live entity by id, `None` if there is none.
    ///
    /// # Errors
    /// `Unavailable` or `Other`.
    async fn get(&self, id: EntityId) -> Result<Option<Entity>, RepoError>;

    /// Live entities matching `filter`, in id order, one query per page.
    ///
    /// # Errors
    /// `Unavailable` or `Other`.
    async fn list(
        &self,
        filter: &EntityFilter,
        page: PageRequest,
    ) -> Result<Page<Entity>, RepoError>;

    /// Replaces the entity's data and lifecycle with `entity`'s if the stored
    /// live entity is still at `expected`.
    ///
    /// # Errors
    /// `NotFound` when no live entity has the id; `VersionMismatch` when its
    /// version is not `expected`; `Conflict(ExternalIdTaken)`; `Unavailable`; `Other`.
    async fn update(
        &self,
        entity: &Entity,
        expected: Version,
        audit: &AuditEntry,
    ) -> Result<(), RepoError>;

    /// Soft-deletes a live entity and every live relationship that touches
    /// it, auditing each, all at once. Returns the relationships deleted.
    ///
    /// # Errors
    /// `NotFound` when no live entity has the id; `Unavailable`; `Other`.
    async fn soft_delete(
        &self,
        id: EntityId,
        audit: &AuditEntry,
    ) -> Result<Vec<RelationshipId>, RepoError>;
}

/// Storage of relationships.
#[async_trait]
pub trait RelationshipRepository: Send + Sync {
    /// Stores a new relationship and its audit entry, provided both ends are
    /// live entities at the moment it is written (no check-then-write race).
    ///
    /// # Errors
    /// `Conflict(SourceNotLive | TargetNotLive)` when an end is missing or
    /// deleted; `Conflict(DuplicateRelationship)` when a live relationship has
    /// the same source, target and type; `Unavailable`; `Other`.
    async fn create(
        &self,
        relationship: &Relationship,
        audit: &AuditEntry,
    ) -> Result<(), RepoError>;

    /// A live relationship by id.
    ///
    /// # Errors
    /// `Unavailable` or `Other`.
    async fn get(&self, id: RelationshipId) -> Result<Option<Relationship>, RepoError>;

    /// Live relationships matching `filter`, in id order, one query per page.
    ///
    /// # Errors
    /// `Unavailable` or `Other`.
    async fn list(
        &self,
        filter: &RelationshipFilter,
        page: PageRequest,
    ) -> Result<Page<Relationship>, RepoError>;

    /// Soft-deletes a live relationship and audits it.
    ///
    /// # Errors
    /// `NotFound` when no live relationship has the id; `Unavailable`; `Other`.
    async fn soft_delete(&self, id: RelationshipId, audit: &AuditEntry) -> Result<(), RepoError>;
}

/// Storage of users.
#[async_trait]
pub trait UserRepository: Send + Sync {
    /// Stores a new user and its audit entry. `audit` is `None` only when the
    /// user is made outside any request by an operator (the first admin).
    ///
    /// # Errors
    /// `Conflict(EmailTaken)` when the normalised email exists; `Unavailable`; `Other`.
    async fn create(&self, user: &User, audit: Option<&AuditEntry>) -> Result<(), RepoError>;

    /// A user by id.
    ///
    /// # Errors
    /// `Unavailable` or `Other`.
    async fn get(&self, id: UserId) -> Result<Option<User>, RepoError>;

    /// A user by normalised email.
    ///
    /// # Errors
    /// `Unavailable` or `Other`.
    async fn find_by_email(&self, email: &Email) -> Result<Option<User>, RepoError>;

    /// Users in id order.
    ///
    /// # Errors
    /// `Unavailable` or `Other`.
    async fn list(&self, page: PageRequest) -> Result<Page<User>, RepoError>;
}

/// Password hashing. Implementations must not block the async executor and
/// must bound how many hashes run at once.
#[async_trait]
pub trait PasswordHasher: Send + Sync {
    /// Hashes a password that met the policy.
    ///
    /// # Errors
    /// `Unavailable` when too many hashes are queued; `Other` on failure.
    async fn hash(&self, password: &Password) -> Result<PasswordHash, RepoError>;

    /// Whether `password` matches `hash`. With `None` it verifies against a
    /// dummy hash and answers `false`, taking as long as a real check, so that
    /// unknown accounts cannot be told apart by timing.
    ///
    /// # Errors
    /// `Unavailable` when too many hashes are queued; `Other` on failure.
    async fn verify(
        &self,
        password: &Password,
        hash: Option<&PasswordHash>,
    ) -> Result<bool, RepoError>;
}

/// Issues and verifies access tokens.
pub trait TokenIssuer: Send + Sync {
    /// A new access token for `user`.
    ///
    /// # Errors
    /// `TokenError::Issue` if signing fails.
    fn issue(&self, user: UserId, now: DateTime<Utc>) -> Result<IssuedToken, TokenError>;

    /// The user an access token was issued to, if it is authentic and
    /// currently valid.
    ///
    /// # Errors
    /// `TokenError::Invalid` for any token that is not.
    fn verify(&self, token: &str) -> Result<UserId, TokenError>;
}
