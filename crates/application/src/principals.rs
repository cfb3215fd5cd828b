//! Principals recently authenticated, kept only while a change channel
//! vouches that nothing they rest on has changed since.
//!
//! Authentication reads a session with its user, or a key with its owner,
//! on every request. With many instances over one database, a cache of
//! those reads is only safe if every instance learns of a revocation, a
//! deactivation or a demotion made anywhere. The [`PrincipalCache`] holds
//! the reads; a channel (PostgreSQL's `LISTEN`, see ADR 34) drives it:
//!
//! - every change to a session's, user's or key's standing makes the
//!   channel call [`PrincipalCache::invalidate`], which drops every entry;
//! - the channel [vouches](PrincipalCache::vouch_until) for a short time
//!   after it has proven that it has delivered every change committed up to
//!   a moment; past that time the cache neither answers nor fills, and
//!   every request reads the database, as without a cache;
//! - a channel that is lost calls [`PrincipalCache::distrust`].
//!
//! A cache no channel vouches for is never used: with no channel (SQLite,
//! or a library user who wires none) authentication reads the database on
//! every request. Use cases that change a principal's standing invalidate
//! this instance's cache themselves, at once; other instances learn it from
//! the channel.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use kg_domain::{SessionId, TokenDigest};

use crate::Actor;

/// The longest a change to a principal's standing can go unseen by an
/// instance that cached the principal before it: a channel vouches for
/// this long after the moment up to which it has proven its delivery.
pub const PRINCIPAL_STALENESS_BOUND: Duration = Duration::from_secs(2);

/// The most principals one instance keeps; past it the cache starts over.
pub const PRINCIPAL_CACHE_CAPACITY: usize = 10_000;

/// What a credential names: a sign-in session, or an API key by the
/// digest of its secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Credential {
    Session(SessionId),
    Key(TokenDigest),
}

/// What authentication read for a credential, as much as a later request
/// needs to decide again without the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Grant {
    /// Who acts, in which role, through which session or key.
    pub actor: Actor,
    /// When the session or key stops working, if ever.
    pub expires_at: Option<DateTime<Utc>>,
    /// When a key's use was last recorded.
    pub last_used_at: Option<DateTime<Utc>>,
}

impl Grant {
    /// Whether the credential still works at `now`, as read.
    pub fn usable(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_none_or(|end| now < end)
    }
}

#[derive(Debug, Default)]
struct Inner {
    /// Moves on every invalidation, so a read begun before one is not
    /// stored after it.
    generation: u64,
    entries: HashMap<Credential, Grant>,
    /// Until when the channel vouches for the entries.
    vouched_until: Option<Instant>,
}

impl Inner {
    fn vouched(&self, now: Instant) -> bool {
        self.vouched_until.is_some_and(|until| now < until)
    }

    fn clear(&mut self) {
        self.generation = self.generation.wrapping_add(1);
        self.entries.clear();
    }
}

/// Authenticated principals, shared by the use cases of one instance and
/// driven by a change channel. See the module documentation.
#[derive(Debug)]
pub struct PrincipalCache {
    inner: Mutex<Inner>,
    capacity: usize,
}

impl Default for PrincipalCache {
    fn default() -> Self {
        Self::new(PRINCIPAL_CACHE_CAPACITY)
    }
}

impl PrincipalCache {
    /// An empty cache of at most `capacity` principals, which no channel
    /// vouches for yet.
    #[must_use]
    pub fn new(capacity: usize) -> Self {
        Self {
            inner: Mutex::new(Inner::default()),
            capacity: capacity.max(1),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The grant read for `credential`, while the channel vouches.
    pub(crate) fn get(&self, credential: &Credential) -> Option<Grant> {
        let inner = self.lock();
        if !inner.vouched(Instant::now()) {
            return None;
        }
        inner.entries.get(credential).copied()
    }

    /// The generation to hand back to [`Self::put`] with what a read about
    /// to start finds.
    pub(crate) fn generation(&self) -> u64 {
        self.lock().generation
    }

    /// Keeps `grant`, read after [`Self::generation`] gave `generation`,
    /// unless something was invalidated since or the channel does not
    /// vouch now.
    pub(crate) fn put(&self, credential: Credential, grant: Grant, generation: u64) {
        let mut inner = self.lock();
        if inner.generation != generation || !inner.vouched(Instant::now()) {
            return;
        }
        if inner.entries.len() >= self.capacity && !inner.entries.contains_key(&credential) {
            inner.entries.clear();
        }
        inner.entries.insert(credential, grant);
    }

    /// Records that a key's use was recorded at `at`, so the next requests
    /// do not record it again within the minute.
    pub(crate) fn touched(&self, credential: &Credential, at: DateTime<Utc>) {
        if let Some(grant) = self.lock().entries.get_mut(credential) {
            grant.last_used_at = Some(at);
        }
    }

    /// Drops every principal: something they may rest on has changed.
    pub fn invalidate(&self) {
        self.lock().clear();
    }

    /// The channel has delivered every change committed before some moment;
    /// the cache may answer until `until`, that moment plus
    /// [`PRINCIPAL_STALENESS_BOUND`]. An earlier `until` than one already
    /// given changes nothing.
    pub fn vouch_until(&self, until: Instant) {
        let mut inner = self.lock();
        if inner.vouched_until.is_none_or(|current| current < until) {
            inner.vouched_until = Some(until);
        }
    }

    /// The channel is lost: changes may go unseen, so nothing kept so far
    /// is used again, and nothing is kept until the channel vouches anew.
    pub fn distrust(&self) {
        let mut inner = self.lock();
        inner.clear();
        inner.vouched_until = None;
    }

    /// Whether a channel vouches for the cache now.
    #[must_use]
    pub fn is_vouched(&self) -> bool {
        self.lock().vouched(Instant::now())
    }

    /// How many principals are kept.
    #[must_use]
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// Whether no principal is kept.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use kg_domain::{Role, UserId};

    use super::*;

    fn grant() -> Grant {
        Grant {
            actor: Actor {
                user_id: UserId::generate(),
                role: Role::Editor,
                session: None,
                api_key: None,
            },
            expires_at: None,
            last_used_at: None,
        }
    }

    fn session() -> Credential {
        Credential::Session(SessionId::generate())
    }

    fn vouched() -> PrincipalCache {
        let cache = PrincipalCache::default();
        cache.vouch_until(Instant::now() + Duration::from_secs(3600));
        cache
    }

    #[test]
    fn a_cache_no_channel_vouches_for_neither_answers_nor_fills() {
        let cache = PrincipalCache::default();
        let key = session();
        cache.put(key, grant(), cache.generation());
        assert!(cache.is_empty());
        assert_eq!(cache.get(&key), None);
    }

    #[test]
    fn a_vouched_cache_answers_what_it_was_given() {
        let cache = vouched();
        let (key, grant) = (session(), grant());
        cache.put(key, grant, cache.generation());
        assert_eq!(cache.get(&key), Some(grant));
        assert_eq!(cache.get(&session()), None);
    }

    #[test]
    fn past_the_vouched_time_nothing_is_answered() {
        let cache = vouched();
        let key = session();
        cache.put(key, grant(), cache.generation());
        let cache_past = PrincipalCache::default();
        cache_past.vouch_until(Instant::now() - Duration::from_millis(1));
        cache_past.put(key, grant(), cache_past.generation());
        assert_eq!(cache_past.get(&key), None);
        // An earlier time does not shorten what was vouched.
        cache.vouch_until(Instant::now() - Duration::from_millis(1));
        assert!(cache.get(&key).is_some());
    }

    #[test]
    fn a_read_begun_before_an_invalidation_is_not_kept() {
        let cache = vouched();
        let key = session();
        let before = cache.generation();
        cache.invalidate();
        cache.put(key, grant(), before);
        assert_eq!(cache.get(&key), None);
        cache.put(key, grant(), cache.generation());
        assert!(cache.get(&key).is_some());
    }

    #[test]
    fn invalidation_drops_every_principal() {
        let cache = vouched();
        let keys = [session(), Credential::Key(TokenDigest::from_bytes([1; 32]))];
        for key in keys {
            cache.put(key, grant(), cache.generation());
        }
        cache.invalidate();
        assert!(keys.iter().all(|k| cache.get(k).is_none()));
        assert!(cache.is_vouched(), "an invalidation is not a loss");
    }

    #[test]
    fn a_lost_channel_drops_everything_until_it_vouches_again() {
        let cache = vouched();
        let key = session();
        let before = cache.generation();
        cache.put(key, grant(), before);
        cache.distrust();
        assert!(!cache.is_vouched());
        assert_eq!(cache.get(&key), None);
        cache.vouch_until(Instant::now() + Duration::from_secs(60));
        assert_eq!(cache.get(&key), None, "nothing from before the loss");
        cache.put(key, grant(), before);
        assert_eq!(cache.get(&key), None, "nor a read begun before it");
    }

    #[test]
    fn the_cache_never_holds_more_than_its_capacity() {
        let cache = PrincipalCache::new(3);
        cache.vouch_until(Instant::now() + Duration::from_secs(60));
        for _ in 0..10 {
            cache.put(session(), grant(), cache.generation());
            assert!(cache.len() <= 3, "{}", cache.len());
        }
        let key = session();
        cache.put(key, grant(), cache.generation());
        assert!(cache.get(&key).is_some(), "the newest is kept");
    }

    #[test]
    fn a_recorded_use_is_remembered() {
        let cache = vouched();
        let key = Credential::Key(TokenDigest::from_bytes([2; 32]));
        cache.put(key, grant(), cache.generation());
        let at = Utc::now();
        cache.touched(&key, at);
        assert_eq!(cache.get(&key).and_then(|g| g.last_used_at), Some(at));
    }
}
