//! kg's storage path against the same SQL sent straight to the database.
//!
//! For each operation, kg's repository runs while a metric callback records
//! the statements it sends; the baseline then sends exactly those
//! statements, with the same values (a fresh id for each insert), through
//! the same pool, in the same kind of transaction, and reads the rows back
//! without turning them into domain values. The difference is what kg adds:
//! building the query, validating and converting rows, the transaction
//! bookkeeping.
//!
//! SQLite by default; `KG_TEST_DATABASE=postgres` runs on a fresh database
//! of the PostgreSQL at `KG_TEST_POSTGRES_URL`. `KG_BENCH_ITERATIONS` sets
//! the runs per operation (default 2,000).
//!
//! ```sh
//! cargo bench -p kg-persistence --bench store
//! ```

#![allow(
    clippy::print_stdout,
    reason = "a benchmark reports on standard output"
)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use kg_application::{
    AuditAction, AuditEntry, AuditTarget, EntityFilter, EntityRepository, Limit, PageRequest,
    UserRepository,
};
use kg_domain::{
    Email, Entity, EntityData, EntityName, Metadata, PasswordHash, Role, TypeName, User, UserId,
};
use kg_persistence::testing::TestDatabase;
use kg_persistence::{DatabaseSettings, SeaOrmEntityRepository, SeaOrmUserRepository, connect};
use sea_orm::{
    ConnectionTrait, DatabaseBackend, DatabaseConnection, SqliteTransactionMode, Statement,
    TransactionOptions, TransactionTrait, Value,
};
use serde_json::json;
use uuid::Uuid;

/// Records every statement a connection sends while `on` is set.
#[derive(Clone, Default)]
struct Recorder {
    on: Arc<Mutex<bool>>,
    seen: Arc<Mutex<Vec<Statement>>>,
}

impl Recorder {
    fn attach(&self, db: &mut DatabaseConnection) {
        let me = self.clone();
        db.set_metric_callback(move |info| {
            if me.on.lock().map(|on| *on).unwrap_or(false)
                && let Ok(mut seen) = me.seen.lock()
            {
                seen.push(info.statement.clone());
            }
        });
    }

    fn start(&self) {
        if let (Ok(mut on), Ok(mut seen)) = (self.on.lock(), self.seen.lock()) {
            *on = true;
            seen.clear();
        }
    }

    fn stop(&self) -> Vec<Statement> {
        if let Ok(mut on) = self.on.lock() {
            *on = false;
        }
        self.seen
            .lock()
            .map(|mut seen| std::mem::take(&mut *seen))
            .unwrap_or_default()
    }
}

/// `statements` with every occurrence of `old` (as a UUID, a string or
/// inside JSON) replaced by `new`.
fn rebind(statements: &[Statement], old: Uuid, new: Uuid) -> anyhow::Result<Vec<Statement>> {
    let (old_text, new_text) = (old.to_string(), new.to_string());
    let swap = |v: &Value| -> anyhow::Result<Value> {
        Ok(match v {
            Value::Uuid(Some(u)) if *u == old => Value::Uuid(Some(new)),
            Value::String(Some(s)) if s.contains(&old_text) => {
                Value::String(Some(s.replace(&old_text, &new_text)))
            }
            Value::Json(Some(j)) if j.to_string().contains(&old_text) => {
                Value::Json(Some(Box::new(serde_json::from_str(
                    &j.to_string().replace(&old_text, &new_text),
                )?)))
            }
            other => other.clone(),
        })
    };
    statements
        .iter()
        .map(|s| {
            let values = match &s.values {
                Some(values) => Some(sea_orm::Values(
                    values.0.iter().map(swap).collect::<anyhow::Result<_>>()?,
                )),
                None => None,
            };
            Ok(Statement {
                sql: s.sql.clone(),
                values,
                db_backend: s.db_backend,
            })
        })
        .collect()
}

/// Sends `statements` in one write transaction, as kg's repositories open it.
async fn replay_write(db: &DatabaseConnection, statements: Vec<Statement>) -> anyhow::Result<()> {
    let options = TransactionOptions {
        sqlite_transaction_mode: (db.get_database_backend() == DatabaseBackend::Sqlite)
            .then_some(SqliteTransactionMode::Immediate),
        ..TransactionOptions::default()
    };
    let txn = db.begin_with_options(options).await?;
    for statement in statements {
        txn.execute_raw(statement).await?;
    }
    txn.commit().await?;
    Ok(())
}

/// Sends `statement` and reads every row.
async fn replay_read(db: &DatabaseConnection, statement: Statement) -> anyhow::Result<usize> {
    Ok(db.query_all_raw(statement).await?.len())
}

fn entity(i: usize, actor: UserId) -> anyhow::Result<Entity> {
    let data = EntityData {
        kind: TypeName::parse(if i.is_multiple_of(2) {
            "Person"
        } else {
            "Place"
        })?,
        name: EntityName::parse(format!("entity {i}"))?,
        external_id: None,
        attribution: kg_domain::Attribution {
            confidence: None,
            source_ref: Some(kg_domain::SourceRef::parse("https://example.org/bench")?),
            source_type: None,
            metadata: Metadata::new(json!({ "i": i, "tags": ["bench"] }))?,
        },
    };
    Ok(Entity::create(data, actor, Utc::now()))
}

fn created(actor: UserId, e: &Entity) -> AuditEntry {
    AuditEntry {
        actor,
        action: AuditAction::Create,
        target: AuditTarget::Entity(e.id),
        request_id: None,
        at: Utc::now(),
        changes: json!({ "name": { "after": e.data.name.as_str() } }),
    }
}

/// Latencies of one operation, in microseconds.
struct Timings(Vec<Duration>);

impl Timings {
    fn micros(&self, quantile: f64) -> f64 {
        let mut sorted = self.0.clone();
        sorted.sort_unstable();
        let at = ((sorted.len().saturating_sub(1)) as f64 * quantile).round() as usize;
        sorted.get(at).map_or(0.0, |d| d.as_secs_f64() * 1e6)
    }

    fn mean_micros(&self) -> f64 {
        let total: Duration = self.0.iter().sum();
        total.as_secs_f64() * 1e6 / self.0.len().max(1) as f64
    }
}

fn report(name: &str, kg: &Timings, raw: &Timings) {
    let (k, r) = (kg.micros(0.5), raw.micros(0.5));
    println!(
        "| {name} | {k:.0} | {:.0} | {:.0} | {r:.0} | {:.0} | {:.0} | {:+.0}% | {:.0} |",
        kg.micros(0.99),
        kg.mean_micros(),
        raw.micros(0.99),
        raw.mean_micros(),
        (k / r - 1.0) * 100.0,
        1e6 / kg.mean_micros(),
    );
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let iterations: usize = std::env::var("KG_BENCH_ITERATIONS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(2_000);
    let database = TestDatabase::migrated().await?;
    let mut db = connect(&DatabaseSettings::new(database.url.clone())).await?;
    let recorder = Recorder::default();
    recorder.attach(&mut db);
    let repo = SeaOrmEntityRepository::new(db.clone());

    let actor = UserId::generate();
    let now = Utc::now();
    SeaOrmUserRepository::new(db.clone())
        .create(
            &User {
                id: actor,
                email: Email::parse("bench@example.org")?,
                role: Role::Editor,
                is_active: true,
                password_hash: PasswordHash::from_phc(
                    "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2g".into(),
                ),
                created_at: now,
                updated_at: now,
                version: kg_domain::Version::FIRST,
            },
            None,
        )
        .await?;

    // One create, recorded: the statements the baseline replays.
    let template = entity(0, actor)?;
    recorder.start();
    repo.create(&template, &created(actor, &template), None)
        .await?;
    let create_sql = recorder.stop();
    anyhow::ensure!(
        !create_sql.is_empty(),
        "no statement of the create was recorded"
    );

    // Creates, alternating kg and the baseline so neither gets a warmer cache.
    let (mut kg_create, mut raw_create) = (Vec::new(), Vec::new());
    let mut ids = Vec::new();
    for i in 1..=iterations {
        let e = entity(i, actor)?;
        let audit = created(actor, &e);
        let started = Instant::now();
        repo.create(&e, &audit, None).await?;
        kg_create.push(started.elapsed());
        ids.push(e.id);

        let statements = rebind(&create_sql, template.id.as_uuid(), Uuid::now_v7())?;
        let started = Instant::now();
        replay_write(&db, statements).await?;
        raw_create.push(started.elapsed());
    }

    // The statistics autovacuum (or SQLite's optimizer) would have by now:
    // without them, PostgreSQL plans the filtered page on a table it still
    // believes empty, and the page costs five times as much.
    db.execute_unprepared("ANALYZE").await?;

    // Reads by id.
    recorder.start();
    repo.get(template.id).await?;
    let get_sql = recorder.stop();
    anyhow::ensure!(!get_sql.is_empty(), "no statement of the get was recorded");
    let (mut kg_get, mut raw_get) = (Vec::new(), Vec::new());
    // Each read goes first on every other run, so neither side always
    // finds the row just fetched.
    for (i, id) in ids.iter().enumerate() {
        let statements = rebind(&get_sql, template.id.as_uuid(), id.as_uuid())?;
        for kg_first in [i % 2 == 0, i % 2 != 0] {
            let started = Instant::now();
            if kg_first {
                let found = repo.get(*id).await?;
                kg_get.push(started.elapsed());
                anyhow::ensure!(found.is_some(), "entity {i} is missing");
            } else {
                for statement in statements.iter().cloned() {
                    anyhow::ensure!(replay_read(&db, statement).await? == 1);
                }
                raw_get.push(started.elapsed());
            }
        }
    }

    // A filtered page of 50.
    let filter = EntityFilter {
        kind: Some(TypeName::parse("Person")?),
        ..EntityFilter::default()
    };
    let page = || PageRequest {
        limit: Limit::default(),
        after: None,
    };
    recorder.start();
    repo.list(&filter, page()).await?;
    let list_sql = recorder.stop();
    anyhow::ensure!(
        !list_sql.is_empty(),
        "no statement of the list was recorded"
    );
    let (mut kg_list, mut raw_list) = (Vec::new(), Vec::new());
    for _ in 0..iterations {
        let started = Instant::now();
        let found = repo.list(&filter, page()).await?;
        kg_list.push(started.elapsed());
        anyhow::ensure!(found.items.len() == 50);

        let started = Instant::now();
        let mut rows = 0;
        for statement in list_sql.iter().cloned() {
            rows += replay_read(&db, statement).await?;
        }
        raw_list.push(started.elapsed());
        anyhow::ensure!(
            rows == 51,
            "the page's SQL read {rows} rows, not 50 and one more"
        );
    }

    println!(
        "kg-persistence on {} ({iterations} runs each; times in µs; overhead: kg's median over the same SQL's)\n",
        TestDatabase::backend_name()
    );
    println!(
        "| operation | kg p50 | kg p99 | kg mean | same SQL p50 | same SQL p99 | same SQL mean | overhead | kg ops/s |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    report(
        &format!(
            "create entity (+ audit, change feed; {} statements)",
            create_sql.len()
        ),
        &Timings(kg_create),
        &Timings(raw_create),
    );
    report("get entity by id", &Timings(kg_get), &Timings(raw_get));
    report(
        "list 50 entities of a type",
        &Timings(kg_list),
        &Timings(raw_list),
    );

    db.close().await?;
    database.remove().await?;
    Ok(())
}
