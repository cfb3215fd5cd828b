//! In-memory fakes of the ports, and use-case tests against them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use kg_domain::*;
use serde_json::json;

use crate::*;

#[derive(Default)]
struct State {
    entities: HashMap<EntityId, Entity>,
    relationships: HashMap<RelationshipId, Relationship>,
    users: HashMap<UserId, User>,
    audit: Vec<AuditEntry>,
}

#[derive(Default, Clone)]
pub(crate) struct Store(Arc<Mutex<State>>);

impl Store {
    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        let mut guard = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut guard)
    }
}

fn page<T: Clone>(mut items: Vec<T>, id: impl Fn(&T) -> uuid::Uuid, req: PageRequest) -> Page<T> {
    items.sort_by_key(|i| id(i));
    items.retain(|i| req.after.is_none_or(|c| id(i) > c.last_id()));
    items.truncate(usize::from(req.limit.get()) + 1);
    Page::from_overfetch(items, req.limit, id)
}

#[async_trait]
impl EntityRepository for Store {
    async fn create(&self, entity: &Entity, audit: &AuditEntry) -> Result<(), RepoError> {
        self.with(|s| {
            if entity.data.external_id.is_some()
                && s.entities
                    .values()
                    .any(|e| e.lifecycle.is_live() && e.data.external_id == entity.data.external_id)
            {
                return Err(RepoError::Conflict(Conflict::ExternalIdTaken));
            }
            s.entities.insert(entity.id, entity.clone());
            s.audit.push(audit.clone());
            Ok(())
        })
    }

    async fn get(&self, id: EntityId) -> Result<Option<Entity>, RepoError> {
        Ok(self.with(|s| {
            s.entities
                .get(&id)
                .filter(|e| e.lifecycle.is_live())
                .cloned()
        }))
    }

    async fn list(&self, f: &EntityFilter, req: PageRequest) -> Result<Page<Entity>, RepoError> {
        let items = self.with(|s| {
            s.entities
                .values()
                .filter(|e| e.lifecycle.is_live())
                .filter(|e| f.kind.as_ref().is_none_or(|k| &e.data.kind == k))
                .filter(|e| {
                    f.name_prefix
                        .as_ref()
                        .is_none_or(|p| e.data.name.as_str().starts_with(p.as_str()))
                })
                .filter(|e| {
                    f.min_confidence
                        .is_none_or(|m| e.data.confidence.is_some_and(|c| c >= m))
                })
                .cloned()
                .collect()
        });
        Ok(page(items, |e: &Entity| e.id.as_uuid(), req))
    }

    async fn update(
        &self,
        entity: &Entity,
        expected: Version,
        audit: &AuditEntry,
    ) -> Result<(), RepoError> {
        self.with(|s| {
            let current = s
                .entities
                .get(&entity.id)
                .filter(|e| e.lifecycle.is_live())
                .ok_or(RepoError::NotFound)?;
            if current.lifecycle.version != expected {
                return Err(RepoError::VersionMismatch);
            }
            s.entities.insert(entity.id, entity.clone());
            s.audit.push(audit.clone());
            Ok(())
        })
    }

    async fn soft_delete(
        &self,
        id: EntityId,
        audit: &AuditEntry,
    ) -> Result<Vec<RelationshipId>, RepoError> {
        self.with(|s| {
            let e = s
                .entities
                .get_mut(&id)
                .filter(|e| e.lifecycle.is_live())
                .ok_or(RepoError::NotFound)?;
            e.lifecycle.deleted_at = Some(audit.at);
            e.lifecycle.deleted_by = Some(audit.actor);
            let mut cascaded = Vec::new();
            for r in s.relationships.values_mut() {
                let touches = r.data.ends.source() == id || r.data.ends.target() == id;
                if touches && r.lifecycle.is_live() {
                    r.lifecycle.deleted_at = Some(audit.at);
                    cascaded.push(r.id);
                }
            }
            s.audit.push(audit.clone());
            Ok(cascaded)
        })
    }
}

#[async_trait]
impl RelationshipRepository for Store {
    async fn create(&self, r: &Relationship, audit: &AuditEntry) -> Result<(), RepoError> {
        self.with(|s| {
            let live = |id| s.entities.get(&id).is_some_and(|e| e.lifecycle.is_live());
            if !live(r.data.ends.source()) {
                return Err(RepoError::Conflict(Conflict::SourceNotLive));
            }
            if !live(r.data.ends.target()) {
                return Err(RepoError::Conflict(Conflict::TargetNotLive));
            }
            if s.relationships.values().any(|o| {
                o.lifecycle.is_live() && o.data.ends == r.data.ends && o.data.kind == r.data.kind
            }) {
                return Err(RepoError::Conflict(Conflict::DuplicateRelationship));
            }
            s.relationships.insert(r.id, r.clone());
            s.audit.push(audit.clone());
            Ok(())
        })
    }

    async fn get(&self, id: RelationshipId) -> Result<Option<Relationship>, RepoError> {
        Ok(self.with(|s| {
            s.relationships
                .get(&id)
                .filter(|r| r.lifecycle.is_live())
                .cloned()
        }))
    }

    async fn list(
        &self,
        f: &RelationshipFilter,
        req: PageRequest,
    ) -> Result<Page<Relationship>, RepoError> {
        let items = self.with(|s| {
            s.relationships
                .values()
                .filter(|r| r.lifecycle.is_live())
                .filter(|r| f.source_id.is_none_or(|id| r.data.ends.source() == id))
                .filter(|r| f.target_id.is_none_or(|id| r.data.ends.target() == id))
                .cloned()
                .collect()
        });
        Ok(page(items, |r: &Relationship| r.id.as_uuid(), req))
    }

    async fn soft_delete(&self, id: RelationshipId, audit: &AuditEntry) -> Result<(), RepoError> {
        self.with(|s| {
            let r = s
                .relationships
                .get_mut(&id)
                .filter(|r| r.lifecycle.is_live())
                .ok_or(RepoError::NotFound)?;
            r.lifecycle.deleted_at = Some(audit.at);
            s.audit.push(audit.clone());
            Ok(())
        })
    }
}

#[async_trait]
impl UserRepository for Store {
    async fn create(&self, user: &User, audit: Option<&AuditEntry>) -> Result<(), RepoError> {
        self.with(|s| {
            if s.users.values().any(|u| u.email == user.email) {
                return Err(RepoError::Conflict(Conflict::EmailTaken));
            }
            s.users.insert(user.id, user.clone());
            s.audit.extend(audit.cloned());
            Ok(())
        })
    }

    async fn get(&self, id: UserId) -> Result<Option<User>, RepoError> {
        Ok(self.with(|s| s.users.get(&id).cloned()))
    }

    async fn find_by_email(&self, email: &Email) -> Result<Option<User>, RepoError> {
        Ok(self.with(|s| s.users.values().find(|u| &u.email == email).cloned()))
    }

    async fn list(&self, req: PageRequest) -> Result<Page<User>, RepoError> {
        let items = self.with(|s| s.users.values().cloned().collect());
        Ok(page(items, |u: &User| u.id.as_uuid(), req))
    }
}

/// Records which passwords it verified, and "hashes" by tagging.
#[derive(Default)]
struct FakeHasher {
    verifications: Mutex<Vec<bool>>,
}

#[async_trait]
impl PasswordHasher for FakeHasher {
    async fn hash(&self, password: &Password) -> Result<PasswordHash, RepoError> {
        Ok(PasswordHash::from_phc(format!(
            "fake${}",
            password.expose()
        )))
    }

    async fn verify(
        &self,
        password: &Password,
        hash: Option<&PasswordHash>,
    ) -> Result<bool, RepoError> {
        let mut log = self
            .verifications
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        log.push(hash.is_some());
        Ok(hash.is_some_and(|h| h.as_str() == format!("fake${}", password.expose())))
    }
}

struct FakeTokens;

impl TokenIssuer for FakeTokens {
    fn issue(&self, user: UserId, _now: DateTime<Utc>) -> Result<IssuedToken, TokenError> {
        Ok(IssuedToken {
            access_token: format!("tok:{user}"),
            expires_in: 900,
        })
    }

    fn verify(&self, token: &str) -> Result<UserId, TokenError> {
        token
            .strip_prefix("tok:")
            .and_then(|id| id.parse().ok())
            .ok_or(TokenError::Invalid)
    }
}

struct FixedClock;

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5)
            .single()
            .unwrap_or_default()
    }
}

struct Harness {
    store: Store,
    hasher: Arc<FakeHasher>,
    entities: EntityService,
    relationships: RelationshipService,
    users: UserService,
    auth: AuthService,
}

fn harness() -> Harness {
    let store = Store::default();
    let hasher = Arc::new(FakeHasher::default());
    let clock: Arc<dyn Clock> = Arc::new(FixedClock);
    Harness {
        entities: EntityService::new(Arc::new(store.clone()), clock.clone()),
        relationships: RelationshipService::new(Arc::new(store.clone()), clock.clone()),
        users: UserService::new(Arc::new(store.clone()), hasher.clone(), clock.clone()),
        auth: AuthService::new(
            Arc::new(store.clone()),
            hasher.clone(),
            Arc::new(FakeTokens),
            clock,
        ),
        store,
        hasher,
    }
}

fn ctx(role: Role) -> RequestContext {
    RequestContext {
        actor: Actor {
            user_id: UserId::generate(),
            role,
        },
        request_id: Some("req-1".into()),
    }
}

fn person(name: &str) -> EntityData {
    EntityDraft {
        kind: Some("Person".into()),
        name: Some(name.into()),
        ..EntityDraft::default()
    }
    .parse()
    .expect("valid draft")
}

fn knows(a: EntityId, b: EntityId) -> RelationshipData {
    RelationshipData {
        ends: Endpoints::new(a, b).expect("distinct"),
        kind: TypeName::parse("KNOWS").expect("valid"),
        confidence: None,
        source: None,
        source_type: None,
        metadata: Metadata::empty(),
    }
}

#[tokio::test]
async fn viewers_cannot_write_and_nothing_is_stored() {
    let h = harness();
    let err = h.entities.create(&ctx(Role::Viewer), person("Ada")).await;
    assert!(matches!(err, Err(AppError::Forbidden)));
    assert!(
        h.store
            .with(|s| s.entities.is_empty() && s.audit.is_empty())
    );
}

#[tokio::test]
async fn creating_an_entity_writes_one_audit_entry_naming_actor_and_request() {
    let h = harness();
    let c = ctx(Role::Editor);
    let e = h.entities.create(&c, person("Ada")).await.expect("created");
    let audit = h.store.with(|s| s.audit.clone());
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].actor, c.actor.user_id);
    assert_eq!(audit[0].target, AuditTarget::Entity(e.id));
    assert_eq!(audit[0].request_id.as_deref(), Some("req-1"));
    assert_eq!(audit[0].changes["name"]["after"], json!("Ada"));
}

#[tokio::test]
async fn deleting_an_entity_soft_deletes_its_relationships() {
    let h = harness();
    let c = ctx(Role::Editor);
    let a = h.entities.create(&c, person("A")).await.expect("a");
    let b = h.entities.create(&c, person("B")).await.expect("b");
    let r = h
        .relationships
        .create(&c, knows(a.id, b.id))
        .await
        .expect("r");
    let cascaded = h.entities.delete(&c, a.id).await.expect("deleted");
    assert_eq!(cascaded, vec![r.id]);
    assert!(matches!(
        h.relationships.get(&c, r.id).await,
        Err(AppError::NotFound(ResourceKind::Relationship))
    ));
    assert!(matches!(
        h.entities.get(&c, a.id).await,
        Err(AppError::NotFound(ResourceKind::Entity))
    ));
}

#[tokio::test]
async fn a_relationship_to_a_deleted_entity_is_a_conflict() {
    let h = harness();
    let c = ctx(Role::Editor);
    let a = h.entities.create(&c, person("A")).await.expect("a");
    let b = h.entities.create(&c, person("B")).await.expect("b");
    h.entities.delete(&c, b.id).await.expect("deleted");
    let err = h.relationships.create(&c, knows(a.id, b.id)).await;
    assert!(matches!(
        err,
        Err(AppError::Conflict(Conflict::TargetNotLive))
    ));
}

#[tokio::test]
async fn an_update_applies_a_merge_patch_and_bumps_the_version() {
    let h = harness();
    let c = ctx(Role::Editor);
    let e = h.entities.create(&c, person("Ada")).await.expect("created");
    let patch = json!({"name": "Ada King", "confidence": 0.75})
        .as_object()
        .cloned()
        .unwrap_or_default();
    let u = h
        .entities
        .update(&c, e.id, Some(Version::FIRST), &patch)
        .await
        .expect("updated");
    assert_eq!(u.data.name.as_str(), "Ada King");
    assert_eq!(u.lifecycle.version.get(), 2);
    let audit = h.store.with(|s| s.audit.last().cloned()).expect("audited");
    assert_eq!(
        audit.changes["name"],
        json!({"before": "Ada", "after": "Ada King"})
    );
    assert!(
        audit.changes.get("type").is_none(),
        "unchanged fields are not listed"
    );
}

#[tokio::test]
async fn a_stale_version_is_refused_but_validation_comes_first() {
    let h = harness();
    let c = ctx(Role::Editor);
    let e = h.entities.create(&c, person("Ada")).await.expect("created");
    let stale = Some(Version::FIRST.next());
    let good = json!({"name": "X"})
        .as_object()
        .cloned()
        .unwrap_or_default();
    let bad = json!({"confidence": 2.0})
        .as_object()
        .cloned()
        .unwrap_or_default();
    assert!(matches!(
        h.entities.update(&c, e.id, stale, &good).await,
        Err(AppError::VersionMismatch)
    ));
    assert!(matches!(
        h.entities.update(&c, e.id, stale, &bad).await,
        Err(AppError::Validation(_))
    ));
    assert!(matches!(
        h.entities
            .update(&ctx(Role::Viewer), e.id, stale, &bad)
            .await,
        Err(AppError::Forbidden)
    ));
    assert!(matches!(
        h.entities
            .update(&ctx(Role::Viewer), e.id, None, &good)
            .await,
        Err(AppError::Forbidden)
    ));
    assert!(matches!(
        h.entities.update(&c, e.id, None, &good).await,
        Err(AppError::PreconditionRequired)
    ));
}

#[tokio::test]
async fn only_admins_create_users_and_the_role_is_the_one_asked_for() {
    let h = harness();
    let new = NewUser {
        email: "admin@example.org".into(),
        role: "viewer".into(),
        password: "a-long-and-unusual-passphrase".into(),
    };
    assert!(matches!(
        h.users.create(&ctx(Role::Editor), new.clone()).await,
        Err(AppError::Forbidden)
    ));
    let u = h
        .users
        .create(&ctx(Role::Admin), new)
        .await
        .expect("created");
    assert_eq!(
        u.role,
        Role::Viewer,
        "an admin-looking address gets no role from its name"
    );
    assert!(!u.password_hash.as_str().is_empty());
}

#[tokio::test]
async fn every_login_failure_is_the_same_error_after_the_same_work() {
    let h = harness();
    let pw = "a-long-and-unusual-passphrase";
    let new = NewUser {
        email: "ada@example.org".into(),
        role: "editor".into(),
        password: pw.into(),
    };
    h.users.create_by_operator(new).await.expect("created");
    for (email, password) in [
        ("ada@example.org", "wrong-password-here"),
        ("nobody@example.org", pw),
        ("not an email", pw),
    ] {
        let r = h.auth.login(email, password.into()).await;
        assert!(matches!(r, Err(AppError::InvalidCredentials)), "{email}");
    }
    // Each attempt ran exactly one verification, against a dummy when unknown.
    assert_eq!(
        *h.hasher.verifications.lock().expect("lock"),
        vec![true, false, false]
    );
    let token = h
        .auth
        .login("ADA@example.org", pw.into())
        .await
        .expect("logged in");
    let actor = h
        .auth
        .authenticate(&token.access_token)
        .await
        .expect("authenticated");
    assert_eq!(actor.role, Role::Editor);
}

#[tokio::test]
async fn a_deactivated_user_is_refused_at_once() {
    let h = harness();
    let pw = "a-long-and-unusual-passphrase";
    let u = h
        .users
        .create_by_operator(NewUser {
            email: "ada@example.org".into(),
            role: "editor".into(),
            password: pw.into(),
        })
        .await
        .expect("created");
    let token = h
        .auth
        .login("ada@example.org", pw.into())
        .await
        .expect("logged in");
    h.store
        .with(|s| s.users.get_mut(&u.id).map(|u| u.is_active = false));
    assert!(matches!(
        h.auth.authenticate(&token.access_token).await,
        Err(AppError::Unauthenticated)
    ));
    assert!(matches!(
        h.auth.login("ada@example.org", pw.into()).await,
        Err(AppError::InvalidCredentials)
    ));
}

#[tokio::test]
async fn lists_page_through_everything_exactly_once() {
    let h = harness();
    let c = ctx(Role::Editor);
    for i in 0..7 {
        h.entities
            .create(&c, person(&format!("P{i}")))
            .await
            .expect("created");
    }
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let p = h
            .entities
            .list(
                &c,
                &EntityFilter::default(),
                PageRequest {
                    limit: Limit::new(3).expect("valid"),
                    after,
                },
            )
            .await
            .expect("page");
        seen.extend(p.items.iter().map(|e| e.id));
        match p.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(seen.len(), 7);
    assert_eq!(sorted, seen);
}
