//! The evidence repository: added evidence in `evidence`, and each fact's
//! stated evidence read from the fact itself (ADR 46).

use std::sync::Arc;

use async_trait::async_trait;
use kg_application::{
    Completion, Conflict, EvidenceChange, EvidenceFilter, EvidenceRepository, EvidenceWrites,
    FactState, Keyed, Page, PageRequest, RepoError, StoredEvidence, plan_evidence,
};
use kg_domain::{Confidence, Evidence, EvidenceId, Fact};
use sea_orm::sea_query::InsertStatement;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseBackend, DatabaseConnection,
    DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait as _,
};

use crate::changes::{self, Deferred};
use crate::convert::{
    entity_from_row, entity_to_row, evidence_from_row, evidence_to_row, relationship_from_row,
    relationship_to_row,
};
use crate::error::db;
use crate::models::{entity, evidence, relationship};
use crate::rows::ROWS_PER_STATEMENT;
use crate::sql::{Binds, Executor, begin_write};

/// Evidence in the `evidence` table.
#[derive(Debug, Clone)]
pub struct SeaOrmEvidenceRepository<C = DatabaseConnection> {
    db: C,
    /// Inside a unit of work: where its audit and feed rows wait.
    deferred: Option<Arc<Deferred>>,
}

impl<C> SeaOrmEvidenceRepository<C> {
    /// A repository over `db`: a connection pool, or a transaction that
    /// each write joins (as a savepoint) instead of opening its own.
    #[must_use]
    pub const fn new(db: C) -> Self {
        Self { db, deferred: None }
    }

    /// A repository writing inside a unit of work's transaction.
    pub(crate) const fn in_work(db: C, deferred: Arc<Deferred>) -> Self {
        Self {
            db,
            deferred: Some(deferred),
        }
    }
}

/// The statements that insert new evidence records (the live ones),
/// [`ROWS_PER_STATEMENT`] a statement.
pub(crate) fn evidence_rows(records: impl IntoIterator<Item = Evidence>) -> Vec<InsertStatement> {
    let live: Vec<Evidence> = records.into_iter().filter(Evidence::is_live).collect();
    live.chunks(ROWS_PER_STATEMENT)
        .map(|chunk| evidence::Entity::insert_many(chunk.iter().map(evidence_to_row)).into_query())
        .collect()
}

/// Retracts stored records that are live, each as its `retracted` says,
/// at its version: one statement for [`ROWS_PER_STATEMENT`] records.
pub(crate) async fn withdraw(
    conn: &impl ConnectionTrait,
    withdrawn: &[Evidence],
) -> Result<(), RepoError> {
    for chunk in withdrawn.chunks(ROWS_PER_STATEMENT) {
        let mut binds = Binds::new(conn.get_database_backend());
        let rows = chunk
            .iter()
            .filter_map(|e| {
                let (at, by) = e.retracted?;
                Some(format!(
                    "({}, {}, {}, {})",
                    binds.push(e.id.as_uuid()),
                    binds.push(at),
                    binds.push(by.as_uuid()),
                    binds.push(e.version.get()),
                ))
            })
            .collect::<Vec<_>>()
            .join(", ");
        if rows.is_empty() {
            continue;
        }
        let sql = format!(
            "WITH w(id, at, by, version) AS (VALUES {rows}) \
             UPDATE evidence SET retracted_at = w.at, retracted_by = w.by, version = w.version \
             FROM w WHERE evidence.id = w.id AND evidence.retracted_at IS NULL"
        );
        conn.execute_raw(binds.statement(sql)).await.map_err(db)?;
    }
    Ok(())
}

/// The live added (not stated) evidence of `facts`, one query for
/// [`ROWS_PER_STATEMENT`] facts.
pub(crate) async fn live_added(
    conn: &impl ConnectionTrait,
    facts: &[Fact],
) -> Result<Vec<Evidence>, RepoError> {
    use evidence::Column as V;
    let mut found = Vec::new();
    for chunk in facts.chunks(ROWS_PER_STATEMENT) {
        let ids = |entity: bool| {
            chunk
                .iter()
                .filter(move |f| matches!(f, Fact::Entity(_)) == entity)
                .map(|f| f.id())
                .collect::<Vec<_>>()
        };
        let rows = evidence::Entity::find()
            .filter(V::RetractedAt.is_null())
            .filter(V::Stated.eq(false))
            .filter(
                Condition::any()
                    .add(V::EntityId.is_in(ids(true)))
                    .add(V::RelationshipId.is_in(ids(false))),
            )
            .order_by_asc(V::Id)
            .all(conn)
            .await
            .map_err(db)?;
        for row in rows {
            found.push(evidence_from_row(row)?);
        }
    }
    Ok(found)
}

/// The stated evidence of `fact`, when it is live and states something:
/// read from the fact (ADR 46).
async fn stated_of(conn: &impl ConnectionTrait, fact: Fact) -> Result<Option<Evidence>, RepoError> {
    let stated = match fact {
        Fact::Entity(id) => entity::Entity::find_by_id(id.as_uuid())
            .filter(entity::Column::DeletedAt.is_null())
            .one(conn)
            .await
            .map_err(db)?
            .map(|row| entity_from_row(row).map(|e| e.stated_evidence()))
            .transpose()?,
        Fact::Relationship(id) => relationship::Entity::find_by_id(id.as_uuid())
            .filter(relationship::Column::DeletedAt.is_null())
            .one(conn)
            .await
            .map_err(db)?
            .map(|row| relationship_from_row(row).map(|r| r.stated_evidence()))
            .transpose()?,
    };
    Ok(stated.filter(Evidence::is_live))
}

/// The stated evidence whose id is `id`: that of the live entity or
/// relationship with this id, when it states something.
async fn stated_record(
    conn: &impl ConnectionTrait,
    id: EvidenceId,
) -> Result<Option<Evidence>, RepoError> {
    let uuid = id.as_uuid();
    match stated_of(conn, Fact::Entity(kg_domain::EntityId::from_uuid(uuid))).await? {
        Some(stated) => Ok(Some(stated)),
        None => {
            stated_of(
                conn,
                Fact::Relationship(kg_domain::RelationshipId::from_uuid(uuid)),
            )
            .await
        }
    }
}

/// The stated evidence `filter` lets through, after `after`, in id order,
/// at most `limit` of each kind of fact: of the fact it names, or of every
/// live fact that states something (ADR 46).
async fn stated_records(
    conn: &impl ConnectionTrait,
    f: &EvidenceFilter,
    after: Option<uuid::Uuid>,
    limit: u64,
) -> Result<Vec<Evidence>, RepoError> {
    let mut found = Vec::new();
    if let Some(fact) = f.fact {
        found.extend(stated_of(conn, fact).await?);
    } else {
        // Each kind of fact by the same columns: a macro, as the two
        // tables' sea-orm types differ.
        macro_rules! stating {
            ($table:ident, $from_row:ident) => {{
                use $table::Column as F;
                let mut cond = Condition::all().add(F::DeletedAt.is_null()).add(
                    Condition::any()
                        .add(F::StatedConfidence.is_not_null())
                        .add(F::Source.is_not_null()),
                );
                if let Some(after) = after {
                    cond = cond.add(F::Id.gt(after));
                }
                if let Some(source) = &f.source {
                    cond = cond.add(F::Source.eq(source.as_str()));
                }
                if let Some(source_type) = &f.source_type {
                    cond = cond.add(F::SourceType.eq(source_type.as_str()));
                }
                let rows = $table::Entity::find()
                    .filter(cond)
                    .order_by_asc(F::Id)
                    .limit(limit)
                    .all(conn)
                    .await
                    .map_err(db)?;
                for row in rows {
                    found.push($from_row(row)?.stated_evidence());
                }
            }};
        }
        stating!(entity, entity_from_row);
        stating!(relationship, relationship_from_row);
    }
    found.retain(|e| f.matches(e) && after.is_none_or(|a| e.id.as_uuid() > a));
    Ok(found)
}

/// The column of `evidence` that names a fact of this kind.
const fn fact_column(fact: Fact) -> evidence::Column {
    match fact {
        Fact::Entity(_) => evidence::Column::EntityId,
        Fact::Relationship(_) => evidence::Column::RelationshipId,
    }
}

/// Reads a fact, live or deleted, and locks its row against other writers
/// until the transaction ends (PostgreSQL; SQLite's writer already holds
/// the database's write lock).
async fn locked_fact(txn: &DatabaseTransaction, fact: Fact) -> Result<FactState, RepoError> {
    let lock = txn.get_database_backend() == DatabaseBackend::Postgres;
    Ok(match fact {
        Fact::Entity(id) => {
            let mut query = entity::Entity::find_by_id(id.as_uuid());
            if lock {
                query = query.lock_exclusive();
            }
            let row = query
                .one(txn)
                .await
                .map_err(db)?
                .ok_or(RepoError::NotFound)?;
            FactState::Entity(entity_from_row(row)?)
        }
        Fact::Relationship(id) => {
            let mut query = relationship::Entity::find_by_id(id.as_uuid());
            if lock {
                query = query.lock_exclusive();
            }
            let row = query
                .one(txn)
                .await
                .map_err(db)?
                .ok_or(RepoError::NotFound)?;
            FactState::Relationship(relationship_from_row(row)?)
        }
    })
}

/// The confidences of a fact's live added evidence, but `except`'s.
async fn other_confidences(
    txn: &DatabaseTransaction,
    fact: Fact,
    except: Option<EvidenceId>,
) -> Result<Vec<Confidence>, RepoError> {
    use evidence::Column as V;
    let mut query = evidence::Entity::find()
        .select_only()
        .column(V::Confidence)
        .filter(fact_column(fact).eq(fact.id()))
        .filter(V::RetractedAt.is_null())
        .filter(V::Stated.eq(false))
        .filter(V::Confidence.is_not_null());
    if let Some(id) = except {
        query = query.filter(V::Id.ne(id.as_uuid()));
    }
    let values = query.into_tuple::<f64>().all(txn).await.map_err(db)?;
    values
        .into_iter()
        .map(|v| {
            Confidence::new(v).map_err(|e| {
                RepoError::Other(format!("evidence of {}: confidence {e}", fact.id()).into())
            })
        })
        .collect()
}

#[async_trait]
impl<C> EvidenceRepository for SeaOrmEvidenceRepository<C>
where
    C: Executor,
{
    async fn apply(
        &self,
        change: &EvidenceChange,
        entry: &kg_application::AuditEntry,
        keyed: Keyed<'_, EvidenceWrites>,
    ) -> Result<EvidenceWrites, RepoError> {
        let txn = begin_write(&self.db).await?;
        let (fact, named) = match change {
            EvidenceChange::Add(e) => (e.fact, None),
            EvidenceChange::Retract(id) | EvidenceChange::Restore(id) => {
                let row = evidence::Entity::find_by_id(id.as_uuid())
                    .filter(evidence::Column::Stated.eq(false))
                    .one(&txn)
                    .await
                    .map_err(db)?;
                let Some(row) = row else {
                    // A stated record changes only through its fact.
                    return Err(match stated_record(&txn, *id).await? {
                        Some(_) => RepoError::Conflict(Conflict::EvidenceStated),
                        None => RepoError::NotFound,
                    });
                };
                let record = evidence_from_row(row)?;
                (record.fact, Some(record.id))
            }
        };
        let state = locked_fact(&txn, fact).await?;
        // Read again under the fact's lock: a concurrent change to the
        // record committed before it, or waits for this one.
        let record = match named {
            Some(id) => evidence::Entity::find_by_id(id.as_uuid())
                .one(&txn)
                .await
                .map_err(db)?
                .map(evidence_from_row)
                .transpose()?,
            None => None,
        };
        let stored = StoredEvidence {
            others: other_confidences(&txn, fact, named).await?,
            fact: state,
            record,
        };
        let writes = plan_evidence(change, &stored, entry)?;
        let row = evidence_to_row(&writes.evidence);
        match change {
            EvidenceChange::Add(_) => {
                evidence::Entity::insert(row)
                    .exec_without_returning(&txn)
                    .await
                    .map_err(db)?;
            }
            EvidenceChange::Retract(_) | EvidenceChange::Restore(_) => {
                evidence::Entity::update(row).exec(&txn).await.map_err(db)?;
            }
        }
        // A plain UPDATE of the locked row: an upsert would fire the
        // relationship insert trigger, which share-locks the ends after the
        // relationship, against the entities-first order of every other writer.
        match &writes.fact {
            Some(FactState::Entity(e)) => {
                entity::Entity::update(entity_to_row(e))
                    .exec(&txn)
                    .await
                    .map_err(db)?;
            }
            Some(FactState::Relationship(r)) => {
                let mut row = relationship_to_row(r);
                row.cascade_of = sea_orm::ActiveValue::NotSet;
                relationship::Entity::update(row)
                    .exec(&txn)
                    .await
                    .map_err(db)?;
            }
            None => {}
        }
        let completion = keyed.map(|(request, respond)| Completion {
            request: request.clone(),
            response: respond(&writes),
        });
        changes::commit_write(
            txn,
            self.deferred.as_deref(),
            changes::Ending {
                completion: completion.as_ref().map(|c| (c, entry.at)),
                ..changes::Ending::logs(&writes.audit, &writes.changes)
            },
        )
        .await?;
        Ok(writes)
    }

    async fn get(&self, id: EvidenceId) -> Result<Option<Evidence>, RepoError> {
        let row = evidence::Entity::find_by_id(id.as_uuid())
            .filter(evidence::Column::Stated.eq(false))
            .one(&self.db)
            .await
            .map_err(db)?;
        match row {
            Some(row) => Ok(Some(evidence_from_row(row)?)),
            None => stated_record(&self.db, id).await,
        }
    }

    async fn list(
        &self,
        f: &EvidenceFilter,
        page: PageRequest,
    ) -> Result<Page<Evidence>, RepoError> {
        use evidence::Column as V;
        // Stored records are added ones (ADR 46).
        let mut cond = Condition::all().add(V::Stated.eq(false));
        if let Some(after) = page.after {
            cond = cond.add(V::Id.gt(after.last_id()));
        }
        if let Some(fact) = f.fact {
            cond = cond.add(fact_column(fact).eq(fact.id()));
        }
        if let Some(source) = &f.source {
            cond = cond.add(V::Source.eq(source.as_str()));
        }
        if let Some(source_type) = &f.source_type {
            cond = cond.add(V::SourceType.eq(source_type.as_str()));
        }
        if !f.include_retracted {
            cond = cond.add(V::RetractedAt.is_null());
        }
        let wanted = u64::from(page.limit.get()) + 1;
        let rows = evidence::Entity::find()
            .filter(cond)
            .order_by_asc(V::Id)
            .limit(wanted)
            .all(&self.db)
            .await
            .map_err(db)?;
        let mut items = rows
            .into_iter()
            .map(evidence_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        // The stated records, merged in: a page of each, then the first
        // of them all.
        let after = page.after.map(|c| c.last_id());
        items.extend(stated_records(&self.db, f, after, wanted).await?);
        items.sort_by_key(|e| e.id.as_uuid());
        items.truncate(usize::try_from(wanted).unwrap_or(usize::MAX));
        Ok(Page::from_overfetch(items, page.limit, |e| e.id.as_uuid()))
    }
}
