//! The ports: what the use cases need from the outside world.
//!
//! Every method documents which [`RepoError`] the adapter must return in
//! which case. Write methods receive the [`AuditEntry`] that describes them
//! and must store both atomically: either the change and its audit row are
//! both durable, or neither is. Writes to entities and relationships also
//! append their [`NewChange`](crate::NewChange)s to the change feed in the
//! same transaction.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kg_domain::{
    ApiKey, ApiKeyId, Email, Entity, EntityId, Password, PasswordHash, Relationship,
    RelationshipId, Session, SessionId, TokenDigest, User, UserId, Version,
};

use crate::{
    AuditEntry, AuditFilter, AuditRecord, ChangePage, Completion, EntityFilter, Expansion,
    FeedRequest, IssuedToken, Limit, Page, PageRequest, Position, RelationshipFilter, RepoError,
    Scan, Step, ThrottleKey, ThrottlePolicy, TokenError,
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
    /// Stores a new entity and its audit entry, and the response of a
    /// keyed request when given, all at once.
    ///
    /// # Errors
    /// `Conflict(ExternalIdTaken)` when a live entity has its `external_id`;
    /// `DatabaseUnavailable` when storage cannot be reached; `Other` otherwise.
    async fn create(
        &self,
        entity: &Entity,
        audit: &AuditEntry,
        completion: Option<&Completion>,
    ) -> Result<(), RepoError>;

    /// A live entity by id, `None` if there is none.
    ///
    /// # Errors
    /// `DatabaseUnavailable` or `Other`.
    async fn get(&self, id: EntityId) -> Result<Option<Entity>, RepoError>;

    /// Live entities matching `filter`, in id order, one query per page.
    ///
    /// # Errors
    /// `DatabaseUnavailable` or `Other`.
    async fn list(
        &self,
        filter: &EntityFilter,
        page: PageRequest,
    ) -> Result<Page<Entity>, RepoError>;

    /// Live entities of `of`'s type, `of` aside, whose names may be like
    /// its name (ADR 45): on PostgreSQL with `pg_trgm`, every one whose
    /// folded name's trigram similarity reaches
    /// [`MIN_DUPLICATE_SCORE`](crate::MIN_DUPLICATE_SCORE), likeliest first;
    /// elsewhere those whose folded name is the same or holds one of its
    /// [`search_words`](crate::search_words), in id order. At most
    /// [`DUPLICATE_CANDIDATES`](crate::DUPLICATE_CANDIDATES), in one query.
    ///
    /// # Errors
    /// `DatabaseUnavailable` or `Other`.
    async fn duplicate_candidates(&self, of: &Entity) -> Result<Vec<Entity>, RepoError>;

    /// Replaces the entity's data and lifecycle with `entity`'s if the stored
    /// live entity is still at `expected`.
    ///
    /// # Errors
    /// `NotFound` when no live entity has the id; `VersionMismatch` when its
    /// version is not `expected`; `Conflict(ExternalIdTaken)`; `DatabaseUnavailable`; `Other`.
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
    /// `NotFound` when no live entity has the id; `DatabaseUnavailable`; `Other`.
    async fn soft_delete(
        &self,
        id: EntityId,
        audit: &AuditEntry,
    ) -> Result<Vec<RelationshipId>, RepoError>;

    /// Brings back a soft-deleted entity and exactly the relationships its
    /// deletion cascaded to, auditing each, all at once; returns the entity
    /// and those relationships as they are now.
    ///
    /// # Errors
    /// `NotFound` when no entity has the id; `Conflict(NotDeleted)` when it
    /// is live; `RestoreBlocked` naming everything that now conflicts;
    /// `DatabaseUnavailable`; `Other`.
    async fn restore(
        &self,
        id: EntityId,
        audit: &AuditEntry,
    ) -> Result<(Entity, Vec<Relationship>), RepoError>;
}

/// Storage of relationships.
#[async_trait]
pub trait RelationshipRepository: Send + Sync {
    /// Stores a new relationship, its audit entry and the keyed response
    /// when given, provided both ends are
    /// live entities at the moment it is written (no check-then-write race).
    ///
    /// # Errors
    /// `Conflict(SourceNotLive | TargetNotLive)` when an end is missing or
    /// deleted; `Conflict(DuplicateRelationship)` when a live relationship has
    /// the same source, target and type; `DatabaseUnavailable`; `Other`.
    async fn create(
        &self,
        relationship: &Relationship,
        audit: &AuditEntry,
        completion: Option<&Completion>,
    ) -> Result<(), RepoError>;

    /// A live relationship by id.
    ///
    /// # Errors
    /// `DatabaseUnavailable` or `Other`.
    async fn get(&self, id: RelationshipId) -> Result<Option<Relationship>, RepoError>;

    /// Live relationships matching `filter`, in id order, one query per page.
    ///
    /// # Errors
    /// `DatabaseUnavailable` or `Other`.
    async fn list(
        &self,
        filter: &RelationshipFilter,
        page: PageRequest,
    ) -> Result<Page<Relationship>, RepoError>;

    /// Soft-deletes a live relationship and audits it.
    ///
    /// # Errors
    /// `NotFound` when no live relationship has the id; `DatabaseUnavailable`; `Other`.
    async fn soft_delete(&self, id: RelationshipId, audit: &AuditEntry) -> Result<(), RepoError>;

    /// Replaces the relationship's attributes and lifecycle with
    /// `relationship`'s if the stored live relationship is still at `expected`.
    ///
    /// # Errors
    /// `NotFound`; `VersionMismatch`; `Conflict(DuplicateRelationship)` when
    /// a changed type collides with a live relationship; `DatabaseUnavailable`; `Other`.
    async fn update(
        &self,
        relationship: &Relationship,
        expected: Version,
        audit: &AuditEntry,
    ) -> Result<(), RepoError>;

    /// Live relationships with one end in `frontier`, followed in
    /// `step.direction` and matching its filters, both ends live, each with
    /// its far end: from each frontier node and in each direction followed,
    /// of its `scan.examine` live relationships with the lowest ids, the
    /// `scan.take` lowest that match. A relationship comes once for each
    /// (frontier node, direction) that reached it, in no set order; and
    /// [`Expansion::unexamined`] says whether any were left unread. One
    /// query, whatever the degree of the frontier's nodes (and one more,
    /// index-only, for a filtered step).
    ///
    /// # Errors
    /// `DatabaseUnavailable` or `Other`.
    async fn expand(
        &self,
        frontier: &[EntityId],
        step: &Step,
        scan: Scan,
    ) -> Result<Expansion, RepoError>;
}

/// Reading the change feed.
#[async_trait]
pub trait ChangeFeed: Send + Sync {
    /// Changes after `request.after`, oldest first, at most `request.limit`.
    /// Never returns a change while an earlier one can still appear.
    ///
    /// # Errors
    /// `DatabaseUnavailable` or `Other`.
    async fn read(&self, request: FeedRequest) -> Result<ChangePage, RepoError>;
}

/// Reading the audit log. Nothing can change or remove a row.
#[async_trait]
pub trait AuditLog: Send + Sync {
    /// Rows matching `filter` after `after`, oldest first.
    ///
    /// # Errors
    /// `DatabaseUnavailable` or `Other`.
    async fn list(
        &self,
        filter: &AuditFilter,
        after: Position,
        limit: Limit,
    ) -> Result<(Vec<AuditRecord>, Option<Position>), RepoError>;
}

/// Storage of users.
#[async_trait]
pub trait UserRepository: Send + Sync {
    /// Stores a new user and its audit entry. `audit` is `None` only when the
    /// user is made outside any request by an operator (the first admin).
    ///
    /// # Errors
    /// `Conflict(EmailTaken)` when the normalised email exists; `DatabaseUnavailable`; `Other`.
    async fn create(&self, user: &User, audit: Option<&AuditEntry>) -> Result<(), RepoError>;

    /// A user by id.
    ///
    /// # Errors
    /// `DatabaseUnavailable` or `Other`.
    async fn get(&self, id: UserId) -> Result<Option<User>, RepoError>;

    /// A user by normalised email.
    ///
    /// # Errors
    /// `DatabaseUnavailable` or `Other`.
    async fn find_by_email(&self, email: &Email) -> Result<Option<User>, RepoError>;

    /// Users in id order.
    ///
    /// # Errors
    /// `DatabaseUnavailable` or `Other`.
    async fn list(&self, page: PageRequest) -> Result<Page<User>, RepoError>;

    /// Replaces the user's role, activity and lifecycle with `user`'s if the
    /// stored user is still at `expected`; when `end_sessions`, revokes every
    /// session of theirs too; all with the audit entry, at once. Refuses a
    /// change that would leave no active admin, even under concurrent changes.
    ///
    /// # Errors
    /// `NotFound`; `VersionMismatch`; `Conflict(LastActiveAdmin)`;
    /// `DatabaseUnavailable`; `Other`.
    async fn update(
        &self,
        user: &User,
        expected: Version,
        end_sessions: bool,
        audit: &AuditEntry,
    ) -> Result<(), RepoError>;

    /// Replaces a user's password hash with an equivalent one (the same
    /// password under current parameters) if it is still `previous`, with its
    /// audit entry; sessions stay. Returns whether it was replaced: a
    /// concurrent password change wins.
    ///
    /// # Errors
    /// `DatabaseUnavailable`; `Other`.
    async fn replace_password_hash(
        &self,
        user: UserId,
        previous: &PasswordHash,
        hash: &PasswordHash,
        audit: &AuditEntry,
    ) -> Result<bool, RepoError>;

    /// Replaces a user's password hash and revokes every session of theirs
    /// except `keep`, with the audit entry, all at once.
    ///
    /// # Errors
    /// `NotFound` when the user does not exist; `DatabaseUnavailable`; `Other`.
    async fn set_password(
        &self,
        user: UserId,
        hash: &PasswordHash,
        keep: Option<SessionId>,
        audit: &AuditEntry,
    ) -> Result<(), RepoError>;
}

/// What happened when a refresh token was presented for rotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rotation {
    /// The token was unspent: it is spent now, and the new one issued.
    Rotated,
    /// The token was spent within the grace and had not been presented
    /// again since: a client's double refresh. The new one is issued too,
    /// and the token may not be presented again.
    Graced,
    /// The token was issued by the session and is spent (outside the grace,
    /// or presented again within it): the whole session has been revoked.
    ReuseDetected,
    /// The session never issued this token (a forgery, or another
    /// session's): refused, and nothing changed.
    NotIssued,
    /// No live session has this id.
    NoSession,
}

/// Storage of sign-in sessions.
#[async_trait]
pub trait SessionRepository: Send + Sync {
    /// Stores a new session, and its refresh digest as an unspent token.
    ///
    /// # Errors
    /// `DatabaseUnavailable` or `Other`.
    async fn create(&self, session: &Session) -> Result<(), RepoError>;

    /// A session by id, revoked or not, with its user's account as stored
    /// now, read together (authentication makes one query of it).
    ///
    /// # Errors
    /// `DatabaseUnavailable` or `Other`.
    async fn get_with_user(&self, id: SessionId) -> Result<Option<(Session, User)>, RepoError>;

    /// Spends `presented` and issues `next` (issued for `presented`) if, and
    /// only if, `presented` is an unspent token of the live session `id`,
    /// or one it spent at `grace_since` or later that has not been presented
    /// again since (no grace when `None`). Rotations of one session go one
    /// at a time. Spending a token also spends, without grace, the other
    /// tokens issued for the same one (the two answers of a double refresh):
    /// only one chain of tokens stays alive. When the session issued
    /// `presented` and it is spent otherwise, the adapter revokes the
    /// session; a token it never issued changes nothing.
    ///
    /// # Errors
    /// `DatabaseUnavailable` or `Other`.
    async fn rotate(
        &self,
        id: SessionId,
        presented: &TokenDigest,
        next: &TokenDigest,
        now: DateTime<Utc>,
        grace_since: Option<DateTime<Utc>>,
    ) -> Result<Rotation, RepoError>;

    /// Revokes one session (logout). Revoking a revoked session is no error.
    ///
    /// # Errors
    /// `DatabaseUnavailable` or `Other`.
    async fn revoke(&self, id: SessionId, now: DateTime<Utc>) -> Result<(), RepoError>;
}

/// Mints and reads opaque refresh tokens.
pub trait RefreshTokens: Send + Sync {
    /// A new refresh token for `session` and its digest. The token carries
    /// at least 256 random bits.
    fn mint(&self, session: SessionId) -> (String, TokenDigest);

    /// The session a token names and the token's digest, or `None` for
    /// anything this service could not have minted.
    fn read(&self, token: &str) -> Option<(SessionId, TokenDigest)>;
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

    /// Whether `hash` was made with other parameters than the current policy,
    /// so the password should be hashed again at the next successful login.
    fn needs_rehash(&self, hash: &PasswordHash) -> bool;
}

/// Issues and verifies access tokens.
pub trait TokenIssuer: Send + Sync {
    /// A new access token for `user` in `session`.
    ///
    /// # Errors
    /// `TokenError::Issue` if signing fails.
    fn issue(
        &self,
        user: UserId,
        session: SessionId,
        now: DateTime<Utc>,
    ) -> Result<IssuedToken, TokenError>;

    /// The user and session an access token was issued to, if it is
    /// authentic and currently valid.
    ///
    /// # Errors
    /// `TokenError::Invalid` for any token that is not.
    fn verify(&self, token: &str) -> Result<(UserId, SessionId), TokenError>;

    /// The anti-CSRF token of a session: derived from the session id with a
    /// server secret, so it cannot be guessed or planted by another site.
    fn csrf_token(&self, session: SessionId) -> String;
}

/// Failed-login bookkeeping per submitted email, shared by every instance.
#[async_trait]
pub trait LoginThrottle: Send + Sync {
    /// Starts a login attempt for `key`, atomically: refused with the end of
    /// the lock-out when `key` is locked at `now`; otherwise the attempt is
    /// counted as a failure at once (a success clears it), and `policy` may
    /// lock `key` for the attempts that follow. Counting before the password
    /// is checked means a burst of parallel attempts cannot outrun the lock.
    ///
    /// # Errors
    /// `DatabaseUnavailable` or `Other`.
    async fn begin_attempt(
        &self,
        key: &ThrottleKey,
        now: DateTime<Utc>,
        policy: &ThrottlePolicy,
    ) -> Result<Option<DateTime<Utc>>, RepoError>;

    /// Forgets `key`'s failures after a successful login.
    ///
    /// # Errors
    /// `DatabaseUnavailable` or `Other`.
    async fn clear(&self, key: &ThrottleKey) -> Result<(), RepoError>;
}

/// Storage of API keys.
#[async_trait]
pub trait ApiKeyRepository: Send + Sync {
    /// Stores a new key (its digest only) and, when made through the API,
    /// the audit entry.
    ///
    /// # Errors
    /// `DatabaseUnavailable` or `Other`.
    async fn create(&self, key: &ApiKey, audit: Option<&AuditEntry>) -> Result<(), RepoError>;

    /// A key by id, revoked or not.
    ///
    /// # Errors
    /// `DatabaseUnavailable` or `Other`.
    async fn get(&self, id: ApiKeyId) -> Result<Option<ApiKey>, RepoError>;

    /// The key whose secret has this digest, revoked or not, with the
    /// account of the user who made it as stored now, read together.
    ///
    /// # Errors
    /// `DatabaseUnavailable` or `Other`.
    async fn find_by_digest_with_owner(
        &self,
        digest: &TokenDigest,
    ) -> Result<Option<(ApiKey, User)>, RepoError>;

    /// Keys in id order.
    ///
    /// # Errors
    /// `DatabaseUnavailable` or `Other`.
    async fn list(&self, page: PageRequest) -> Result<Page<ApiKey>, RepoError>;

    /// Revokes a key that is not revoked yet, with its audit entry.
    ///
    /// # Errors
    /// `NotFound` when no unrevoked key has the id; `DatabaseUnavailable`; `Other`.
    async fn revoke(
        &self,
        id: ApiKeyId,
        at: DateTime<Utc>,
        audit: Option<&AuditEntry>,
    ) -> Result<(), RepoError>;

    /// Records a use, at most once a minute per key.
    ///
    /// # Errors
    /// `DatabaseUnavailable` or `Other`.
    async fn touch(&self, id: ApiKeyId, now: DateTime<Utc>) -> Result<(), RepoError>;
}

/// Mints API key secrets and digests presented ones.
pub trait ApiKeySecrets: Send + Sync {
    /// A new secret (recognisable prefix, at least 256 random bits) and its digest.
    fn mint(&self) -> (String, TokenDigest);

    /// The digest of a presented secret, or `None` when it cannot be a key
    /// this service minted.
    fn digest(&self, presented: &str) -> Option<TokenDigest>;
}

/// What readiness depends on outside the process.
#[async_trait]
pub trait HealthProbe: Send + Sync {
    /// Whether the database answers, within the adapter's short timeout.
    async fn database_reachable(&self) -> bool;

    /// Whether the schema is at the migration this build expects.
    async fn schema_current(&self) -> bool;
}

/// The database connection pool, as metrics show it.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct PoolSnapshot {
    /// Connections open now.
    pub size: u32,
    /// Of those, idle.
    pub idle: u32,
    /// The most the pool opens.
    pub max: u32,
    /// How long acquiring a connection took just now, in seconds; `None`
    /// when none could be had within the acquire timeout.
    pub acquire_seconds: Option<f64>,
    /// Statements sent to the database since start-up.
    pub statements: u64,
}

/// Watching the connection pool.
#[async_trait]
pub trait PoolMonitor: Send + Sync {
    /// The pool now, including one timed acquire.
    async fn snapshot(&self) -> PoolSnapshot;
}
