//! Typed identifiers. Every id is a UUID (version 7, so ids sort by creation
//! time); the types keep an entity id from being passed where a user id is
//! expected.

use std::fmt;
use std::str::FromStr;

use uuid::Uuid;

macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(Uuid);

        impl $name {
            /// A fresh, time-ordered (UUID v7) id.
            #[must_use]
            pub fn generate() -> Self {
                Self(Uuid::now_v7())
            }

            /// Wraps an existing UUID, e.g. one read back from storage.
            #[must_use]
            pub const fn from_uuid(id: Uuid) -> Self {
                Self(id)
            }

            /// The underlying UUID.
            #[must_use]
            pub const fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

typed_id!(
    /// Identifies an [`Entity`](crate::Entity).
    EntityId
);
typed_id!(
    /// Identifies a [`Relationship`](crate::Relationship).
    RelationshipId
);
typed_id!(
    /// Identifies an [`Evidence`](crate::Evidence) record. A fact's stated
    /// evidence has the fact's own id.
    EvidenceId
);
typed_id!(
    /// Identifies a [`User`](crate::User).
    UserId
);
typed_id!(
    /// Identifies a sign-in session (the family of one login's refresh tokens).
    SessionId
);
typed_id!(
    /// Identifies an API key.
    ApiKeyId
);
