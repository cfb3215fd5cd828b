//! API key secrets: `kg_` and the base64url of 32 random bytes. Only their
//! SHA-256 digest is stored.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use kg_application::ApiKeySecrets;
use kg_domain::TokenDigest;
use sha2::{Digest as _, Sha256};

const PREFIX: &str = "kg_";
const SECRET_BYTES: usize = 32;

/// Mints and digests API key secrets.
#[derive(Debug, Clone, Copy, Default)]
pub struct OpaqueApiKeys;

impl ApiKeySecrets for OpaqueApiKeys {
    fn mint(&self) -> (String, TokenDigest) {
        let mut raw = [0u8; SECRET_BYTES];
        rand::fill(&mut raw);
        let secret = format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(raw));
        let digest = TokenDigest::from_bytes(Sha256::digest(secret.as_bytes()).into());
        (secret, digest)
    }

    fn digest(&self, presented: &str) -> Option<TokenDigest> {
        let body = presented.strip_prefix(PREFIX)?;
        if body.len() > 64 || URL_SAFE_NO_PAD.decode(body).ok()?.len() != SECRET_BYTES {
            return None;
        }
        Some(TokenDigest::from_bytes(
            Sha256::digest(presented.as_bytes()).into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_minted_secret_digests_to_its_digest_and_others_do_not() {
        let (secret, digest) = OpaqueApiKeys.mint();
        assert!(secret.starts_with("kg_") && secret.len() >= 46);
        assert_eq!(OpaqueApiKeys.digest(&secret), Some(digest));
        let (other, _) = OpaqueApiKeys.mint();
        assert_ne!(OpaqueApiKeys.digest(&other), Some(digest));
        for bad in [
            "",
            "kg_",
            "kgr_abc",
            &secret[3..],
            &secret[..secret.len() - 1],
            "eyJhbGciOiJIUzI1NiJ9.e30.x",
        ] {
            assert_eq!(OpaqueApiKeys.digest(bad), None, "{bad}");
        }
    }
}
