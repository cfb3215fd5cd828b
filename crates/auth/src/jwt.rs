//! JWT access tokens: HS256 only, with every registered claim required.
//!
//! The algorithm is pinned (a token whose header names any other, or
//! `none`, is refused), the secret must be at least 32 bytes and not an
//! obvious placeholder, `exp`, `nbf`, `iat`, `iss`, `aud`, `sub` and `jti`
//! are all required, and the clock leeway is 5 seconds.

use std::collections::HashSet;
use std::time::Duration;

use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use kg_application::{IssuedToken, TokenError, TokenIssuer};
use kg_domain::{SessionId, UserId};
use secrecy::{ExposeSecret, SecretSlice};
use serde::{Deserialize, Serialize};

/// A signing secret of at least 32 bytes. Never printed.
#[derive(Clone)]
pub struct JwtSecret(SecretSlice<u8>);

impl std::fmt::Debug for JwtSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JwtSecret(<redacted>)")
    }
}

/// Why a secret is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// Fewer than 32 bytes.
    #[error("must be at least {min} bytes (RFC 7518 §3.2); generate one with `openssl rand -base64 48`", min = JwtSecret::MIN_BYTES)]
    TooShort,
    /// Repetitive, or a well-known placeholder.
    #[error(
        "looks like a placeholder or a human password, not random bytes; generate one with `openssl rand -base64 48`"
    )]
    Weak,
}

const PLACEHOLDERS: [&str; 8] = [
    "changeme",
    "change-me",
    "change_me",
    "secret",
    "password",
    "example",
    "default",
    "your-",
];

impl JwtSecret {
    /// The fewest bytes a secret may have.
    pub const MIN_BYTES: usize = 32;

    /// Checks a secret.
    ///
    /// # Errors
    /// [`SecretError::TooShort`] or [`SecretError::Weak`].
    pub fn new(bytes: Vec<u8>) -> Result<Self, SecretError> {
        if bytes.len() < Self::MIN_BYTES {
            return Err(SecretError::TooShort);
        }
        let distinct: HashSet<u8> = bytes.iter().copied().collect();
        let lowered = String::from_utf8_lossy(&bytes).to_lowercase();
        if distinct.len() < 12 || PLACEHOLDERS.iter().any(|p| lowered.contains(p)) {
            return Err(SecretError::Weak);
        }
        Ok(Self(SecretSlice::from(bytes)))
    }

    /// A fresh random secret of 64 bytes.
    #[must_use]
    pub fn generate() -> Vec<u8> {
        let mut bytes = vec![0u8; 64];
        rand::fill(bytes.as_mut_slice());
        bytes
    }
}

/// Who issues tokens, for whom, and for how long.
#[derive(Debug, Clone)]
pub struct JwtConfig {
    /// The `iss` claim.
    pub issuer: String,
    /// The `aud` claim of access tokens.
    pub audience: String,
    /// How long an access token lives.
    pub access_ttl: Duration,
}

impl Default for JwtConfig {
    fn default() -> Self {
        Self {
            issuer: "kg".into(),
            audience: "kg-api".into(),
            access_ttl: Duration::from_secs(15 * 60),
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    iss: String,
    aud: String,
    exp: i64,
    nbf: i64,
    iat: i64,
    jti: String,
    sid: String,
}

/// Leeway for clock skew between instances, in seconds.
const LEEWAY_SECS: u64 = 5;

/// Issues and verifies HS256 access tokens.
#[derive(Clone)]
pub struct JwtIssuer {
    csrf_key: SecretSlice<u8>,
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    config: JwtConfig,
}

impl std::fmt::Debug for JwtIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtIssuer")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl JwtIssuer {
    /// An issuer signing with `secret`.
    #[must_use]
    pub fn new(secret: &JwtSecret, config: JwtConfig) -> Self {
        let key = secret.0.expose_secret();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = LEEWAY_SECS;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.validate_aud = true;
        validation.set_audience(&[&config.audience]);
        validation.set_issuer(&[&config.issuer]);
        validation.set_required_spec_claims(&["exp", "nbf", "iat", "iss", "aud", "sub"]);
        Self {
            csrf_key: SecretSlice::from(key.to_vec()),
            encoding: EncodingKey::from_secret(key),
            decoding: DecodingKey::from_secret(key),
            validation,
            config,
        }
    }
}

impl TokenIssuer for JwtIssuer {
    fn issue(
        &self,
        user: UserId,
        session: SessionId,
        now: DateTime<Utc>,
    ) -> Result<IssuedToken, TokenError> {
        let ttl = i64::try_from(self.config.access_ttl.as_secs()).unwrap_or(i64::MAX);
        let iat = now.timestamp();
        let claims = Claims {
            sub: user.to_string(),
            iss: self.config.issuer.clone(),
            aud: self.config.audience.clone(),
            exp: iat.saturating_add(ttl),
            nbf: iat,
            iat,
            jti: uuid::Uuid::now_v7().to_string(),
            sid: session.to_string(),
        };
        let token = encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| TokenError::Issue(Box::new(e)))?;
        Ok(IssuedToken {
            access_token: token,
            expires_in: ttl,
        })
    }

    fn csrf_token(&self, session: SessionId) -> String {
        use base64::Engine as _;
        use hmac::Mac as _;
        // HMAC accepts keys of any length, so this cannot fail.
        match hmac::Hmac::<sha2::Sha256>::new_from_slice(self.csrf_key.expose_secret()) {
            Ok(mut mac) => {
                mac.update(b"kg-csrf:");
                mac.update(session.as_uuid().as_bytes());
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
            }
            Err(_) => String::new(),
        }
    }

    fn verify(&self, token: &str) -> Result<(UserId, SessionId), TokenError> {
        let data = decode::<Claims>(token, &self.decoding, &self.validation).map_err(|e| {
            tracing::debug!(reason = ?e.kind(), "access token refused");
            TokenError::Invalid
        })?;
        let claims = data.claims;
        // jsonwebtoken does not check `iat`; a token from the future is forged or
        // from a badly skewed clock.
        let leeway = i64::try_from(LEEWAY_SECS).unwrap_or(0);
        if claims.iat > Utc::now().timestamp().saturating_add(leeway) || claims.jti.is_empty() {
            return Err(TokenError::Invalid);
        }
        let user = claims.sub.parse().map_err(|_| TokenError::Invalid)?;
        let session = claims.sid.parse().map_err(|_| TokenError::Invalid)?;
        Ok((user, session))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use serde_json::{Value, json};

    fn secret() -> JwtSecret {
        JwtSecret::new(JwtSecret::generate()).expect("random secret")
    }

    fn sign(secret: &JwtSecret, header: &Value, claims: &Value) -> String {
        use hmac::Mac as _;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let input = format!(
            "{}.{}",
            b64.encode(header.to_string()),
            b64.encode(claims.to_string())
        );
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.0.expose_secret())
            .expect("any key length");
        mac.update(input.as_bytes());
        format!("{input}.{}", b64.encode(mac.finalize().into_bytes()))
    }

    fn good_claims(user: UserId) -> Value {
        let now = Utc::now().timestamp();
        json!({"sub": user.to_string(), "iss": "kg", "aud": "kg-api", "exp": now + 600, "nbf": now, "iat": now, "jti": "j1", "sid": SessionId::generate().to_string()})
    }

    #[test]
    fn an_issued_token_verifies_to_its_user() {
        let s = secret();
        let issuer = JwtIssuer::new(&s, JwtConfig::default());
        let (user, session) = (UserId::generate(), SessionId::generate());
        let token = issuer.issue(user, session, Utc::now()).expect("issued");
        assert_eq!(
            issuer.verify(&token.access_token).ok(),
            Some((user, session))
        );
        assert_eq!(token.expires_in, 900);
    }

    #[test]
    fn csrf_tokens_are_per_session_and_per_secret() {
        let s = secret();
        let issuer = JwtIssuer::new(&s, JwtConfig::default());
        let (a, b) = (SessionId::generate(), SessionId::generate());
        assert_eq!(issuer.csrf_token(a), issuer.csrf_token(a));
        assert_ne!(issuer.csrf_token(a), issuer.csrf_token(b));
        assert_ne!(
            issuer.csrf_token(a),
            JwtIssuer::new(&secret(), JwtConfig::default()).csrf_token(a)
        );
        assert!(issuer.csrf_token(a).len() >= 43);
    }

    #[test]
    fn the_hand_signed_baseline_is_accepted() {
        // Guards the forgery tests below: their tokens differ from this one only
        // in the property under test.
        let s = secret();
        let user = UserId::generate();
        let t = sign(
            &s,
            &json!({"alg": "HS256", "typ": "JWT"}),
            &good_claims(user),
        );
        assert_eq!(
            JwtIssuer::new(&s, JwtConfig::default())
                .verify(&t)
                .ok()
                .map(|(u, _)| u),
            Some(user)
        );
    }

    #[test]
    fn other_algorithms_and_none_are_refused() {
        let s = secret();
        let issuer = JwtIssuer::new(&s, JwtConfig::default());
        let claims = good_claims(UserId::generate());
        for alg in [
            "none", "None", "NONE", "nOnE", "HS384", "HS512", "RS256", "ES256", "EdDSA", "",
        ] {
            let t = sign(&s, &json!({"alg": alg, "typ": "JWT"}), &claims);
            assert!(issuer.verify(&t).is_err(), "alg {alg:?} accepted");
        }
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let unsigned = format!(
            "{}.{}.",
            b64.encode(r#"{"alg":"none"}"#),
            b64.encode(claims.to_string())
        );
        assert!(issuer.verify(&unsigned).is_err());
    }

    #[test]
    fn a_token_signed_with_another_key_is_refused() {
        let t = sign(
            &secret(),
            &json!({"alg": "HS256"}),
            &good_claims(UserId::generate()),
        );
        assert!(
            JwtIssuer::new(&secret(), JwtConfig::default())
                .verify(&t)
                .is_err()
        );
    }

    #[test]
    fn every_required_claim_must_be_present_and_well_typed() {
        let s = secret();
        let issuer = JwtIssuer::new(&s, JwtConfig::default());
        let now = Utc::now().timestamp();
        let base = good_claims(UserId::generate());
        let mut cases: Vec<(String, Value)> =
            ["sub", "iss", "aud", "exp", "nbf", "iat", "jti", "sid"]
                .iter()
                .map(|k| {
                    let mut c = base.clone();
                    c.as_object_mut().map(|m| m.remove(*k));
                    (format!("missing {k}"), c)
                })
                .collect();
        let mut with = |name: &str, key: &str, value: Value| {
            let mut c = base.clone();
            c[key] = value;
            cases.push((name.to_owned(), c));
        };
        with("exp as string", "exp", json!("never"));
        with("expired beyond leeway", "exp", json!(now - 6));
        with("nbf in the future", "nbf", json!(now + 60));
        with("iat in the future", "iat", json!(now + 60));
        with("wrong aud", "aud", json!("other-api"));
        with("wrong iss", "iss", json!("someone-else"));
        with("sub not a user id", "sub", json!("admin"));
        with("sid not a session id", "sid", json!("s1"));
        for (name, claims) in cases {
            let t = sign(&s, &json!({"alg": "HS256"}), &claims);
            assert!(issuer.verify(&t).is_err(), "{name} accepted");
        }
    }

    #[test]
    fn expiry_honours_a_leeway_of_at_most_five_seconds() {
        let s = secret();
        let issuer = JwtIssuer::new(&s, JwtConfig::default());
        let mut claims = good_claims(UserId::generate());
        claims["exp"] = json!(Utc::now().timestamp() - 3);
        assert!(
            issuer
                .verify(&sign(&s, &json!({"alg": "HS256"}), &claims))
                .is_ok()
        );
    }

    #[test]
    fn short_and_placeholder_secrets_are_refused() {
        assert_eq!(
            JwtSecret::new(vec![7; 31]).map(|_| ()),
            Err(SecretError::TooShort)
        );
        assert_eq!(
            JwtSecret::new(vec![7; 64]).map(|_| ()),
            Err(SecretError::Weak)
        );
        for weak in [
            "my-super-secret-jwt-key-for-production!",
            "changeme-changeme-changeme-changeme-1234",
            "secretsecretsecretsecretsecretsecret",
        ] {
            assert_eq!(
                JwtSecret::new(weak.as_bytes().to_vec()).map(|_| ()),
                Err(SecretError::Weak),
                "{weak}"
            );
        }
        assert!(JwtSecret::new(JwtSecret::generate()).is_ok());
        assert!(!format!("{:?}", secret()).contains(|c: char| c.is_ascii_digit()));
    }
}
