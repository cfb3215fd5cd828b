//! Evidence: what one source said about one fact.

use chrono::{DateTime, Utc};

use crate::{
    Attribution, Confidence, EntityId, EvidenceId, Lifecycle, Metadata, RelationshipId, SourceRef,
    TypeName, UserId, Version,
};

/// A fact of the graph: an entity or a relationship.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fact {
    /// An entity.
    Entity(EntityId),
    /// A relationship.
    Relationship(RelationshipId),
}

impl Fact {
    /// The fact's id.
    #[must_use]
    pub const fn id(&self) -> uuid::Uuid {
        match self {
            Self::Entity(id) => id.as_uuid(),
            Self::Relationship(id) => id.as_uuid(),
        }
    }

    /// The id of the fact's stated evidence: its own.
    #[must_use]
    pub const fn stated_evidence(&self) -> EvidenceId {
        EvidenceId::from_uuid(self.id())
    }
}

/// One source's statement that a fact holds: how sure it is, what it is,
/// and where in it the fact was found.
///
/// A fact has at most one *stated* record: its writer's own attribution,
/// which follows every write of the fact ([`Evidence::stated`]). Every other
/// record was added for the fact afterwards, and changes only by being
/// retracted or restored.
#[derive(Debug, Clone, PartialEq)]
pub struct Evidence {
    /// The stated record has its fact's id; an added one its own.
    pub id: EvidenceId,
    /// What it is evidence of.
    pub fact: Fact,
    /// Whether it is the fact's stated evidence.
    pub stated: bool,
    /// How sure the source is; a record without one adds nothing to the
    /// fact's combined confidence.
    pub confidence: Option<Confidence>,
    /// Where the statement was found.
    pub source_ref: Option<SourceRef>,
    /// What kind of source that is.
    pub source_type: Option<TypeName>,
    /// Where in the source (document, span, quote…), as bounded JSON.
    pub locator: Metadata,
    /// When the source said it.
    pub observed_at: DateTime<Utc>,
    /// When it was recorded here.
    pub recorded_at: DateTime<Utc>,
    /// Who recorded it.
    pub recorded_by: UserId,
    /// When and by whom it was retracted, if it is.
    pub retracted: Option<(DateTime<Utc>, UserId)>,
    /// 1 when recorded, one more on each change.
    pub version: Version,
}

/// When a fact's writer last wrote it, who that was, and the fact's
/// version then: when its stated evidence was recorded, by whom, at which
/// version. Revisions of the fact by its evidence leave it as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stated {
    /// When.
    pub at: DateTime<Utc>,
    /// By whom.
    pub by: UserId,
    /// The fact's version after that write.
    pub version: Version,
}

impl Stated {
    /// A write that left the fact at `lifecycle`.
    #[must_use]
    pub const fn by_write(lifecycle: &Lifecycle) -> Self {
        Self {
            at: lifecycle.updated_at,
            by: lifecycle.updated_by,
            version: lifecycle.version,
        }
    }
}

impl Evidence {
    /// The stated evidence of a fact whose attribution is this, as its
    /// writer last wrote it (`stated`): the writer's confidence, source and
    /// source type. It is retracted (as of that write) when the attribution
    /// has neither a confidence nor a source.
    #[must_use]
    pub fn stated(fact: Fact, attribution: &Attribution, stated: Stated) -> Self {
        let says_something = attribution.confidence.is_some() || attribution.source_ref.is_some();
        Self {
            id: fact.stated_evidence(),
            fact,
            stated: true,
            confidence: attribution.confidence,
            source_ref: attribution.source_ref.clone(),
            source_type: attribution.source_type.clone(),
            locator: Metadata::default(),
            observed_at: stated.at,
            recorded_at: stated.at,
            recorded_by: stated.by,
            retracted: (!says_something).then_some((stated.at, stated.by)),
            version: stated.version,
        }
    }

    /// Whether it counts: not retracted.
    #[must_use]
    pub const fn is_live(&self) -> bool {
        self.retracted.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lifecycle() -> Lifecycle {
        Lifecycle::created(UserId::generate(), Utc::now())
    }

    #[test]
    fn stated_evidence_is_the_writers_attribution_under_the_facts_id()
    -> Result<(), Box<dyn std::error::Error>> {
        let fact = Fact::Entity(EntityId::generate());
        let attribution = Attribution {
            confidence: Some(Confidence::new(0.6)?),
            source_ref: Some(SourceRef::parse("doc:1")?),
            ..Attribution::default()
        };
        let l = lifecycle();
        let stated = Evidence::stated(fact, &attribution, Stated::by_write(&l));
        assert_eq!(stated.id.as_uuid(), fact.id());
        assert!(stated.stated && stated.is_live());
        assert_eq!(stated.confidence, attribution.confidence);
        assert_eq!(
            (stated.recorded_by, stated.version),
            (l.updated_by, l.version)
        );
        Ok(())
    }

    #[test]
    fn an_attribution_without_confidence_or_source_states_nothing()
    -> Result<(), Box<dyn std::error::Error>> {
        let attribution = Attribution {
            source_type: Some(TypeName::parse("wiki")?),
            ..Attribution::default()
        };
        let stated = Evidence::stated(
            Fact::Relationship(RelationshipId::generate()),
            &attribution,
            Stated::by_write(&lifecycle()),
        );
        assert!(!stated.is_live());
        Ok(())
    }
}
