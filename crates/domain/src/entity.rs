//! Entities: the nodes of the graph.

use chrono::{DateTime, Utc};

use crate::{
    Attribution, Confidence, EntityId, EntityName, Evidence, ExternalId, Fact, Stated, TypeName,
    UserId,
};

/// The attributes of an entity that a client chooses. Every field is already a
/// valid value, so any combination is a valid entity.
#[derive(Debug, Clone, PartialEq)]
pub struct EntityData {
    /// What kind of thing this is (`Person`, `Organization`).
    pub kind: TypeName,
    /// Its display name.
    pub name: EntityName,
    /// A pipeline's own key for it, unique among live entities.
    pub external_id: Option<ExternalId>,
    /// How sure its source is of it, where it came from, and metadata.
    pub attribution: Attribution,
}

/// An optimistic-concurrency version: 1 when created, one more on each change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version(i64);

impl Version {
    /// The version of a resource that has just been created.
    pub const FIRST: Self = Self(1);

    /// A stored version; `None` unless it is at least 1.
    #[must_use]
    pub const fn from_stored(value: i64) -> Option<Self> {
        if value >= 1 { Some(Self(value)) } else { None }
    }

    /// The version after one more change.
    #[must_use]
    pub const fn next(self) -> Self {
        Self(self.0.saturating_add(1))
    }

    /// The number.
    #[must_use]
    pub const fn get(self) -> i64 {
        self.0
    }
}

/// Who created, last changed and (if so) deleted a resource, and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lifecycle {
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// Who created it.
    pub created_by: UserId,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// Who last changed it.
    pub updated_by: UserId,
    /// When it was soft-deleted, if it is.
    pub deleted_at: Option<DateTime<Utc>>,
    /// Who soft-deleted it, if anyone.
    pub deleted_by: Option<UserId>,
    /// Its optimistic-concurrency version.
    pub version: Version,
}

impl Lifecycle {
    /// The lifecycle of a resource `actor` creates at `now`.
    #[must_use]
    pub const fn created(actor: UserId, now: DateTime<Utc>) -> Self {
        Self {
            created_at: now,
            created_by: actor,
            updated_at: now,
            updated_by: actor,
            deleted_at: None,
            deleted_by: None,
            version: Version::FIRST,
        }
    }

    /// The lifecycle after `actor` changes the resource at `now`: the next
    /// version, updated by them then.
    #[must_use]
    pub const fn revised(&self, actor: UserId, now: DateTime<Utc>) -> Self {
        Self {
            updated_at: now,
            updated_by: actor,
            version: self.version.next(),
            ..*self
        }
    }

    /// The lifecycle after `actor` soft-deletes the resource at `now`: the
    /// next version, deleted by them then. When it was last changed stays.
    #[must_use]
    pub const fn deleted(&self, actor: UserId, now: DateTime<Utc>) -> Self {
        Self {
            deleted_at: Some(now),
            deleted_by: Some(actor),
            version: self.version.next(),
            ..*self
        }
    }

    /// The lifecycle after `actor` restores the soft-deleted resource at
    /// `now`: live again, and revised by them then.
    #[must_use]
    pub const fn restored(&self, actor: UserId, now: DateTime<Utc>) -> Self {
        Self {
            deleted_at: None,
            deleted_by: None,
            ..self.revised(actor, now)
        }
    }

    /// Whether the resource is live (not soft-deleted).
    #[must_use]
    pub const fn is_live(&self) -> bool {
        self.deleted_at.is_none()
    }
}

/// A node of the graph.
#[derive(Debug, Clone, PartialEq)]
pub struct Entity {
    /// Assigned by the service; never changes.
    pub id: EntityId,
    /// What the client said about it.
    pub data: EntityData,
    /// Who made and changed it, and when.
    pub lifecycle: Lifecycle,
    /// The combined confidence of the evidence added for it, besides its
    /// stated attribution; `None` while there is none with a confidence.
    pub corroboration: Option<Confidence>,
    /// Its writer's last write: when its stated evidence was recorded.
    pub stated: Stated,
}

impl Entity {
    /// A new, live entity at version 1.
    #[must_use]
    pub fn create(data: EntityData, actor: UserId, now: DateTime<Utc>) -> Self {
        let lifecycle = Lifecycle::created(actor, now);
        Self {
            id: EntityId::generate(),
            data,
            stated: Stated::by_write(&lifecycle),
            lifecycle,
            corroboration: None,
        }
    }

    /// Its writer's revision of it: `data`, and `lifecycle` as of the write,
    /// which its stated evidence is recorded at.
    pub fn restate(&mut self, data: EntityData, lifecycle: Lifecycle) {
        self.data = data;
        self.stated = Stated::by_write(&lifecycle);
        self.lifecycle = lifecycle;
    }

    /// Its stated evidence as of its last write ([`Evidence::stated`]).
    #[must_use]
    pub fn stated_evidence(&self) -> Evidence {
        Evidence::stated(Fact::Entity(self.id), &self.data.attribution, self.stated)
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

    #[test]
    fn a_created_entity_is_live_at_version_one() -> Result<(), Box<dyn std::error::Error>> {
        let actor = UserId::generate();
        let data = EntityData {
            kind: TypeName::parse("Person")?,
            name: EntityName::parse("Ada Lovelace")?,
            external_id: None,
            attribution: Attribution {
                confidence: Some(Confidence::new(0.9)?),
                ..Attribution::default()
            },
        };
        let e = Entity::create(data, actor, Utc::now());
        assert!(e.lifecycle.is_live());
        assert_eq!(e.lifecycle.version, Version::FIRST);
        assert_eq!(e.lifecycle.created_by, actor);
        assert_eq!(e.id.as_uuid().get_version_num(), 7);
        Ok(())
    }

    #[test]
    fn versions_start_at_one() {
        assert_eq!(Version::from_stored(0), None);
        assert_eq!(Version::from_stored(1), Some(Version::FIRST));
        assert_eq!(Version::FIRST.next().get(), 2);
    }

    #[test]
    fn a_delete_and_a_restore_are_versions_of_their_own() {
        let (author, remover) = (UserId::generate(), UserId::generate());
        let then = Utc::now();
        let later = then + chrono::Duration::seconds(5);
        let created = Lifecycle::created(author, then);
        let deleted = created.deleted(remover, later);
        assert!(!deleted.is_live());
        assert_eq!(
            (deleted.deleted_by, deleted.deleted_at),
            (Some(remover), Some(later))
        );
        assert_eq!(deleted.version.get(), 2);
        assert_eq!((deleted.updated_by, deleted.updated_at), (author, then));
        let restored = deleted.restored(remover, later);
        assert!(restored.is_live());
        assert_eq!((restored.deleted_by, restored.deleted_at), (None, None));
        assert_eq!(restored.version.get(), 3);
        assert_eq!((restored.updated_by, restored.updated_at), (remover, later));
    }

    #[test]
    fn a_revision_bumps_the_version_and_keeps_creation() {
        let (author, editor) = (UserId::generate(), UserId::generate());
        let then = Utc::now();
        let later = then + chrono::Duration::seconds(5);
        let created = Lifecycle::created(author, then);
        let revised = created.revised(editor, later);
        assert_eq!(revised.version.get(), 2);
        assert_eq!((revised.updated_by, revised.updated_at), (editor, later));
        assert_eq!((revised.created_by, revised.created_at), (author, then));
        assert!(revised.is_live());
    }
}
