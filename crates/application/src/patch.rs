//! Typed changes to a stored entity or relationship.
//!
//! A patch names what changes and holds only valid domain values, so a
//! library user builds one without JSON and cannot build one that breaks a
//! field's rule. Only what depends on the stored resource is checked when it
//! is applied: the metadata a merge produces, and the ends a relationship
//! patch repeats. The HTTP edge turns RFC 7396 merge-patch documents into
//! [`PatchRequest`]s, which also carry the members it could not read.

use kg_domain::{
    Attribution, Confidence, EntityData, EntityId, EntityName, ExternalId, Metadata,
    RelationshipData, SourceRef, TypeName, Violations,
};
use serde_json::{Map, Value};

/// A patch as a client submitted it: the members an edge could read, as
/// `patch`, and the problems of those it could not, as `refused`. The use
/// case reports `refused` together with what only the stored resource can
/// tell (the merged metadata, a relationship's ends), after it has checked
/// that the resource exists, so one 422 names every problem. A patch built
/// in Rust has nothing refused: it converts into a request with `into`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PatchRequest<P> {
    /// The members that were read.
    pub patch: P,
    /// The problems of the members that were not.
    pub refused: Violations,
}

impl<P> From<P> for PatchRequest<P> {
    fn from(patch: P) -> Self {
        Self {
            patch,
            refused: Violations::new(),
        }
    }
}

/// What a patch does to an optional field.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Edit<T> {
    /// Leaves it as it is.
    #[default]
    Keep,
    /// Removes it.
    Clear,
    /// Sets it.
    Set(T),
}

impl<T> Edit<T> {
    fn apply(self, slot: &mut Option<T>) {
        match self {
            Self::Keep => {}
            Self::Clear => *slot = None,
            Self::Set(value) => *slot = Some(value),
        }
    }
}

/// An RFC 7396 merge patch of a resource's metadata: members set to `null`
/// are removed, objects merge recursively, anything else replaces.
#[derive(Debug, Clone, PartialEq)]
pub struct MetadataPatch(Value);

impl MetadataPatch {
    /// The patch `value` describes.
    #[must_use]
    pub const fn new(value: Value) -> Self {
        Self(value)
    }

    /// The metadata this patch makes of `current`, which must satisfy the
    /// rules of [`Metadata`] like any other.
    ///
    /// # Errors
    /// The rule the merged metadata breaks.
    pub fn apply(&self, current: &Metadata) -> Result<Metadata, kg_domain::MetadataError> {
        Metadata::new(merge(current.to_value(), &self.0))
    }
}

/// A change to an [`Attribution`]: each field kept, cleared or set.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AttributionPatch {
    /// `confidence`.
    pub confidence: Edit<Confidence>,
    /// `source`: where the fact came from.
    pub source_ref: Edit<SourceRef>,
    /// `source_type`.
    pub source_type: Edit<TypeName>,
    /// `metadata`, merged.
    pub metadata: Option<MetadataPatch>,
}

impl AttributionPatch {
    /// Applies the patch to `a`, reporting into `v` the rule the merged
    /// metadata breaks, if any (and then leaving the metadata as it was).
    /// Both sides are destructured whole, so a field added to either does
    /// not compile here until it is patched.
    fn apply(self, a: &mut Attribution, v: &mut Violations) {
        let Self {
            confidence,
            source_ref,
            source_type,
            metadata,
        } = self;
        let Attribution {
            confidence: stored_confidence,
            source_ref: stored_source_ref,
            source_type: stored_source_type,
            metadata: stored_metadata,
        } = a;
        confidence.apply(stored_confidence);
        source_ref.apply(stored_source_ref);
        source_type.apply(stored_source_type);
        if let Some(patch) = metadata
            && let Some(merged) = v.check("metadata", patch.apply(stored_metadata))
        {
            *stored_metadata = merged;
        }
    }
}

/// A change to an entity: the fields it sets, clears or merges.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EntityPatch {
    /// `type`.
    pub kind: Option<TypeName>,
    /// `name`.
    pub name: Option<EntityName>,
    /// `external_id`.
    pub external_id: Edit<ExternalId>,
    /// `confidence`, `source`, `source_type` and `metadata`.
    pub attribution: AttributionPatch,
}

impl EntityPatch {
    /// The data `current` has once patched.
    ///
    /// # Errors
    /// `metadata`, when the merged metadata breaks a rule.
    pub fn apply(self, current: &EntityData) -> Result<EntityData, Violations> {
        PatchRequest::from(self).apply(current)
    }
}

impl PatchRequest<EntityPatch> {
    /// The data `current` has once patched.
    ///
    /// # Errors
    /// What was refused, then `metadata` when the merged metadata breaks a
    /// rule, all at once.
    pub fn apply(self, current: &EntityData) -> Result<EntityData, Violations> {
        let EntityPatch {
            kind,
            name,
            external_id,
            attribution,
        } = self.patch;
        let mut data = current.clone();
        let mut v = self.refused;
        if let Some(kind) = kind {
            data.kind = kind;
        }
        if let Some(name) = name {
            data.name = name;
        }
        external_id.apply(&mut data.external_id);
        attribution.apply(&mut data.attribution, &mut v);
        if v.is_empty() { Ok(data) } else { Err(v) }
    }
}

/// A change to a relationship. Its ends are its identity: a patch may repeat
/// them, but not change them.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RelationshipPatch {
    /// `source_id`, when the patch repeats it.
    pub source_id: Option<EntityId>,
    /// `target_id`, when the patch repeats it.
    pub target_id: Option<EntityId>,
    /// `type`.
    pub kind: Option<TypeName>,
    /// `confidence`, `source`, `source_type` and `metadata`.
    pub attribution: AttributionPatch,
}

/// Why a relationship's end cannot be patched.
pub const FIXED_END: &str = "cannot be changed; delete the relationship and create another";

impl RelationshipPatch {
    /// The data `current` has once patched.
    ///
    /// # Errors
    /// `source_id` or `target_id` when the patch names another end, and
    /// `metadata` when the merged metadata breaks a rule, all at once.
    pub fn apply(self, current: &RelationshipData) -> Result<RelationshipData, Violations> {
        PatchRequest::from(self).apply(current)
    }
}

impl PatchRequest<RelationshipPatch> {
    /// The data `current` has once patched.
    ///
    /// # Errors
    /// What was refused, then `source_id` or `target_id` when the patch
    /// names another end, and `metadata` when the merged metadata breaks a
    /// rule, all at once.
    pub fn apply(self, current: &RelationshipData) -> Result<RelationshipData, Violations> {
        let RelationshipPatch {
            source_id,
            target_id,
            kind,
            attribution,
        } = self.patch;
        let mut data = current.clone();
        let mut v = self.refused;
        for (field, named, stored) in [
            ("source_id", source_id, current.ends.source()),
            ("target_id", target_id, current.ends.target()),
        ] {
            if named.is_some_and(|id| id != stored) {
                v.push(field, FIXED_END);
            }
        }
        if let Some(kind) = kind {
            data.kind = kind;
        }
        attribution.apply(&mut data.attribution, &mut v);
        if v.is_empty() { Ok(data) } else { Err(v) }
    }
}

/// RFC 7396 §2 `MergePatch(Target, Patch)`.
fn merge(target: Value, patch: &Value) -> Value {
    let Value::Object(patch) = patch else {
        return patch.clone();
    };
    let mut target = match target {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    for (key, value) in patch {
        if value.is_null() {
            target.remove(key);
        } else {
            let current = target.remove(key).unwrap_or(Value::Null);
            target.insert(key.clone(), merge(current, value));
        }
    }
    Value::Object(target)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn data() -> Result<EntityData, Box<dyn std::error::Error>> {
        Ok(EntityData {
            kind: TypeName::parse("Person")?,
            name: EntityName::parse("Ada")?,
            external_id: Some(ExternalId::parse("ada")?),
            attribution: Attribution {
                confidence: Some(Confidence::new(0.5)?),
                metadata: Metadata::new(json!({"a": {"b": 1, "c": 2}, "keep": true}))?,
                ..Attribution::default()
            },
        })
    }

    #[test]
    fn merge_patch_follows_rfc_7396() -> Result<(), Box<dyn std::error::Error>> {
        let patched = EntityPatch {
            name: Some(EntityName::parse("Ada L.")?),
            external_id: Edit::Clear,
            attribution: AttributionPatch {
                confidence: Edit::Clear,
                metadata: Some(MetadataPatch::new(json!({"a": {"b": null, "d": 3}}))),
                ..AttributionPatch::default()
            },
            ..EntityPatch::default()
        }
        .apply(&data()?)
        .map_err(|v| format!("{v:?}"))?;
        assert_eq!(patched.name.as_str(), "Ada L.");
        assert_eq!(patched.kind.as_str(), "Person", "kept");
        assert_eq!(patched.external_id, None);
        assert_eq!(patched.attribution.confidence, None);
        assert_eq!(
            patched.attribution.metadata.into_value(),
            json!({"a": {"c": 2, "d": 3}, "keep": true})
        );
        Ok(())
    }

    #[test]
    fn an_empty_patch_changes_nothing() -> Result<(), Box<dyn std::error::Error>> {
        let d = data()?;
        assert_eq!(EntityPatch::default().apply(&d).ok(), Some(d));
        Ok(())
    }

    #[test]
    fn merged_metadata_must_still_be_valid() -> Result<(), Box<dyn std::error::Error>> {
        let patch = EntityPatch {
            attribution: AttributionPatch {
                metadata: Some(MetadataPatch::new(json!([1]))),
                ..AttributionPatch::default()
            },
            ..EntityPatch::default()
        };
        let err = patch.apply(&data()?).err().ok_or("accepted")?;
        let fields: Vec<_> = err.as_slice().iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["metadata"]);
        Ok(())
    }

    #[test]
    fn every_attribution_field_can_be_set_and_cleared() -> Result<(), Box<dyn std::error::Error>> {
        let full = Attribution {
            confidence: Some(Confidence::new(0.25)?),
            source_ref: Some(SourceRef::parse("https://example.org/a")?),
            source_type: Some(TypeName::parse("web")?),
            metadata: Metadata::new(json!({"k": [1, 2]}))?,
        };
        let set = AttributionPatch {
            confidence: Edit::Set(Confidence::new(0.25)?),
            source_ref: Edit::Set(SourceRef::parse("https://example.org/a")?),
            source_type: Edit::Set(TypeName::parse("web")?),
            metadata: Some(MetadataPatch::new(json!({"k": [1, 2]}))),
        };
        let clear = AttributionPatch {
            confidence: Edit::Clear,
            source_ref: Edit::Clear,
            source_type: Edit::Clear,
            metadata: Some(MetadataPatch::new(json!({"k": null}))),
        };
        let mut v = Violations::new();
        let mut a = Attribution::default();
        set.apply(&mut a, &mut v);
        assert_eq!(a, full);
        clear.apply(&mut a, &mut v);
        assert_eq!(a, Attribution::default());
        assert!(v.is_empty(), "{v:?}");
        Ok(())
    }

    #[test]
    fn a_relationship_patch_may_repeat_its_ends_but_not_change_them()
    -> Result<(), Box<dyn std::error::Error>> {
        let (a, b) = (EntityId::generate(), EntityId::generate());
        let current = RelationshipData {
            ends: kg_domain::Endpoints::new(a, b)?,
            kind: TypeName::parse("KNOWS")?,
            attribution: Attribution::default(),
        };
        let same = RelationshipPatch {
            source_id: Some(a),
            target_id: Some(b),
            kind: Some(TypeName::parse("MET")?),
            ..RelationshipPatch::default()
        }
        .apply(&current)
        .map_err(|v| format!("{v:?}"))?;
        assert_eq!(same.kind.as_str(), "MET");
        let err = RelationshipPatch {
            target_id: Some(a),
            attribution: AttributionPatch {
                metadata: Some(MetadataPatch::new(json!(7))),
                ..AttributionPatch::default()
            },
            ..RelationshipPatch::default()
        }
        .apply(&current)
        .err()
        .ok_or("accepted")?;
        let fields: Vec<_> = err.as_slice().iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["target_id", "metadata"]);
        Ok(())
    }
}
