//! In-memory fakes of the ports, and use-case tests against them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use kg_domain::*;
use serde_json::json;

use crate::*;

/// Failures, the last failure, and the lock-out's end.
type FailureRecord = (u32, DateTime<Utc>, Option<DateTime<Utc>>);

#[derive(Default)]
struct State {
    entities: HashMap<EntityId, Entity>,
    relationships: HashMap<RelationshipId, Relationship>,
    users: HashMap<UserId, User>,
    sessions: HashMap<SessionId, Session>,
    throttle: HashMap<ThrottleKey, FailureRecord>,
    keys: HashMap<ApiKeyId, ApiKey>,
    audit: Vec<AuditEntry>,
    cascade_of: HashMap<RelationshipId, EntityId>,
    expansions: usize,
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
    async fn create(
        &self,
        entity: &Entity,
        audit: &AuditEntry,
        _completion: Option<&Completion>,
    ) -> Result<(), RepoError> {
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
                        .is_none_or(|m| e.data.attribution.confidence.is_some_and(|c| c >= m))
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
            e.lifecycle.version = e.lifecycle.version.next();
            let mut cascaded = Vec::new();
            for r in s.relationships.values_mut() {
                let touches = r.data.ends.source() == id || r.data.ends.target() == id;
                if touches && r.lifecycle.is_live() {
                    r.lifecycle.deleted_at = Some(audit.at);
                    r.lifecycle.version = r.lifecycle.version.next();
                    cascaded.push(r.id);
                }
            }
            for r in &cascaded {
                s.cascade_of.insert(*r, id);
            }
            s.audit.push(audit.clone());
            Ok(cascaded)
        })
    }

    async fn restore(
        &self,
        id: EntityId,
        audit: &AuditEntry,
    ) -> Result<(Entity, Vec<Relationship>), RepoError> {
        self.with(|s| {
            let e = s.entities.get(&id).ok_or(RepoError::NotFound)?.clone();
            if e.lifecycle.is_live() {
                return Err(RepoError::Conflict(Conflict::NotDeleted));
            }
            let mut blockers = Vec::new();
            if let Some(taken) = s.entities.values().find(|o| {
                o.lifecycle.is_live()
                    && e.data.external_id.is_some()
                    && o.data.external_id == e.data.external_id
            }) {
                blockers.push(RestoreBlocker::ExternalIdTaken {
                    external_id: e
                        .data
                        .external_id
                        .clone()
                        .map(|x| x.to_string())
                        .unwrap_or_default(),
                    held_by: taken.id,
                });
            }
            let cascaded: Vec<RelationshipId> = s
                .cascade_of
                .iter()
                .filter(|(_, of)| **of == id)
                .map(|(r, _)| *r)
                .collect();
            for rid in &cascaded {
                let r = &s.relationships[rid];
                let other = if r.data.ends.source() == id {
                    r.data.ends.target()
                } else {
                    r.data.ends.source()
                };
                if !s
                    .entities
                    .get(&other)
                    .is_some_and(|o| o.lifecycle.is_live())
                {
                    blockers.push(RestoreBlocker::OtherEndDeleted {
                        relationship: *rid,
                        entity: other,
                    });
                }
            }
            if !blockers.is_empty() {
                return Err(RepoError::RestoreBlocked(blockers));
            }
            let mut restored = Vec::new();
            for rid in cascaded {
                s.cascade_of.remove(&rid);
                let r = s.relationships.get_mut(&rid).ok_or(RepoError::NotFound)?;
                r.lifecycle.deleted_at = None;
                r.lifecycle.version = r.lifecycle.version.next();
                restored.push(r.clone());
            }
            let e = s.entities.get_mut(&id).ok_or(RepoError::NotFound)?;
            e.lifecycle.deleted_at = None;
            e.lifecycle.deleted_by = None;
            e.lifecycle.version = e.lifecycle.version.next();
            let e = e.clone();
            s.audit.push(audit.clone());
            Ok((e, restored))
        })
    }
}

#[async_trait]
impl RelationshipRepository for Store {
    async fn create(
        &self,
        r: &Relationship,
        audit: &AuditEntry,
        _completion: Option<&Completion>,
    ) -> Result<(), RepoError> {
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

    async fn expand(
        &self,
        frontier: &[EntityId],
        step: &Step,
        limit: u32,
    ) -> Result<Vec<Hop>, RepoError> {
        Ok(self.with(|s| {
            s.expansions += 1;
            let live = |id: EntityId| {
                s.entities
                    .get(&id)
                    .filter(|e| e.lifecycle.is_live())
                    .cloned()
            };
            let mut hops: Vec<Hop> = s
                .relationships
                .values()
                .filter(|r| r.lifecycle.is_live())
                .filter(|r| {
                    step.relationship_type
                        .as_ref()
                        .is_none_or(|t| &r.data.kind == t)
                })
                .filter(|r| {
                    step.min_confidence
                        .is_none_or(|m| r.data.attribution.confidence.is_some_and(|c| c >= m))
                })
                .filter_map(|r| {
                    let (source, target) =
                        (live(r.data.ends.source())?, live(r.data.ends.target())?);
                    let far_ok =
                        |e: &Entity| step.far_type.as_ref().is_none_or(|t| &e.data.kind == t);
                    let out = frontier.contains(&source.id) && far_ok(&target);
                    let inc = frontier.contains(&target.id) && far_ok(&source);
                    let follow = match step.direction {
                        Direction::Outgoing => out,
                        Direction::Incoming => inc,
                        Direction::Both => out || inc,
                    };
                    follow.then(|| Hop {
                        relationship: r.clone(),
                        source,
                        target,
                    })
                })
                .collect();
            hops.sort_by_key(|h| h.relationship.id.as_uuid());
            hops.truncate(limit as usize);
            hops
        }))
    }

    async fn update(
        &self,
        r: &Relationship,
        expected: Version,
        audit: &AuditEntry,
    ) -> Result<(), RepoError> {
        self.with(|s| {
            let current = s
                .relationships
                .get(&r.id)
                .filter(|c| c.lifecycle.is_live())
                .ok_or(RepoError::NotFound)?;
            if current.lifecycle.version != expected {
                return Err(RepoError::VersionMismatch);
            }
            s.relationships.insert(r.id, r.clone());
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

    async fn update(
        &self,
        user: &User,
        expected: Version,
        end_sessions: bool,
        audit: &AuditEntry,
    ) -> Result<(), RepoError> {
        self.with(|s| {
            let current = s.users.get(&user.id).ok_or(RepoError::NotFound)?;
            if current.version != expected {
                return Err(RepoError::VersionMismatch);
            }
            let active_admin = |u: &User| u.is_active && u.role == Role::Admin;
            let others = s
                .users
                .values()
                .filter(|u| u.id != user.id && active_admin(u))
                .count();
            if active_admin(current) && !active_admin(user) && others == 0 {
                return Err(RepoError::Conflict(Conflict::LastActiveAdmin));
            }
            s.users.insert(user.id, user.clone());
            if end_sessions {
                for x in s.sessions.values_mut().filter(|x| x.user_id == user.id) {
                    x.revoked_at.get_or_insert(audit.at);
                }
            }
            s.audit.push(audit.clone());
            Ok(())
        })
    }

    async fn replace_password_hash(
        &self,
        user: UserId,
        previous: &PasswordHash,
        hash: &PasswordHash,
        audit: &AuditEntry,
    ) -> Result<bool, RepoError> {
        Ok(self.with(|s| match s.users.get_mut(&user) {
            Some(u) if u.password_hash == *previous => {
                u.password_hash = hash.clone();
                s.audit.push(audit.clone());
                true
            }
            Some(_) | None => false,
        }))
    }

    async fn set_password(
        &self,
        user: UserId,
        hash: &PasswordHash,
        keep: Option<SessionId>,
        audit: &AuditEntry,
    ) -> Result<(), RepoError> {
        self.with(|s| {
            let u = s.users.get_mut(&user).ok_or(RepoError::NotFound)?;
            u.password_hash = hash.clone();
            for session in s
                .sessions
                .values_mut()
                .filter(|x| x.user_id == user && Some(x.id) != keep)
            {
                session.revoked_at.get_or_insert(audit.at);
            }
            s.audit.push(audit.clone());
            Ok(())
        })
    }
}

#[async_trait]
impl SessionRepository for Store {
    async fn create(&self, session: &Session) -> Result<(), RepoError> {
        self.with(|s| s.sessions.insert(session.id, session.clone()));
        Ok(())
    }

    async fn get(&self, id: SessionId) -> Result<Option<Session>, RepoError> {
        Ok(self.with(|s| s.sessions.get(&id).cloned()))
    }

    async fn rotate(
        &self,
        id: SessionId,
        presented: &TokenDigest,
        next: &TokenDigest,
        now: DateTime<Utc>,
    ) -> Result<Rotation, RepoError> {
        Ok(self.with(|s| match s.sessions.get_mut(&id) {
            Some(x) if x.revoked_at.is_none() && x.refresh_digest == *presented => {
                x.refresh_digest = *next;
                x.last_used_at = now;
                Rotation::Rotated
            }
            Some(x) if x.revoked_at.is_none() => {
                x.revoked_at = Some(now);
                Rotation::ReuseDetected
            }
            Some(_) | None => Rotation::NoSession,
        }))
    }

    async fn revoke(&self, id: SessionId, now: DateTime<Utc>) -> Result<(), RepoError> {
        self.with(|s| {
            if let Some(x) = s.sessions.get_mut(&id) {
                x.revoked_at.get_or_insert(now);
            }
        });
        Ok(())
    }
}

#[async_trait]
impl LoginThrottle for Store {
    async fn begin_attempt(
        &self,
        key: &ThrottleKey,
        now: DateTime<Utc>,
        policy: &ThrottlePolicy,
    ) -> Result<Option<DateTime<Utc>>, RepoError> {
        Ok(self.with(|s| {
            let previous = s.throttle.get(key).copied();
            if let Some(until) = previous
                .and_then(|(_, _, until)| until)
                .filter(|u| *u > now)
            {
                return Some(until);
            }
            let count = policy.next_count(previous.map(|(n, last, _)| (n, last)), now);
            s.throttle
                .insert(key.clone(), (count, now, policy.lock_until(count, now)));
            None
        }))
    }

    async fn clear(&self, key: &ThrottleKey) -> Result<(), RepoError> {
        self.with(|s| s.throttle.remove(key));
        Ok(())
    }
}

#[async_trait]
impl ApiKeyRepository for Store {
    async fn create(&self, key: &ApiKey, audit: Option<&AuditEntry>) -> Result<(), RepoError> {
        self.with(|s| {
            s.keys.insert(key.id, key.clone());
            s.audit.extend(audit.cloned());
        });
        Ok(())
    }

    async fn get(&self, id: ApiKeyId) -> Result<Option<ApiKey>, RepoError> {
        Ok(self.with(|s| s.keys.get(&id).cloned()))
    }

    async fn find_by_digest(&self, digest: &TokenDigest) -> Result<Option<ApiKey>, RepoError> {
        Ok(self.with(|s| s.keys.values().find(|k| k.digest == *digest).cloned()))
    }

    async fn list(&self, req: PageRequest) -> Result<Page<ApiKey>, RepoError> {
        let items = self.with(|s| s.keys.values().cloned().collect());
        Ok(page(items, |k: &ApiKey| k.id.as_uuid(), req))
    }

    async fn revoke(
        &self,
        id: ApiKeyId,
        at: DateTime<Utc>,
        audit: Option<&AuditEntry>,
    ) -> Result<(), RepoError> {
        self.with(|s| {
            let key = s
                .keys
                .get_mut(&id)
                .filter(|k| k.revoked_at.is_none())
                .ok_or(RepoError::NotFound)?;
            key.revoked_at = Some(at);
            s.audit.extend(audit.cloned());
            Ok(())
        })
    }

    async fn touch(&self, id: ApiKeyId, now: DateTime<Utc>) -> Result<(), RepoError> {
        self.with(|s| {
            if let Some(k) = s.keys.get_mut(&id) {
                k.last_used_at = Some(now);
            }
        });
        Ok(())
    }
}

/// Secrets `key:<n>`, digested by `n`.
#[derive(Default)]
struct FakeKeySecrets(Mutex<u8>);

impl ApiKeySecrets for FakeKeySecrets {
    fn mint(&self) -> (String, TokenDigest) {
        let mut n = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *n = n.wrapping_add(1);
        (format!("key:{n}"), TokenDigest::from_bytes([*n; 32]))
    }

    fn digest(&self, presented: &str) -> Option<TokenDigest> {
        let n: u8 = presented.strip_prefix("key:")?.parse().ok()?;
        Some(TokenDigest::from_bytes([n; 32]))
    }
}

/// Refresh tokens of the form `ref:<session>:<n>`, digested by position.
#[derive(Default)]
struct FakeRefresh(Mutex<u8>);

impl RefreshTokens for FakeRefresh {
    fn mint(&self, session: SessionId) -> (String, TokenDigest) {
        let mut n = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *n = n.wrapping_add(1);
        (
            format!("ref:{session}:{n}"),
            TokenDigest::from_bytes([*n; 32]),
        )
    }

    fn read(&self, token: &str) -> Option<(SessionId, TokenDigest)> {
        let mut parts = token.strip_prefix("ref:")?.split(':');
        let session = parts.next()?.parse().ok()?;
        let n: u8 = parts.next()?.parse().ok()?;
        Some((session, TokenDigest::from_bytes([n; 32])))
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
        let secret = password.expose();
        Ok(hash.is_some_and(|h| {
            h.as_str() == format!("fake${secret}") || h.as_str() == format!("old${secret}")
        }))
    }

    fn needs_rehash(&self, hash: &PasswordHash) -> bool {
        hash.as_str().starts_with("old$")
    }
}

struct FakeTokens;

impl TokenIssuer for FakeTokens {
    fn issue(
        &self,
        user: UserId,
        session: SessionId,
        _now: DateTime<Utc>,
    ) -> Result<IssuedToken, TokenError> {
        Ok(IssuedToken {
            access_token: format!("tok:{user}:{session}"),
            expires_in: 900,
        })
    }

    fn csrf_token(&self, session: SessionId) -> String {
        format!("csrf:{session}")
    }

    fn verify(&self, token: &str) -> Result<(UserId, SessionId), TokenError> {
        let (user, session) = token
            .strip_prefix("tok:")
            .and_then(|t| t.split_once(':'))
            .ok_or(TokenError::Invalid)?;
        Ok((
            user.parse().map_err(|_| TokenError::Invalid)?,
            session.parse().map_err(|_| TokenError::Invalid)?,
        ))
    }
}

/// A clock tests can move forward.
#[derive(Default)]
struct FixedClock(Mutex<i64>);

impl FixedClock {
    fn advance(&self, by: chrono::Duration) {
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) += by.num_seconds();
    }
}

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        let offset = *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5)
            .single()
            .unwrap_or_default()
            + chrono::Duration::seconds(offset)
    }
}

struct Harness {
    store: Store,
    hasher: Arc<FakeHasher>,
    entities: EntityService,
    relationships: RelationshipService,
    users: UserService,
    auth: AuthService,
    keys: ApiKeyService,
    clock: Arc<FixedClock>,
}

fn harness() -> Harness {
    let store = Store::default();
    let hasher = Arc::new(FakeHasher::default());
    let fixed = Arc::new(FixedClock::default());
    let clock: Arc<dyn Clock> = fixed.clone();
    let secrets = Arc::new(FakeKeySecrets::default());
    Harness {
        entities: EntityService::new(Arc::new(store.clone()), clock.clone()),
        relationships: RelationshipService::new(Arc::new(store.clone()), clock.clone()),
        users: UserService::new(Arc::new(store.clone()), hasher.clone(), clock.clone()),
        auth: AuthService::new(
            AuthPorts {
                users: Arc::new(store.clone()),
                sessions: Arc::new(store.clone()),
                hasher: hasher.clone(),
                tokens: Arc::new(FakeTokens),
                refresh: Arc::new(FakeRefresh::default()),
                throttle: Arc::new(store.clone()),
                api_keys: Arc::new(store.clone()),
                key_secrets: secrets.clone(),
                clock: clock.clone(),
            },
            SessionPolicy::default(),
            ThrottlePolicy::default(),
        ),
        keys: ApiKeyService::new(Arc::new(store.clone()), secrets, clock),
        store,
        hasher,
        clock: fixed,
    }
}

fn ctx(role: Role) -> RequestContext {
    RequestContext {
        actor: Actor {
            user_id: UserId::generate(),
            role,
            session: None,
            api_key: None,
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
        attribution: Attribution::default(),
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

fn object(v: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    v.as_object().cloned().unwrap_or_default()
}

#[tokio::test]
async fn a_relationship_patch_changes_attributes_but_never_its_ends() {
    let h = harness();
    let c = ctx(Role::Editor);
    let a = h.entities.create(&c, person("A")).await.expect("a");
    let b = h.entities.create(&c, person("B")).await.expect("b");
    let r = h
        .relationships
        .create(&c, knows(a.id, b.id))
        .await
        .expect("r");
    let moved = object(json!({"target_id": a.id.to_string(), "confidence": 0.5}));
    let Err(AppError::Validation(v)) = h
        .relationships
        .update(&c, r.id, Some(Version::FIRST), &moved)
        .await
    else {
        panic!("changing an end must be refused");
    };
    assert!(v.as_slice().iter().any(|x| x.field == "target_id"), "{v:?}");
    let same_ends = object(json!({
        "source_id": a.id.to_string(),
        "confidence": 0.5,
        "metadata": {"page": 3},
    }));
    let u = h
        .relationships
        .update(&c, r.id, Some(Version::FIRST), &same_ends)
        .await
        .expect("updated");
    assert_eq!(
        u.data.attribution.confidence.map(Confidence::get),
        Some(0.5)
    );
    assert_eq!(u.data.attribution.metadata.to_value(), json!({"page": 3}));
    assert_eq!(u.lifecycle.version.get(), 2);
    assert!(matches!(
        h.relationships
            .update(&c, r.id, Some(Version::FIRST), &same_ends)
            .await,
        Err(AppError::VersionMismatch)
    ));
    let audit = h.store.with(|s| s.audit.last().cloned()).expect("audited");
    assert_eq!(
        audit.changes["confidence"],
        json!({"before": null, "after": 0.5})
    );
}

#[tokio::test]
async fn only_admins_restore_and_a_restore_brings_back_exactly_the_cascade() {
    let h = harness();
    let c = ctx(Role::Editor);
    let admin = ctx(Role::Admin);
    let a = h.entities.create(&c, person("A")).await.expect("a");
    let b = h.entities.create(&c, person("B")).await.expect("b");
    let x = h.entities.create(&c, person("X")).await.expect("x");
    let ab = h
        .relationships
        .create(&c, knows(a.id, b.id))
        .await
        .expect("ab");
    let ax = h
        .relationships
        .create(&c, knows(a.id, x.id))
        .await
        .expect("ax");
    // Deleted on its own before the entity: not part of the cascade.
    h.relationships.delete(&c, ax.id).await.expect("ax deleted");
    h.entities.delete(&c, a.id).await.expect("a deleted");
    assert!(matches!(
        h.entities.restore(&c, a.id).await,
        Err(AppError::Forbidden)
    ));
    let (restored, rels) = h.entities.restore(&admin, a.id).await.expect("restored");
    assert_eq!(restored.lifecycle.version.get(), 3);
    assert_eq!(rels.iter().map(|r| r.id).collect::<Vec<_>>(), vec![ab.id]);
    assert!(h.relationships.get(&c, ax.id).await.is_err());
    assert!(matches!(
        h.entities.restore(&admin, a.id).await,
        Err(AppError::Conflict(Conflict::NotDeleted))
    ));
}

#[tokio::test]
async fn a_restore_whose_relationship_lost_its_other_end_names_it() {
    let h = harness();
    let c = ctx(Role::Editor);
    let admin = ctx(Role::Admin);
    let a = h.entities.create(&c, person("A")).await.expect("a");
    let b = h.entities.create(&c, person("B")).await.expect("b");
    let ab = h
        .relationships
        .create(&c, knows(a.id, b.id))
        .await
        .expect("ab");
    h.entities.delete(&c, a.id).await.expect("a deleted");
    h.entities.delete(&c, b.id).await.expect("b deleted");
    let Err(AppError::RestoreBlocked(blockers)) = h.entities.restore(&admin, a.id).await else {
        panic!("the restore must be blocked");
    };
    assert_eq!(
        blockers,
        vec![RestoreBlocker::OtherEndDeleted {
            relationship: ab.id,
            entity: b.id
        }]
    );
    assert!(
        h.entities.get(&c, a.id).await.is_err(),
        "nothing was restored"
    );
}

#[tokio::test]
async fn neighbors_go_breadth_first_one_query_per_level_within_the_budget() {
    let h = harness();
    let c = ctx(Role::Editor);
    // A star of 30 around the hub, each spoke with two leaves of its own.
    let hub = h.entities.create(&c, person("hub")).await.expect("hub");
    let mut spokes = Vec::new();
    for i in 0..30 {
        let s = h
            .entities
            .create(&c, person(&format!("s{i}")))
            .await
            .expect("spoke");
        h.relationships
            .create(&c, knows(hub.id, s.id))
            .await
            .expect("link");
        for j in 0..2 {
            let leaf = h
                .entities
                .create(&c, person(&format!("l{i}-{j}")))
                .await
                .expect("leaf");
            h.relationships
                .create(&c, knows(s.id, leaf.id))
                .await
                .expect("link");
        }
        spokes.push(s);
    }
    let graph = GraphService::new(Arc::new(h.store.clone()), Arc::new(h.store.clone()));
    let query = |depth: i64, max: i64| NeighborQuery {
        depth: Depth::new(depth).expect("depth"),
        direction: Direction::Outgoing,
        entity_type: None,
        relationship_type: None,
        min_confidence: None,
        max_nodes: NodeBudget::new(max).expect("budget"),
    };
    let one = graph
        .neighbors(&c, hub.id, &query(1, 1000))
        .await
        .expect("depth 1");
    assert_eq!(one.nodes.len(), 31);
    assert_eq!(one.edges.len(), 30);
    assert!(!one.truncated);
    assert_eq!(one.nodes[0].id, hub.id, "the start comes first");

    h.store.with(|s| s.expansions = 0);
    let three = graph
        .neighbors(&c, hub.id, &query(3, 1000))
        .await
        .expect("depth 3");
    assert_eq!(three.nodes.len(), 91);
    assert_eq!(three.edges.len(), 90);
    assert!(!three.truncated);
    // The third level finds nothing new and still costs one query; no more.
    assert_eq!(h.store.with(|s| s.expansions), 3);

    let cut = graph
        .neighbors(&c, hub.id, &query(3, 40))
        .await
        .expect("budget");
    assert_eq!(cut.nodes.len(), 40);
    assert!(cut.truncated);
    let ids: std::collections::HashSet<EntityId> = cut.nodes.iter().map(|n| n.id).collect();
    assert!(
        cut.edges
            .iter()
            .all(|e| ids.contains(&e.data.ends.source()) && ids.contains(&e.data.ends.target()))
    );

    let incoming = graph
        .neighbors(
            &c,
            spokes[0].id,
            &NeighborQuery {
                direction: Direction::Incoming,
                ..query(2, 1000)
            },
        )
        .await
        .expect("incoming");
    assert_eq!(
        incoming.nodes.iter().map(|n| n.id).collect::<Vec<_>>(),
        vec![spokes[0].id, hub.id]
    );
    assert!(matches!(
        graph
            .neighbors(&c, EntityId::generate(), &query(1, 10))
            .await,
        Err(AppError::NotFound(ResourceKind::Entity))
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
        .authenticate(&token.access.access_token)
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
        h.auth.authenticate(&token.access.access_token).await,
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

const PW: &str = "a-long-and-unusual-passphrase";

async fn signed_in(h: &Harness) -> SessionTokens {
    h.users
        .create_by_operator(NewUser {
            email: "ada@example.org".into(),
            role: "editor".into(),
            password: PW.into(),
        })
        .await
        .expect("created");
    h.auth
        .login("ada@example.org", PW.into())
        .await
        .expect("logged in")
}

async fn context_of(h: &Harness, tokens: &SessionTokens) -> RequestContext {
    let actor = h
        .auth
        .authenticate(&tokens.access.access_token)
        .await
        .expect("authenticated");
    RequestContext {
        actor,
        request_id: None,
    }
}

#[tokio::test]
async fn a_refresh_rotates_and_reusing_a_spent_token_revokes_the_family() {
    let h = harness();
    let first = signed_in(&h).await;
    let second = h.auth.refresh(&first.refresh_token).await.expect("rotated");
    assert_ne!(second.refresh_token, first.refresh_token);
    assert!(
        h.auth
            .authenticate(&second.access.access_token)
            .await
            .is_ok()
    );
    // The spent token is presented again: the whole session ends.
    assert!(matches!(
        h.auth.refresh(&first.refresh_token).await,
        Err(AppError::InvalidRefreshToken)
    ));
    assert!(matches!(
        h.auth.refresh(&second.refresh_token).await,
        Err(AppError::InvalidRefreshToken)
    ));
    assert!(matches!(
        h.auth.authenticate(&second.access.access_token).await,
        Err(AppError::Unauthenticated)
    ));
}

#[tokio::test]
async fn logout_ends_the_session_at_once() {
    let h = harness();
    let tokens = signed_in(&h).await;
    let ctx = context_of(&h, &tokens).await;
    h.auth.logout(&ctx).await.expect("logged out");
    assert!(matches!(
        h.auth.authenticate(&tokens.access.access_token).await,
        Err(AppError::Unauthenticated)
    ));
    assert!(matches!(
        h.auth.refresh(&tokens.refresh_token).await,
        Err(AppError::InvalidRefreshToken)
    ));
}

#[tokio::test]
async fn idle_and_absolute_expiry_end_a_session() {
    let h = harness();
    let tokens = signed_in(&h).await;
    h.clock.advance(chrono::Duration::days(6));
    let tokens = h
        .auth
        .refresh(&tokens.refresh_token)
        .await
        .expect("still active");
    h.clock.advance(chrono::Duration::days(7));
    assert!(matches!(
        h.auth.refresh(&tokens.refresh_token).await,
        Err(AppError::SessionExpired)
    ));

    let h = harness();
    let mut tokens = signed_in(&h).await;
    for _ in 0..4 {
        h.clock.advance(chrono::Duration::days(6));
        tokens = h
            .auth
            .refresh(&tokens.refresh_token)
            .await
            .expect("kept alive by use");
    }
    // Day 30 after login: never idle for 7 days, but at the absolute limit.
    h.clock.advance(chrono::Duration::days(6));
    assert!(matches!(
        h.auth.refresh(&tokens.refresh_token).await,
        Err(AppError::SessionExpired)
    ));
}

#[tokio::test]
async fn changing_the_password_checks_the_old_one_and_ends_other_sessions() {
    let h = harness();
    let mine = signed_in(&h).await;
    let other = h
        .auth
        .login("ada@example.org", PW.into())
        .await
        .expect("second login");
    let ctx = context_of(&h, &mine).await;
    let wrong = h
        .auth
        .change_password(
            &ctx,
            "not-it-at-all".into(),
            "a-brand-new-passphrase".into(),
        )
        .await;
    let Err(AppError::Validation(v)) = wrong else {
        panic!("expected a validation error")
    };
    assert_eq!(v.as_slice()[0].field, "current_password");
    let weak = h
        .auth
        .change_password(&ctx, PW.into(), "short".into())
        .await;
    assert!(matches!(weak, Err(AppError::Validation(_))));
    h.auth
        .change_password(&ctx, PW.into(), "a-brand-new-passphrase".into())
        .await
        .expect("changed");
    assert!(
        h.auth.authenticate(&mine.access.access_token).await.is_ok(),
        "this session stays"
    );
    assert!(matches!(
        h.auth.authenticate(&other.access.access_token).await,
        Err(AppError::Unauthenticated)
    ));
    assert!(matches!(
        h.auth.login("ada@example.org", PW.into()).await,
        Err(AppError::InvalidCredentials)
    ));
    assert!(
        h.auth
            .login("ada@example.org", "a-brand-new-passphrase".into())
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn a_refresh_token_is_not_an_access_token_nor_the_reverse() {
    let h = harness();
    let tokens = signed_in(&h).await;
    assert!(matches!(
        h.auth.authenticate(&tokens.refresh_token).await,
        Err(AppError::Unauthenticated)
    ));
    assert!(matches!(
        h.auth.refresh(&tokens.access.access_token).await,
        Err(AppError::InvalidRefreshToken)
    ));
}

async fn admin_context(h: &Harness) -> (RequestContext, User) {
    let admin = h
        .users
        .create_by_operator(NewUser {
            email: "root@example.org".into(),
            role: "admin".into(),
            password: PW.into(),
        })
        .await
        .expect("admin");
    let ctx = RequestContext {
        actor: Actor {
            user_id: admin.id,
            role: Role::Admin,
            session: None,
            api_key: None,
        },
        request_id: None,
    };
    (ctx, admin)
}

fn obj(v: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    v.as_object().cloned().unwrap_or_default()
}

#[tokio::test]
async fn demoting_a_user_ends_their_sessions_and_bumps_the_version() {
    let h = harness();
    let (admin, _) = admin_context(&h).await;
    let tokens = signed_in(&h).await;
    let user = context_of(&h, &tokens).await.actor.user_id;
    let updated = h
        .users
        .update(
            &admin,
            user,
            Some(Version::FIRST),
            &obj(json!({"role": "viewer"})),
        )
        .await
        .expect("demoted");
    assert_eq!((updated.role, updated.version.get()), (Role::Viewer, 2));
    assert!(matches!(
        h.auth.authenticate(&tokens.access.access_token).await,
        Err(AppError::Unauthenticated)
    ));
    let stale = h
        .users
        .update(
            &admin,
            user,
            Some(Version::FIRST),
            &obj(json!({"role": "editor"})),
        )
        .await;
    assert!(matches!(stale, Err(AppError::VersionMismatch)));
    let missing = h
        .users
        .update(&admin, user, None, &obj(json!({"role": "editor"})))
        .await;
    assert!(matches!(missing, Err(AppError::PreconditionRequired)));
}

#[tokio::test]
async fn admins_cannot_demote_or_deactivate_themselves_and_one_admin_always_remains() {
    let h = harness();
    let (ctx, admin) = admin_context(&h).await;
    let own = h
        .users
        .update(
            &ctx,
            admin.id,
            Some(Version::FIRST),
            &obj(json!({"role": "viewer"})),
        )
        .await;
    assert!(matches!(
        own,
        Err(AppError::Conflict(Conflict::CannotModifySelf))
    ));
    assert!(matches!(
        h.users.deactivate(&ctx, admin.id).await,
        Err(AppError::Conflict(Conflict::CannotModifySelf))
    ));
    // Another admin acting on the last active admin.
    let other = h
        .users
        .create_by_operator(NewUser {
            email: "other@example.org".into(),
            role: "admin".into(),
            password: PW.into(),
        })
        .await
        .expect("other admin");
    let as_other = RequestContext {
        actor: Actor {
            user_id: other.id,
            role: Role::Admin,
            session: None,
            api_key: None,
        },
        request_id: None,
    };
    h.users
        .deactivate(&as_other, admin.id)
        .await
        .expect("two admins: one may go");
    let last = h
        .users
        .update(
            &ctx,
            other.id,
            Some(Version::FIRST),
            &obj(json!({"is_active": false})),
        )
        .await;
    assert!(
        matches!(last, Err(AppError::Conflict(Conflict::LastActiveAdmin))),
        "{last:?}"
    );
}

#[tokio::test]
async fn a_user_patch_rejects_unknown_and_server_owned_fields() {
    let h = harness();
    let (ctx, _) = admin_context(&h).await;
    let tokens = signed_in(&h).await;
    let user = context_of(&h, &tokens).await.actor.user_id;
    let r = h.users.update(&ctx, user, Some(Version::FIRST), &obj(json!({"email": "x@example.org", "role": "god", "is_active": "yes", "nickname": "x"}))).await;
    let Err(AppError::Validation(v)) = r else {
        panic!("expected validation")
    };
    let mut fields: Vec<_> = v.as_slice().iter().map(|f| f.field.as_str()).collect();
    fields.sort_unstable();
    assert_eq!(fields, ["email", "is_active", "nickname", "role"]);
}

#[tokio::test]
async fn repeated_failures_throttle_an_email_alike_whether_or_not_it_exists() {
    let h = harness();
    signed_in(&h).await;
    for email in ["ada@example.org", "nobody@example.org"] {
        for _ in 0..5 {
            assert!(matches!(
                h.auth.login(email, "wrong-password-here".into()).await,
                Err(AppError::InvalidCredentials)
            ));
        }
        for password in ["wrong-password-here", PW] {
            let r = h.auth.login(email, password.into()).await;
            assert!(
                matches!(
                    r,
                    Err(AppError::Throttled {
                        retry_after_secs: 30
                    })
                ),
                "{email}: {r:?}"
            );
        }
    }
    // The lock-out ends: no permanent lock, and a success clears the count.
    h.clock.advance(chrono::Duration::seconds(31));
    assert!(h.auth.login("ada@example.org", PW.into()).await.is_ok());
    assert!(matches!(
        h.auth
            .login("ada@example.org", "wrong-password-here".into())
            .await,
        Err(AppError::InvalidCredentials)
    ));
    // The unknown email, failing again after its lock-out, backs off longer.
    assert!(matches!(
        h.auth.login("nobody@example.org", "wrong".into()).await,
        Err(AppError::InvalidCredentials)
    ));
    assert!(matches!(
        h.auth.login("nobody@example.org", "wrong".into()).await,
        Err(AppError::Throttled {
            retry_after_secs: 60
        })
    ));
}

#[tokio::test]
async fn an_api_key_acts_with_its_own_role_until_revoked_or_its_owner_is_deactivated() {
    let h = harness();
    let (admin, owner) = admin_context(&h).await;
    let viewer_key = NewApiKey {
        name: "reader".into(),
        role: "viewer".into(),
        expires_at: None,
    };
    let created = h.keys.create(&admin, viewer_key).await.expect("created");
    let actor = h
        .auth
        .authenticate(&created.secret)
        .await
        .expect("key works");
    assert_eq!(
        (actor.role, actor.user_id, actor.api_key),
        (Role::Viewer, owner.id, Some(created.key.id))
    );
    let key_ctx = RequestContext {
        actor,
        request_id: None,
    };
    assert!(
        matches!(h.auth.me(&key_ctx).await, Err(AppError::Forbidden)),
        "keys are not people"
    );
    assert!(matches!(
        h.keys.create(&key_ctx, NewApiKey::default()).await,
        Err(AppError::Forbidden)
    ));

    h.keys
        .revoke(&admin, created.key.id)
        .await
        .expect("revoked");
    assert!(matches!(
        h.auth.authenticate(&created.secret).await,
        Err(AppError::Unauthenticated)
    ));
    assert!(matches!(
        h.keys.revoke(&admin, created.key.id).await,
        Err(AppError::NotFound(ResourceKind::ApiKey))
    ));

    let editor_key = h
        .keys
        .create(
            &admin,
            NewApiKey {
                name: "writer".into(),
                role: "editor".into(),
                expires_at: None,
            },
        )
        .await
        .expect("created");
    h.store
        .with(|s| s.users.get_mut(&owner.id).map(|u| u.is_active = false));
    assert!(matches!(
        h.auth.authenticate(&editor_key.secret).await,
        Err(AppError::Unauthenticated)
    ));
}

#[tokio::test]
async fn api_keys_are_never_admins_and_expire() {
    let h = harness();
    let (admin, _) = admin_context(&h).await;
    let bad = h
        .keys
        .create(
            &admin,
            NewApiKey {
                name: " ".into(),
                role: "admin".into(),
                expires_at: Some(h.clock.now()),
            },
        )
        .await;
    let Err(AppError::Validation(v)) = bad else {
        panic!("expected validation")
    };
    let fields: Vec<_> = v.as_slice().iter().map(|f| f.field.as_str()).collect();
    assert_eq!(fields, ["name", "role", "expires_at"]);
    let soon = h.clock.now() + chrono::Duration::hours(1);
    let key = h
        .keys
        .create(
            &admin,
            NewApiKey {
                name: "short".into(),
                role: "viewer".into(),
                expires_at: Some(soon),
            },
        )
        .await
        .expect("created");
    assert!(h.auth.authenticate(&key.secret).await.is_ok());
    h.clock.advance(chrono::Duration::hours(1));
    assert!(matches!(
        h.auth.authenticate(&key.secret).await,
        Err(AppError::Unauthenticated)
    ));
}

#[tokio::test]
async fn a_hash_with_old_parameters_is_replaced_at_the_next_login() {
    let h = harness();
    let tokens = signed_in(&h).await;
    let user = context_of(&h, &tokens).await.actor.user_id;
    h.store.with(|s| {
        s.users
            .get_mut(&user)
            .map(|u| u.password_hash = PasswordHash::from_phc(format!("old${PW}")))
    });
    h.auth
        .login("ada@example.org", PW.into())
        .await
        .expect("old hash still verifies");
    let stored = h.store.with(|s| {
        s.users
            .get(&user)
            .map(|u| u.password_hash.as_str().to_owned())
    });
    assert_eq!(stored, Some(format!("fake${PW}")));
    let last = h.store.with(|s| s.audit.last().cloned()).expect("audited");
    assert_eq!(last.target, AuditTarget::User(user));
    assert!(
        h.auth
            .authenticate(&tokens.access.access_token)
            .await
            .is_ok(),
        "sessions stay"
    );
}

#[tokio::test]
async fn a_key_never_has_more_rights_than_its_owner_has_now() {
    let h = harness();
    let (admin, owner) = admin_context(&h).await;
    let key = h
        .keys
        .create(
            &admin,
            NewApiKey {
                name: "w".into(),
                role: "editor".into(),
                expires_at: None,
            },
        )
        .await
        .expect("created");
    assert_eq!(
        h.auth.authenticate(&key.secret).await.expect("works").role,
        Role::Editor
    );
    h.store
        .with(|s| s.users.get_mut(&owner.id).map(|u| u.role = Role::Viewer));
    assert_eq!(
        h.auth.authenticate(&key.secret).await.expect("works").role,
        Role::Viewer
    );
}

#[tokio::test]
async fn guesses_at_the_current_password_are_throttled_like_logins() {
    let h = harness();
    let tokens = signed_in(&h).await;
    let ctx = context_of(&h, &tokens).await;
    for _ in 0..5 {
        let r = h
            .auth
            .change_password(
                &ctx,
                "a-wrong-guess-here".into(),
                "a-brand-new-passphrase".into(),
            )
            .await;
        assert!(matches!(r, Err(AppError::Validation(_))));
    }
    let r = h
        .auth
        .change_password(&ctx, PW.into(), "a-brand-new-passphrase".into())
        .await;
    assert!(matches!(r, Err(AppError::Throttled { .. })), "{r:?}");
}

#[tokio::test]
async fn an_operator_reset_replaces_the_password_ends_sessions_and_lifts_the_lock_out() {
    let h = harness();
    let tokens = signed_in(&h).await;
    for _ in 0..5 {
        let r = h
            .auth
            .login("ada@example.org", "a-wrong-guess-here".into())
            .await;
        assert!(r.is_err());
    }
    assert!(matches!(
        h.auth.login("ada@example.org", PW.into()).await,
        Err(AppError::Throttled { .. })
    ));

    let weak = h
        .auth
        .reset_password_by_operator("ada@example.org", "short".into())
        .await;
    let Err(AppError::Validation(v)) = weak else {
        panic!("expected a validation error")
    };
    assert_eq!(v.as_slice()[0].field, "password");
    assert!(matches!(
        h.auth
            .reset_password_by_operator("nobody@example.org", "a-brand-new-passphrase".into())
            .await,
        Err(AppError::NotFound(ResourceKind::User))
    ));

    let user = h
        .auth
        .reset_password_by_operator("ADA@example.org", "a-brand-new-passphrase".into())
        .await
        .expect("reset");
    assert!(matches!(
        h.auth.authenticate(&tokens.access.access_token).await,
        Err(AppError::Unauthenticated)
    ));
    assert!(matches!(
        h.auth.login("ada@example.org", PW.into()).await,
        Err(AppError::InvalidCredentials)
    ));
    assert!(
        h.auth
            .login("ada@example.org", "a-brand-new-passphrase".into())
            .await
            .is_ok(),
        "the lock-out is lifted"
    );
    let audited = h.store.with(|s| {
        s.audit
            .iter()
            .any(|a| a.target == AuditTarget::User(user.id) && a.changes["password"] == "reset")
    });
    assert!(audited);
}
