//! kg's use cases and the ports they need.
//!
//! Ports are traits named by capability ([`EntityRepository`],
//! [`PasswordHasher`], [`TokenIssuer`], [`Clock`]); adapters in other crates
//! implement them. Use cases hold `Arc<dyn Port>`, check authorization from
//! the [`Actor`], parse client input into domain values, and map adapter
//! errors into one [`AppError`].
//!
//! Every write port method is a whole business operation that the adapter
//! makes atomic together with its [`AuditEntry`]: ports never speak of
//! transactions. A use case that must make several such operations as one
//! begins a [`UnitOfWork`] and makes them through the repositories its
//! [`Work`] hands out. Multi-row policies (batch plans, the delete cascade,
//! restore) are decided here and only executed by the adapters.

mod actor;
mod api_keys;
mod audit;
mod auth;
mod batch;
mod cascade;
mod changes;
mod document;
mod draft;
mod duplicates;
mod entities;
mod error;
mod evidence;
mod graph;
mod history;
mod housekeeping;
mod idempotency;
mod maintenance;
mod page;
mod patch;
mod ports;
mod principals;
mod relationships;
mod revision;
mod throttle;
mod unit_of_work;
mod users;

#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use actor::{Actor, RequestContext};
pub use api_keys::{ApiKeyService, CreatedApiKey, NewApiKey};
pub use audit::{AuditAction, AuditEntry, AuditFilter, AuditRecord, AuditTarget};
pub use auth::{AuthPorts, AuthService, IssuedToken, SessionPolicy, SessionTokens, TokenError};
pub use batch::{
    Batch, BatchPlanner, BatchRelationship, BatchReport, BatchRepository, BatchService,
    BatchWrites, EndRef, ExternalIds, ItemResult, MAX_BATCH_ITEMS, Outcome, StoredEntities,
};
pub use cascade::{CascadeWrites, RestoreState, other_ends, plan_delete, plan_restore};
pub use changes::{
    Change, ChangePage, FeedRequest, NewChange, Position, PositionError, StoredJson,
};
pub use document::{
    AttributionDocument, EntityDocument, RelationshipDocument, entity_document,
    relationship_document,
};
pub use draft::{AttributionDraft, EntityDraft, RelationshipDraft, attribution_document};
pub use duplicates::{
    DUPLICATE_CANDIDATES, Duplicate, DuplicateQuery, MAX_DUPLICATES, MIN_DUPLICATE_SCORE,
    SEARCH_WORDS, name_similarity, rank_duplicates, search_words,
};
pub use entities::{EntityFilter, EntityService, MetadataKey, fold};
pub use error::{AppError, Conflict, RepoError, ResourceKind, RestoreBlocker};
pub use evidence::{
    EvidenceChange, EvidenceDocument, EvidenceDraft, EvidenceFilter, EvidenceRepository,
    EvidenceService, EvidenceWrites, FactState, Statement, StoredEvidence, evidence_document,
    plan_evidence,
};
pub use graph::{
    DEFAULT_TIME_BUDGET, Depth, EDGES_PER_NODE, Expansion, GraphService, Hop, NeighborQuery,
    Neighborhood, NodeBudget, Scan, Step, Truncation,
};
pub use history::{AuditPage, HistoryService};
pub use housekeeping::{Housekeeping, HousekeepingService, PurgeRules, Purged};
pub use idempotency::{
    Claim, Completion, IDEMPOTENCY_LEASE, IDEMPOTENCY_WINDOW, IdempotencyKey, IdempotencyService,
    IdempotencyStore, Idempotent, IdempotentRequest, Keyed, Respond, StoredResponse,
};
pub use maintenance::{MODE_REFRESH, MaintenanceService, ModeState, ModeStore, ServiceMode};
pub use page::{Cursor, CursorError, Limit, LimitError, Page, PageRequest};
pub use patch::{
    AttributionPatch, Edit, EntityPatch, FIXED_END, MetadataPatch, PatchRequest, RelationshipPatch,
};
pub use ports::{
    ApiKeyRepository, ApiKeySecrets, AuditLog, ChangeFeed, Clock, EntityRepository, HealthProbe,
    LoginThrottle, PasswordHasher, PoolMonitor, PoolSnapshot, RefreshTokens,
    RelationshipRepository, Rotation, SessionRepository, SystemClock, TokenIssuer, UserRepository,
};
pub use principals::{PRINCIPAL_CACHE_CAPACITY, PRINCIPAL_STALENESS_BOUND, PrincipalCache};
pub use relationships::{Direction, RelationshipFilter, RelationshipService};
pub use throttle::{ThrottleKey, ThrottlePolicy};
pub use unit_of_work::{UnitOfWork, Work};
pub use users::{NewUser, UserPatch, UserService};
