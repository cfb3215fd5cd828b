//! Conversions between rows and domain values. A stored row is parsed by the
//! same constructors as client input, so a corrupted row surfaces as an
//! error instead of an invalid value.

use kg_domain::{
    Attribution, Confidence, Email, Endpoints, Entity, EntityData, EntityId, EntityName, Evidence,
    EvidenceId, ExternalId, Fact, Lifecycle, Metadata, PasswordHash, Relationship,
    RelationshipData, RelationshipId, Role, SourceRef, Stated, TypeName, User, UserId, Version,
};
use sea_orm::Set;

use crate::error::CorruptRow;
use crate::json_text::JsonText;
use crate::models::{entity, evidence, relationship, user};

struct Parser {
    table: &'static str,
    id: uuid::Uuid,
}

impl Parser {
    fn field<T, E: std::fmt::Display>(
        &self,
        name: &str,
        result: Result<T, E>,
    ) -> Result<T, CorruptRow> {
        result.map_err(|e| CorruptRow {
            table: self.table,
            id: self.id,
            reason: format!("{name} {e}"),
        })
    }

    fn lifecycle(&self, parts: LifecycleRow) -> Result<Lifecycle, CorruptRow> {
        Ok(Lifecycle {
            created_at: parts.created_at,
            created_by: UserId::from_uuid(parts.created_by),
            updated_at: parts.updated_at,
            updated_by: UserId::from_uuid(parts.updated_by),
            deleted_at: parts.deleted_at,
            deleted_by: parts.deleted_by.map(UserId::from_uuid),
            version: self.field(
                "version",
                Version::from_stored(parts.version).ok_or("must be at least 1"),
            )?,
        })
    }

    /// The fact's writer's last write: its own columns, or (a row written
    /// before they existed) the lifecycle's.
    fn stated(
        &self,
        lifecycle: &Lifecycle,
        at: Option<chrono::DateTime<chrono::Utc>>,
        by: Option<uuid::Uuid>,
        version: Option<i64>,
    ) -> Result<Stated, CorruptRow> {
        let mut stated = Stated::by_write(lifecycle);
        if let Some(at) = at {
            stated.at = at;
        }
        if let Some(by) = by {
            stated.by = UserId::from_uuid(by);
        }
        if let Some(v) = version {
            stated.version = self.field(
                "stated_version",
                Version::from_stored(v).ok_or("must be at least 1"),
            )?;
        }
        Ok(stated)
    }
}

/// The columns that store an [`Attribution`], the same on every table that
/// has one. Built and read with exhaustive patterns, so a field added to
/// `Attribution` fails to compile until it has a column here.
pub(crate) struct AttributionRow {
    pub(crate) confidence: Option<f64>,
    pub(crate) source: Option<String>,
    pub(crate) source_type: Option<String>,
    pub(crate) metadata: JsonText,
}

impl AttributionRow {
    fn of(a: &Attribution) -> Self {
        let Attribution {
            confidence,
            source_ref,
            source_type,
            metadata,
        } = a;
        Self {
            confidence: confidence.map(Confidence::get),
            source: source_ref.as_ref().map(ToString::to_string),
            source_type: source_type.as_ref().map(ToString::to_string),
            metadata: JsonText(metadata.as_json().to_owned()),
        }
    }
}

impl Parser {
    fn confidence(&self, name: &str, value: Option<f64>) -> Result<Option<Confidence>, CorruptRow> {
        value
            .map(|v| self.field(name, Confidence::new(v)))
            .transpose()
    }

    fn attribution(&self, row: AttributionRow) -> Result<Attribution, CorruptRow> {
        let AttributionRow {
            confidence,
            source,
            source_type,
            metadata,
        } = row;
        Ok(Attribution {
            confidence: self.confidence("stated_confidence", confidence)?,
            source_ref: source
                .map(|v| self.field("source", SourceRef::parse(v)))
                .transpose()?,
            source_type: source_type
                .map(|v| self.field("source_type", TypeName::parse(v)))
                .transpose()?,
            metadata: self.field("metadata", Metadata::stored_text(metadata.0))?,
        })
    }
}

struct LifecycleRow {
    created_at: chrono::DateTime<chrono::Utc>,
    created_by: uuid::Uuid,
    updated_at: chrono::DateTime<chrono::Utc>,
    updated_by: uuid::Uuid,
    deleted_at: Option<chrono::DateTime<chrono::Utc>>,
    deleted_by: Option<uuid::Uuid>,
    version: i64,
}

/// The attribution columns of a model (every table that has them names
/// them alike), moved out of it.
macro_rules! attribution_columns {
    ($m:ident) => {
        AttributionRow {
            confidence: $m.stated_confidence,
            source: $m.source,
            source_type: $m.source_type,
            metadata: $m.metadata,
        }
    };
}

/// The lifecycle columns of a model, moved out of it.
macro_rules! lifecycle_columns {
    ($m:ident) => {
        LifecycleRow {
            created_at: $m.created_at,
            created_by: $m.created_by,
            updated_at: $m.updated_at,
            updated_by: $m.updated_by,
            deleted_at: $m.deleted_at,
            deleted_by: $m.deleted_by,
            version: $m.version,
        }
    };
}

pub(crate) fn entity_from_row(m: entity::Model) -> Result<Entity, CorruptRow> {
    let p = Parser {
        table: "entities",
        id: m.id,
    };
    let data = EntityData {
        kind: p.field("kind", TypeName::parse(&m.kind))?,
        name: p.field("name", EntityName::parse(&m.name))?,
        external_id: m
            .external_id
            .map(|v| p.field("external_id", ExternalId::parse(v)))
            .transpose()?,
        attribution: p.attribution(attribution_columns!(m))?,
    };
    let lifecycle = p.lifecycle(lifecycle_columns!(m))?;
    Ok(Entity {
        id: EntityId::from_uuid(m.id),
        data,
        stated: p.stated(&lifecycle, m.stated_at, m.stated_by, m.stated_version)?,
        lifecycle,
        corroboration: p.confidence("corroboration", m.corroboration)?,
    })
}

pub(crate) fn entity_to_row(e: &Entity) -> entity::ActiveModel {
    let (d, l) = (&e.data, &e.lifecycle);
    let a = AttributionRow::of(&d.attribution);
    entity::ActiveModel {
        id: Set(e.id.as_uuid()),
        kind: Set(d.kind.to_string()),
        name: Set(d.name.to_string()),
        name_folded: Set(kg_application::fold(d.name.as_str())),
        external_id: Set(d.external_id.as_ref().map(ToString::to_string)),
        confidence: Set(e.confidence().map(Confidence::get)),
        stated_confidence: Set(a.confidence),
        corroboration: Set(e.corroboration.map(Confidence::get)),
        stated_at: Set(Some(e.stated.at)),
        stated_by: Set(Some(e.stated.by.as_uuid())),
        stated_version: Set(Some(e.stated.version.get())),
        source: Set(a.source),
        source_type: Set(a.source_type),
        metadata: Set(a.metadata),
        created_at: Set(l.created_at),
        created_by: Set(l.created_by.as_uuid()),
        updated_at: Set(l.updated_at),
        updated_by: Set(l.updated_by.as_uuid()),
        deleted_at: Set(l.deleted_at),
        deleted_by: Set(l.deleted_by.map(|u| u.as_uuid())),
        version: Set(l.version.get()),
    }
}

pub(crate) fn relationship_from_row(m: relationship::Model) -> Result<Relationship, CorruptRow> {
    let p = Parser {
        table: "relationships",
        id: m.id,
    };
    let data = RelationshipData {
        ends: p.field(
            "target_id",
            Endpoints::new(
                EntityId::from_uuid(m.source_id),
                EntityId::from_uuid(m.target_id),
            ),
        )?,
        kind: p.field("kind", TypeName::parse(&m.kind))?,
        attribution: p.attribution(attribution_columns!(m))?,
    };
    let lifecycle = p.lifecycle(lifecycle_columns!(m))?;
    Ok(Relationship {
        id: RelationshipId::from_uuid(m.id),
        data,
        stated: p.stated(&lifecycle, m.stated_at, m.stated_by, m.stated_version)?,
        lifecycle,
        corroboration: p.confidence("corroboration", m.corroboration)?,
    })
}

pub(crate) fn relationship_to_row(r: &Relationship) -> relationship::ActiveModel {
    let (d, l) = (&r.data, &r.lifecycle);
    let a = AttributionRow::of(&d.attribution);
    relationship::ActiveModel {
        id: Set(r.id.as_uuid()),
        source_id: Set(d.ends.source().as_uuid()),
        target_id: Set(d.ends.target().as_uuid()),
        kind: Set(d.kind.to_string()),
        confidence: Set(r.confidence().map(Confidence::get)),
        stated_confidence: Set(a.confidence),
        corroboration: Set(r.corroboration.map(Confidence::get)),
        stated_at: Set(Some(r.stated.at)),
        stated_by: Set(Some(r.stated.by.as_uuid())),
        stated_version: Set(Some(r.stated.version.get())),
        source: Set(a.source),
        source_type: Set(a.source_type),
        metadata: Set(a.metadata),
        cascade_of: Set(None),
        created_at: Set(l.created_at),
        created_by: Set(l.created_by.as_uuid()),
        updated_at: Set(l.updated_at),
        updated_by: Set(l.updated_by.as_uuid()),
        deleted_at: Set(l.deleted_at),
        deleted_by: Set(l.deleted_by.map(|u| u.as_uuid())),
        version: Set(l.version.get()),
    }
}

pub(crate) fn user_from_row(m: user::Model) -> Result<User, CorruptRow> {
    let p = Parser {
        table: "users",
        id: m.id,
    };
    Ok(User {
        id: UserId::from_uuid(m.id),
        email: p.field("email", Email::parse(&m.email))?,
        role: p.field("role", m.role.parse::<Role>())?,
        is_active: m.is_active,
        password_hash: PasswordHash::from_phc(m.password_hash),
        created_at: m.created_at,
        updated_at: m.updated_at,
        version: p.field(
            "version",
            Version::from_stored(m.version).ok_or("must be at least 1"),
        )?,
    })
}

pub(crate) fn user_to_row(u: &User) -> user::ActiveModel {
    user::ActiveModel {
        id: Set(u.id.as_uuid()),
        email: Set(u.email.as_str().to_owned()),
        role: Set(u.role.as_str().to_owned()),
        is_active: Set(u.is_active),
        password_hash: Set(u.password_hash.as_str().to_owned()),
        created_at: Set(u.created_at),
        updated_at: Set(u.updated_at),
        version: Set(u.version.get()),
    }
}

pub(crate) fn evidence_from_row(m: evidence::Model) -> Result<Evidence, CorruptRow> {
    let p = Parser {
        table: "evidence",
        id: m.id,
    };
    let fact = match (m.entity_id, m.relationship_id) {
        (Some(id), None) => Fact::Entity(EntityId::from_uuid(id)),
        (None, Some(id)) => Fact::Relationship(RelationshipId::from_uuid(id)),
        _ => p.field(
            "entity_id",
            Err("must be set exactly when relationship_id is not"),
        )?,
    };
    Ok(Evidence {
        id: EvidenceId::from_uuid(m.id),
        fact,
        stated: m.stated,
        confidence: p.confidence("confidence", m.confidence)?,
        source_ref: m
            .source
            .map(|v| p.field("source", SourceRef::parse(v)))
            .transpose()?,
        source_type: m
            .source_type
            .map(|v| p.field("source_type", TypeName::parse(v)))
            .transpose()?,
        locator: p.field("locator", Metadata::stored_text(m.locator.0))?,
        observed_at: m.observed_at,
        recorded_at: m.recorded_at,
        recorded_by: UserId::from_uuid(m.recorded_by),
        retracted: match (m.retracted_at, m.retracted_by) {
            (Some(at), Some(by)) => Some((at, UserId::from_uuid(by))),
            (None, None) => None,
            _ => p.field("retracted_by", Err("must be set exactly with retracted_at"))?,
        },
        version: p.field(
            "version",
            Version::from_stored(m.version).ok_or("must be at least 1"),
        )?,
    })
}

pub(crate) fn evidence_to_row(e: &Evidence) -> evidence::ActiveModel {
    let (entity_id, relationship_id) = match e.fact {
        Fact::Entity(id) => (Some(id.as_uuid()), None),
        Fact::Relationship(id) => (None, Some(id.as_uuid())),
    };
    evidence::ActiveModel {
        id: Set(e.id.as_uuid()),
        entity_id: Set(entity_id),
        relationship_id: Set(relationship_id),
        stated: Set(e.stated),
        confidence: Set(e.confidence.map(Confidence::get)),
        source: Set(e.source_ref.as_ref().map(ToString::to_string)),
        source_type: Set(e.source_type.as_ref().map(ToString::to_string)),
        locator: Set(JsonText(e.locator.as_json().to_owned())),
        observed_at: Set(e.observed_at),
        recorded_at: Set(e.recorded_at),
        recorded_by: Set(e.recorded_by.as_uuid()),
        retracted_at: Set(e.retracted.map(|(at, _)| at)),
        retracted_by: Set(e.retracted.map(|(_, by)| by.as_uuid())),
        version: Set(e.version.get()),
    }
}
