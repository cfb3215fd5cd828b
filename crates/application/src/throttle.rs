//! Login throttling: a growing back-off per submitted email.

use chrono::{DateTime, Duration, Utc};
use sha2::{Digest as _, Sha256};

/// What failed logins are counted against: the SHA-256 of the submitted
/// email, trimmed and lower-cased, whether or not an account has it (so the
/// answer cannot reveal which emails exist, and unknown emails are not
/// stored in clear).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ThrottleKey(String);

impl ThrottleKey {
    /// The key for a submitted email.
    #[must_use]
    pub fn for_email(submitted: &str) -> Self {
        let normalized = submitted.trim().to_lowercase();
        let digest = Sha256::digest(normalized.as_bytes());
        Self(digest.iter().map(|b| format!("{b:02x}")).collect())
    }

    /// The key as stored.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// How failures turn into lock-outs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottlePolicy {
    /// Failures allowed before the first lock-out.
    pub free_failures: u32,
    /// Failures further apart than this start a new count.
    pub window: Duration,
    /// The first lock-out; each further failure doubles it.
    pub base_lockout: Duration,
    /// The longest lock-out: there is no permanent one.
    pub max_lockout: Duration,
}

impl Default for ThrottlePolicy {
    fn default() -> Self {
        Self {
            free_failures: 5,
            window: Duration::minutes(15),
            base_lockout: Duration::seconds(30),
            max_lockout: Duration::minutes(15),
        }
    }
}

impl ThrottlePolicy {
    /// The failure count after one more failure at `now`, given the previous
    /// count and when it last grew.
    #[must_use]
    pub fn next_count(&self, previous: Option<(u32, DateTime<Utc>)>, now: DateTime<Utc>) -> u32 {
        match previous {
            Some((count, last)) if now - last < self.window => count.saturating_add(1),
            Some(_) | None => 1,
        }
    }

    /// Until when a key with `failures` recent failures is locked, if at all.
    #[must_use]
    pub fn lock_until(&self, failures: u32, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let over = failures.checked_sub(self.free_failures)?;
        let factor = 2i32.checked_pow(over.min(20)).unwrap_or(i32::MAX);
        let lockout = self
            .base_lockout
            .checked_mul(factor)
            .unwrap_or(self.max_lockout)
            .min(self.max_lockout);
        Some(now + lockout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_ignore_case_and_surrounding_space_and_hide_the_email() {
        let k = ThrottleKey::for_email("  Ada@Example.org ");
        assert_eq!(k, ThrottleKey::for_email("ada@example.org"));
        assert_eq!(k.as_str().len(), 64);
        assert!(!k.as_str().contains("ada"));
    }

    #[test]
    fn the_back_off_starts_after_the_free_failures_doubles_and_is_capped() {
        let p = ThrottlePolicy::default();
        let now = Utc::now();
        assert_eq!(p.lock_until(4, now), None);
        assert_eq!(p.lock_until(5, now), Some(now + Duration::seconds(30)));
        assert_eq!(p.lock_until(6, now), Some(now + Duration::seconds(60)));
        assert_eq!(p.lock_until(7, now), Some(now + Duration::seconds(120)));
        assert_eq!(p.lock_until(50, now), Some(now + Duration::minutes(15)));
        assert_eq!(
            p.lock_until(u32::MAX, now),
            Some(now + Duration::minutes(15))
        );
    }

    #[test]
    fn old_failures_stop_counting() {
        let p = ThrottlePolicy::default();
        let now = Utc::now();
        assert_eq!(p.next_count(None, now), 1);
        assert_eq!(p.next_count(Some((4, now - Duration::minutes(1))), now), 5);
        assert_eq!(p.next_count(Some((9, now - Duration::minutes(16))), now), 1);
    }
}
