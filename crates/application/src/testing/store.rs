//! One in-memory store for the repository ports.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kg_domain::*;

use crate::*;

/// Failures, the last failure, and the lock-out's end.
pub type FailureRecord = (u32, DateTime<Utc>, Option<DateTime<Utc>>);

/// A refresh token a session issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshTokenRecord {
    /// The session that issued it.
    pub session: SessionId,
    /// When it was spent, if it was.
    pub spent_at: Option<DateTime<Utc>>,
    /// When it was presented again within its grace, or spent with the
    /// other answer of a double refresh, if it was.
    pub graced_at: Option<DateTime<Utc>>,
    /// The token it was issued for.
    pub parent: Option<TokenDigest>,
}

impl RefreshTokenRecord {
    const fn issued(session: SessionId) -> Self {
        Self {
            session,
            spent_at: None,
            graced_at: None,
            parent: None,
        }
    }
}

/// What an [`InMemoryStore`] holds. Its fields are public so that a test
/// can arrange a state and inspect what a use case left behind.
#[derive(Debug, Default, Clone)]
pub struct InMemoryState {
    /// Entities by id, live and soft-deleted.
    pub entities: HashMap<EntityId, Entity>,
    /// Relationships by id, live and soft-deleted.
    pub relationships: HashMap<RelationshipId, Relationship>,
    /// Accounts by id.
    pub users: HashMap<UserId, User>,
    /// Sessions by id.
    pub sessions: HashMap<SessionId, Session>,
    /// Every refresh token sessions issued, by digest.
    pub refresh_tokens: HashMap<TokenDigest, RefreshTokenRecord>,
    /// Failed logins by throttle key.
    pub throttle: HashMap<ThrottleKey, FailureRecord>,
    /// API keys by id.
    pub keys: HashMap<ApiKeyId, ApiKey>,
    /// Every audit entry, in the order written.
    pub audit: Vec<AuditEntry>,
    /// Evidence records by id, live and retracted.
    pub evidence: HashMap<EvidenceId, Evidence>,
    /// Which entity's deletion cascaded to each deleted relationship.
    pub cascade_of: HashMap<RelationshipId, EntityId>,
    /// How many traversal queries ([`RelationshipRepository::expand`]) ran.
    pub expansions: usize,
}

/// One in-memory store implementing every repository port of the graph
/// and of accounts, with the same contracts as the database adapter.
/// Clones share the state.
#[derive(Debug, Default, Clone)]
pub struct InMemoryStore(Arc<Mutex<InMemoryState>>);

impl InMemoryState {
    /// Stores a cascade's rows and audit entries; returns the relationships' ids.
    fn apply(&mut self, writes: CascadeWrites) -> Vec<RelationshipId> {
        let ids = writes.relationships.iter().map(|r| r.id).collect();
        self.entities.insert(writes.entity.id, writes.entity);
        for r in writes.relationships {
            self.relationships.insert(r.id, r);
        }
        self.audit.extend(writes.audit);
        ids
    }

    /// The stated evidence of the live fact whose id is `id`, when it
    /// states something: read from the fact, as the database adapter does.
    fn stated(&self, id: EvidenceId) -> Option<Evidence> {
        let id = id.as_uuid();
        let entity = self
            .entities
            .get(&EntityId::from_uuid(id))
            .filter(|e| e.lifecycle.is_live())
            .map(Entity::stated_evidence);
        let stated = entity.or_else(|| {
            self.relationships
                .get(&RelationshipId::from_uuid(id))
                .filter(|r| r.lifecycle.is_live())
                .map(Relationship::stated_evidence)
        })?;
        stated.is_live().then_some(stated)
    }
}

impl InMemoryStore {
    /// Runs `f` on the state, holding its lock.
    pub fn with<T>(&self, f: impl FnOnce(&mut InMemoryState) -> T) -> T {
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
impl EntityRepository for InMemoryStore {
    /// Every live entity of the type: the ranking scores them all.
    async fn duplicate_candidates(&self, of: &Entity) -> Result<Vec<Entity>, RepoError> {
        Ok(self.with(|s| {
            let mut found: Vec<Entity> = s
                .entities
                .values()
                .filter(|e| e.id != of.id && e.lifecycle.is_live() && e.data.kind == of.data.kind)
                .cloned()
                .collect();
            found.sort_by_key(|e| e.id);
            found.truncate(usize::try_from(crate::DUPLICATE_CANDIDATES).unwrap_or(usize::MAX));
            found
        }))
    }

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
                        .is_none_or(|m| e.confidence().is_some_and(|c| c >= m))
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
            let entity = s
                .entities
                .get(&id)
                .filter(|e| e.lifecycle.is_live())
                .ok_or(RepoError::NotFound)?;
            let touching: Vec<Relationship> = s
                .relationships
                .values()
                .filter(|r| r.lifecycle.is_live())
                .filter(|r| r.data.ends.source() == id || r.data.ends.target() == id)
                .cloned()
                .collect();
            let writes = plan_delete(entity, &touching, audit);
            for r in &writes.relationships {
                s.cascade_of.insert(r.id, id);
            }
            Ok(s.apply(writes))
        })
    }

    async fn restore(
        &self,
        id: EntityId,
        audit: &AuditEntry,
    ) -> Result<(Entity, Vec<Relationship>), RepoError> {
        self.with(|s| {
            let entity = s.entities.get(&id).ok_or(RepoError::NotFound)?;
            if entity.lifecycle.is_live() {
                return Err(RepoError::Conflict(Conflict::NotDeleted));
            }
            let external_id_holder = s
                .entities
                .values()
                .find(|o| {
                    o.lifecycle.is_live()
                        && entity.data.external_id.is_some()
                        && o.data.external_id == entity.data.external_id
                })
                .map(|o| o.id);
            let cascaded = s
                .cascade_of
                .iter()
                .filter(|(_, of)| **of == id)
                .map(|(r, _)| s.relationships.get(r).cloned().ok_or(RepoError::NotFound))
                .collect::<Result<Vec<_>, _>>()?;
            let live_other_ends = other_ends(id, &cascaded)
                .into_iter()
                .filter(|e| s.entities.get(e).is_some_and(|e| e.lifecycle.is_live()))
                .collect();
            let state = RestoreState {
                entity,
                cascaded: &cascaded,
                external_id_holder,
                live_other_ends: &live_other_ends,
            };
            let writes = plan_restore(state, audit).map_err(RepoError::RestoreBlocked)?;
            for r in &writes.relationships {
                s.cascade_of.remove(&r.id);
            }
            let (entity, relationships) = (writes.entity.clone(), writes.relationships.clone());
            s.apply(writes);
            Ok((entity, relationships))
        })
    }
}

#[async_trait]
impl RelationshipRepository for InMemoryStore {
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
            r.lifecycle.deleted_by = Some(audit.actor);
            r.lifecycle.version = r.lifecycle.version.next();
            s.audit.push(audit.clone());
            Ok(())
        })
    }

    async fn expand(
        &self,
        frontier: &[EntityId],
        step: &Step,
        scan: Scan,
    ) -> Result<Expansion, RepoError> {
        Ok(self.with(|s| {
            s.expansions += 1;
            let live = |id: EntityId| {
                s.entities
                    .get(&id)
                    .filter(|e| e.lifecycle.is_live())
                    .cloned()
            };
            let matches = |r: &Relationship, far: &Entity| {
                step.relationship_type
                    .as_ref()
                    .is_none_or(|t| &r.data.kind == t)
                    && step
                        .min_confidence
                        .is_none_or(|m| r.confidence().is_some_and(|c| c >= m))
                    && step.far_type.as_ref().is_none_or(|t| &far.data.kind == t)
            };
            let mut all: Vec<&Relationship> = s
                .relationships
                .values()
                .filter(|r| r.lifecycle.is_live())
                .collect();
            all.sort_by_key(|r| r.id.as_uuid());
            let mut hops = Vec::new();
            let mut unexamined = false;
            for &near in frontier {
                for &outgoing in step.direction.ways() {
                    let from_near: Vec<&Relationship> = all
                        .iter()
                        .copied()
                        .filter(|r| {
                            let ends = &r.data.ends;
                            near == if outgoing {
                                ends.source()
                            } else {
                                ends.target()
                            }
                        })
                        .collect();
                    let mut taken = 0;
                    for r in from_near.iter().take(scan.examine as usize) {
                        let (Some(source), Some(target)) =
                            (live(r.data.ends.source()), live(r.data.ends.target()))
                        else {
                            continue;
                        };
                        let far = if outgoing { target } else { source };
                        if taken < scan.take && matches(r, &far) {
                            taken += 1;
                            hops.push(Hop {
                                outgoing,
                                relationship: (*r).clone(),
                                far,
                            });
                        }
                    }
                    if from_near.len() > scan.examine as usize && taken < scan.take {
                        unexamined = true;
                    }
                }
            }
            Expansion { hops, unexamined }
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
impl EvidenceRepository for InMemoryStore {
    async fn apply(
        &self,
        change: &EvidenceChange,
        entry: &AuditEntry,
        _keyed: Keyed<'_, EvidenceWrites>,
    ) -> Result<EvidenceWrites, RepoError> {
        self.with(|s| {
            let fact = match change {
                EvidenceChange::Add(e) => e.fact,
                EvidenceChange::Retract(id) | EvidenceChange::Restore(id) => {
                    match s.evidence.get(id) {
                        Some(e) => e.fact,
                        // A stated record changes only through its fact.
                        None if s.stated(*id).is_some() => {
                            return Err(RepoError::Conflict(Conflict::EvidenceStated));
                        }
                        None => return Err(RepoError::NotFound),
                    }
                }
            };
            let state = match fact {
                Fact::Entity(id) => s.entities.get(&id).cloned().map(FactState::Entity),
                Fact::Relationship(id) => s
                    .relationships
                    .get(&id)
                    .cloned()
                    .map(FactState::Relationship),
            }
            .ok_or(RepoError::NotFound)?;
            let record = match change {
                EvidenceChange::Add(_) => None,
                EvidenceChange::Retract(id) | EvidenceChange::Restore(id) => {
                    s.evidence.get(id).cloned()
                }
            };
            let others = s
                .evidence
                .values()
                .filter(|e| e.fact == fact && e.is_live() && !e.stated)
                .filter(|e| record.as_ref().is_none_or(|r| r.id != e.id))
                .filter_map(|e| e.confidence)
                .collect();
            let stored = StoredEvidence {
                fact: state,
                record,
                others,
            };
            let writes = plan_evidence(change, &stored, entry)?;
            s.evidence
                .insert(writes.evidence.id, writes.evidence.clone());
            match writes.fact.clone() {
                Some(FactState::Entity(e)) => {
                    s.entities.insert(e.id, e);
                }
                Some(FactState::Relationship(r)) => {
                    s.relationships.insert(r.id, r);
                }
                None => {}
            }
            s.audit.extend(writes.audit.iter().cloned());
            Ok(writes)
        })
    }

    async fn get(&self, id: EvidenceId) -> Result<Option<Evidence>, RepoError> {
        Ok(self.with(|s| s.evidence.get(&id).cloned().or_else(|| s.stated(id))))
    }

    async fn list(
        &self,
        filter: &EvidenceFilter,
        req: PageRequest,
    ) -> Result<Page<Evidence>, RepoError> {
        let items = self.with(|s| {
            let facts = (s.entities.keys().map(|id| Fact::Entity(*id)))
                .chain(s.relationships.keys().map(|id| Fact::Relationship(*id)));
            let stated: Vec<Evidence> = facts
                .filter_map(|fact| s.stated(fact.stated_evidence()))
                .collect();
            s.evidence
                .values()
                .cloned()
                .chain(stated)
                .filter(|e| filter.matches(e))
                .collect()
        });
        Ok(page(items, |e: &Evidence| e.id.as_uuid(), req))
    }
}

#[async_trait]
impl UserRepository for InMemoryStore {
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
impl SessionRepository for InMemoryStore {
    async fn create(&self, session: &Session) -> Result<(), RepoError> {
        self.with(|s| {
            s.refresh_tokens.insert(
                session.refresh_digest,
                RefreshTokenRecord::issued(session.id),
            );
            s.sessions.insert(session.id, session.clone())
        });
        Ok(())
    }

    async fn get_with_user(&self, id: SessionId) -> Result<Option<(Session, User)>, RepoError> {
        Ok(self.with(|s| {
            let session = s.sessions.get(&id)?;
            let user = s.users.get(&session.user_id)?;
            Some((session.clone(), user.clone()))
        }))
    }

    async fn rotate(
        &self,
        id: SessionId,
        presented: &TokenDigest,
        next: &TokenDigest,
        now: DateTime<Utc>,
        grace_since: Option<DateTime<Utc>>,
    ) -> Result<Rotation, RepoError> {
        Ok(self.with(|s| {
            let Some(session) = s.sessions.get_mut(&id).filter(|x| x.revoked_at.is_none()) else {
                return Rotation::NoSession;
            };
            let Some(t) = s
                .refresh_tokens
                .get(presented)
                .filter(|t| t.session == id)
                .cloned()
            else {
                return Rotation::NotIssued;
            };
            let outcome = match t.spent_at {
                None => {
                    for (digest, other) in &mut s.refresh_tokens {
                        if digest == presented {
                            other.spent_at = Some(now);
                        } else if t.parent.is_some()
                            && other.parent == t.parent
                            && other.session == id
                            && other.spent_at.is_none()
                        {
                            other.spent_at = Some(now);
                            other.graced_at = Some(now);
                        }
                    }
                    Rotation::Rotated
                }
                Some(at)
                    if t.graced_at.is_none() && grace_since.is_some_and(|since| at >= since) =>
                {
                    if let Some(t) = s.refresh_tokens.get_mut(presented) {
                        t.graced_at = Some(now);
                    }
                    Rotation::Graced
                }
                Some(_) => {
                    session.revoked_at = Some(now);
                    return Rotation::ReuseDetected;
                }
            };
            session.refresh_digest = *next;
            session.last_used_at = now;
            s.refresh_tokens.insert(
                *next,
                RefreshTokenRecord {
                    parent: Some(*presented),
                    ..RefreshTokenRecord::issued(id)
                },
            );
            outcome
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
impl LoginThrottle for InMemoryStore {
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
impl ApiKeyRepository for InMemoryStore {
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

    async fn find_by_digest_with_owner(
        &self,
        digest: &TokenDigest,
    ) -> Result<Option<(ApiKey, User)>, RepoError> {
        Ok(self.with(|s| {
            let key = s.keys.values().find(|k| k.digest == *digest)?;
            let owner = s.users.get(&key.created_by)?;
            Some((key.clone(), owner.clone()))
        }))
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

/// Units of work over the store: a work changes a copy of the state, and
/// its commit puts the copy in place. The fake does not merge: a write made
/// to the store by anyone else between the work's beginning and its commit
/// is lost, so a test should not interleave them.
#[async_trait]
impl UnitOfWork for InMemoryStore {
    async fn begin(&self) -> Result<Box<dyn Work>, RepoError> {
        let copy = self.with(|s| s.clone());
        Ok(Box::new(InMemoryWork {
            store: self.clone(),
            copy: Self(Arc::new(Mutex::new(copy))),
        }))
    }
}

/// An open unit of work of an [`InMemoryStore`].
#[derive(Debug)]
struct InMemoryWork {
    store: InMemoryStore,
    copy: InMemoryStore,
}

#[async_trait]
impl Work for InMemoryWork {
    fn entities(&self) -> Box<dyn EntityRepository + '_> {
        Box::new(self.copy.clone())
    }

    fn relationships(&self) -> Box<dyn RelationshipRepository + '_> {
        Box::new(self.copy.clone())
    }

    fn evidence(&self) -> Box<dyn EvidenceRepository + '_> {
        Box::new(self.copy.clone())
    }

    async fn commit(self: Box<Self>) -> Result<(), RepoError> {
        let state = self.copy.with(std::mem::take);
        self.store.with(|s| *s = state);
        Ok(())
    }
}
