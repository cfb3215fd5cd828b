//! kg's domain: the knowledge graph's entities and relationships, the users
//! who change them, and the value objects that carry every invariant.
//!
//! Nothing here performs I/O or is async. An invalid value cannot be
//! constructed: every constrained value is a newtype whose only constructor
//! is fallible, so code holding an [`Entity`] or a [`Relationship`] holds a
//! valid one.

mod api_key;
mod attribution;
mod confidence;
mod entity;
mod evidence;
mod ids;
mod metadata;
mod relationship;
mod session;
mod text;
mod user;
mod validation;

pub use api_key::{ApiKey, ApiKeyName};
pub use attribution::Attribution;
pub use confidence::{Confidence, ConfidenceError};
pub use entity::{Entity, EntityData, Lifecycle, Version};
pub use evidence::{Evidence, Fact, Stated};
pub use ids::{ApiKeyId, EntityId, EvidenceId, RelationshipId, SessionId, UserId};
pub use metadata::{Metadata, MetadataError};
pub use relationship::{Endpoints, EndpointsError, Relationship, RelationshipData};
pub use session::{Session, SessionState, TokenDigest};
pub use text::{EntityName, ExternalId, SourceRef, TextError, TypeName};
pub use user::{Email, EmailError, Password, PasswordError, PasswordHash, Role, RoleError, User};
pub use validation::{FieldViolation, Violations};
