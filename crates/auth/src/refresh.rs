//! Opaque refresh tokens: `kgr_` and the base64url of the session id and 32
//! random bytes. Only their SHA-256 digest is ever stored.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use kg_application::RefreshTokens;
use kg_domain::{SessionId, TokenDigest};
use sha2::{Digest as _, Sha256};

const PREFIX: &str = "kgr_";
const SECRET_BYTES: usize = 32;

/// Mints and reads refresh tokens.
#[derive(Debug, Clone, Copy, Default)]
pub struct OpaqueRefreshTokens;

fn digest(token: &str) -> TokenDigest {
    TokenDigest::from_bytes(Sha256::digest(token.as_bytes()).into())
}

impl RefreshTokens for OpaqueRefreshTokens {
    fn mint(&self, session: SessionId) -> (String, TokenDigest) {
        let mut raw = [0u8; 16 + SECRET_BYTES];
        raw[..16].copy_from_slice(session.as_uuid().as_bytes());
        rand::fill(&mut raw[16..]);
        let token = format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(raw));
        let d = digest(&token);
        (token, d)
    }

    fn read(&self, token: &str) -> Option<(SessionId, TokenDigest)> {
        let body = token.strip_prefix(PREFIX)?;
        if body.len() > 100 {
            return None;
        }
        let raw = URL_SAFE_NO_PAD.decode(body).ok()?;
        if raw.len() != 16 + SECRET_BYTES {
            return None;
        }
        let session = uuid::Uuid::from_slice(&raw[..16]).ok()?;
        Some((SessionId::from_uuid(session), digest(token)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_minted_token_reads_back_to_its_session_and_digest() {
        let session = SessionId::generate();
        let (token, d) = OpaqueRefreshTokens.mint(session);
        assert!(token.starts_with("kgr_"));
        assert_eq!(OpaqueRefreshTokens.read(&token), Some((session, d)));
    }

    #[test]
    fn tokens_are_unpredictable_and_digests_differ() {
        let session = SessionId::generate();
        let (a, da) = OpaqueRefreshTokens.mint(session);
        let (b, db) = OpaqueRefreshTokens.mint(session);
        assert_ne!(a, b);
        assert_ne!(da, db);
    }

    #[test]
    fn anything_else_is_refused() {
        let (token, _) = OpaqueRefreshTokens.mint(SessionId::generate());
        for bad in [
            "",
            "kgr_",
            "kgr_!!!",
            &token[4..],
            &token[..token.len() - 2],
            &format!("{token}AA"),
            "eyJhbGciOiJIUzI1NiJ9.e30.x",
        ] {
            assert_eq!(OpaqueRefreshTokens.read(bad), None, "{bad}");
        }
    }
}
