//! The change feed: appending without a queue, positions given after
//! commit, and reading it back in commit order.

use async_trait::async_trait;
use kg_application::{
    AuditAction, AuditEntry, AuditTarget, Change, ChangeFeed, ChangePage, Completion, Conflict,
    FeedRequest, NewChange, Position, RepoError, StoredJson,
};
use kg_domain::{EntityId, EvidenceId, RelationshipId, Version};
use sea_orm::sea_query::{Alias, CommonTableExpression, InsertStatement, WithClause};
use sea_orm::{
    ActiveValue::NotSet, ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseConnection,
    DatabaseTransaction, DbErr, EntityTrait, FromQueryResult, IsolationLevel, QueryFilter,
    QueryOrder, QuerySelect, QueryTrait as _, Set, Statement, TransactionOptions, TransactionTrait,
};

use crate::error::{CorruptRow, db, unique_as};
use crate::json_text::JsonText;
use crate::models::change;
use crate::sql::{Executor, begin_write};
use crate::{audit, idempotency};

/// The advisory lock that PostgreSQL's sequencers take, so that one at a
/// time gives positions. Writers never take it.
const FEED_LOCK: i64 = 0x6b67_5f63_6861_6e67;

impl SeaOrmChangeFeed {
    /// The key of the advisory lock sequencers take: what an operator sees
    /// in `pg_locks` while one runs.
    pub const LOCK: i64 = FEED_LOCK;
}

/// How many rows one sequencing statement positions.
const POSITIONS_PER_STATEMENT: u64 = 10_000;

/// The statements that append `changes` to the feed, [`LOG_ROWS_PER_STATEMENT`] rows each. The
/// rows get no position here: on PostgreSQL a sequencer gives them one
/// after they are committed ([`SeaOrmChangeFeed`]), so writers commit
/// concurrently; SQLite's single writer commits in the order of its
/// transactions, so there the transaction positions its own rows.
fn append_statements(changes: &[NewChange]) -> Vec<InsertStatement> {
    changes
        .chunks(crate::rows::LOG_ROWS_PER_STATEMENT)
        .map(|chunk| {
            change::Entity::insert_many(chunk.iter().map(|c| change::ActiveModel {
                seq: NotSet,
                occurred_at: Set(c.at),
                resource_type: Set(c.resource.kind().to_owned()),
                resource_id: Set(c.resource.id()),
                action: Set(c.action.as_str().to_owned()),
                version: Set(c.version.get()),
                data: Set(c.data.clone()),
                position: NotSet,
            }))
            .into_query()
        })
        .collect()
}

/// The most bound parameters one combined statement may carry (PostgreSQL
/// allows 65,535).
const PARAMETERS_PER_STATEMENT: usize = 60_000;

/// What a write stores, in order: its effect (if it is one statement,
/// with the conflict a unique violation means), the keyed request's
/// response, the audit rows and the feed rows.
pub(crate) struct Ending<'a> {
    /// The write's own row statement, when it has one to run here.
    pub effect: Option<(InsertStatement, Conflict)>,
    /// The keyed request's response, stored as of the given time.
    pub completion: Option<(&'a Completion, chrono::DateTime<chrono::Utc>)>,
    /// The audit rows.
    pub entries: &'a [AuditEntry],
    /// The feed rows.
    pub changes: &'a [NewChange],
}

/// An [`Ending`]'s statements, in order, and the conflict a unique
/// violation of its effect means.
struct Statements {
    list: Vec<InsertStatement>,
    conflict: Option<Conflict>,
    /// Whether each table gets at most one insert, so that rows keep their
    /// order whatever order PostgreSQL runs CTEs in.
    one_per_table: bool,
}

impl Statements {
    fn map(&self) -> impl Fn(DbErr) -> RepoError + Copy + use<> {
        let conflict = self.conflict;
        move |e: DbErr| match conflict {
            Some(c) => unique_as(c)(e),
            None => db(e),
        }
    }

    /// On PostgreSQL, the statements as one: the first ones as
    /// data-modifying CTEs, which PostgreSQL runs atomically with the last.
    /// The statements back when there is nothing to combine, when a table
    /// would get several inserts (PostgreSQL runs CTEs in no set order, so
    /// their rows could draw `seq` out of order), or when it would bind too
    /// many parameters.
    fn combined(self, backend: DatabaseBackend) -> Result<Statement, Self> {
        if backend != DatabaseBackend::Postgres || self.list.len() < 2 || !self.one_per_table {
            return Err(self);
        }
        let mut with = WithClause::new();
        for (n, statement) in self.list[..self.list.len() - 1].iter().enumerate() {
            with.cte(
                CommonTableExpression::new()
                    .query(statement.clone())
                    .table_name(Alias::new(format!("w{n}")))
                    .to_owned(),
            );
        }
        let last = self.list[self.list.len() - 1].clone();
        let combined = backend.build(&with.query(last));
        if combined.values.as_ref().map_or(0, |v| v.0.len()) <= PARAMETERS_PER_STATEMENT {
            Ok(combined)
        } else {
            Err(self)
        }
    }

    /// Runs the statements one after another, inside the caller's
    /// transaction.
    async fn run_each(self, conn: &impl ConnectionTrait) -> Result<(), RepoError> {
        let map = self.map();
        let mut list = self.list.into_iter();
        if self.conflict.is_some()
            && let Some(effect) = list.next()
        {
            conn.execute(&effect).await.map_err(map)?;
        }
        for statement in list {
            conn.execute(&statement).await.map_err(db)?;
        }
        Ok(())
    }
}

impl<'a> Ending<'a> {
    /// A write's audit and feed rows, with no effect or response to store.
    pub(crate) const fn logs(entries: &'a [AuditEntry], changes: &'a [NewChange]) -> Self {
        Self {
            effect: None,
            completion: None,
            entries,
            changes,
        }
    }

    /// The effect and the response, and (unless `held_back`) the audit and
    /// feed rows, as statements in that order.
    fn statements(self, held_back: bool) -> Statements {
        let conflict = self.effect.as_ref().map(|(_, c)| *c);
        let mut list: Vec<InsertStatement> = Vec::new();
        list.extend(self.effect.map(|(s, _)| s));
        list.extend(
            self.completion
                .map(|(c, at)| idempotency::completion_statement(c, at)),
        );
        let mut one_per_table = true;
        if !held_back {
            let audit = audit::append_statements(self.entries);
            let feed = append_statements(self.changes);
            one_per_table = audit.len() <= 1 && feed.len() <= 1;
            list.extend(audit);
            list.extend(feed);
        }
        Statements {
            list,
            conflict,
            one_per_table,
        }
    }

    /// Runs the effect and the response, and (unless `held_back`) the audit
    /// and feed rows, inside the caller's transaction: on PostgreSQL as one
    /// statement where [`Statements::combined`] allows, one round trip;
    /// otherwise one after another.
    async fn run(self, conn: &impl ConnectionTrait, held_back: bool) -> Result<(), RepoError> {
        let positions = !held_back && !self.changes.is_empty();
        let backend = conn.get_database_backend();
        let statements = self.statements(held_back);
        let map = statements.map();
        match statements.combined(backend) {
            Ok(combined) => {
                conn.execute_raw(combined).await.map_err(map)?;
            }
            Err(statements) => statements.run_each(conn).await?,
        }
        if positions && backend == DatabaseBackend::Sqlite {
            while assign_positions(conn).await? == POSITIONS_PER_STATEMENT {}
        }
        Ok(())
    }
}

/// Stores the audit rows and change-feed rows of one write, inside its
/// transaction.
async fn record(
    conn: &impl ConnectionTrait,
    entries: &[AuditEntry],
    changes: &[NewChange],
) -> Result<(), RepoError> {
    Ending::logs(entries, changes).run(conn, false).await
}

/// Gives up to [`POSITIONS_PER_STATEMENT`] rows without a position the next
/// positions, in the order they were appended (`seq`), and returns how many
/// it gave. The caller makes sure no other sequencer runs at the same time.
async fn assign_positions(conn: &impl ConnectionTrait) -> Result<u64, RepoError> {
    let sql = format!(
        "UPDATE changes SET position = top.base + numbered.n \
         FROM (SELECT seq, ROW_NUMBER() OVER (ORDER BY seq) AS n \
               FROM (SELECT seq FROM changes WHERE position IS NULL \
                     ORDER BY seq LIMIT {POSITIONS_PER_STATEMENT}) AS pending) AS numbered, \
              (SELECT COALESCE(MAX(position), 0) AS base FROM changes) AS top \
         WHERE changes.seq = numbered.seq"
    );
    let done = conn
        .execute_raw(Statement::from_string(conn.get_database_backend(), sql))
        .await
        .map_err(db)?;
    Ok(done.rows_affected())
}

/// The audit and change-feed rows of a unit of work's writes, held back
/// until the work commits and then written together, as one write's.
#[derive(Debug, Default)]
pub(crate) struct Deferred(std::sync::Mutex<(Vec<AuditEntry>, Vec<NewChange>)>);

impl Deferred {
    fn push(&self, entries: &[AuditEntry], changes: &[NewChange]) {
        let mut held = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        held.0.extend_from_slice(entries);
        held.1.extend_from_slice(changes);
    }

    /// Records what the work's writes held back, as the last thing before
    /// the work commits.
    pub(crate) async fn record(&self, conn: &impl ConnectionTrait) -> Result<(), RepoError> {
        let (entries, changes) = std::mem::take(
            &mut *self
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        record(conn, &entries, &changes).await
    }
}

/// The end of every graph write in `txn`: what [`Ending`] holds, and the
/// commit. Inside a unit of work (`deferred`) the audit and feed rows are
/// held back for the work's commit instead, once this write's savepoint is
/// released.
pub(crate) async fn commit_write(
    txn: DatabaseTransaction,
    deferred: Option<&Deferred>,
    ending: Ending<'_>,
) -> Result<(), RepoError> {
    let (entries, changes) = (ending.entries, ending.changes);
    ending.run(&txn, deferred.is_some()).await?;
    txn.commit().await.map_err(db)?;
    if let Some(deferred) = deferred {
        deferred.push(entries, changes);
    }
    Ok(())
}

/// A write whose effect is one statement: on PostgreSQL, over a pool and
/// outside a unit of work, the effect and its ending as one statement in a
/// transaction of its own (no `BEGIN` or `COMMIT` round trip); otherwise in
/// a write transaction (a savepoint, on a transaction) ended by
/// [`commit_write`].
pub(crate) async fn write_one<C: Executor>(
    conn: &C,
    deferred: Option<&Deferred>,
    ending: Ending<'_>,
) -> Result<(), RepoError> {
    let backend = conn.get_database_backend();
    if backend == DatabaseBackend::Postgres && deferred.is_none() && !conn.in_transaction() {
        let statements = ending.statements(false);
        let map = statements.map();
        return match statements.combined(backend) {
            Ok(combined) => conn.execute_raw(combined).await.map(drop).map_err(map),
            // Too large for one statement: one after another, in a transaction.
            Err(statements) => {
                let txn = begin_write(conn).await?;
                statements.run_each(&txn).await?;
                txn.commit().await.map_err(db)
            }
        };
    }
    let txn = begin_write(conn).await?;
    commit_write(txn, deferred, ending).await
}

/// A feed row as it is read: its document kept as text.
#[derive(Debug, FromQueryResult)]
struct ChangeRow {
    seq: i64,
    occurred_at: chrono::DateTime<chrono::Utc>,
    resource_type: String,
    resource_id: uuid::Uuid,
    action: String,
    version: i64,
    data: Option<JsonText>,
    position: Option<i64>,
}

fn from_row(m: ChangeRow) -> Result<Change, CorruptRow> {
    let corrupt = |reason: &str| CorruptRow {
        table: "changes",
        id: m.resource_id,
        reason: reason.to_owned(),
    };
    let resource = match m.resource_type.as_str() {
        "entity" => AuditTarget::Entity(EntityId::from_uuid(m.resource_id)),
        "relationship" => AuditTarget::Relationship(RelationshipId::from_uuid(m.resource_id)),
        "evidence" => AuditTarget::Evidence(EvidenceId::from_uuid(m.resource_id)),
        _ => return Err(corrupt("resource_type is unknown")),
    };
    let action = AuditAction::parse(&m.action).ok_or_else(|| corrupt("action is unknown"))?;
    let version =
        Version::from_stored(m.version).ok_or_else(|| corrupt("version must be at least 1"))?;
    let seq = m.position.ok_or_else(|| corrupt("position is unset"))?;
    Ok(Change {
        seq,
        at: m.occurred_at,
        resource,
        action,
        version,
        data: m.data.map(|d| StoredJson::new(d.0)),
    })
}

/// Which order a [`SeaOrmChangeFeed`] reads in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Order {
    /// Commit order: positions given after commit.
    Commit,
    /// The order rows were appended in, which is not commit order: a
    /// transaction that appended earlier can commit later, behind a reader
    /// that has moved on. Only for the test that shows the feed's guarantee
    /// rests on positions.
    #[cfg(feature = "testing")]
    Append,
}

/// The change feed in the `changes` table.
///
/// A read returns positioned rows; when its page would be short it first
/// positions a batch of committed rows that have none yet (on PostgreSQL;
/// SQLite's writers position their own rows). Positions are
/// given under a lock only sequencers take, in one statement that sees
/// every row committed before it, and each sequencer's positions follow the
/// previous one's. So a row committed after a reader has read position n
/// gets a position above n: a consumer that resumes after the last position
/// it applied never skips a change, and two changes of one resource (whose
/// second writer waited for the first to commit) arrive in order.
#[derive(Debug, Clone)]
pub struct SeaOrmChangeFeed {
    db: DatabaseConnection,
    order: Order,
}

impl SeaOrmChangeFeed {
    /// A feed over `db`.
    #[must_use]
    pub const fn new(db: DatabaseConnection) -> Self {
        Self {
            db,
            order: Order::Commit,
        }
    }

    /// A feed that reads rows in the order they were appended, without
    /// positions: the broken ordering a feed test must catch.
    #[cfg(feature = "testing")]
    #[must_use]
    pub const fn in_append_order(db: DatabaseConnection) -> Self {
        Self {
            db,
            order: Order::Append,
        }
    }

    /// Positions up to [`POSITIONS_PER_STATEMENT`] committed rows without
    /// one (PostgreSQL), unless another sequencer is at it: then this one
    /// does not wait, since the other is already making progress. Returns
    /// whether it gave any position.
    async fn sequence(&self) -> Result<bool, RepoError> {
        if self.db.get_database_backend() != DatabaseBackend::Postgres {
            return Ok(false);
        }
        let pending = change::Entity::find()
            .filter(change::Column::Position.is_null())
            .limit(1)
            .one(&self.db)
            .await
            .map_err(db)?;
        if pending.is_none() {
            return Ok(false);
        }
        // Read committed: the UPDATE's snapshot must be taken after the
        // lock is granted, to see every earlier sequencer's positions.
        let txn = self
            .db
            .begin_with_options(TransactionOptions {
                isolation_level: Some(IsolationLevel::ReadCommitted),
                ..TransactionOptions::default()
            })
            .await
            .map_err(db)?;
        let locked = txn
            .query_one_raw(Statement::from_sql_and_values(
                DatabaseBackend::Postgres,
                "SELECT pg_try_advisory_xact_lock($1) AS locked",
                [FEED_LOCK.into()],
            ))
            .await
            .map_err(db)?
            .ok_or_else(|| RepoError::Other("the advisory lock query returned no row".into()))?
            .try_get::<bool>("", "locked")
            .map_err(db)?;
        let given = if locked {
            assign_positions(&txn).await?
        } else {
            0
        };
        txn.commit().await.map_err(db)?;
        Ok(given > 0)
    }

    /// The positioned changes after `after`, at most `limit`.
    async fn positioned(&self, after: i64, limit: u64) -> Result<Vec<ChangeRow>, RepoError> {
        change::Entity::find()
            .filter(change::Column::Position.gt(after))
            .order_by_asc(change::Column::Position)
            .limit(limit)
            .into_model::<ChangeRow>()
            .all(&self.db)
            .await
            .map_err(db)
    }
}

#[async_trait]
impl ChangeFeed for SeaOrmChangeFeed {
    async fn read(&self, request: FeedRequest) -> Result<ChangePage, RepoError> {
        let limit = u64::from(request.limit.get());
        let rows = match self.order {
            // A position, once given, is final, and every later one is
            // larger: a page of positioned rows is always safe to return.
            // Only a short page needs the rows not yet positioned, so only
            // then does the reader sequence (a batch), and read again.
            Order::Commit => {
                let rows = self.positioned(request.after.get(), limit).await?;
                if u64::try_from(rows.len()).unwrap_or(u64::MAX) < limit && self.sequence().await? {
                    self.positioned(request.after.get(), limit).await?
                } else {
                    rows
                }
            }
            #[cfg(feature = "testing")]
            Order::Append => change::Entity::find()
                .filter(change::Column::Seq.gt(request.after.get()))
                .order_by_asc(change::Column::Seq)
                .limit(limit)
                .into_model::<ChangeRow>()
                .all(&self.db)
                .await
                .map(|rows: Vec<ChangeRow>| {
                    rows.into_iter()
                        .map(|row| ChangeRow {
                            position: Some(row.seq),
                            ..row
                        })
                        .collect()
                })
                .map_err(db)?,
        };
        let items = rows
            .into_iter()
            .map(from_row)
            .collect::<Result<Vec<_>, _>>()?;
        let next = items
            .last()
            .map_or(request.after, |c| Position::after(c.seq));
        Ok(ChangePage { items, next })
    }
}
