//! Request rate limits: per client IP on `/v1/auth/*`, per client IP on
//! failed authentication everywhere (checked before any database work), and
//! per authenticated principal elsewhere. The limiters are built once and
//! shared by every worker, so the limits do not multiply with the worker
//! count. Several instances share the auth and per-principal budgets
//! through a [`SharedBudget`] (Redis, ADR 41); without one, or while it
//! cannot answer, each instance enforces its own. Their housekeeping runs
//! off the request path ([`RateLimits::keep_tidy`]).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use governor::clock::{Clock as _, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::{DefaultKeyedRateLimiter, Quota};

use crate::{ApiError, ProblemCode};

/// Above this many tracked keys, the housekeeping task is woken to drop
/// stale ones; it also runs every [`HOUSEKEEPING_EVERY`].
const HOUSEKEEPING_THRESHOLD: usize = 10_000;
/// How often stale keys are dropped when nothing wakes the task sooner.
const HOUSEKEEPING_EVERY: Duration = Duration::from_secs(30);
/// Failed authentications a client may make per minute unless configured.
const DEFAULT_FAILURES_PER_MINUTE: NonZeroU32 = NonZeroU32::MIN.saturating_add(59);
/// The one bucket of the requests whose client has no address (a peer
/// that is not an IP socket): limited together rather than not at all.
const NO_PEER: &str = "no-peer";

/// While the shared budget is unavailable, how often a request tries it
/// again (the others go straight to this instance's limiter).
const SHARED_RETRY_EVERY: Duration = Duration::from_secs(1);

/// What a shared budget answered for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SharedDecision {
    /// Counted; the request may go on.
    Allowed,
    /// The bucket is empty; one more request fits after this long.
    Refused(Duration),
}

/// A budget that several instances share: one bucket per key, whichever
/// instance the request reaches (ADR 41). A GCRA bucket that holds
/// `per_minute` requests and refills evenly, as this instance's own.
pub trait SharedBudget: Send + Sync + std::fmt::Debug {
    /// Counts one request of `key` in the bucket named `bucket`.
    ///
    /// # Errors
    /// The budget could not be reached or answered nonsense: the caller
    /// then counts the request by itself.
    fn take<'a>(
        &'a self,
        bucket: &'static str,
        key: &'a str,
        per_minute: u32,
    ) -> BoxFuture<'a, Result<SharedDecision, String>>;
}

/// The shared budget, and whether it is answering.
#[derive(Debug)]
struct Shared {
    budget: Arc<dyn SharedBudget>,
    /// How long a request waits for it before it is counted locally.
    timeout: Duration,
    /// When it failed last, in milliseconds since `epoch`; 0 while it works.
    failed_at: AtomicU64,
    epoch: tokio::time::Instant,
}

impl Shared {
    fn millis(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis())
            .unwrap_or(u64::MAX)
            .max(1)
    }

    /// Whether to ask the budget now: always while it works, once per
    /// [`SHARED_RETRY_EVERY`] while it does not.
    fn worth_asking(&self) -> bool {
        let failed_at = self.failed_at.load(Ordering::Relaxed);
        if failed_at == 0 {
            return true;
        }
        let now = self.millis();
        let retry = u64::try_from(SHARED_RETRY_EVERY.as_millis()).unwrap_or(u64::MAX);
        now.saturating_sub(failed_at) >= retry
            && self
                .failed_at
                .compare_exchange(failed_at, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }

    /// The budget answered a request asked at `asked_at`. Only an answer
    /// to a request asked after the last failure (the retry's own) ends an
    /// outage: a late answer to an earlier one says nothing of now, and a
    /// Redis that answers only some of the time stays out of the path.
    fn answered(&self, asked_at: u64) {
        let failed_at = self.failed_at.load(Ordering::Relaxed);
        if failed_at != 0
            && asked_at >= failed_at
            && self
                .failed_at
                .compare_exchange(failed_at, 0, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::info!(
                "the shared rate-limit budget answers again: limits are shared across instances"
            );
        }
    }

    fn failed(&self, error: &str) {
        if self.failed_at.swap(self.millis(), Ordering::Relaxed) == 0 {
            // Once per outage, not once per request.
            tracing::warn!(
                error,
                "the shared rate-limit budget does not answer: each instance enforces its own limits until it does"
            );
        }
    }
}

/// Networks whose `X-Forwarded-For` is believed: exact addresses or CIDRs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<(IpAddr, u8)>);

impl TrustedProxies {
    /// Parses a comma-separated list (`10.0.0.1, 10.1.0.0/16, ::1`).
    ///
    /// # Errors
    /// A message naming the first entry that is not an address or CIDR.
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut nets = Vec::new();
        for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (addr, prefix) = entry
                .split_once('/')
                .map_or((entry, None), |(a, p)| (a, Some(p)));
            let addr: IpAddr = addr
                .parse()
                .map_err(|_| format!("{entry:?} is not an IP address or CIDR"))?;
            let max = if addr.is_ipv4() { 32 } else { 128 };
            let prefix = match prefix {
                None => max,
                Some(p) => p
                    .parse::<u8>()
                    .ok()
                    .filter(|p| *p <= max)
                    .ok_or_else(|| format!("{entry:?} has a bad prefix length"))?,
            };
            // Peers are compared as IPv4 when they are IPv4-mapped, so a
            // mapped network (`::ffff:10.0.0.0/104`) is its IPv4 network.
            nets.push(match addr {
                IpAddr::V6(v6) if prefix >= 96 => v6
                    .to_ipv4_mapped()
                    .map_or((addr, prefix), |v4| (IpAddr::V4(v4), prefix - 96)),
                _ => (addr, prefix),
            });
        }
        Ok(Self(nets))
    }

    fn contains(&self, ip: IpAddr) -> bool {
        self.0
            .iter()
            .any(|(net, prefix)| same_prefix(*net, ip, *prefix))
    }
}

fn same_prefix(a: IpAddr, b: IpAddr, prefix: u8) -> bool {
    let (a, b, bits) = match (a, b) {
        (IpAddr::V4(a), IpAddr::V4(b)) => (
            u128::from(u32::from(a)) << 96,
            u128::from(u32::from(b)) << 96,
            prefix,
        ),
        (IpAddr::V6(a), IpAddr::V6(b)) => (u128::from(a), u128::from(b), prefix),
        (IpAddr::V4(_), IpAddr::V6(_)) | (IpAddr::V6(_), IpAddr::V4(_)) => return false,
    };
    let mask = if bits == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(bits))
    };
    a & mask == b & mask
}

/// The client's address: the socket peer, unless the peer is a trusted
/// proxy, in which case the rightmost `X-Forwarded-For` hop that is not a
/// trusted proxy. A client that reaches kg directly cannot choose its key.
/// IPv4 clients of a dual-stack socket (`::ffff:a.b.c.d`) are IPv4 clients;
/// a hop may carry a port or brackets (`203.0.113.9:4711`, `[2001:db8::7]`).
#[must_use]
pub fn client_ip(
    peer: Option<IpAddr>,
    forwarded_for: Option<&str>,
    trusted: &TrustedProxies,
) -> Option<IpAddr> {
    let peer = peer?.to_canonical();
    if !trusted.contains(peer) {
        return Some(peer);
    }
    let hops = forwarded_for
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .rev();
    for hop in hops {
        match parse_hop(hop) {
            Some(ip) if trusted.contains(ip) => {}
            Some(ip) => return Some(ip),
            // A garbled hop cannot be attributed: fall back to the proxy itself.
            None => return Some(peer),
        }
    }
    Some(peer)
}

/// One `X-Forwarded-For` hop: an address, with or without a port, with or
/// without brackets around an IPv6 address.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let ip = hop
        .parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|a| a.ip()))
        .or_else(|| {
            hop.strip_prefix('[')
                .and_then(|h| h.strip_suffix(']'))
                .and_then(|h| h.parse::<IpAddr>().ok())
        })?;
    Some(ip.to_canonical())
}

/// The bucket an address falls in: IPv6 clients by /64, since one host
/// usually owns a whole /64.
fn ip_key(ip: IpAddr) -> String {
    match ip.to_canonical() {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & (u128::MAX << 64);
            format!("{}/64", std::net::Ipv6Addr::from(bits))
        }
    }
}

/// The key a client's requests are counted under.
#[must_use]
pub fn client_key(
    peer: Option<IpAddr>,
    forwarded_for: Option<&str>,
    trusted: &TrustedProxies,
) -> String {
    client_ip(peer, forwarded_for, trusted).map_or_else(|| NO_PEER.to_owned(), ip_key)
}

#[derive(Debug)]
struct Limiter {
    name: &'static str,
    per_minute: u32,
    inner: DefaultKeyedRateLimiter<String>,
}

impl Limiter {
    fn new(name: &'static str, per_minute: NonZeroU32) -> Self {
        Self {
            name,
            per_minute: per_minute.get(),
            inner: DefaultKeyedRateLimiter::keyed(Quota::per_minute(per_minute)),
        }
    }

    /// Counts one request of `key`; refused with the wait when its bucket
    /// is empty.
    fn take(&self, key: &String) -> Result<(), Duration> {
        self.inner
            .check_key(key)
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }

    fn check(&self, key: &String) -> Result<(), ApiError> {
        self.take(key)
            .map_err(|wait| ApiError::rate_limited(self.name, self.per_minute, whole_seconds(wait)))
    }

    fn tidy(&self) {
        self.inner.retain_recent();
        self.inner.shrink_to_fit();
    }
}

fn whole_seconds(wait: Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

/// Clients that failed to authenticate too often: refused until the time
/// kept, before their credentials are looked at again. Only clients over
/// the limit are kept here, so it stays small; housekeeping drops those
/// whose time is up.
#[derive(Debug, Default)]
struct Refused {
    until: Mutex<HashMap<String, Instant>>,
    /// How many clients are listed: requests skip the lock while none is.
    listed: AtomicUsize,
}

impl Refused {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Instant>> {
        self.until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn is_empty(&self) -> bool {
        self.listed.load(Ordering::Relaxed) == 0
    }

    fn until(&self, key: &str) -> Option<Duration> {
        let now = Instant::now();
        self.lock()
            .get(key)
            .and_then(|until| until.checked_duration_since(now))
    }

    fn refuse(&self, key: String, wait: Duration) {
        let mut map = self.lock();
        map.insert(key, Instant::now() + wait);
        self.listed.store(map.len(), Ordering::Relaxed);
    }

    fn len(&self) -> usize {
        self.lock().len()
    }

    fn tidy(&self) {
        let now = Instant::now();
        let mut map = self.lock();
        map.retain(|_, until| *until > now);
        map.shrink_to_fit();
        self.listed.store(map.len(), Ordering::Relaxed);
    }
}

/// Failed authentications per client: a bucket that says how full it is,
/// so the failure that empties it refuses the client (rather than the one
/// after), for as long as one cell takes to refill.
#[derive(Debug)]
struct Failures {
    per_minute: u32,
    refill: Duration,
    inner: governor::RateLimiter<
        String,
        governor::state::keyed::DefaultKeyedStateStore<String>,
        DefaultClock,
        StateInformationMiddleware,
    >,
}

impl Failures {
    fn new(per_minute: NonZeroU32) -> Self {
        let quota = Quota::per_minute(per_minute);
        Self {
            per_minute: per_minute.get(),
            refill: quota.replenish_interval(),
            inner: governor::RateLimiter::keyed(quota)
                .with_middleware::<StateInformationMiddleware>(),
        }
    }

    /// Counts a failure; answers how long to refuse the client, if at all.
    fn take(&self, key: &String) -> Option<Duration> {
        match self.inner.check_key(key) {
            Ok(state) if state.remaining_burst_capacity() > 0 => None,
            Ok(_) => Some(self.refill),
            Err(not_until) => Some(
                not_until
                    .wait_time_from(DefaultClock::default().now())
                    .max(self.refill),
            ),
        }
    }

    fn tidy(&self) {
        self.inner.retain_recent();
        self.inner.shrink_to_fit();
    }
}

/// The shared limiters. Cheap to clone.
#[derive(Debug, Clone)]
pub struct RateLimits {
    auth: Arc<Limiter>,
    principal: Arc<Limiter>,
    failures: Arc<Failures>,
    refused: Arc<Refused>,
    trusted: Arc<TrustedProxies>,
    untidy: Arc<(AtomicBool, tokio::sync::Notify)>,
    shared: Option<Arc<Shared>>,
}

impl RateLimits {
    /// Limiters allowing `auth_per_minute` requests to `/v1/auth/*` per
    /// client address and `per_minute` requests per principal elsewhere,
    /// and 60 failed authentications per client address a minute unless
    /// [`Self::with_failed_authentication`] says otherwise.
    ///
    /// Spawn [`Self::keep_tidy`] beside the server: the limiters drop stale
    /// keys only there, never on a request.
    #[must_use]
    pub fn new(
        auth_per_minute: NonZeroU32,
        per_minute: NonZeroU32,
        trusted: TrustedProxies,
    ) -> Self {
        Self {
            auth: Arc::new(Limiter::new("auth", auth_per_minute)),
            principal: Arc::new(Limiter::new("default", per_minute)),
            failures: Arc::new(Failures::new(DEFAULT_FAILURES_PER_MINUTE)),
            refused: Arc::new(Refused::default()),
            trusted: Arc::new(trusted),
            untidy: Arc::new((AtomicBool::new(false), tokio::sync::Notify::new())),
            shared: None,
        }
    }

    /// Counts the auth and per-principal limits in `budget`, shared with
    /// every instance that uses it. While it does not answer within
    /// `timeout`, requests are counted by this instance's own limiters: the
    /// limits fail open to what one instance enforces, never to none.
    #[must_use]
    pub fn with_shared_budget(mut self, budget: Arc<dyn SharedBudget>, timeout: Duration) -> Self {
        self.shared = Some(Arc::new(Shared {
            budget,
            timeout,
            failed_at: AtomicU64::new(0),
            epoch: tokio::time::Instant::now(),
        }));
        self
    }

    /// Counts a request of `key` in the shared budget when there is one
    /// and it answers, else in `limiter`.
    async fn count(&self, limiter: &Limiter, key: &String) -> Result<(), ApiError> {
        if let Some(shared) = self.shared.as_ref().filter(|s| s.worth_asking()) {
            let asked_at = shared.millis();
            let asked = shared.budget.take(limiter.name, key, limiter.per_minute);
            match tokio::time::timeout(shared.timeout, asked).await {
                Ok(Ok(decision)) => {
                    shared.answered(asked_at);
                    return match decision {
                        SharedDecision::Allowed => Ok(()),
                        SharedDecision::Refused(wait) => Err(ApiError::rate_limited(
                            limiter.name,
                            limiter.per_minute,
                            whole_seconds(wait),
                        )),
                    };
                }
                Ok(Err(error)) => shared.failed(&error),
                Err(_) => shared.failed("no answer in time"),
            }
        }
        limiter.check(key)
    }

    /// Allows `per_minute` failed authentications per client address; past
    /// that the client's requests are refused before their credentials are
    /// looked at, until its bucket refills.
    #[must_use]
    pub fn with_failed_authentication(mut self, per_minute: NonZeroU32) -> Self {
        self.failures = Arc::new(Failures::new(per_minute));
        self
    }

    /// The key of the client that sent a request.
    pub(crate) fn client_key(&self, peer: Option<IpAddr>, forwarded_for: Option<&str>) -> String {
        client_key(peer, forwarded_for, &self.trusted)
    }

    /// Counts a request to `/v1/auth/*` from `client`.
    pub(crate) async fn check_client(&self, client: &String) -> Result<(), ApiError> {
        let checked = self.count(&self.auth, client).await;
        self.wake_if_untidy(self.auth.inner.len());
        checked
    }

    /// Refuses `client` while it has failed to authenticate too often. No
    /// database work is done before this check.
    /// `client` gives the client's key, asked for only while some client
    /// is refused.
    pub(crate) fn check_unauthenticated(
        &self,
        client: impl FnOnce() -> String,
    ) -> Result<(), ApiError> {
        if self.refused.is_empty() {
            return Ok(());
        }
        match self.refused.until(&client()) {
            Some(wait) => Err(ApiError::rate_limited(
                "unauthenticated",
                self.failures.per_minute,
                whole_seconds(wait),
            )),
            None => Ok(()),
        }
    }

    /// Counts a failed authentication of `client`; the failure that
    /// empties its bucket refuses its next requests until one more may
    /// fail.
    pub(crate) fn failed_authentication(&self, client: &String) {
        if let Some(wait) = self.failures.take(client) {
            self.refused.refuse(client.clone(), wait);
        }
        self.wake_if_untidy(self.failures.inner.len());
    }

    pub(crate) async fn check_principal(&self, key: String) -> Result<(), ApiError> {
        let checked = self.count(&self.principal, &key).await;
        self.wake_if_untidy(self.principal.inner.len());
        checked
    }

    /// Wakes the housekeeping task (once) when a limiter tracks many keys.
    fn wake_if_untidy(&self, tracked: usize) {
        if tracked > HOUSEKEEPING_THRESHOLD && !self.untidy.0.swap(true, Ordering::Relaxed) {
            self.untidy.1.notify_one();
        }
    }

    /// Drops the keys whose buckets are full again (they would behave as
    /// new ones) and the refusals whose time is up.
    pub fn tidy(&self) {
        self.auth.tidy();
        self.principal.tidy();
        self.failures.tidy();
        self.refused.tidy();
        self.untidy.0.store(false, Ordering::Relaxed);
    }

    /// Tidies every [`HOUSEKEEPING_EVERY`], and soon when a limiter has
    /// grown past [`HOUSEKEEPING_THRESHOLD`] keys (at most once a second,
    /// should that many keys be live): never on a request's path. Runs
    /// until dropped.
    pub async fn keep_tidy(self) {
        let mut every = tokio::time::interval(HOUSEKEEPING_EVERY);
        loop {
            tokio::select! {
                _ = every.tick() => {}
                () = self.untidy.1.notified() => {}
            }
            self.tidy();
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    /// How many client keys the auth and failed-authentication limiters
    /// track now, and how many clients are refused.
    #[must_use]
    pub fn tracked_clients(&self) -> usize {
        self.auth.inner.len() + self.failures.inner.len() + self.refused.len()
    }
}

impl Default for RateLimits {
    fn default() -> Self {
        Self::new(
            NonZeroU32::MIN.saturating_add(29),
            NonZeroU32::MIN.saturating_add(599),
            TrustedProxies::default(),
        )
    }
}

impl ApiError {
    /// 429 with `Retry-After` and the IETF `RateLimit`/`RateLimit-Policy` headers.
    pub(crate) fn rate_limited(policy: &str, per_minute: u32, retry_after: u64) -> Self {
        let mut err = Self::new(
            ProblemCode::RateLimited,
            format!("Too many requests; retry in {retry_after} s."),
        );
        err.set_retry_after(retry_after);
        err.add_header(
            "ratelimit-policy",
            format!("\"{policy}\";q={per_minute};w=60"),
        );
        err.add_header("ratelimit", format!("\"{policy}\";r=0;t={retry_after}"));
        err
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))
    }

    #[test]
    fn forwarded_headers_count_only_from_trusted_proxies() -> Result<(), String> {
        let trusted = TrustedProxies::parse("10.0.0.1, 192.168.0.0/16, fd00::/8")?;
        // Direct client: its own X-Forwarded-For is ignored.
        assert_eq!(
            client_ip(Some(ip("203.0.113.9")), Some("1.2.3.4"), &trusted),
            Some(ip("203.0.113.9"))
        );
        // Through a proxy: the rightmost untrusted hop.
        assert_eq!(
            client_ip(Some(ip("10.0.0.1")), Some("6.6.6.6, 203.0.113.9"), &trusted),
            Some(ip("203.0.113.9"))
        );
        assert_eq!(
            client_ip(
                Some(ip("10.0.0.1")),
                Some("6.6.6.6, 203.0.113.9, 192.168.4.4"),
                &trusted
            ),
            Some(ip("203.0.113.9"))
        );
        // Garbage or nothing: the proxy itself.
        assert_eq!(
            client_ip(Some(ip("10.0.0.1")), Some("not-an-ip"), &trusted),
            Some(ip("10.0.0.1"))
        );
        assert_eq!(
            client_ip(Some(ip("10.0.0.1")), None, &trusted),
            Some(ip("10.0.0.1"))
        );
        assert_eq!(
            client_ip(Some(ip("fd12::1")), Some("2001:db8::7"), &trusted),
            Some(ip("2001:db8::7"))
        );
        Ok(())
    }

    #[test]
    fn bad_proxy_entries_are_refused() {
        for bad in ["10.0.0.1/33", "example.org", "10.0.0/8", "::1/129"] {
            assert!(TrustedProxies::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ipv6_clients_share_a_bucket_per_64() {
        assert_eq!(
            ip_key(ip("2001:db8:1:2:aaaa::1")),
            ip_key(ip("2001:db8:1:2:bbbb::9"))
        );
        assert_ne!(ip_key(ip("2001:db8:1:2::1")), ip_key(ip("2001:db8:1:3::1")));
    }

    fn key(peer: &str, forwarded: Option<&str>, trusted: &TrustedProxies) -> String {
        client_key(Some(ip(peer)), forwarded, trusted)
    }

    #[tokio::test]
    async fn the_limit_is_exact_per_client() -> Result<(), String> {
        let per_minute = NonZeroU32::new(3).ok_or("zero")?;
        let limits = RateLimits::new(per_minute, per_minute, TrustedProxies::default());
        let client = limits.client_key(Some(ip("203.0.113.9")), None);
        for _ in 0..3 {
            assert!(limits.check_client(&client).await.is_ok());
        }
        let err = limits
            .check_client(&client)
            .await
            .err()
            .ok_or("the 4th request passed")?;
        assert_eq!(err.code(), ProblemCode::RateLimited);
        let other = limits.client_key(Some(ip("203.0.113.10")), None);
        assert!(
            limits.check_client(&other).await.is_ok(),
            "another client has its own bucket"
        );
        Ok(())
    }

    /// A shared budget that answers as told and counts its calls.
    #[derive(Debug)]
    struct Scripted {
        answer: Mutex<Result<SharedDecision, String>>,
        calls: AtomicUsize,
    }

    impl SharedBudget for Scripted {
        fn take<'a>(
            &'a self,
            _bucket: &'static str,
            _key: &'a str,
            _per_minute: u32,
        ) -> BoxFuture<'a, Result<SharedDecision, String>> {
            self.calls.fetch_add(1, Ordering::Relaxed);
            let answer = self
                .answer
                .lock()
                .map_or_else(|_| Err("poisoned".to_owned()), |a| a.clone());
            Box::pin(std::future::ready(answer))
        }
    }

    fn shared(answer: Result<SharedDecision, String>) -> (RateLimits, Arc<Scripted>) {
        let budget = Arc::new(Scripted {
            answer: Mutex::new(answer),
            calls: AtomicUsize::new(0),
        });
        let two = NonZeroU32::MIN.saturating_add(1);
        let limits = RateLimits::new(two, two, TrustedProxies::default())
            .with_shared_budget(budget.clone(), Duration::from_millis(250));
        (limits, budget)
    }

    #[tokio::test]
    async fn the_shared_budget_decides_while_it_answers() {
        let (limits, budget) = shared(Ok(SharedDecision::Allowed));
        // More than the local quota of 2: the shared budget alone decides.
        for _ in 0..5 {
            assert!(limits.check_principal("user:a".to_owned()).await.is_ok());
        }
        assert_eq!(budget.calls.load(Ordering::Relaxed), 5);

        let (limits, _) = shared(Ok(SharedDecision::Refused(Duration::from_millis(1500))));
        let err = limits
            .check_client(&"203.0.113.9".to_owned())
            .await
            .expect_err("refused by the shared budget");
        assert_eq!(err.code(), ProblemCode::RateLimited);
        assert!(err.to_string().ends_with("retry in 2 s."), "{err}");
    }

    #[tokio::test(start_paused = true)]
    async fn an_unanswering_shared_budget_falls_back_to_local_limits_and_is_retried_sparingly() {
        let (limits, budget) = shared(Err("down".to_owned()));
        let calls = || budget.calls.load(Ordering::Relaxed);
        let key = || "user:a".to_owned();
        assert!(limits.check_principal(key()).await.is_ok());
        assert!(limits.check_principal(key()).await.is_ok());
        assert!(
            limits.check_principal(key()).await.is_err(),
            "the local quota of 2 holds while the shared budget is down"
        );
        // Only the first request asked it; the next try waits a second.
        assert_eq!(calls(), 1);
        tokio::time::advance(Duration::from_millis(1100)).await;
        let _ = limits.check_principal("user:b".to_owned()).await;
        let _ = limits.check_principal("user:b".to_owned()).await;
        assert_eq!(calls(), 2, "one retry after a second, still down");

        // Back: the next retry's answer puts it in the path again.
        if let Ok(mut answer) = budget.answer.lock() {
            *answer = Ok(SharedDecision::Allowed);
        }
        tokio::time::advance(Duration::from_millis(1100)).await;
        for _ in 0..4 {
            assert!(limits.check_principal("user:c".to_owned()).await.is_ok());
        }
        assert_eq!(calls(), 6, "every request asks it again");
    }

    #[test]
    fn ipv4_clients_of_a_dual_stack_socket_have_their_own_buckets() {
        let none = TrustedProxies::default();
        assert_eq!(key("::ffff:203.0.113.9", None, &none), "203.0.113.9");
        assert_ne!(
            key("::ffff:203.0.113.9", None, &none),
            key("::ffff:203.0.113.10", None, &none)
        );
        // A proxy seen through a dual-stack socket is still trusted.
        let trusted = TrustedProxies::parse("10.0.0.1").unwrap_or_default();
        assert_eq!(
            key("::ffff:10.0.0.1", Some("198.51.100.7"), &trusted),
            "198.51.100.7"
        );
    }

    #[test]
    fn forwarded_hops_with_ports_or_brackets_name_their_client() {
        let trusted = TrustedProxies::parse("10.0.0.1").unwrap_or_default();
        for (hop, client) in [
            ("198.51.100.7:4711", "198.51.100.7"),
            ("[2001:db8:1:2::7]:443", "2001:db8:1:2::/64"),
            ("[2001:db8:1:2::7]", "2001:db8:1:2::/64"),
            ("::ffff:198.51.100.8", "198.51.100.8"),
        ] {
            assert_eq!(key("10.0.0.1", Some(hop), &trusted), client, "{hop}");
        }
        assert_eq!(key("10.0.0.1", Some("garbage:port"), &trusted), "10.0.0.1");
    }

    #[tokio::test]
    async fn requests_without_a_peer_share_one_limited_bucket() -> Result<(), String> {
        let per_minute = NonZeroU32::new(2).ok_or("zero")?;
        let limits = RateLimits::new(per_minute, per_minute, TrustedProxies::default());
        let client = limits.client_key(None, Some("203.0.113.1"));
        assert_eq!(client, NO_PEER);
        assert!(limits.check_client(&client).await.is_ok());
        assert!(limits.check_client(&client).await.is_ok());
        assert!(
            limits.check_client(&client).await.is_err(),
            "a third request passed"
        );
        Ok(())
    }

    #[test]
    fn failed_authentications_refuse_the_client_before_its_credentials_are_read()
    -> Result<(), String> {
        let limits = RateLimits::new(
            NonZeroU32::new(100).ok_or("zero")?,
            NonZeroU32::new(100).ok_or("zero")?,
            TrustedProxies::default(),
        )
        .with_failed_authentication(NonZeroU32::new(3).ok_or("zero")?);
        let client = limits.client_key(Some(ip("203.0.113.9")), None);
        for _ in 0..3 {
            assert!(limits.check_unauthenticated(|| client.clone()).is_ok());
            limits.failed_authentication(&client);
        }
        // The failure that emptied the bucket refused the client.
        let refused = limits
            .check_unauthenticated(|| client.clone())
            .err()
            .ok_or("an over-limit client was let through")?;
        assert_eq!(refused.code(), ProblemCode::RateLimited);
        let other = limits.client_key(Some(ip("203.0.113.10")), None);
        assert!(limits.check_unauthenticated(|| other.clone()).is_ok());
        Ok(())
    }

    #[test]
    fn a_mapped_proxy_network_is_its_ipv4_network() -> Result<(), String> {
        let trusted = TrustedProxies::parse("::ffff:10.0.0.0/104")?;
        assert_eq!(
            key("10.1.2.3", Some("198.51.100.7"), &trusted),
            "198.51.100.7"
        );
        assert_eq!(
            key("::ffff:10.1.2.3", Some("198.51.100.7"), &trusted),
            "198.51.100.7"
        );
        assert_eq!(key("11.0.0.1", Some("198.51.100.7"), &trusted), "11.0.0.1");
        Ok(())
    }

    /// SECURITY-MATRIX D2: a flood of distinct client keys (IPv6 /64s, as
    /// spoofing or a large address block gives) is held only until the
    /// buckets refill, then dropped by the housekeeping.
    #[tokio::test]
    async fn a_hundred_thousand_client_keys_are_dropped_once_their_buckets_refill() {
        // 60,000 a minute: a bucket refills in one millisecond.
        let quick = NonZeroU32::new(60_000).unwrap_or(NonZeroU32::MIN);
        let limits = RateLimits::new(quick, quick, TrustedProxies::default())
            .with_failed_authentication(quick);
        for i in 0..100_000_u32 {
            let [a, b, c, d] = i.to_be_bytes();
            let peer = IpAddr::from([
                0x2001,
                0x0db8,
                u16::from_be_bytes([a, b]),
                u16::from_be_bytes([c, d]),
                0,
                0,
                0,
                1,
            ]);
            let client = limits.client_key(Some(peer), None);
            assert!(limits.check_client(&client).await.is_ok());
            limits.failed_authentication(&client);
        }
        assert_eq!(
            limits.tracked_clients(),
            200_000,
            "every key is tracked while in use"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
        limits.tidy();
        assert_eq!(
            limits.tracked_clients(),
            0,
            "tidying kept keys whose buckets had refilled"
        );
    }

    #[test]
    fn tidying_drops_refusals_whose_time_is_up() {
        let refused = Refused::default();
        refused.refuse("a".to_owned(), Duration::ZERO);
        refused.refuse("b".to_owned(), Duration::from_secs(60));
        refused.tidy();
        assert_eq!(refused.len(), 1);
        assert!(refused.until("b").is_some() && refused.until("a").is_none());
    }
}
