//! API keys: long-lived credentials for pipelines and services.

use chrono::{DateTime, Utc};

use crate::{ApiKeyId, Role, TextError, TokenDigest, UserId};

/// A key's human name (`nightly-extractor`): 1–100 characters after
/// trimming, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyName(String);

impl ApiKeyName {
    /// The most characters a name may have.
    pub const MAX_CHARS: usize = 100;

    /// # Errors
    /// [`TextError::Empty`], [`TextError::TooLong`] or [`TextError::ControlCharacter`].
    pub fn parse(value: impl AsRef<str>) -> Result<Self, TextError> {
        let trimmed = value.as_ref().trim();
        if trimmed.is_empty() {
            return Err(TextError::Empty);
        }
        if trimmed.chars().any(char::is_control) {
            return Err(TextError::ControlCharacter);
        }
        if trimmed.chars().count() > Self::MAX_CHARS {
            return Err(TextError::TooLong {
                max: Self::MAX_CHARS,
            });
        }
        Ok(Self(trimmed.to_owned()))
    }

    /// The name.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An API key as stored: never the secret itself, only its digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    /// Assigned at creation.
    pub id: ApiKeyId,
    /// What it is for.
    pub name: ApiKeyName,
    /// Editor or viewer; keys are never admins.
    pub role: Role,
    /// SHA-256 of the secret.
    pub digest: TokenDigest,
    /// The admin who created it; the key acts on their behalf.
    pub created_by: UserId,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it stops working, if ever.
    pub expires_at: Option<DateTime<Utc>>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
    /// When it was last used (updated at most once a minute).
    pub last_used_at: Option<DateTime<Utc>>,
}

impl ApiKey {
    /// Whether the key may be used at `now`.
    #[must_use]
    pub fn is_usable(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|e| now < e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn names_are_bounded() {
        assert!(ApiKeyName::parse(" nightly ").is_ok_and(|n| n.as_str() == "nightly"));
        assert_eq!(ApiKeyName::parse(""), Err(TextError::Empty));
        assert_eq!(
            ApiKeyName::parse("a".repeat(101)),
            Err(TextError::TooLong { max: 100 })
        );
    }

    #[test]
    fn revoked_or_expired_keys_are_unusable() {
        let now = Utc::now();
        let key = ApiKey {
            id: ApiKeyId::generate(),
            name: ApiKeyName::parse("k").expect("valid"),
            role: Role::Editor,
            digest: TokenDigest::from_bytes([1; 32]),
            created_by: UserId::generate(),
            created_at: now,
            expires_at: Some(now + Duration::days(1)),
            revoked_at: None,
            last_used_at: None,
        };
        assert!(key.is_usable(now));
        assert!(!key.is_usable(now + Duration::days(1)));
        let revoked = ApiKey {
            revoked_at: Some(now),
            ..key
        };
        assert!(!revoked.is_usable(now));
    }
}
