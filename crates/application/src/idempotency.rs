//! Idempotent creates: the same `Idempotency-Key` and request from the same
//! principal within 24 hours gets the first response again, and nothing is
//! created twice.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::{AppError, Clock, RepoError, RequestContext, ResourceKind};

/// How long a stored response is replayed.
pub const IDEMPOTENCY_WINDOW: Duration = Duration::hours(24);

/// How long a request in flight holds its key before another may take it
/// over (for a process that died mid-request).
pub const IDEMPOTENCY_LEASE: Duration = Duration::seconds(60);

/// An `Idempotency-Key` a client sent, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// The longest key.
    pub const MAX_LEN: usize = 255;

    /// # Errors
    /// A message unless 1–255 visible ASCII characters.
    pub fn parse(text: &str) -> Result<Self, &'static str> {
        if text.is_empty()
            || text.len() > Self::MAX_LEN
            || !text.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err("must be 1 to 255 visible ASCII characters");
        }
        Ok(Self(text.to_owned()))
    }

    /// The key.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A keyed request: who sent it, the key, and a digest of what was asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotentRequest {
    /// The principal the key belongs to (`user:…` or `key:…`).
    pub principal: String,
    /// The key.
    pub key: IdempotencyKey,
    /// SHA-256 of the parts that describe the request.
    pub fingerprint: [u8; 32],
}

impl IdempotentRequest {
    /// The request `ctx` makes with `key`, described by `parts`: whatever
    /// the edge that received it says must be the same for a replay (over
    /// HTTP: the method, the path and the body). The parts are joined with
    /// newlines before they are hashed, so only the last may contain one;
    /// otherwise two different requests could share a fingerprint.
    #[must_use]
    pub fn new(ctx: &RequestContext, key: IdempotencyKey, parts: &[&[u8]]) -> Self {
        let principal = match ctx.actor.api_key {
            Some(k) => format!("key:{k}"),
            None => format!("user:{}", ctx.actor.user_id),
        };
        let mut hash = Sha256::new();
        for (i, part) in parts.iter().enumerate() {
            if i > 0 {
                hash.update(b"\n");
            }
            hash.update(part);
        }
        Self {
            principal,
            key,
            fingerprint: hash.finalize().into(),
        }
    }
}

/// A response as it is stored and replayed: a JSON document the edge that
/// answered encoded, and that only it reads. The application and the store
/// keep it as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse(Value);

impl StoredResponse {
    /// The response `encoded` describes.
    #[must_use]
    pub const fn new(encoded: Value) -> Self {
        Self(encoded)
    }

    /// The encoded response.
    #[must_use]
    pub const fn as_value(&self) -> &Value {
        &self.0
    }

    /// The encoded response, taken.
    #[must_use]
    pub fn into_value(self) -> Value {
        self.0
    }
}

/// The response of a keyed request, written with its effect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    /// The request.
    pub request: IdempotentRequest,
    /// Its response.
    pub response: StoredResponse,
}

/// How a use case renders the response it stores for a keyed create.
pub type Respond<'a, T> = &'a (dyn Fn(&T) -> StoredResponse + Sync);

/// A keyed request and how to render its response, when the client sent a key.
pub type Keyed<'a, T> = Option<(&'a IdempotentRequest, Respond<'a, T>)>;

/// What the store says when a keyed request arrives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The key is now held for this request: go ahead.
    Proceed,
    /// The same request was answered before: send this again.
    Replay(StoredResponse),
    /// The key was used for a different request.
    Mismatch,
    /// The same key is held by a request still in flight.
    InFlight,
}

/// What a keyed create answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Idempotent<T> {
    /// The create ran now (with a key, its response is stored with its effect).
    Fresh(T),
    /// The same request was answered before: this is its response, again.
    Replayed(StoredResponse),
}

/// Storage of idempotency keys.
#[async_trait::async_trait]
pub trait IdempotencyStore: Send + Sync {
    /// Claims `request`'s key until `lease_until`, unless it holds a
    /// response newer than `window_start` (replayed, or a mismatch) or is
    /// held by another request whose lease has not run out.
    ///
    /// # Errors
    /// `DatabaseUnavailable` or `Other`.
    async fn claim(
        &self,
        request: &IdempotentRequest,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        window_start: DateTime<Utc>,
    ) -> Result<Claim, RepoError>;

    /// Gives up a claim whose request failed, so it can be retried.
    ///
    /// # Errors
    /// `DatabaseUnavailable` or `Other`.
    async fn release(&self, request: &IdempotentRequest) -> Result<(), RepoError>;

    /// Removes keys created before `before`; returns how many.
    ///
    /// # Errors
    /// `DatabaseUnavailable` or `Other`.
    async fn purge(&self, before: DateTime<Utc>) -> Result<u64, RepoError>;
}

/// Claiming and releasing keys around a create.
#[derive(Clone)]
pub struct IdempotencyService {
    store: Arc<dyn IdempotencyStore>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for IdempotencyService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdempotencyService").finish_non_exhaustive()
    }
}

impl IdempotencyService {
    /// A service over the given ports.
    #[must_use]
    pub fn new(store: Arc<dyn IdempotencyStore>, clock: Arc<dyn Clock>) -> Self {
        Self { store, clock }
    }

    /// Claims the key, or says why not.
    ///
    /// # Errors
    /// `IdempotencyKeyReused` for another request under the same key;
    /// `IdempotencyInFlight` while the first is still running;
    /// `DatabaseUnavailable`; `Internal`.
    pub async fn claim(
        &self,
        request: &IdempotentRequest,
    ) -> Result<Option<StoredResponse>, AppError> {
        let now = self.clock.now();
        let claim = self
            .store
            .claim(
                request,
                now,
                now + IDEMPOTENCY_LEASE,
                now - IDEMPOTENCY_WINDOW,
            )
            .await
            .map_err(|e| AppError::from_repo(e, ResourceKind::Entity))?;
        match claim {
            Claim::Proceed => Ok(None),
            Claim::Replay(response) => Ok(Some(response)),
            Claim::Mismatch => Err(AppError::IdempotencyKeyReused),
            Claim::InFlight => Err(AppError::IdempotencyInFlight),
        }
    }

    /// Runs `create` under `request`'s key, owning the whole protocol: the
    /// key is claimed first; a request answered before is replayed instead
    /// of run; a request still in flight, or another request under the same
    /// key, is refused; and a create that fails gives the key back, so the
    /// client can retry. Without a key, `create` simply runs. `create` is
    /// expected to store its response with its effect (the [`Completion`]
    /// of a keyed write).
    ///
    /// # Errors
    /// As [`Self::claim`], and whatever `create` returns.
    pub async fn run<T, E, F, Fut>(
        &self,
        request: Option<&IdempotentRequest>,
        create: F,
    ) -> Result<Idempotent<T>, E>
    where
        E: From<AppError>,
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<T, E>>,
    {
        if let Some(request) = request
            && let Some(stored) = self.claim(request).await?
        {
            return Ok(Idempotent::Replayed(stored));
        }
        let result = create().await;
        if result.is_err()
            && let Some(request) = request
            && let Err(e) = self.release(request).await
        {
            // The claim expires with its lease; the create's error stands.
            tracing::warn!(error = %e, "could not release an idempotency key");
        }
        result.map(Idempotent::Fresh)
    }

    /// Releases a claim after its request failed.
    ///
    /// # Errors
    /// `DatabaseUnavailable`; `Internal`.
    pub async fn release(&self, request: &IdempotentRequest) -> Result<(), AppError> {
        self.store
            .release(request)
            .await
            .map_err(|e| AppError::from_repo(e, ResourceKind::Entity))
    }

    /// Removes keys past the replay window; returns how many.
    ///
    /// # Errors
    /// `DatabaseUnavailable`; `Internal`.
    pub async fn purge_expired(&self) -> Result<u64, AppError> {
        self.store
            .purge(self.clock.now() - IDEMPOTENCY_WINDOW)
            .await
            .map_err(|e| AppError::from_repo(e, ResourceKind::Entity))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use kg_domain::{Role, UserId};

    use super::*;
    use crate::Actor;
    use crate::testing::FixedClock;

    /// A store that answers claims from a script and records releases.
    #[derive(Default)]
    struct Scripted {
        claims: Mutex<Vec<Claim>>,
        released: Mutex<usize>,
    }

    #[async_trait::async_trait]
    impl IdempotencyStore for Scripted {
        async fn claim(
            &self,
            _: &IdempotentRequest,
            _: DateTime<Utc>,
            _: DateTime<Utc>,
            _: DateTime<Utc>,
        ) -> Result<Claim, RepoError> {
            Ok(self
                .claims
                .lock()
                .map_err(|_| RepoError::NotFound)?
                .pop()
                .unwrap_or(Claim::Proceed))
        }

        async fn release(&self, _: &IdempotentRequest) -> Result<(), RepoError> {
            *self.released.lock().map_err(|_| RepoError::NotFound)? += 1;
            Ok(())
        }

        async fn purge(&self, _: DateTime<Utc>) -> Result<u64, RepoError> {
            Ok(0)
        }
    }

    fn request() -> Result<IdempotentRequest, &'static str> {
        let ctx = RequestContext {
            actor: Actor {
                user_id: UserId::generate(),
                role: Role::Editor,
                session: None,
                api_key: None,
            },
            request_id: None,
        };
        Ok(IdempotentRequest::new(
            &ctx,
            IdempotencyKey::parse("k-1")?,
            &[b"POST", b"/v1/entities", b"{}"],
        ))
    }

    fn stored() -> StoredResponse {
        StoredResponse::new(serde_json::json!({"first": true}))
    }

    #[tokio::test]
    async fn the_protocol_replays_refuses_and_gives_a_failed_key_back()
    -> Result<(), Box<dyn std::error::Error>> {
        let store = Arc::new(Scripted::default());
        let service = IdempotencyService::new(store.clone(), Arc::new(FixedClock::default()));
        let request = request()?;
        let ran = Mutex::new(0);
        let create = |fail: bool| {
            let ran = &ran;
            move || async move {
                *ran.lock().map_err(|_| AppError::Forbidden)? += 1;
                if fail {
                    Err(AppError::Forbidden)
                } else {
                    Ok("made")
                }
            }
        };

        // Without a key the create just runs, and nothing is claimed.
        let fresh: Result<_, AppError> = service.run(None, create(false)).await;
        assert_eq!(fresh?, Idempotent::Fresh("made"));

        // A failed create gives its key back.
        let failed: Result<Idempotent<&str>, AppError> =
            service.run(Some(&request), create(true)).await;
        assert!(matches!(failed, Err(AppError::Forbidden)));
        assert_eq!(*store.released.lock().map_err(|_| "lock")?, 1);

        // An answered request is replayed without running; a mismatch and a
        // request in flight are refused without running.
        store.claims.lock().map_err(|_| "lock")?.extend([
            Claim::InFlight,
            Claim::Mismatch,
            Claim::Replay(stored()),
        ]);
        let replayed: Result<_, AppError> = service.run(Some(&request), create(false)).await;
        assert_eq!(replayed?, Idempotent::Replayed(stored()));
        let reused: Result<Idempotent<&str>, AppError> =
            service.run(Some(&request), create(false)).await;
        assert!(matches!(reused, Err(AppError::IdempotencyKeyReused)));
        let in_flight: Result<Idempotent<&str>, AppError> =
            service.run(Some(&request), create(false)).await;
        assert!(matches!(in_flight, Err(AppError::IdempotencyInFlight)));
        assert_eq!(
            *ran.lock().map_err(|_| "lock")?,
            2,
            "only the fresh and failed runs ran"
        );
        assert_eq!(*store.released.lock().map_err(|_| "lock")?, 1);
        Ok(())
    }
}
