//! Users, their roles, and the password policy.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};

use crate::{UserId, Version};

/// An email address, stored normalised (trimmed, lower-case) so that
/// uniqueness is case-insensitive.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

/// Why a text is not an [`Email`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    /// Longer than 254 characters.
    #[error("must be at most 254 characters")]
    TooLong,
    /// Not of the form `local@domain.tld`.
    #[error("must be a valid email address")]
    Invalid,
}

impl Email {
    /// The most characters an address may have (RFC 5321 path limit).
    pub const MAX_CHARS: usize = 254;

    /// Checks and normalises an address. Deliberately strict: printable ASCII
    /// in the local part (no quoting), and a domain of dot-separated labels.
    ///
    /// # Errors
    /// [`EmailError::TooLong`] or [`EmailError::Invalid`].
    pub fn parse(value: impl AsRef<str>) -> Result<Self, EmailError> {
        let value = value.as_ref().trim();
        if value.chars().count() > Self::MAX_CHARS {
            return Err(EmailError::TooLong);
        }
        let normalized = value.to_lowercase();
        let (local, domain) = normalized.split_once('@').ok_or(EmailError::Invalid)?;
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && local
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c));
        let labels: Vec<&str> = domain.split('.').collect();
        let domain_ok = labels.len() >= 2
            && labels.iter().all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            });
        if local_ok && domain_ok {
            Ok(Self(normalized))
        } else {
            Err(EmailError::Invalid)
        }
    }

    /// The normalised address.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a user may do. Each role includes the rights of the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Reads the graph.
    Viewer,
    /// Also writes entities and relationships.
    Editor,
    /// Also manages users, keys, maintenance, restores, and reads the audit log.
    Admin,
}

/// Why a text is not a [`Role`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be one of admin, editor, viewer")]
pub struct RoleError;

impl Role {
    /// The role's name as clients and storage spell it.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::Editor => "editor",
            Self::Admin => "admin",
        }
    }

    /// Whether this role may create, change and delete graph data.
    #[must_use]
    pub fn can_write_graph(self) -> bool {
        self >= Self::Editor
    }

    /// Whether this role may manage users and read the audit log.
    #[must_use]
    pub fn is_admin(self) -> bool {
        self == Self::Admin
    }
}

impl FromStr for Role {
    type Err = RoleError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "viewer" => Ok(Self::Viewer),
            "editor" => Ok(Self::Editor),
            "admin" => Ok(Self::Admin),
            _ => Err(RoleError),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A password that meets the policy, held only until it is hashed. Its
/// `Debug` output is redacted and it has no `Display`.
#[derive(Clone)]
pub struct Password(String);

/// Why a password is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    /// Fewer than 12 characters.
    #[error("must be at least 12 characters")]
    TooShort,
    /// More than 128 characters.
    #[error("must be at most 128 characters")]
    TooLong,
    /// On the list of commonly used passwords, or a trivial pattern.
    #[error("is too common; choose a less predictable password")]
    TooCommon,
    /// The same as the account's email address.
    #[error("must not be the email address")]
    SameAsEmail,
}

const COMMON_PASSWORDS: &str = include_str!("common_passwords.txt");

impl Password {
    /// The fewest characters a password may have.
    pub const MIN_CHARS: usize = 12;
    /// The most characters a password may have.
    pub const MAX_CHARS: usize = 128;

    /// Checks `candidate` against the policy for the account `email`.
    ///
    /// # Errors
    /// The [`PasswordError`] naming the first rule it breaks.
    pub fn new(candidate: String, email: &Email) -> Result<Self, PasswordError> {
        let chars = candidate.chars().count();
        if chars < Self::MIN_CHARS {
            return Err(PasswordError::TooShort);
        }
        if chars > Self::MAX_CHARS {
            return Err(PasswordError::TooLong);
        }
        let lowered = candidate.to_lowercase();
        if lowered == email.as_str() || lowered == email.as_str().split('@').next().unwrap_or("") {
            return Err(PasswordError::SameAsEmail);
        }
        if is_common(&lowered) {
            return Err(PasswordError::TooCommon);
        }
        Ok(Self(candidate))
    }

    /// A password as submitted at login, unchecked: login must answer the same
    /// way whatever the policy says, so only the hash comparison decides.
    #[must_use]
    pub const fn for_login(candidate: String) -> Self {
        Self(candidate)
    }

    /// The secret itself, for the hasher only.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

fn is_common(lowered: &str) -> bool {
    let mut chars = lowered.chars();
    let first = chars.next();
    // One character repeated, e.g. "aaaaaaaaaaaa".
    if first.is_some_and(|f| lowered.chars().all(|c| c == f)) {
        return true;
    }
    // A straight run such as "123456789012" or "abcdefghijkl".
    let bytes = lowered.as_bytes();
    let ascending = bytes
        .windows(2)
        .all(|w| w[1] == w[0].wrapping_add(1) || (w[0] == b'9' && w[1] == b'0'));
    if ascending {
        return true;
    }
    COMMON_PASSWORDS
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .any(|l| l == lowered)
}

/// An argon2id hash in PHC string format. Never a password.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl PasswordHash {
    /// Wraps a PHC string produced by a password hasher or read from storage.
    #[must_use]
    pub const fn from_phc(phc: String) -> Self {
        Self(phc)
    }

    /// The PHC string.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(<redacted>)")
    }
}

/// Someone who can sign in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Assigned by the service.
    pub id: UserId,
    /// Normalised, unique.
    pub email: Email,
    /// What the user may do.
    pub role: Role,
    /// Whether the user may sign in and act.
    pub is_active: bool,
    /// The argon2id hash of the password.
    pub password_hash: PasswordHash,
    /// When the user was created.
    pub created_at: DateTime<Utc>,
    /// When the user last changed.
    pub updated_at: DateTime<Utc>,
    /// Its optimistic-concurrency version.
    pub version: Version,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn email() -> Email {
        Email::parse("ada@example.org").expect("valid email")
    }

    #[test]
    fn emails_are_normalised() {
        assert_eq!(
            Email::parse("  Ada@Example.ORG ").map(|e| e.0),
            Ok("ada@example.org".into())
        );
    }

    #[test]
    fn malformed_emails_are_rejected() {
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.org",
            "ada@example",
            "a b@example.org",
            "ada@@example.org",
            "ada@-x.org",
            "a..b@example.org",
            "ada@exa_mple.org",
        ] {
            assert_eq!(Email::parse(bad), Err(EmailError::Invalid), "{bad:?}");
        }
    }

    #[test]
    fn emails_over_254_characters_are_rejected() {
        let long = format!(
            "{}@{}.org",
            "a".repeat(64),
            "b".repeat(63) + "." + &"c".repeat(63) + "." + &"d".repeat(63)
        );
        assert!(long.len() > 254);
        assert_eq!(Email::parse(&long), Err(EmailError::TooLong));
    }

    #[test]
    fn an_admin_looking_address_gets_no_role_from_its_name() {
        // The role is a separate, explicit value; nothing derives it from the address.
        let e = Email::parse("admin@example.org");
        assert!(e.is_ok());
    }

    #[test]
    fn roles_round_trip_and_order() {
        for r in [Role::Viewer, Role::Editor, Role::Admin] {
            assert_eq!(r.as_str().parse::<Role>(), Ok(r));
        }
        assert!("root".parse::<Role>().is_err());
        assert!("Admin".parse::<Role>().is_err());
        assert!(!Role::Viewer.can_write_graph());
        assert!(Role::Editor.can_write_graph());
        assert!(Role::Admin.is_admin() && !Role::Editor.is_admin());
    }

    #[test]
    fn password_length_bounds_count_characters() {
        let e = email();
        assert_eq!(
            Password::new("Zq9#vLx2!pW".into(), &e).map(|_| ()),
            Err(PasswordError::TooShort)
        );
        assert!(Password::new("Zq9#vLx2!pWm".into(), &e).is_ok());
        // 12 characters, 24 bytes: counts as 12.
        assert!(Password::new("ñçøüéßþðæœåź".into(), &e).is_ok());
        assert!(Password::new("x7Kp".repeat(32), &e).is_ok());
        assert_eq!(
            Password::new("x7Kp".repeat(32) + "z", &e).map(|_| ()),
            Err(PasswordError::TooLong)
        );
    }

    #[test]
    fn common_and_trivial_passwords_are_rejected() {
        let e = email();
        for p in [
            "password1234",
            "Password1234",
            "123456789012",
            "aaaaaaaaaaaa",
            "abcdefghijklmn",
            "qwertyuiopasdf",
        ] {
            assert_eq!(
                Password::new(p.into(), &e).map(|_| ()),
                Err(PasswordError::TooCommon),
                "{p}"
            );
        }
    }

    #[test]
    fn the_email_is_not_a_password() {
        let e = Email::parse("ada.lovelace.1815@example.org").expect("valid");
        assert_eq!(
            Password::new("Ada.Lovelace.1815@example.org".into(), &e).map(|_| ()),
            Err(PasswordError::SameAsEmail)
        );
        assert_eq!(
            Password::new("ada.lovelace.1815".into(), &e).map(|_| ()),
            Err(PasswordError::SameAsEmail)
        );
    }

    #[test]
    fn secrets_never_show_in_debug_output() {
        let p = Password::new("correct horse battery".into(), &email()).expect("valid");
        assert!(!format!("{p:?}").contains("horse"));
        let h = PasswordHash::from_phc("$argon2id$v=19$secret".into());
        assert!(!format!("{h:?}").contains("secret"));
    }

    proptest! {
        #[test]
        fn passwords_of_12_to_128_random_characters_are_accepted(p in "[a-zA-Z0-9 !?#%&*]{12,128}") {
            // Random strings are neither on the list nor trivial runs (with overwhelming probability).
            prop_assume!(!is_common(&p.to_lowercase()));
            prop_assert!(Password::new(p, &email()).is_ok());
        }

        #[test]
        fn passwords_under_12_characters_are_rejected(p in "\\PC{0,11}") {
            prop_assert_eq!(Password::new(p, &email()).map(|_| ()), Err(PasswordError::TooShort));
        }

        #[test]
        fn email_parsing_never_panics(s in "\\PC{0,300}") {
            let _ = Email::parse(s);
        }
    }
}
