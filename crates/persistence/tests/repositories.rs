//! The sea-orm adapter against a real database: SQLite by default,
//! PostgreSQL with `KG_TEST_DATABASE=postgres`.

use chrono::Utc;
use kg_application::{
    AuditAction, AuditEntry, AuditTarget, Conflict, EntityRepository, RelationshipRepository,
    RepoError, UserRepository,
};
use kg_domain::{
    Email, Endpoints, Entity, EntityData, EntityName, ExternalId, Metadata, PasswordHash,
    Relationship, RelationshipData, Role, TypeName, User, UserId,
};
use kg_persistence::testing::TestDatabase;
use kg_persistence::{
    DatabaseSettings, MigrationCommand, SeaOrmEntityRepository, SeaOrmRelationshipRepository,
    SeaOrmUserRepository, connect, connect_for_migrations, latest_migration, migrate,
};
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use serde_json::json;

async fn count(db: &DatabaseConnection, table: &str) -> anyhow::Result<i64> {
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            format!("SELECT COUNT(*) FROM {table}"),
        ))
        .await?
        .ok_or_else(|| anyhow::anyhow!("no row"))?;
    Ok(row.try_get_by_index::<i64>(0)?)
}

/// A batch entity of `kind` named `name`, upserted by `external_id`.
fn batch_entity(
    kind: &str,
    name: &str,
    external_id: &str,
    attribution: kg_domain::Attribution,
) -> anyhow::Result<EntityData> {
    Ok(EntityData {
        kind: TypeName::parse(kind)?,
        name: EntityName::parse(name)?,
        external_id: Some(ExternalId::parse(external_id)?),
        attribution,
    })
}

/// A batch relationship between the entities with these external ids.
fn batch_link(
    from: &str,
    to: &str,
    kind: &str,
    attribution: kg_domain::Attribution,
) -> anyhow::Result<kg_application::BatchRelationship> {
    use kg_application::EndRef;
    Ok(kg_application::BatchRelationship {
        source: EndRef::ExternalId(ExternalId::parse(from)?),
        target: EndRef::ExternalId(ExternalId::parse(to)?),
        kind: TypeName::parse(kind)?,
        attribution,
    })
}

/// A batch of these items, or its violations as an error.
fn batch(
    entities: Vec<EntityData>,
    relationships: Vec<kg_application::BatchRelationship>,
) -> anyhow::Result<kg_application::Batch> {
    kg_application::Batch::new(entities, relationships).map_err(|v| anyhow::anyhow!("{v}"))
}

fn entity(name: &str, external_id: Option<&str>, actor: UserId) -> anyhow::Result<Entity> {
    let data = EntityData {
        kind: TypeName::parse("Person")?,
        name: EntityName::parse(name)?,
        external_id: external_id.map(ExternalId::parse).transpose()?,
        attribution: kg_domain::Attribution {
            confidence: None,
            source_ref: None,
            source_type: None,
            metadata: Metadata::new(json!({ "k": name }))?,
        },
    };
    Ok(Entity::create(data, actor, Utc::now()))
}

fn audit(actor: UserId, action: AuditAction, target: AuditTarget) -> AuditEntry {
    AuditEntry {
        actor,
        action,
        target,
        request_id: Some("test".into()),
        at: Utc::now(),
        changes: json!({}),
    }
}

struct Fixture {
    database: TestDatabase,
    db: DatabaseConnection,
    actor: UserId,
}

async fn fixture() -> anyhow::Result<Fixture> {
    let database = TestDatabase::migrated().await?;
    let db = connect(&DatabaseSettings::new(database.url.clone())).await?;
    let actor = UserId::generate();
    let now = Utc::now();
    let user = User {
        id: actor,
        email: Email::parse(format!("{actor}@example.org"))?,
        role: Role::Editor,
        is_active: true,
        password_hash: PasswordHash::from_phc(
            "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2g".into(),
        ),
        created_at: now,
        updated_at: now,
        version: kg_domain::Version::FIRST,
    };
    SeaOrmUserRepository::new(db.clone())
        .create(&user, None)
        .await?;
    Ok(Fixture {
        database,
        db,
        actor,
    })
}

impl Fixture {
    async fn done(self) -> anyhow::Result<()> {
        self.db.close().await?;
        self.database.remove().await?;
        Ok(())
    }
}

#[tokio::test]
async fn a_write_whose_audit_row_fails_leaves_nothing_behind() -> anyhow::Result<()> {
    let f = fixture().await?;
    let repo = SeaOrmEntityRepository::new(f.db.clone());
    let e = entity("Ada", Some("x:1"), f.actor)?;
    // The audit row names an actor that does not exist: its foreign key fails
    // after the entity row was inserted in the same transaction.
    let ghost = UserId::generate();
    let result = repo
        .create(
            &e,
            &audit(ghost, AuditAction::Create, AuditTarget::Entity(e.id)),
            None,
        )
        .await;
    assert!(matches!(result, Err(RepoError::Other(_))), "{result:?}");
    assert_eq!(
        (
            count(&f.db, "entities").await?,
            count(&f.db, "audit_log").await?
        ),
        (0, 0)
    );
    // The external id is still free: nothing half-written holds it.
    repo.create(
        &e,
        &audit(f.actor, AuditAction::Create, AuditTarget::Entity(e.id)),
        None,
    )
    .await?;
    assert_eq!(
        (
            count(&f.db, "entities").await?,
            count(&f.db, "audit_log").await?
        ),
        (1, 1)
    );
    f.done().await
}

#[tokio::test]
async fn constraints_surface_as_domain_conflicts() -> anyhow::Result<()> {
    let f = fixture().await?;
    let entities = SeaOrmEntityRepository::new(f.db.clone());
    let relationships = SeaOrmRelationshipRepository::new(f.db.clone());
    let a = entity("A", Some("dup"), f.actor)?;
    let b = entity("B", Some("dup"), f.actor)?;
    entities
        .create(
            &a,
            &audit(f.actor, AuditAction::Create, AuditTarget::Entity(a.id)),
            None,
        )
        .await?;
    let err = entities
        .create(
            &b,
            &audit(f.actor, AuditAction::Create, AuditTarget::Entity(b.id)),
            None,
        )
        .await;
    assert!(
        matches!(err, Err(RepoError::Conflict(Conflict::ExternalIdTaken))),
        "{err:?}"
    );
    let b = entity("B", None, f.actor)?;
    entities
        .create(
            &b,
            &audit(f.actor, AuditAction::Create, AuditTarget::Entity(b.id)),
            None,
        )
        .await?;

    let rel = |kind: &str| -> anyhow::Result<Relationship> {
        let data = RelationshipData {
            ends: Endpoints::new(a.id, b.id)?,
            kind: TypeName::parse(kind)?,
            attribution: kg_domain::Attribution {
                confidence: None,
                source_ref: None,
                source_type: None,
                metadata: Metadata::empty(),
            },
        };
        Ok(Relationship::create(data, f.actor, Utc::now()))
    };
    let r1 = rel("KNOWS")?;
    relationships
        .create(
            &r1,
            &audit(
                f.actor,
                AuditAction::Create,
                AuditTarget::Relationship(r1.id),
            ),
            None,
        )
        .await?;
    let r2 = rel("KNOWS")?;
    let err = relationships
        .create(
            &r2,
            &audit(
                f.actor,
                AuditAction::Create,
                AuditTarget::Relationship(r2.id),
            ),
            None,
        )
        .await;
    assert!(
        matches!(
            err,
            Err(RepoError::Conflict(Conflict::DuplicateRelationship))
        ),
        "{err:?}"
    );

    // Deleting A cascades to r1 only, and records both deletions.
    let before = count(&f.db, "audit_log").await?;
    let cascaded = entities
        .soft_delete(
            a.id,
            &audit(f.actor, AuditAction::Delete, AuditTarget::Entity(a.id)),
        )
        .await?;
    assert_eq!(cascaded, vec![r1.id]);
    assert_eq!(count(&f.db, "audit_log").await? - before, 2);
    assert!(relationships.get(r1.id).await?.is_none());
    let r3 = rel("LIKES")?;
    let err = relationships
        .create(
            &r3,
            &audit(
                f.actor,
                AuditAction::Create,
                AuditTarget::Relationship(r3.id),
            ),
            None,
        )
        .await;
    assert!(
        matches!(err, Err(RepoError::Conflict(Conflict::SourceNotLive))),
        "{err:?}"
    );
    // The cascaded relationship remembers which deletion took it, for restores.
    let sql = "SELECT COUNT(*) FROM relationships WHERE cascade_of IS NOT NULL";
    let row =
        f.db.query_one_raw(Statement::from_string(f.db.get_database_backend(), sql))
            .await?;
    assert_eq!(
        row.map(|r| r.try_get_by_index::<i64>(0)).transpose()?,
        Some(1)
    );
    f.done().await
}

#[tokio::test]
async fn the_database_refuses_what_the_domain_refuses() -> anyhow::Result<()> {
    let f = fixture().await?;
    let backend = f.db.get_database_backend();
    let now = "2026-01-01T00:00:00Z";
    let insert = |id: &str, confidence: &str, version: i64| {
        format!(
            "INSERT INTO entities (id, kind, name, confidence, metadata, created_at, created_by, updated_at, updated_by, version) \
             VALUES ({id}, 'Person', 'x', {confidence}, '{{}}', '{now}', {actor}, '{now}', {actor}, {version})",
            actor = uuid_literal(backend, f.actor.as_uuid()),
        )
    };
    for (confidence, version) in [("1.5", 1), ("-0.1", 1), ("0.5", 0)] {
        let sql = insert(
            &uuid_literal(backend, uuid::Uuid::now_v7()),
            confidence,
            version,
        );
        assert!(
            f.db.execute_unprepared(&sql).await.is_err(),
            "{confidence} / {version} accepted"
        );
    }
    let sql = insert(&uuid_literal(backend, uuid::Uuid::now_v7()), "0.5", 1);
    f.db.execute_unprepared(&sql).await?;
    f.done().await
}

fn uuid_literal(backend: sea_orm::DatabaseBackend, id: uuid::Uuid) -> String {
    if backend == sea_orm::DatabaseBackend::Postgres {
        format!("'{id}'")
    } else {
        format!("X'{}'", id.simple())
    }
}

/// Migration 20 keeps a fact's stated recording through a round trip: its
/// `down` writes the stored copies from the facts, its `up` reads them back.
#[tokio::test]
async fn stated_recordings_survive_migration_20_down_and_up() -> anyhow::Result<()> {
    let f = fixture().await?;
    let entities = SeaOrmEntityRepository::new(f.db.clone());
    let mut a = entity("A", None, f.actor)?;
    a.data.attribution = full_attribution(3)?;
    let create = audit(f.actor, AuditAction::Create, AuditTarget::Entity(a.id));
    entities.create(&a, &create, None).await?;
    // A revision that is not its writer's (as evidence makes): the stated
    // recording stays at version 1.
    let mut revised = a.clone();
    revised.lifecycle = a.lifecycle.revised(f.actor, Utc::now());
    let update = audit(f.actor, AuditAction::Update, AuditTarget::Entity(a.id));
    entities
        .update(&revised, a.lifecycle.version, &update)
        .await?;
    let silent = entity("B", None, f.actor)?;
    entities.create(&silent, &create, None).await?;

    let stated_rows = async |db: &DatabaseConnection| -> anyhow::Result<Vec<(i64, String)>> {
        let rows = db
            .query_all_raw(Statement::from_string(
                db.get_database_backend(),
                "SELECT version, source FROM evidence WHERE stated = TRUE",
            ))
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("", "version")?, r.try_get("", "source")?)))
            .collect()
    };
    assert_eq!(stated_rows(&f.db).await?, []);
    let conn = connect_for_migrations(&DatabaseSettings::new(f.database.url.clone())).await?;
    migrate(&conn, MigrationCommand::Down(1)).await?;
    assert_eq!(
        stated_rows(&f.db).await?,
        [(1, "https://example.org/3".to_owned())],
        "one copy, of the fact that states something, at its writer's version"
    );
    assert!(migrate(&conn, MigrationCommand::Up).await?.is_current());
    conn.close().await?;
    assert_eq!(stated_rows(&f.db).await?, []);
    let read = entities
        .get(a.id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("A is gone"))?;
    assert_eq!(read.lifecycle.version, kg_domain::Version::FIRST.next());
    assert_eq!(
        (read.stated.by, read.stated.version),
        (a.stated.by, kg_domain::Version::FIRST)
    );
    // Stored to the microsecond.
    assert!((read.stated.at - a.stated.at).num_milliseconds().abs() < 1);
    assert!(read.stated.at < read.lifecycle.updated_at);
    f.done().await
}

#[tokio::test]
async fn migrations_run_up_down_and_up_again() -> anyhow::Result<()> {
    let database = TestDatabase::create().await?;
    let conn = connect_for_migrations(&DatabaseSettings::new(database.url.clone())).await?;
    let pending = migrate(&conn, MigrationCommand::Status).await?;
    assert!(pending.applied.is_empty() && !pending.pending.is_empty());
    let up = migrate(&conn, MigrationCommand::Up).await?;
    assert!(up.is_current());
    assert_eq!(up.applied.last(), Some(&latest_migration()));
    let all = u32::try_from(up.applied.len())?;
    let down = migrate(&conn, MigrationCommand::Down(all)).await?;
    assert!(down.applied.is_empty());
    let tables = conn
        .query_all_raw(Statement::from_string(
            conn.get_database_backend(),
            if conn.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'seaql_migrations'"
            } else {
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT IN ('seaql_migrations', 'sqlite_sequence')"
            },
        ))
        .await?;
    assert!(tables.is_empty(), "down left {} tables", tables.len());
    assert!(migrate(&conn, MigrationCommand::Up).await?.is_current());
    let fresh = migrate(&conn, MigrationCommand::Fresh).await?;
    assert!(fresh.is_current());
    conn.close().await?;
    database.remove().await?;
    Ok(())
}

#[tokio::test]
async fn a_batch_of_a_thousand_entities_and_relationships_costs_a_handful_of_statements()
-> anyhow::Result<()> {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    let f = fixture().await?;
    let mut counted = connect(&DatabaseSettings::new(f.database.url.clone())).await?;
    let statements = Arc::new(AtomicUsize::new(0));
    let counter = statements.clone();
    counted.set_metric_callback(move |_| {
        counter.fetch_add(1, Ordering::SeqCst);
    });
    let service = kg_application::BatchService::new(
        Arc::new(kg_persistence::SeaOrmBatchRepository::new(counted.clone())),
        Arc::new(kg_application::SystemClock),
    );
    let ctx = kg_application::RequestContext {
        actor: kg_application::Actor {
            user_id: f.actor,
            role: Role::Editor,
            session: None,
            api_key: None,
        },
        request_id: None,
    };
    let batch = || {
        let entities = (0..1000)
            .map(|i| {
                batch_entity(
                    "Doc",
                    &format!("d{i}"),
                    &format!("x:{i}"),
                    Default::default(),
                )
            })
            .collect::<anyhow::Result<_>>()?;
        let relationships = (0..1000)
            .map(|i| {
                let (from, to) = (format!("x:{i}"), format!("x:{}", (i + 1) % 1000));
                batch_link(&from, &to, "NEXT", Default::default())
            })
            .collect::<anyhow::Result<_>>()?;
        batch(entities, relationships)
    };
    let report = service.apply(&ctx, batch()?, false).await?;
    assert_eq!(report.entities.len(), 1000);
    assert_eq!(count(&f.db, "entities").await?, 1000);
    assert_eq!(count(&f.db, "relationships").await?, 1000);
    assert_eq!(count(&f.db, "changes").await?, 2000);
    let first = statements.swap(0, Ordering::SeqCst);
    assert!(first <= 12, "{first} statements for 2,000 items");
    // Again: every item unchanged, and nothing written.
    let report = service.apply(&ctx, batch()?, false).await?;
    assert!(
        report
            .entities
            .iter()
            .chain(&report.relationships)
            .all(|r| r.outcome == kg_application::Outcome::Unchanged)
    );
    assert_eq!(count(&f.db, "changes").await?, 2000);
    let second = statements.load(Ordering::SeqCst);
    assert!(second <= 8, "{second} statements for an unchanged batch");
    counted.close().await?;
    f.done().await
}

#[tokio::test]
async fn an_idempotency_key_in_flight_is_held_until_its_lease_ends_and_old_keys_are_purged()
-> anyhow::Result<()> {
    use kg_application::{Claim, IdempotencyKey, IdempotencyStore, IdempotentRequest};

    let f = fixture().await?;
    let store = kg_persistence::SeaOrmIdempotencyStore::new(f.db.clone());
    let request = |key: &str, fingerprint: u8| IdempotentRequest {
        principal: format!("user:{}", f.actor),
        key: IdempotencyKey::parse(key).expect("valid key"),
        fingerprint: [fingerprint; 32],
    };
    let now = Utc::now();
    let lease = now + chrono::Duration::seconds(60);
    let window = now - chrono::Duration::hours(24);
    assert_eq!(
        store.claim(&request("k", 1), now, lease, window).await?,
        Claim::Proceed
    );
    assert_eq!(
        store.claim(&request("k", 1), now, lease, window).await?,
        Claim::InFlight
    );
    assert_eq!(
        store.claim(&request("k", 2), now, lease, window).await?,
        Claim::Mismatch
    );
    // Both at once: exactly one proceeds.
    let race = request("race", 1);
    let (a, b) = tokio::join!(
        store.claim(&race, now, lease, window),
        store.claim(&race, now, lease, window),
    );
    let mut claims = [a?, b?];
    claims.sort_by_key(|c| matches!(c, Claim::InFlight));
    assert_eq!(claims, [Claim::Proceed, Claim::InFlight]);
    // After the lease, a retry takes the key over.
    let later = lease + chrono::Duration::seconds(1);
    assert_eq!(
        store
            .claim(
                &request("k", 1),
                later,
                later + chrono::Duration::seconds(60),
                window
            )
            .await?,
        Claim::Proceed
    );
    store.release(&request("k", 1)).await?;
    assert_eq!(count(&f.db, "idempotency_keys").await?, 1);
    let removed = store.purge(later + chrono::Duration::hours(25)).await?;
    assert_eq!(removed, 1);
    assert_eq!(count(&f.db, "idempotency_keys").await?, 0);
    f.done().await
}

#[tokio::test]
async fn responses_stored_before_migration_15_are_still_replayed_and_down_splits_them_again()
-> anyhow::Result<()> {
    use kg_application::{Claim, IdempotencyKey, IdempotencyStore, IdempotentRequest};
    use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};

    let database = TestDatabase::create().await?;
    let conn = connect_for_migrations(&DatabaseSettings::new(database.url.clone())).await?;
    const NAME: &str = "m20260101_000015_opaque_responses";
    migrate(&conn, MigrationCommand::Up).await?;
    // The migrations that came after 15, rolled back and forth around it.
    let later = {
        use sea_orm_migration::MigratorTrait as _;
        let all = kg_migration::Migrator::migrations();
        let at = all
            .iter()
            .position(|m| m.name() == NAME)
            .ok_or_else(|| anyhow::anyhow!("no migration {NAME}"))?;
        u32::try_from(all.len() - at - 1)?
    };
    let before = migrate(&conn, MigrationCommand::Down(later + 1)).await?;
    assert_eq!(before.pending.first().map(String::as_str), Some(NAME));
    let backend = conn.get_database_backend();
    let now = Utc::now();
    let row = |key: &str, status: Option<i32>, body: Option<serde_json::Value>| {
        Query::insert()
            .into_table(Alias::new("idempotency_keys"))
            .columns(
                [
                    "principal",
                    "key",
                    "fingerprint",
                    "status",
                    "location",
                    "etag",
                    "body",
                    "created_at",
                    "locked_until",
                ]
                .map(Alias::new),
            )
            .values_panic([
                "user:u".into(),
                key.into(),
                vec![7_u8; 32].into(),
                status.into(),
                status.map(|_| "/v1/entities/x").into(),
                status.map(|_| "\"1\"").into(),
                body.into(),
                now.into(),
                (now + chrono::Duration::seconds(60)).into(),
            ])
            .to_owned()
    };
    for statement in [
        row("done", Some(201), Some(json!({"name": "Ada"}))),
        row("running", None, None),
    ] {
        conn.execute(&statement).await?;
    }
    migrate(&conn, MigrationCommand::Up).await?;

    let store = kg_persistence::SeaOrmIdempotencyStore::new(conn.clone());
    let request = |key: &str| -> anyhow::Result<IdempotentRequest> {
        Ok(IdempotentRequest {
            principal: "user:u".into(),
            key: IdempotencyKey::parse(key).map_err(anyhow::Error::msg)?,
            fingerprint: [7; 32],
        })
    };
    let window = now - chrono::Duration::hours(24);
    let Claim::Replay(stored) = store.claim(&request("done")?, now, now, window).await? else {
        anyhow::bail!("the stored response is not replayed");
    };
    assert_eq!(
        stored.into_value(),
        json!({"status": 201, "location": "/v1/entities/x", "etag": "\"1\"", "body": {"name": "Ada"}})
    );
    assert_eq!(
        store.claim(&request("running")?, now, now, window).await?,
        Claim::InFlight
    );

    // A response in another shape than the HTTP edge's cannot go back into
    // the old columns: the rollback refuses until it is gone.
    let foreign = Query::insert()
        .into_table(Alias::new("idempotency_keys"))
        .columns(
            [
                "principal",
                "key",
                "fingerprint",
                "response",
                "created_at",
                "locked_until",
            ]
            .map(Alias::new),
        )
        .values_panic([
            "user:u".into(),
            "foreign".into(),
            vec![7_u8; 32].into(),
            json!({"first": true}).into(),
            now.into(),
            now.into(),
        ])
        .to_owned();
    conn.execute(&foreign).await?;
    if later > 0 {
        migrate(&conn, MigrationCommand::Down(later)).await?;
    }
    let refused = migrate(&conn, MigrationCommand::Down(1)).await;
    assert!(
        refused.as_ref().is_err_and(|e| e
            .to_string()
            .contains("1 stored responses are not in the HTTP shape")),
        "{refused:?}"
    );
    let status = migrate(&conn, MigrationCommand::Status).await?;
    assert_eq!(status.applied.last().map(String::as_str), Some(NAME));
    let delete = Query::delete()
        .from_table(Alias::new("idempotency_keys"))
        .and_where(Expr::col(Alias::new("key")).eq("foreign"))
        .to_owned();
    conn.execute(&delete).await?;

    migrate(&conn, MigrationCommand::Down(1)).await?;
    let split = Query::select()
        .columns(["status", "location", "etag"].map(Alias::new))
        .expr(Expr::col(Alias::new("body")))
        .from(Alias::new("idempotency_keys"))
        .and_where(Expr::col(Alias::new("key")).eq("done"))
        .to_owned();
    let back = conn
        .query_one(&split)
        .await?
        .ok_or_else(|| anyhow::anyhow!("the row is gone"))?;
    assert_eq!(back.try_get_by_index::<Option<i32>>(0)?, Some(201));
    assert_eq!(
        back.try_get_by_index::<Option<String>>(1)?.as_deref(),
        Some("/v1/entities/x")
    );
    assert_eq!(
        back.try_get_by_index::<Option<String>>(2)?.as_deref(),
        Some("\"1\"")
    );
    let body: Option<serde_json::Value> = back.try_get_by_index(3)?;
    assert_eq!(body, Some(json!({"name": "Ada"})), "{backend:?}");
    assert!(migrate(&conn, MigrationCommand::Up).await?.is_current());
    conn.close().await?;
    database.remove().await?;
    Ok(())
}

#[tokio::test]
async fn postgres_connections_carry_the_statement_timeout() -> anyhow::Result<()> {
    let database = TestDatabase::migrated().await?;
    let mut settings = DatabaseSettings::new(database.url.clone());
    settings.statement_timeout = std::time::Duration::from_millis(1500);
    let db = connect(&settings).await?;
    if db.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
        let row = db
            .query_one_raw(Statement::from_string(
                db.get_database_backend(),
                "SHOW statement_timeout".to_owned(),
            ))
            .await?
            .ok_or_else(|| anyhow::anyhow!("no row"))?;
        assert_eq!(row.try_get_by_index::<String>(0)?, "1500ms");
        let slow = db
            .execute_raw(Statement::from_string(
                db.get_database_backend(),
                "SELECT pg_sleep(3)".to_owned(),
            ))
            .await;
        assert!(slow.is_err(), "a statement past the timeout is cancelled");
    }
    db.close().await?;
    database.remove().await?;
    Ok(())
}

/// A test that fails half-way, or returns early through `?`, must not leave
/// its database behind: dropping the guard removes it.
#[tokio::test]
async fn a_test_database_is_removed_when_its_guard_is_dropped() -> anyhow::Result<()> {
    let database = TestDatabase::migrated().await?;
    match database.postgres_name().map(str::to_owned) {
        Some(name) => {
            let server =
                connect_for_migrations(&DatabaseSettings::new(TestDatabase::postgres_server_url()))
                    .await?;
            let exists = format!("SELECT 1 FROM pg_database WHERE datname = '{name}'");
            let found = |sql: String| {
                let server = server.clone();
                async move {
                    let row = server
                        .query_one_raw(Statement::from_string(
                            sea_orm::DatabaseBackend::Postgres,
                            sql,
                        ))
                        .await?;
                    anyhow::Ok(row.is_some())
                }
            };
            assert!(found(exists.clone()).await?, "{name} was made");
            drop(database);
            assert!(!found(exists).await?, "{name} outlived its guard");
            server.close().await?;
        }
        None => {
            let path = database
                .url
                .trim_start_matches("sqlite://")
                .trim_end_matches("?mode=rwc")
                .to_owned();
            assert!(std::path::Path::new(&path).exists(), "{path} was made");
            drop(database);
            assert!(
                !std::path::Path::new(&path).exists(),
                "{path} outlived its guard"
            );
        }
    }
    Ok(())
}

/// Every attribution field, set: a field added to `Attribution` must be
/// added here, and the round trip below then proves each write path keeps it.
fn full_attribution(n: u8) -> anyhow::Result<kg_domain::Attribution> {
    Ok(kg_domain::Attribution {
        confidence: Some(kg_domain::Confidence::new(f64::from(n) / 10.0)?),
        source_ref: Some(kg_domain::SourceRef::parse(format!(
            "https://example.org/{n}"
        ))?),
        source_type: Some(TypeName::parse(format!("kind{n}"))?),
        metadata: Metadata::new(json!({ "n": n, "nested": { "list": [n] } }))?,
    })
}

#[tokio::test]
async fn every_attribution_field_survives_each_write_path() -> anyhow::Result<()> {
    use std::sync::Arc;

    let f = fixture().await?;
    let entities = SeaOrmEntityRepository::new(f.db.clone());
    let relationships = SeaOrmRelationshipRepository::new(f.db.clone());

    // A single create, then a single update.
    let mut a = entity("A", Some("x:a"), f.actor)?;
    a.data.attribution = full_attribution(1)?;
    let create = |id| audit(f.actor, AuditAction::Create, AuditTarget::Entity(id));
    entities.create(&a, &create(a.id), None).await?;
    assert_eq!(
        entities.get(a.id).await?.map(|e| e.data),
        Some(a.data.clone())
    );
    let mut a2 = a.clone();
    a2.data.attribution = full_attribution(2)?;
    a2.lifecycle = a.lifecycle.revised(f.actor, Utc::now());
    let update = audit(f.actor, AuditAction::Update, AuditTarget::Entity(a.id));
    entities.update(&a2, a.lifecycle.version, &update).await?;
    assert_eq!(
        entities.get(a.id).await?.map(|e| e.data),
        Some(a2.data.clone())
    );

    let b = entity("B", Some("x:b"), f.actor)?;
    entities.create(&b, &create(b.id), None).await?;
    let mut r = Relationship::create(
        RelationshipData {
            ends: Endpoints::new(a.id, b.id)?,
            kind: TypeName::parse("KNOWS")?,
            attribution: full_attribution(3)?,
        },
        f.actor,
        Utc::now(),
    );
    let rel_audit = |action| audit(f.actor, action, AuditTarget::Relationship(r.id));
    relationships
        .create(&r, &rel_audit(AuditAction::Create), None)
        .await?;
    assert_eq!(
        relationships.get(r.id).await?.map(|r| r.data),
        Some(r.data.clone())
    );
    let before = r.lifecycle.version;
    r.data.attribution = full_attribution(4)?;
    r.lifecycle = r.lifecycle.revised(f.actor, Utc::now());
    relationships
        .update(&r, before, &rel_audit(AuditAction::Update))
        .await?;
    assert_eq!(
        relationships.get(r.id).await?.map(|r| r.data),
        Some(r.data.clone())
    );

    // The batch upserts: both rows exist, so both are updated in place
    // (by their writer's own source: another would corroborate, ADR 44).
    let service = kg_application::BatchService::new(
        Arc::new(kg_persistence::SeaOrmBatchRepository::new(f.db.clone())),
        Arc::new(kg_application::SystemClock),
    );
    let ctx = kg_application::RequestContext {
        actor: kg_application::Actor {
            user_id: f.actor,
            role: Role::Editor,
            session: None,
            api_key: None,
        },
        request_id: None,
    };
    let (mut ea, mut ra) = (full_attribution(5)?, full_attribution(6)?);
    ea.source_ref = full_attribution(2)?.source_ref;
    ra.source_ref = full_attribution(4)?.source_ref;
    let items = |ea: &kg_domain::Attribution, ra: &kg_domain::Attribution| {
        batch(
            vec![batch_entity("Person", "A", "x:a", ea.clone())?],
            vec![batch_link("x:a", "x:b", "KNOWS", ra.clone())?],
        )
    };
    let report = service.apply(&ctx, items(&ea, &ra)?, false).await?;
    assert!(
        report
            .entities
            .iter()
            .chain(&report.relationships)
            .all(|i| i.outcome == kg_application::Outcome::Updated),
        "{report:?}"
    );
    assert_eq!(
        entities.get(a.id).await?.map(|e| e.data.attribution),
        Some(ea.clone())
    );
    assert_eq!(
        relationships.get(r.id).await?.map(|r| r.data.attribution),
        Some(ra.clone())
    );

    // Another source's batch corroborates: the attribution stays the
    // writer's, and the other source's confidence is combined with it.
    let report = service
        .apply(
            &ctx,
            items(&full_attribution(7)?, &full_attribution(8)?)?,
            false,
        )
        .await?;
    assert!(
        report
            .entities
            .iter()
            .chain(&report.relationships)
            .all(|i| i.outcome == kg_application::Outcome::Corroborated),
        "{report:?}"
    );
    let stored = entities
        .get(a.id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("A is gone"))?;
    assert_eq!(stored.data.attribution, ea);
    assert_eq!(stored.corroboration, full_attribution(7)?.confidence);
    assert_eq!(
        relationships.get(r.id).await?.map(|r| r.data.attribution),
        Some(ra)
    );
    f.done().await
}

#[tokio::test]
async fn a_unit_of_work_stores_all_of_its_changes_or_none() -> anyhow::Result<()> {
    use kg_application::UnitOfWork;

    let f = fixture().await?;
    let uow = kg_persistence::SeaOrmUnitOfWork::new(f.db.clone());
    let create = |e: &Entity| audit(f.actor, AuditAction::Create, AuditTarget::Entity(e.id));
    let link = |a: &Entity, b_id: kg_domain::EntityId| -> anyhow::Result<Relationship> {
        let data = RelationshipData {
            ends: Endpoints::new(a.id, b_id)?,
            kind: TypeName::parse("KNOWS")?,
            attribution: kg_domain::Attribution::default(),
        };
        Ok(Relationship::create(data, f.actor, Utc::now()))
    };
    let counts = || async {
        anyhow::Ok((
            count(&f.db, "entities").await?,
            count(&f.db, "relationships").await?,
            count(&f.db, "audit_log").await?,
            count(&f.db, "changes").await?,
        ))
    };

    // A failure half-way, then the work dropped: nothing is stored.
    let work = uow.begin().await?;
    let a = entity("A", Some("x:a"), f.actor)?;
    work.entities().create(&a, &create(&a), None).await?;
    let ghost = link(&a, kg_domain::EntityId::generate())?;
    let rel_audit = |r: &Relationship| {
        audit(
            f.actor,
            AuditAction::Create,
            AuditTarget::Relationship(r.id),
        )
    };
    let failed = work
        .relationships()
        .create(&ghost, &rel_audit(&ghost), None)
        .await;
    assert!(
        matches!(failed, Err(RepoError::Conflict(Conflict::TargetNotLive))),
        "{failed:?}"
    );
    drop(work);
    assert_eq!(counts().await?, (0, 0, 0, 0));

    // A failed step leaves no trace of itself; the rest is stored at once,
    // and only at the commit.
    let work = uow.begin().await?;
    let b = entity("B", Some("x:b"), f.actor)?;
    work.entities().create(&a, &create(&a), None).await?;
    let failed = work
        .relationships()
        .create(&ghost, &rel_audit(&ghost), None)
        .await;
    assert!(failed.is_err());
    // A step that the database itself refuses (a unique index) is rolled
    // back to its savepoint, and the work goes on.
    let twin = entity("A again", Some("x:a"), f.actor)?;
    let refused = work.entities().create(&twin, &create(&twin), None).await;
    assert!(
        matches!(refused, Err(RepoError::Conflict(Conflict::ExternalIdTaken))),
        "{refused:?}"
    );
    work.entities().create(&b, &create(&b), None).await?;
    let r = link(&a, b.id)?;
    work.relationships()
        .create(&r, &rel_audit(&r), None)
        .await?;
    assert_eq!(
        work.entities().get(b.id).await?.map(|e| e.id),
        Some(b.id),
        "the work reads its own writes"
    );
    assert_eq!(
        counts().await?,
        (0, 0, 0, 0),
        "nothing is visible before the commit"
    );
    work.commit().await?;
    assert_eq!(counts().await?, (2, 1, 3, 3));
    // The feed has the work's changes in the order they were made.
    let feed =
        f.db.query_all_raw(Statement::from_string(
            f.db.get_database_backend(),
            "SELECT resource_type FROM changes ORDER BY seq".to_owned(),
        ))
        .await?
        .iter()
        .map(|r| r.try_get_by_index::<String>(0))
        .collect::<Result<Vec<_>, _>>()?;
    assert_eq!(feed, ["entity", "entity", "relationship"]);
    f.done().await
}

/// A cascade has no upper bound: the rows it writes are split into
/// statements that stay under both databases' limits on bound parameters
/// (16 values a relationship row would pass SQLite's 32,766 at 2,048 rows).
#[tokio::test]
async fn deleting_and_restoring_an_entity_with_thousands_of_relationships_works()
-> anyhow::Result<()> {
    use std::sync::Arc;

    let f = fixture().await?;
    let service = kg_application::BatchService::new(
        Arc::new(kg_persistence::SeaOrmBatchRepository::new(f.db.clone())),
        Arc::new(kg_application::SystemClock),
    );
    let ctx = kg_application::RequestContext {
        actor: kg_application::Actor {
            user_id: f.actor,
            role: Role::Admin,
            session: None,
            api_key: None,
        },
        request_id: None,
    };
    let leaves = 2_500;
    let mut first = true;
    for start in (0..leaves).step_by(999) {
        let end = (start + 999).min(leaves);
        let mut entities = (start..end)
            .map(|i| {
                batch_entity(
                    "Leaf",
                    &format!("l{i}"),
                    &format!("leaf:{i}"),
                    Default::default(),
                )
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        if first {
            entities.push(batch_entity("Hub", "hub", "hub", Default::default())?);
            first = false;
        }
        let relationships = (start..end)
            .map(|i| batch_link(&format!("leaf:{i}"), "hub", "LINKS", Default::default()))
            .collect::<anyhow::Result<_>>()?;
        service
            .apply(&ctx, batch(entities, relationships)?, false)
            .await?;
    }
    let hub = entities_by_external_id(&f.db, "hub").await?;
    let repo = SeaOrmEntityRepository::new(f.db.clone());
    let deleted = repo
        .soft_delete(
            hub,
            &audit(f.actor, AuditAction::Delete, AuditTarget::Entity(hub)),
        )
        .await?;
    assert_eq!(deleted.len(), leaves);
    assert_eq!(
        count(&f.db, "relationships WHERE deleted_at IS NULL").await?,
        0
    );
    let (restored, relationships) = repo
        .restore(
            hub,
            &audit(f.actor, AuditAction::Restore, AuditTarget::Entity(hub)),
        )
        .await?;
    assert!(restored.lifecycle.is_live());
    assert_eq!(relationships.len(), leaves);
    assert_eq!(
        count(&f.db, "relationships WHERE deleted_at IS NULL").await?,
        i64::try_from(leaves)?
    );
    f.done().await
}

async fn entities_by_external_id(
    db: &DatabaseConnection,
    external_id: &str,
) -> anyhow::Result<kg_domain::EntityId> {
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            format!("SELECT id FROM entities WHERE external_id = '{external_id}'"),
        ))
        .await?
        .ok_or_else(|| anyhow::anyhow!("no entity {external_id}"))?;
    Ok(kg_domain::EntityId::from_uuid(
        row.try_get_by_index::<uuid::Uuid>(0)?,
    ))
}

#[tokio::test]
async fn a_traversal_step_reads_at_most_its_share_from_each_node_and_direction()
-> anyhow::Result<()> {
    use kg_application::{Direction, Scan, Step};
    let f = fixture().await?;
    let entities = SeaOrmEntityRepository::new(f.db.clone());
    let relationships = SeaOrmRelationshipRepository::new(f.db.clone());
    let mut made = Vec::new();
    for i in 0..14 {
        let e = entity(&format!("n{i}"), None, f.actor)?;
        entities
            .create(
                &e,
                &audit(f.actor, AuditAction::Create, AuditTarget::Entity(e.id)),
                None,
            )
            .await?;
        made.push(e);
    }
    let (hub, other) = (made[0].id, made[1].id);
    // The hub links out to twelve others and `other` to the hub: the hub
    // has twelve outgoing and one incoming relationship.
    let mut out_of_hub = Vec::new();
    let link = async |from, to| -> anyhow::Result<Relationship> {
        let r = Relationship::create(
            RelationshipData {
                ends: Endpoints::new(from, to)?,
                kind: TypeName::parse("LINKS")?,
                attribution: kg_domain::Attribution {
                    confidence: None,
                    source_ref: None,
                    source_type: None,
                    metadata: Metadata::empty(),
                },
            },
            f.actor,
            Utc::now(),
        );
        relationships
            .create(
                &r,
                &audit(
                    f.actor,
                    AuditAction::Create,
                    AuditTarget::Relationship(r.id),
                ),
                None,
            )
            .await?;
        Ok(r)
    };
    for e in &made[2..] {
        out_of_hub.push(link(hub, e.id).await?.id);
    }
    let into_hub = link(other, hub).await?.id;
    let step = |direction| Step {
        direction,
        relationship_type: None,
        min_confidence: None,
        far_type: None,
    };

    let just = |take| Scan {
        take,
        examine: take,
    };
    let expansion = relationships
        .expand(&[hub, other], &step(Direction::Both), just(5))
        .await?;
    assert!(!expansion.unexamined, "unfiltered, all read is followed");
    let hops = expansion.hops;
    let mut from_hub_out: Vec<_> = hops
        .iter()
        .filter(|h| h.outgoing && h.relationship.data.ends.source() == hub)
        .map(|h| h.relationship.id)
        .collect();
    from_hub_out.sort_by_key(|id| id.as_uuid());
    let mut lowest = out_of_hub.clone();
    lowest.sort_by_key(|id| id.as_uuid());
    lowest.truncate(5);
    assert_eq!(from_hub_out, lowest, "the hub's five lowest ids, no more");
    // The hub's one incoming and `other`'s one outgoing are the same
    // relationship, reached from each end: both come back.
    let reached: Vec<_> = hops
        .iter()
        .filter(|h| h.relationship.id == into_hub)
        .collect();
    assert_eq!(reached.len(), 2);
    assert_eq!(hops.len(), 5 + 2, "nothing else");
    for h in &hops {
        let far = if h.outgoing {
            h.relationship.data.ends.target()
        } else {
            h.relationship.data.ends.source()
        };
        assert_eq!(h.far.id, far, "each hop carries its far end");
    }
    let out_only = relationships
        .expand(&[hub], &step(Direction::Outgoing), just(100))
        .await?;
    assert_eq!(out_only.hops.len(), 12);

    // Filtered, a scan reads at most `examine` relationships: the hub's
    // twelve are `LINKS`, none `OTHER`, so a scan of five finds nothing and
    // says so, and one of all twelve finds nothing and has read them all.
    let other_kind = Step {
        relationship_type: Some(TypeName::parse("OTHER")?),
        ..step(Direction::Outgoing)
    };
    let capped = relationships
        .expand(
            &[hub, other],
            &other_kind,
            Scan {
                take: 2,
                examine: 5,
            },
        )
        .await?;
    assert!(capped.hops.is_empty());
    assert!(capped.unexamined, "seven of the hub's were never read");
    let whole = relationships
        .expand(
            &[hub, other],
            &other_kind,
            Scan {
                take: 2,
                examine: 12,
            },
        )
        .await?;
    assert!(whole.hops.is_empty());
    assert!(!whole.unexamined, "all twelve were read");
    // The first five by id, filtered by confidence (none has one): the
    // same answer; by the far end's type, the five lowest are followed.
    let typed = relationships
        .expand(
            &[hub],
            &Step {
                far_type: Some(made[2].data.kind.clone()),
                ..step(Direction::Outgoing)
            },
            Scan {
                take: 3,
                examine: 5,
            },
        )
        .await?;
    let mut followed: Vec<_> = typed.hops.iter().map(|h| h.relationship.id).collect();
    followed.sort_by_key(|id| id.as_uuid());
    assert_eq!(followed, lowest[..3]);
    assert!(!typed.unexamined, "it took all it could");
    f.done().await
}

#[tokio::test]
async fn a_purge_removes_dead_sessions_long_spent_tokens_and_stale_throttle_rows()
-> anyhow::Result<()> {
    use chrono::Duration;
    use kg_application::{
        Housekeeping, LoginThrottle, PurgeRules, Purged, Rotation, SessionRepository, ThrottleKey,
        ThrottlePolicy,
    };
    use kg_domain::{Session, SessionId, TokenDigest};
    use kg_persistence::{SeaOrmHousekeeping, SeaOrmLoginThrottle, SeaOrmSessionRepository};
    let f = fixture().await?;
    let sessions = SeaOrmSessionRepository::new(f.db.clone());
    let now = Utc::now();
    let digest = |b: u8| TokenDigest::from_bytes([b; 32]);
    let session = |b: u8, last_used: Duration, expires: Duration, revoked: bool| Session {
        id: SessionId::generate(),
        user_id: f.actor,
        refresh_digest: digest(b),
        created_at: now - Duration::days(20),
        last_used_at: now - last_used,
        expires_at: now + expires,
        revoked_at: revoked.then_some(now - Duration::hours(1)),
    };
    // Live, refreshed twice: its first token spent 10 days ago, its second
    // an hour ago, its third unspent. Then an expired, an idle and a
    // revoked session, one token each.
    let live = session(1, Duration::hours(1), Duration::days(5), false);
    let dead = [
        session(4, Duration::hours(1), Duration::hours(-1), false),
        session(5, Duration::days(8), Duration::days(5), false),
        session(6, Duration::hours(1), Duration::days(5), true),
    ];
    sessions.create(&live).await?;
    for s in &dead {
        sessions.create(s).await?;
    }
    let long_ago = now - Duration::days(10);
    let grace = |at: chrono::DateTime<Utc>| Some(at - Duration::seconds(30));
    assert_eq!(
        sessions
            .rotate(live.id, &digest(1), &digest(2), long_ago, grace(long_ago))
            .await?,
        Rotation::Rotated
    );
    let recently = now - Duration::hours(1);
    assert_eq!(
        sessions
            .rotate(live.id, &digest(2), &digest(3), recently, grace(recently))
            .await?,
        Rotation::Rotated
    );
    // A throttle row that stopped counting, one that still counts, and one
    // past its window that still locks.
    let throttle = SeaOrmLoginThrottle::new(f.db.clone());
    let policy = ThrottlePolicy::default();
    let stale = ThrottleKey::for_email("stale@example.org");
    let counting = ThrottleKey::for_email("counting@example.org");
    let locking = ThrottleKey::for_email("locking@example.org");
    throttle
        .begin_attempt(&stale, now - Duration::hours(2), &policy)
        .await?;
    throttle
        .begin_attempt(&counting, now - Duration::minutes(5), &policy)
        .await?;
    let long_lock = ThrottlePolicy {
        free_failures: 0,
        base_lockout: Duration::hours(3),
        max_lockout: Duration::hours(3),
        ..policy
    };
    throttle
        .begin_attempt(&locking, now - Duration::hours(2), &long_lock)
        .await?;
    throttle
        .begin_attempt(&locking, now - Duration::hours(2), &long_lock)
        .await?;

    let rules = PurgeRules {
        now,
        idle_before: now - Duration::days(7),
        spent_before: now - Duration::days(7),
        failure_before: now - Duration::minutes(15),
    };
    let purger = SeaOrmHousekeeping::new(f.db.clone());
    assert_eq!(
        purger.purge(&rules).await?,
        Purged {
            sessions: 3,
            refresh_tokens: 4,
            throttle_rows: 1,
        }
    );
    assert_eq!(count(&f.db, "sessions").await?, 1);
    assert_eq!(count(&f.db, "refresh_tokens").await?, 2);
    assert_eq!(count(&f.db, "login_throttle").await?, 2);
    // The live session still refreshes, and its recently spent token is
    // still known as spent: reuse, not a stranger.
    assert_eq!(
        sessions
            .rotate(live.id, &digest(3), &digest(7), now, grace(now))
            .await?,
        Rotation::Rotated
    );
    assert_eq!(
        sessions
            .rotate(live.id, &digest(2), &digest(8), now, grace(now))
            .await?,
        Rotation::ReuseDetected
    );
    // Nothing left to purge but what the reuse just revoked, with its
    // three tokens (two spent, one unspent).
    assert_eq!(
        purger.purge(&rules).await?,
        Purged {
            sessions: 1,
            refresh_tokens: 3,
            throttle_rows: 0,
        }
    );
    f.done().await
}
