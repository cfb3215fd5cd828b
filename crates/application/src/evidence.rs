//! Evidence for facts: recording it, retracting and restoring it, and the
//! combined confidence it gives its fact (ADR 43).
//!
//! A fact's stated evidence follows the fact's own writes
//! ([`Evidence::stated`]); the use cases here add evidence besides it. Every
//! change is decided by [`plan_evidence`] from the fact and its evidence as
//! stored, read under a lock of the fact, so that concurrent changes to one
//! fact's evidence combine one after another.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use kg_domain::{
    Confidence, Entity, Evidence, EvidenceId, Fact, Metadata, Relationship, SourceRef, TypeName,
    Version, Violations,
};
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::entities::changed_fields;
use crate::{
    AppError, AuditAction, AuditEntry, AuditTarget, Clock, Conflict, Keyed, NewChange, Page,
    PageRequest, RepoError, RequestContext, ResourceKind, entity_document, relationship_document,
};

/// Evidence as a client describes it; nothing is checked yet.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EvidenceDraft {
    /// `confidence`.
    pub confidence: Option<f64>,
    /// `source`: where the statement was found.
    pub source: Option<String>,
    /// `source_type`.
    pub source_type: Option<String>,
    /// `locator`; an empty object when absent.
    pub locator: Option<Value>,
    /// `observed_at`; the time of recording when absent.
    pub observed_at: Option<DateTime<Utc>>,
}

/// What a source says, checked: the parts of an [`Evidence`] its recorder
/// chooses.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    /// How sure the source is.
    pub confidence: Option<Confidence>,
    /// Where it was found.
    pub source_ref: Option<SourceRef>,
    /// What kind of source.
    pub source_type: Option<TypeName>,
    /// Where in the source.
    pub locator: Metadata,
    /// When the source said it, if not now.
    pub observed_at: Option<DateTime<Utc>>,
}

impl EvidenceDraft {
    /// Parses every field, reporting all problems at once. Evidence must
    /// say something: a confidence, a source, or both.
    ///
    /// # Errors
    /// The [`Violations`] of every invalid field.
    pub fn parse(self) -> Result<Statement, Violations> {
        let mut v = Violations::new();
        if self.confidence.is_none() && self.source.is_none() {
            v.push(
                "confidence",
                "evidence must give a confidence, a source or both",
            );
        }
        let confidence = v.check_opt("confidence", self.confidence, Confidence::new);
        let source_ref = v.check_opt("source", self.source, SourceRef::parse);
        let source_type = v.check_opt("source_type", self.source_type, TypeName::parse);
        let locator = v.check(
            "locator",
            Metadata::new(self.locator.unwrap_or_else(|| Value::Object(Map::new()))),
        );
        match (confidence, source_ref, source_type, locator) {
            (Some(confidence), Some(source_ref), Some(source_type), Some(locator))
                if v.is_empty() =>
            {
                Ok(Statement {
                    confidence,
                    source_ref,
                    source_type,
                    locator,
                    observed_at: self.observed_at,
                })
            }
            _ => Err(v),
        }
    }
}

/// Evidence as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = EvidenceResponse))]
pub struct EvidenceDocument {
    /// Its id; a fact's stated evidence has the fact's id.
    pub id: String,
    /// `entity` or `relationship`.
    pub fact_type: &'static str,
    /// The fact it supports.
    pub fact_id: String,
    /// Whether it is the fact's own confidence and source, as its writer
    /// last gave them: it changes with the fact, not on its own.
    pub stated: bool,
    /// From 0 to 1.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub confidence: Option<f64>,
    /// Where the statement was found.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub source: Option<String>,
    /// What kind of source that is.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub source_type: Option<String>,
    /// Where in the source (document, span, quote…).
    #[cfg_attr(feature = "openapi", schema(value_type = Value))]
    pub locator: Metadata,
    /// When the source said it.
    pub observed_at: DateTime<Utc>,
    /// When it was recorded.
    pub recorded_at: DateTime<Utc>,
    /// Who recorded it.
    pub recorded_by: String,
    /// When it was retracted; `null` while it counts.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub retracted_at: Option<DateTime<Utc>>,
    /// Who retracted it.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub retracted_by: Option<String>,
    /// 1 when recorded, one more on each change.
    pub version: i64,
}

impl From<Evidence> for EvidenceDocument {
    fn from(e: Evidence) -> Self {
        let (fact_type, fact_id) = match e.fact {
            Fact::Entity(id) => ("entity", id.to_string()),
            Fact::Relationship(id) => ("relationship", id.to_string()),
        };
        Self {
            id: e.id.to_string(),
            fact_type,
            fact_id,
            stated: e.stated,
            confidence: e.confidence.map(Confidence::get),
            source: e.source_ref.map(SourceRef::into_inner),
            source_type: e.source_type.map(TypeName::into_inner),
            locator: e.locator,
            observed_at: e.observed_at,
            recorded_at: e.recorded_at,
            recorded_by: e.recorded_by.to_string(),
            retracted_at: e.retracted.map(|(at, _)| at),
            retracted_by: e.retracted.map(|(_, by)| by.to_string()),
            version: e.version.get(),
        }
    }
}

/// An evidence record's document as JSON.
#[must_use]
pub fn evidence_document(e: &Evidence) -> Value {
    json!(EvidenceDocument::from(e.clone()))
}

/// The fields an evidence record's audit entry names.
const EVIDENCE_FIELDS: [&str; 8] = [
    "fact_type",
    "fact_id",
    "stated",
    "confidence",
    "source",
    "source_type",
    "locator",
    "observed_at",
];

/// Which evidence a list returns, in id order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EvidenceFilter {
    /// Of this fact.
    pub fact: Option<Fact>,
    /// From exactly this source.
    pub source: Option<SourceRef>,
    /// Of exactly this source type.
    pub source_type: Option<TypeName>,
    /// Retracted records too, not only live ones.
    pub include_retracted: bool,
}

impl EvidenceFilter {
    /// Whether `e` is one the filter lets through.
    #[must_use]
    pub fn matches(&self, e: &Evidence) -> bool {
        self.fact.is_none_or(|f| e.fact == f)
            && self
                .source
                .as_ref()
                .is_none_or(|s| e.source_ref.as_ref() == Some(s))
            && self
                .source_type
                .as_ref()
                .is_none_or(|t| e.source_type.as_ref() == Some(t))
            && (self.include_retracted || e.is_live())
    }
}

/// A fact as stored, whichever kind it is.
#[derive(Debug, Clone, PartialEq)]
pub enum FactState {
    /// An entity.
    Entity(Entity),
    /// A relationship.
    Relationship(Relationship),
}

impl FactState {
    /// Which fact it is.
    #[must_use]
    pub const fn fact(&self) -> Fact {
        match self {
            Self::Entity(e) => Fact::Entity(e.id),
            Self::Relationship(r) => Fact::Relationship(r.id),
        }
    }

    /// Its version.
    #[must_use]
    pub const fn version(&self) -> Version {
        self.lifecycle().version
    }

    const fn lifecycle(&self) -> &kg_domain::Lifecycle {
        match self {
            Self::Entity(e) => &e.lifecycle,
            Self::Relationship(r) => &r.lifecycle,
        }
    }

    /// Its combined confidence.
    #[must_use]
    pub fn confidence(&self) -> Option<Confidence> {
        match self {
            Self::Entity(e) => e.confidence(),
            Self::Relationship(r) => r.confidence(),
        }
    }

    const fn corroboration(&self) -> Option<Confidence> {
        match self {
            Self::Entity(e) => e.corroboration,
            Self::Relationship(r) => r.corroboration,
        }
    }

    fn document(&self) -> Value {
        match self {
            Self::Entity(e) => entity_document(e),
            Self::Relationship(r) => relationship_document(r),
        }
    }

    fn target(&self) -> AuditTarget {
        match self {
            Self::Entity(e) => AuditTarget::Entity(e.id),
            Self::Relationship(r) => AuditTarget::Relationship(r.id),
        }
    }

    /// The fact with `corroboration`, at its next version, revised by
    /// `entry`'s actor at its time.
    fn corroborated(&self, corroboration: Option<Confidence>, entry: &AuditEntry) -> Self {
        let mut next = self.clone();
        match &mut next {
            Self::Entity(e) => {
                e.corroboration = corroboration;
                e.lifecycle = e.lifecycle.revised(entry.actor, entry.at);
            }
            Self::Relationship(r) => {
                r.corroboration = corroboration;
                r.lifecycle = r.lifecycle.revised(entry.actor, entry.at);
            }
        }
        next
    }

    fn change(&self) -> NewChange {
        match self {
            Self::Entity(e) => NewChange::entity(AuditAction::Update, e),
            Self::Relationship(r) => NewChange::relationship(AuditAction::Update, r),
        }
    }
}

/// A change to a fact's evidence.
#[derive(Debug, Clone, PartialEq)]
pub enum EvidenceChange {
    /// Record new evidence (never stated: a fact's writes state its own).
    Add(Evidence),
    /// Retract a live record, so that it no longer counts.
    Retract(EvidenceId),
    /// Bring back a retracted record.
    Restore(EvidenceId),
}

/// What an evidence change writes: the record as it now is, the fact when
/// its combined confidence moved, and their audit and feed rows.
#[derive(Debug, Clone, PartialEq)]
pub struct EvidenceWrites {
    /// The record, new or revised.
    pub evidence: Evidence,
    /// The fact at its next version, when its confidence changed.
    pub fact: Option<FactState>,
    /// The fact's combined confidence after the change.
    pub confidence: Option<Confidence>,
    /// The record's audit row, then the fact's.
    pub audit: Vec<AuditEntry>,
    /// The record's feed row, then the fact's.
    pub changes: Vec<NewChange>,
}

/// What an evidence change is decided on, read under a lock of the fact.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvidence {
    /// The fact, live or deleted.
    pub fact: FactState,
    /// The record a retraction or restoration names, if it is the fact's.
    pub record: Option<Evidence>,
    /// The confidences of the fact's live added records besides that one:
    /// all its combination needs, a number each however large a record is.
    pub others: Vec<Confidence>,
}

/// Decides an evidence change, given what is stored and the audit entry
/// that describes the change to the record.
///
/// # Errors
/// `NotFound` when the record to retract or restore is not the fact's (or,
/// retracting, is retracted already); `Conflict(FactNotLive)` when the fact
/// is deleted; `Conflict(EvidenceStated)` for the fact's stated evidence,
/// which follows the fact; `Conflict(NotRetracted)` when restoring a live
/// record.
pub fn plan_evidence(
    change: &EvidenceChange,
    stored: &StoredEvidence,
    entry: &AuditEntry,
) -> Result<EvidenceWrites, RepoError> {
    let fact = &stored.fact;
    if !fact.lifecycle().is_live() {
        return Err(RepoError::Conflict(Conflict::FactNotLive));
    }
    let (evidence, feed) = match change {
        EvidenceChange::Add(e) => (
            e.clone(),
            NewChange::evidence(AuditAction::Create, e, entry.at),
        ),
        EvidenceChange::Retract(id) | EvidenceChange::Restore(id) => {
            let retract = matches!(change, EvidenceChange::Retract(_));
            let mut record = stored
                .record
                .clone()
                .filter(|e| e.id == *id && e.fact == fact.fact())
                .filter(|e| !retract || e.is_live())
                .ok_or(RepoError::NotFound)?;
            if record.stated {
                return Err(RepoError::Conflict(Conflict::EvidenceStated));
            }
            if !retract && record.is_live() {
                return Err(RepoError::Conflict(Conflict::NotRetracted));
            }
            record.retracted = retract.then_some((entry.at, entry.actor));
            record.version = record.version.next();
            let feed = if retract {
                NewChange::deleted(AuditTarget::Evidence(record.id), record.version, entry.at)
            } else {
                NewChange::evidence(AuditAction::Restore, &record, entry.at)
            };
            (record, feed)
        }
    };
    let mut audit = entry.clone();
    if matches!(change, EvidenceChange::Add(_)) {
        audit.changes = created_evidence_changes(&evidence);
    }
    let counted = (evidence.is_live() && !evidence.stated)
        .then_some(evidence.confidence)
        .flatten();
    let corroboration = Confidence::combine(stored.others.iter().copied().chain(counted));
    let mut writes = EvidenceWrites {
        evidence,
        fact: None,
        confidence: fact.confidence(),
        audit: vec![audit],
        changes: vec![feed],
    };
    if corroboration != fact.corroboration() {
        let next = fact.corroborated(corroboration, entry);
        writes.audit.push(AuditEntry {
            action: AuditAction::Update,
            target: fact.target(),
            changes: changed_fields(&fact.document(), &next.document()),
            ..entry.clone()
        });
        writes.changes.push(next.change());
        writes.confidence = next.confidence();
        writes.fact = Some(next);
    }
    Ok(writes)
}

/// What a batch item from a source other than its fact's writer records:
/// its evidence, the same source's earlier record it replaces, and the
/// fact at its next version when its confidence moved.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Corroboration {
    /// The new record.
    pub(crate) evidence: Evidence,
    /// The records it replaces, retracted.
    pub(crate) superseded: Vec<Evidence>,
    /// The fact at its next version, when its confidence changed.
    pub(crate) fact: Option<FactState>,
    /// The new record's audit row, each superseded one's, then the fact's.
    pub(crate) audit: Vec<AuditEntry>,
    /// Their feed rows, in the same order.
    pub(crate) changes: Vec<NewChange>,
}

/// Decides what `record` (new evidence a batch item states) changes, given
/// the fact and its live added evidence (ADR 44). A record is known by its
/// source and locator: when a live one of them says the same (confidence
/// and source type), nothing changes and this is `None`; otherwise the new
/// record replaces them, and the fact's confidence is combined anew.
/// `entry` gives the actor, time and request of every audit row.
pub(crate) fn corroborate(
    fact: &FactState,
    live_added: &[Evidence],
    record: Evidence,
    entry: &AuditEntry,
) -> Option<Corroboration> {
    let same_record =
        |e: &&Evidence| e.source_ref == record.source_ref && e.locator == record.locator;
    let earlier: Vec<&Evidence> = live_added.iter().filter(same_record).collect();
    if earlier
        .iter()
        .any(|e| e.confidence == record.confidence && e.source_type == record.source_type)
    {
        return None;
    }
    let mut audit = vec![AuditEntry {
        action: AuditAction::Create,
        target: AuditTarget::Evidence(record.id),
        changes: created_evidence_changes(&record),
        ..entry.clone()
    }];
    let mut changes = vec![NewChange::evidence(AuditAction::Create, &record, entry.at)];
    let superseded: Vec<Evidence> = earlier
        .into_iter()
        .map(|e| {
            let mut e = e.clone();
            e.retracted = Some((entry.at, entry.actor));
            e.version = e.version.next();
            audit.push(AuditEntry {
                action: AuditAction::Delete,
                target: AuditTarget::Evidence(e.id),
                changes: json!({}),
                ..entry.clone()
            });
            changes.push(NewChange::deleted(
                AuditTarget::Evidence(e.id),
                e.version,
                entry.at,
            ));
            e
        })
        .collect();
    let corroboration = Confidence::combine(
        live_added
            .iter()
            .filter(|e| superseded.iter().all(|s| s.id != e.id))
            .chain([&record])
            .filter_map(|e| e.confidence),
    );
    let mut next = None;
    if corroboration != fact.corroboration() {
        let revised = fact.corroborated(corroboration, entry);
        audit.push(AuditEntry {
            action: AuditAction::Update,
            target: fact.target(),
            changes: changed_fields(&fact.document(), &revised.document()),
            ..entry.clone()
        });
        changes.push(revised.change());
        next = Some(revised);
    }
    Some(Corroboration {
        evidence: record,
        superseded,
        fact: next,
        audit,
        changes,
    })
}

/// `{"field": {"after": …}}` for each field new evidence has.
fn created_evidence_changes(e: &Evidence) -> Value {
    let document = evidence_document(e);
    let fields = EVIDENCE_FIELDS
        .iter()
        .filter_map(|k| {
            let v = document.get(*k).filter(|v| !v.is_null())?;
            Some(((*k).to_owned(), json!({ "after": v })))
        })
        .collect();
    Value::Object(fields)
}

/// Storage of evidence.
#[async_trait::async_trait]
pub trait EvidenceRepository: Send + Sync {
    /// Makes `change` to the evidence of its fact (for a retraction or a
    /// restoration, the fact of the record named), all at once: locks the
    /// fact, reads what [`StoredEvidence`] holds, lets [`plan_evidence`]
    /// decide with `entry`, and stores the writes with their audit and feed
    /// rows, and the response of a keyed request when given (built from the
    /// writes). Returns the writes.
    ///
    /// # Errors
    /// `NotFound` when the fact (for an addition) or the record does not
    /// exist; as [`plan_evidence`]; `DatabaseUnavailable`; `Other`.
    async fn apply(
        &self,
        change: &EvidenceChange,
        entry: &AuditEntry,
        keyed: Keyed<'_, EvidenceWrites>,
    ) -> Result<EvidenceWrites, RepoError>;

    /// An evidence record by id, retracted or not.
    ///
    /// # Errors
    /// `DatabaseUnavailable` or `Other`.
    async fn get(&self, id: EvidenceId) -> Result<Option<Evidence>, RepoError>;

    /// Records matching `filter`, in id order: those stored and the facts' stated
    /// records (ADR 46), a fixed number of queries per page.
    ///
    /// # Errors
    /// `DatabaseUnavailable` or `Other`.
    async fn list(
        &self,
        filter: &EvidenceFilter,
        page: PageRequest,
    ) -> Result<Page<Evidence>, RepoError>;
}

/// Recording, listing, retracting and restoring evidence.
#[derive(Clone)]
pub struct EvidenceService {
    evidence: Arc<dyn EvidenceRepository>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for EvidenceService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EvidenceService").finish_non_exhaustive()
    }
}

impl EvidenceService {
    /// A service over the given ports.
    #[must_use]
    pub fn new(evidence: Arc<dyn EvidenceRepository>, clock: Arc<dyn Clock>) -> Self {
        Self { evidence, clock }
    }

    /// Records evidence for a live fact; returns it and the fact as it is
    /// now, when its confidence changed. For a keyed request, stores its
    /// response (built by `respond`) with it.
    ///
    /// # Errors
    /// `Forbidden` for viewers; `NotFound` of the fact's kind when it is not
    /// live; `DatabaseUnavailable`; `Internal`.
    #[tracing::instrument(skip_all, fields(fact_id = %fact.id()))]
    pub async fn add(
        &self,
        ctx: &RequestContext,
        fact: Fact,
        statement: Statement,
        keyed: Keyed<'_, EvidenceWrites>,
    ) -> Result<EvidenceWrites, AppError> {
        ctx.actor.require_writer()?;
        let now = self.clock.now();
        let evidence = Evidence {
            id: EvidenceId::generate(),
            fact,
            stated: false,
            confidence: statement.confidence,
            source_ref: statement.source_ref,
            source_type: statement.source_type,
            locator: statement.locator,
            observed_at: statement.observed_at.unwrap_or(now),
            recorded_at: now,
            recorded_by: ctx.actor.user_id,
            retracted: None,
            version: Version::FIRST,
        };
        let entry = ctx.audit(
            AuditAction::Create,
            AuditTarget::Evidence(evidence.id),
            now,
            json!({}),
        );
        let kind = match fact {
            Fact::Entity(_) => ResourceKind::Entity,
            Fact::Relationship(_) => ResourceKind::Relationship,
        };
        self.evidence
            .apply(&EvidenceChange::Add(evidence), &entry, keyed)
            .await
            .map_err(|e| match e {
                // The fact was deleted: to its client, it is not there.
                RepoError::Conflict(Conflict::FactNotLive) => AppError::NotFound(kind),
                e => AppError::from_repo(e, kind),
            })
    }

    /// An evidence record, retracted or not.
    ///
    /// # Errors
    /// `NotFound`; `DatabaseUnavailable`; `Internal`.
    pub async fn get(&self, _ctx: &RequestContext, id: EvidenceId) -> Result<Evidence, AppError> {
        self.evidence
            .get(id)
            .await
            .map_err(|e| AppError::from_repo(e, ResourceKind::Evidence))?
            .ok_or(AppError::NotFound(ResourceKind::Evidence))
    }

    /// A page of evidence.
    ///
    /// # Errors
    /// `DatabaseUnavailable`; `Internal`.
    pub async fn list(
        &self,
        _ctx: &RequestContext,
        filter: &EvidenceFilter,
        page: PageRequest,
    ) -> Result<Page<Evidence>, AppError> {
        self.evidence
            .list(filter, page)
            .await
            .map_err(|e| AppError::from_repo(e, ResourceKind::Evidence))
    }

    /// Retracts a live record added for a fact.
    ///
    /// # Errors
    /// `Forbidden` for viewers; `NotFound` unless a live record has the id;
    /// `Conflict(EvidenceStated)`; `Conflict(FactNotLive)`;
    /// `DatabaseUnavailable`; `Internal`.
    #[tracing::instrument(skip_all, fields(evidence_id = %id))]
    pub async fn retract(
        &self,
        ctx: &RequestContext,
        id: EvidenceId,
    ) -> Result<EvidenceWrites, AppError> {
        self.revise(ctx, EvidenceChange::Retract(id), AuditAction::Delete, id)
            .await
    }

    /// Brings back a retracted record.
    ///
    /// # Errors
    /// `Forbidden` for viewers; `NotFound`; `Conflict(NotRetracted)`;
    /// `Conflict(EvidenceStated)`; `Conflict(FactNotLive)`;
    /// `DatabaseUnavailable`; `Internal`.
    #[tracing::instrument(skip_all, fields(evidence_id = %id))]
    pub async fn restore(
        &self,
        ctx: &RequestContext,
        id: EvidenceId,
    ) -> Result<EvidenceWrites, AppError> {
        self.revise(ctx, EvidenceChange::Restore(id), AuditAction::Restore, id)
            .await
    }

    async fn revise(
        &self,
        ctx: &RequestContext,
        change: EvidenceChange,
        action: AuditAction,
        id: EvidenceId,
    ) -> Result<EvidenceWrites, AppError> {
        ctx.actor.require_writer()?;
        let entry = ctx.audit(
            action,
            AuditTarget::Evidence(id),
            self.clock.now(),
            json!({}),
        );
        self.evidence
            .apply(&change, &entry, None)
            .await
            .map_err(|e| AppError::from_repo(e, ResourceKind::Evidence))
    }
}

#[cfg(test)]
mod tests {
    use kg_domain::{Attribution, EntityData, EntityName, UserId};

    use super::*;

    type Result = std::result::Result<(), Box<dyn std::error::Error>>;

    fn fact() -> std::result::Result<FactState, Box<dyn std::error::Error>> {
        let data = EntityData {
            kind: TypeName::parse("Paper")?,
            name: EntityName::parse("A")?,
            external_id: None,
            attribution: Attribution {
                confidence: Some(Confidence::new(0.6)?),
                source_ref: Some(SourceRef::parse("pipeline:a")?),
                ..Attribution::default()
            },
        };
        Ok(FactState::Entity(Entity::create(
            data,
            UserId::generate(),
            Utc::now(),
        )))
    }

    fn record(
        fact: &FactState,
        source: &str,
        confidence: f64,
    ) -> std::result::Result<Evidence, Box<dyn std::error::Error>> {
        Ok(Evidence {
            id: EvidenceId::generate(),
            fact: fact.fact(),
            stated: false,
            confidence: Some(Confidence::new(confidence)?),
            source_ref: Some(SourceRef::parse(source)?),
            source_type: None,
            locator: Metadata::default(),
            observed_at: Utc::now(),
            recorded_at: Utc::now(),
            recorded_by: UserId::generate(),
            retracted: None,
            version: Version::FIRST,
        })
    }

    fn entry(id: EvidenceId) -> AuditEntry {
        AuditEntry {
            actor: UserId::generate(),
            action: AuditAction::Create,
            target: AuditTarget::Evidence(id),
            request_id: None,
            at: Utc::now(),
            changes: Value::Null,
        }
    }

    /// `fact` as it is once `live` is its live added evidence.
    fn with(fact: &FactState, live: &[Evidence]) -> FactState {
        let corroboration = Confidence::combine(live.iter().filter_map(|e| e.confidence));
        let mut fact = fact.clone();
        if let FactState::Entity(e) = &mut fact {
            e.corroboration = corroboration;
        }
        fact
    }

    #[test]
    fn a_new_source_is_recorded_and_combined() -> Result {
        let fact = fact()?;
        let new = record(&fact, "pipeline:b", 0.5)?;
        let c = corroborate(&fact, &[], new.clone(), &entry(new.id)).ok_or("unchanged")?;
        assert_eq!(c.evidence, new);
        assert_eq!(c.superseded, []);
        let revised = c.fact.ok_or("not revised")?;
        assert_eq!(revised.confidence(), Some(Confidence::new(0.8)?));
        assert_eq!(revised.version(), fact.version().next());
        let actions: Vec<_> = c.audit.iter().map(|a| (a.action, a.target)).collect();
        assert_eq!(
            actions,
            [
                (AuditAction::Create, AuditTarget::Evidence(new.id)),
                (AuditAction::Update, revised_target(&fact)),
            ]
        );
        assert_eq!(c.changes.len(), 2);
        Ok(())
    }

    fn revised_target(fact: &FactState) -> AuditTarget {
        match fact.fact() {
            Fact::Entity(id) => AuditTarget::Entity(id),
            Fact::Relationship(id) => AuditTarget::Relationship(id),
        }
    }

    #[test]
    fn the_same_source_saying_the_same_changes_nothing() -> Result {
        let fact = fact()?;
        let earlier = record(&fact, "pipeline:b", 0.5)?;
        let stored = with(&fact, std::slice::from_ref(&earlier));
        let again = record(&fact, "pipeline:b", 0.5)?;
        assert_eq!(
            corroborate(&stored, &[earlier], again.clone(), &entry(again.id)),
            None
        );
        Ok(())
    }

    #[test]
    fn a_source_saying_something_else_replaces_its_record_only() -> Result {
        let fact = fact()?;
        let earlier = record(&fact, "pipeline:b", 0.5)?;
        let other = record(&fact, "pipeline:c", 0.5)?;
        let mut quoted = record(&fact, "pipeline:b", 0.9)?;
        quoted.locator = Metadata::new(json!({ "page": 3 }))?;
        let live = [earlier.clone(), other, quoted];
        let stored = with(&fact, &live);
        let new = record(&fact, "pipeline:b", 0.2)?;
        let at = entry(new.id);
        let c = corroborate(&stored, &live, new.clone(), &at).ok_or("unchanged")?;
        assert_eq!(c.superseded.len(), 1, "a record with a locator stays");
        let replaced = &c.superseded[0];
        assert_eq!(replaced.id, earlier.id);
        assert_eq!(replaced.retracted, Some((at.at, at.actor)));
        assert_eq!(replaced.version, earlier.version.next());
        // 0.6 stated, with 0.5 (c), 0.9 (quoted) and 0.2 (new): 1 - 0.4·0.5·0.1·0.8.
        let revised = c.fact.ok_or("not revised")?;
        assert_eq!(revised.confidence(), Some(Confidence::new(0.984)?));
        let actions: Vec<_> = c.audit.iter().map(|a| a.action).collect();
        assert_eq!(
            actions,
            [
                AuditAction::Create,
                AuditAction::Delete,
                AuditAction::Update
            ]
        );
        assert_eq!(
            c.changes.iter().map(|c| c.resource).collect::<Vec<_>>(),
            [
                AuditTarget::Evidence(new.id),
                AuditTarget::Evidence(earlier.id),
                revised_target(&fact),
            ]
        );
        Ok(())
    }

    #[test]
    fn evidence_without_a_confidence_leaves_the_fact_as_it_is() -> Result {
        let fact = fact()?;
        let mut new = record(&fact, "pipeline:b", 0.5)?;
        new.confidence = None;
        let c = corroborate(&fact, &[], new.clone(), &entry(new.id)).ok_or("unchanged")?;
        assert_eq!(c.fact, None);
        assert_eq!(c.audit.len(), 1);
        Ok(())
    }
}
