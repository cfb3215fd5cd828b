//! Request rate limits: per client IP on `/v1/auth/*`, per authenticated
//! principal elsewhere. The limiters are built once and shared by every
//! worker, so the limits do not multiply with the worker count; with
//! several instances each enforces its own share (see the ADR).

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;

use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

use crate::{ApiError, ProblemCode};

/// Above this many tracked keys, stale ones are dropped before the next check.
const HOUSEKEEPING_THRESHOLD: usize = 10_000;

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
            nets.push((addr, prefix));
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
#[must_use]
pub fn client_ip(
    peer: Option<IpAddr>,
    forwarded_for: Option<&str>,
    trusted: &TrustedProxies,
) -> Option<IpAddr> {
    let peer = peer?;
    if !trusted.contains(peer) {
        return Some(peer);
    }
    let hops = forwarded_for
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .rev();
    for hop in hops {
        match hop.parse::<IpAddr>() {
            Ok(ip) if trusted.contains(ip) => {}
            Ok(ip) => return Some(ip),
            // A garbled hop cannot be attributed: fall back to the proxy itself.
            Err(_) => return Some(peer),
        }
    }
    Some(peer)
}

/// The bucket an address falls in: IPv6 clients by /64, since one host
/// usually owns a whole /64.
fn ip_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & (u128::MAX << 64);
            format!("{}/64", std::net::Ipv6Addr::from(bits))
        }
    }
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

    fn check(&self, key: String) -> Result<(), ApiError> {
        if self.inner.len() > HOUSEKEEPING_THRESHOLD {
            self.inner.retain_recent();
            self.inner.shrink_to_fit();
        }
        self.inner.check_key(&key).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            ApiError::rate_limited(self.name, self.per_minute, seconds.max(1))
        })
    }
}

/// The shared limiters. Cheap to clone.
#[derive(Debug, Clone)]
pub struct RateLimits {
    auth: Arc<Limiter>,
    principal: Arc<Limiter>,
    trusted: Arc<TrustedProxies>,
}

impl RateLimits {
    /// Limiters allowing `auth_per_minute` requests to `/v1/auth/*` per
    /// client address and `per_minute` requests per principal elsewhere.
    #[must_use]
    pub fn new(
        auth_per_minute: NonZeroU32,
        per_minute: NonZeroU32,
        trusted: TrustedProxies,
    ) -> Self {
        Self {
            auth: Arc::new(Limiter::new("auth", auth_per_minute)),
            principal: Arc::new(Limiter::new("default", per_minute)),
            trusted: Arc::new(trusted),
        }
    }

    pub(crate) fn check_client(
        &self,
        peer: Option<IpAddr>,
        forwarded_for: Option<&str>,
    ) -> Result<(), ApiError> {
        match client_ip(peer, forwarded_for, &self.trusted) {
            Some(ip) => self.auth.check(ip_key(ip)),
            None => Ok(()),
        }
    }

    pub(crate) fn check_principal(&self, key: String) -> Result<(), ApiError> {
        self.principal.check(key)
    }

    /// How many client keys the auth limiter tracks now.
    #[must_use]
    pub fn tracked_clients(&self) -> usize {
        self.auth.inner.len()
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

    #[test]
    fn the_limit_is_exact_per_client() -> Result<(), String> {
        let per_minute = NonZeroU32::new(3).ok_or("zero")?;
        let limits = RateLimits::new(per_minute, per_minute, TrustedProxies::default());
        let peer = Some(ip("203.0.113.9"));
        for _ in 0..3 {
            assert!(limits.check_client(peer, None).is_ok());
        }
        let err = limits
            .check_client(peer, None)
            .err()
            .ok_or("the 4th request passed")?;
        assert_eq!(err.code(), ProblemCode::RateLimited);
        assert!(
            limits.check_client(Some(ip("203.0.113.10")), None).is_ok(),
            "another client has its own bucket"
        );
        Ok(())
    }
}
