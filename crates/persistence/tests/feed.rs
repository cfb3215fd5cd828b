//! The change feed's guarantee against interleaved commits: a consumer that
//! resumes after the last position it applied never skips a change, however
//! writers' transactions interleave. And the control: a feed that reads in
//! append order instead fails the same check.

use chrono::Utc;
use kg_application::{
    AuditAction, AuditEntry, AuditTarget, ChangeFeed, EntityRepository, FeedRequest, Limit,
    Position, UserRepository,
};
use kg_domain::{
    Email, Entity, EntityData, EntityName, Metadata, PasswordHash, Role, TypeName, User, UserId,
};
use kg_persistence::testing::TestDatabase;
use kg_persistence::{
    DatabaseConnection, DatabaseSettings, SeaOrmChangeFeed, SeaOrmEntityRepository,
    SeaOrmUserRepository, connect,
};
use sea_orm::{ConnectionTrait, DatabaseBackend, Statement, TransactionTrait};
use serde_json::json;

async fn user(db: &DatabaseConnection) -> anyhow::Result<UserId> {
    let id = UserId::generate();
    let now = Utc::now();
    SeaOrmUserRepository::new(db.clone())
        .create(
            &User {
                id,
                email: Email::parse(format!("{id}@example.org"))?,
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
    Ok(id)
}

async fn create_entity(db: &DatabaseConnection, actor: UserId, name: &str) -> anyhow::Result<()> {
    let data = EntityData {
        kind: TypeName::parse("Doc")?,
        name: EntityName::parse(name)?,
        external_id: None,
        attribution: kg_domain::Attribution {
            confidence: None,
            source_ref: None,
            source_type: None,
            metadata: Metadata::new(json!({}))?,
        },
    };
    let e = Entity::create(data, actor, Utc::now());
    let entry = AuditEntry {
        actor,
        action: AuditAction::Create,
        target: AuditTarget::Entity(e.id),
        request_id: None,
        at: Utc::now(),
        changes: json!({}),
    };
    SeaOrmEntityRepository::new(db.clone())
        .create(&e, &entry, None)
        .await?;
    Ok(())
}

/// Reads everything after `after`; returns the resource ids seen and the
/// next position.
async fn follow(
    feed: &SeaOrmChangeFeed,
    after: Position,
) -> anyhow::Result<(Vec<uuid::Uuid>, Position)> {
    let page = feed
        .read(FeedRequest {
            after,
            limit: Limit::new(100)?,
        })
        .await?;
    Ok((
        page.items.iter().map(|c| c.resource.id()).collect(),
        page.next,
    ))
}

/// A writer whose transaction appended its change first and commits last,
/// around a writer that commits in between, while a consumer follows the
/// feed. Returns how many of the three changes the consumer saw.
async fn changes_seen_around_a_late_commit(
    feed: impl Fn(DatabaseConnection) -> SeaOrmChangeFeed,
) -> anyhow::Result<usize> {
    let database = TestDatabase::migrated().await?;
    let db = connect(&DatabaseSettings::new(database.url.clone())).await?;
    let actor = user(&db).await?;
    let feed = feed(db.clone());
    create_entity(&db, actor, "before").await?;

    // The slow writer appends its change row and holds its transaction open.
    let slow = db.begin().await?;
    slow.execute_raw(Statement::from_string(
        DatabaseBackend::Postgres,
        format!(
            "INSERT INTO changes (occurred_at, resource_type, resource_id, action, version, data) \
             VALUES (now(), 'entity', '{}', 'delete', 2, NULL)",
            uuid::Uuid::new_v4()
        ),
    ))
    .await?;
    // A fast writer appends after it and commits first.
    create_entity(&db, actor, "fast").await?;

    let (mut seen, cursor) = follow(&feed, Position::START).await?;
    slow.commit().await?;
    let (rest, _) = follow(&feed, cursor).await?;
    seen.extend(rest);
    let total = seen.len();
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen.len(), total, "no change was delivered twice");
    db.close().await?;
    database.remove().await?;
    Ok(total)
}

#[tokio::test]
async fn a_change_committed_behind_a_consumer_is_not_skipped() -> anyhow::Result<()> {
    // SQLite has one writer at a time: a second cannot commit while the
    // first is open, so the interleaving exists only on PostgreSQL.
    if TestDatabase::backend_name() != "postgres" {
        return Ok(());
    }
    assert_eq!(
        changes_seen_around_a_late_commit(SeaOrmChangeFeed::new).await?,
        3,
        "the consumer saw every change"
    );
    // The control: read in append order, the consumer moves past the slow
    // writer's row before it commits, and never sees it.
    assert_eq!(
        changes_seen_around_a_late_commit(SeaOrmChangeFeed::in_append_order).await?,
        2,
        "without positions, the check above catches the skipped change"
    );
    Ok(())
}

#[tokio::test]
async fn a_change_row_takes_one_position_and_nothing_else_changes() -> anyhow::Result<()> {
    let database = TestDatabase::migrated().await?;
    let db = connect(&DatabaseSettings::new(database.url.clone())).await?;
    let actor = user(&db).await?;
    create_entity(&db, actor, "one").await?;
    let feed = SeaOrmChangeFeed::new(db.clone());
    let (seen, _) = follow(&feed, Position::START).await?;
    assert_eq!(seen.len(), 1, "the change has a position");
    let backend = db.get_database_backend();
    for forged in [
        "UPDATE changes SET position = 7",
        "UPDATE changes SET position = NULL",
        "UPDATE changes SET action = 'update'",
        "DELETE FROM changes",
    ] {
        let result = db
            .execute_raw(Statement::from_string(backend, forged))
            .await;
        assert!(result.is_err(), "{forged} was refused");
    }
    // A row without a position may get one, but only that.
    let id = uuid::Uuid::new_v4();
    let id = if backend == DatabaseBackend::Postgres {
        format!("'{id}'")
    } else {
        format!("X'{}'", id.simple())
    };
    let unpositioned = format!(
        "INSERT INTO changes (occurred_at, resource_type, resource_id, action, version, data) \
         VALUES (CURRENT_TIMESTAMP, 'entity', {id}, 'delete', 2, NULL)"
    );
    db.execute_raw(Statement::from_string(backend, unpositioned))
        .await?;
    let sneaky = "UPDATE changes SET position = 99, version = 3 WHERE position IS NULL";
    assert!(
        db.execute_raw(Statement::from_string(backend, sneaky))
            .await
            .is_err(),
        "setting the position does not let other columns change"
    );
    db.execute_raw(Statement::from_string(
        backend,
        "UPDATE changes SET position = 99 WHERE position IS NULL",
    ))
    .await?;
    db.close().await?;
    database.remove().await?;
    Ok(())
}

/// Appends `n` committed change rows without positions, in one statement,
/// as writers on PostgreSQL leave them.
async fn unpositioned(db: &DatabaseConnection, n: u32) -> anyhow::Result<()> {
    db.execute_raw(Statement::from_string(
        DatabaseBackend::Postgres,
        format!(
            "INSERT INTO changes (occurred_at, resource_type, resource_id, action, version, data) \
             SELECT now(), 'entity', gen_random_uuid(), 'create', 1, NULL FROM generate_series(1, {n})"
        ),
    ))
    .await?;
    Ok(())
}

async fn count(db: &DatabaseConnection, sql: &str) -> anyhow::Result<i64> {
    let row = db
        .query_one_raw(Statement::from_string(DatabaseBackend::Postgres, sql))
        .await?
        .ok_or_else(|| anyhow::anyhow!("no row"))?;
    Ok(row.try_get_by_index::<i64>(0)?)
}

#[tokio::test]
async fn a_read_positions_one_batch_of_a_backlog_and_never_waits_for_another_sequencer()
-> anyhow::Result<()> {
    if TestDatabase::backend_name() != "postgres" {
        return Ok(());
    }
    let database = TestDatabase::migrated().await?;
    let db = connect(&DatabaseSettings::new(database.url.clone())).await?;
    let feed = SeaOrmChangeFeed::new(db.clone());
    let pending = "SELECT count(*) FROM changes WHERE position IS NULL";

    // A backlog of 25,000 (a bulk load nobody read yet): the first read
    // answers after positioning one batch of 10,000, not all of it.
    unpositioned(&db, 25_000).await?;
    let (first, cursor) = follow(&feed, Position::START).await?;
    assert_eq!(first.len(), 100);
    assert_eq!(count(&db, pending).await?, 15_000);
    // A full page of positioned rows needs no sequencing at all.
    let (second, _) = follow(&feed, cursor).await?;
    assert_eq!(second.len(), 100);
    assert_eq!(count(&db, pending).await?, 15_000);

    // While another sequencer holds the lock, a reader at the head of the
    // feed returns what is positioned instead of queueing behind it.
    let (_, head) = {
        let mut cursor = cursor;
        loop {
            let (seen, next) = follow(&feed, cursor).await?;
            if seen.is_empty() {
                break (seen, next);
            }
            cursor = next;
        }
    };
    assert_eq!(count(&db, pending).await?, 0);
    unpositioned(&db, 3).await?;
    let other = db.begin().await?;
    other
        .execute_raw(Statement::from_string(
            DatabaseBackend::Postgres,
            format!("SELECT pg_advisory_xact_lock({})", SeaOrmChangeFeed::LOCK),
        ))
        .await?;
    // The lock is held until this read returns: a reader that waited for
    // it would never return, so a bounded wait tells the two apart.
    let (blocked, _) =
        tokio::time::timeout(std::time::Duration::from_secs(30), follow(&feed, head))
            .await
            .map_err(|_| anyhow::anyhow!("the reader waited for the other sequencer"))??;
    assert!(blocked.is_empty(), "nothing is positioned yet");
    other.rollback().await?;
    let (after, _) = follow(&feed, head).await?;
    assert_eq!(after.len(), 3, "the next read positions and returns them");
    db.close().await?;
    database.remove().await?;
    Ok(())
}
