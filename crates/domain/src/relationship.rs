//! Relationships: the typed, directed edges of the graph.

use chrono::{DateTime, Utc};

use crate::{
    Attribution, Confidence, EntityId, Evidence, Fact, Lifecycle, RelationshipId, Stated, TypeName,
    UserId,
};

/// The two ends of a relationship, which are never the same entity. Its
/// *source end* is where the edge starts; where the fact came from is its
/// [`Attribution::source_ref`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Endpoints {
    source: EntityId,
    target: EntityId,
}

/// Why two entity ids cannot be the ends of a relationship.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EndpointsError {
    /// Source and target are the same entity.
    #[error("a relationship cannot connect an entity to itself")]
    SelfLoop,
}

impl Endpoints {
    /// # Errors
    /// [`EndpointsError::SelfLoop`] when `source == target`.
    pub fn new(source: EntityId, target: EntityId) -> Result<Self, EndpointsError> {
        if source == target {
            Err(EndpointsError::SelfLoop)
        } else {
            Ok(Self { source, target })
        }
    }

    /// The entity the relationship starts from.
    #[must_use]
    pub const fn source(&self) -> EntityId {
        self.source
    }

    /// The entity the relationship points to.
    #[must_use]
    pub const fn target(&self) -> EntityId {
        self.target
    }
}

/// The attributes of a relationship that a client chooses.
#[derive(Debug, Clone, PartialEq)]
pub struct RelationshipData {
    /// Which entities it connects.
    pub ends: Endpoints,
    /// Its type (`WORKS_FOR`); unique per pair of ends among live relationships.
    pub kind: TypeName,
    /// How sure its source is of it, where it came from, and metadata.
    pub attribution: Attribution,
}

/// A directed, typed edge between two entities.
#[derive(Debug, Clone, PartialEq)]
pub struct Relationship {
    /// Assigned by the service; never changes.
    pub id: RelationshipId,
    /// What the client said about it.
    pub data: RelationshipData,
    /// Who made and changed it, and when.
    pub lifecycle: Lifecycle,
    /// The combined confidence of the evidence added for it, besides its
    /// stated attribution; `None` while there is none with a confidence.
    pub corroboration: Option<Confidence>,
    /// Its writer's last write: when its stated evidence was recorded.
    pub stated: Stated,
}

impl Relationship {
    /// A new, live relationship at version 1.
    #[must_use]
    pub fn create(data: RelationshipData, actor: UserId, now: DateTime<Utc>) -> Self {
        let lifecycle = Lifecycle::created(actor, now);
        Self {
            id: RelationshipId::generate(),
            data,
            stated: Stated::by_write(&lifecycle),
            lifecycle,
            corroboration: None,
        }
    }

    /// Its writer's revision of it: `data`, and `lifecycle` as of the write,
    /// which its stated evidence is recorded at.
    pub fn restate(&mut self, data: RelationshipData, lifecycle: Lifecycle) {
        self.data = data;
        self.stated = Stated::by_write(&lifecycle);
        self.lifecycle = lifecycle;
    }

    /// Its stated evidence as of its last write ([`Evidence::stated`]).
    #[must_use]
    pub fn stated_evidence(&self) -> Evidence {
        Evidence::stated(
            Fact::Relationship(self.id),
            &self.data.attribution,
            self.stated,
        )
    }

    /// How sure kg is of it: its writer's confidence combined with its
    /// added evidence's ([`Confidence::combine`]).
    #[must_use]
    pub fn confidence(&self) -> Option<Confidence> {
        Confidence::combine(
            [self.data.attribution.confidence, self.corroboration]
                .into_iter()
                .flatten(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn distinct_ends_are_accepted(a in any::<u128>(), b in any::<u128>()) {
            prop_assume!(a != b);
            let (a, b) = (EntityId::from_uuid(uuid::Uuid::from_u128(a)), EntityId::from_uuid(uuid::Uuid::from_u128(b)));
            let ends = Endpoints::new(a, b).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!((ends.source(), ends.target()), (a, b));
        }

        #[test]
        fn an_entity_cannot_point_at_itself(a in any::<u128>()) {
            let a = EntityId::from_uuid(uuid::Uuid::from_u128(a));
            prop_assert_eq!(Endpoints::new(a, a), Err(EndpointsError::SelfLoop));
        }
    }
}
