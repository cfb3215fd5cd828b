//! Fakes of the secret-making ports: predictable, readable and fast.

use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kg_domain::*;

use crate::*;

/// API key secrets `key:<n>`, digested by `n`.
#[derive(Debug, Default)]
pub struct FakeKeySecrets(Mutex<u8>);

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
#[derive(Debug, Default)]
pub struct FakeRefresh(Mutex<u8>);

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

/// "Hashes" a password by tagging it (`fake$…`; `old$…` stands for a hash
/// with outdated parameters), and records each verification.
#[derive(Debug, Default)]
pub struct FakeHasher {
    /// One entry per verification: whether there was a stored hash to check.
    pub verifications: Mutex<Vec<bool>>,
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

/// Access tokens `tok:<user>:<session>` and CSRF tokens `csrf:<session>`.
#[derive(Debug, Default)]
pub struct FakeTokens;

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
