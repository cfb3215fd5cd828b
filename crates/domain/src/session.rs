//! Sign-in sessions: what a login opens and a logout ends.

use chrono::{DateTime, Duration, Utc};

use crate::{SessionId, UserId};

/// The SHA-256 digest of a refresh token: the only form in which a refresh
/// token is ever stored.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenDigest([u8; 32]);

impl TokenDigest {
    /// Wraps a digest.
    #[must_use]
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The digest's bytes.
    #[must_use]
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl std::fmt::Debug for TokenDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenDigest(<redacted>)")
    }
}

/// One login's session. Its refresh token rotates on every use; the
/// session (the token family) ends on logout, on reuse of a spent token,
/// when idle too long, or at its absolute expiry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Assigned at login.
    pub id: SessionId,
    /// Whose session it is.
    pub user_id: UserId,
    /// The digest of the one refresh token that is currently valid.
    pub refresh_digest: TokenDigest,
    /// When the user logged in.
    pub created_at: DateTime<Utc>,
    /// When the session was last refreshed (or created).
    pub last_used_at: DateTime<Utc>,
    /// When it ends regardless of use.
    pub expires_at: DateTime<Utc>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Whether a session may still be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionState {
    /// Usable.
    Active,
    /// Ended by logout, password change, deactivation or token reuse.
    Revoked,
    /// Unused for longer than the idle limit, or past its absolute expiry.
    Expired,
}

impl Session {
    /// The session's state at `now`, given the idle limit.
    #[must_use]
    pub fn state(&self, now: DateTime<Utc>, idle: Duration) -> SessionState {
        if self.revoked_at.is_some() {
            SessionState::Revoked
        } else if now >= self.expires_at || now - self.last_used_at >= idle {
            SessionState::Expired
        } else {
            SessionState::Active
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(now: DateTime<Utc>) -> Session {
        Session {
            id: SessionId::generate(),
            user_id: UserId::generate(),
            refresh_digest: TokenDigest::from_bytes([7; 32]),
            created_at: now,
            last_used_at: now,
            expires_at: now + Duration::days(30),
            revoked_at: None,
        }
    }

    #[test]
    fn a_session_expires_when_idle_or_at_its_absolute_limit_and_stays_revoked() {
        let now = Utc::now();
        let idle = Duration::days(7);
        let s = session(now);
        assert_eq!(s.state(now + Duration::days(6), idle), SessionState::Active);
        assert_eq!(
            s.state(now + Duration::days(7), idle),
            SessionState::Expired
        );
        let mut used = s.clone();
        used.last_used_at = now + Duration::days(27);
        assert_eq!(
            used.state(now + Duration::days(29), idle),
            SessionState::Active
        );
        assert_eq!(
            used.state(now + Duration::days(30), idle),
            SessionState::Expired
        );
        let mut revoked = s;
        revoked.revoked_at = Some(now);
        assert_eq!(revoked.state(now, idle), SessionState::Revoked);
    }

    #[test]
    fn digests_never_show_in_debug_output() {
        assert!(!format!("{:?}", TokenDigest::from_bytes([0xab; 32])).contains("171"));
    }
}
