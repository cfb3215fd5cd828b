//! argon2id password hashing, off the async workers and bounded in
//! concurrency, so a flood of logins can neither block the executor nor
//! exhaust memory (each hash holds about 19 MiB).

use std::sync::Arc;
use std::time::Duration;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{
    PasswordHash as Phc, PasswordHasher as _, PasswordVerifier as _, SaltString,
};
use argon2::{Algorithm, Argon2, Params};
use async_trait::async_trait;
use kg_application::{PasswordHasher, RepoError};
use kg_domain::{Password, PasswordHash};
use tokio::sync::Semaphore;

/// How many hashes may run at once and how long a caller may wait for a turn.
#[derive(Debug, Clone, Copy)]
pub struct HasherConfig {
    /// Hashes running at the same time (each uses ~19 MiB and one core).
    pub max_concurrent: usize,
    /// How long a request waits for a turn before it is refused as unavailable.
    pub max_wait: Duration,
}

impl Default for HasherConfig {
    fn default() -> Self {
        Self {
            max_concurrent: std::thread::available_parallelism().map_or(2, std::num::NonZero::get),
            max_wait: Duration::from_secs(2),
        }
    }
}

/// Limits on a stored hash's parameters, checked before verifying, so that a
/// corrupted or imported row cannot make one login allocate gigabytes.
const MAX_M_COST_KIB: u32 = 64 * 1024;
const MAX_T_COST: u32 = 8;
const MAX_P_COST: u32 = 4;

/// argon2id with the OWASP parameters (m = 19456 KiB, t = 2, p = 1).
#[derive(Clone)]
pub struct Argon2Hasher {
    permits: Arc<Semaphore>,
    max_wait: Duration,
    dummy: Arc<str>,
}

impl std::fmt::Debug for Argon2Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Argon2Hasher")
            .field("max_wait", &self.max_wait)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
enum HashError {
    #[error("argon2: {0}")]
    Argon2(argon2::password_hash::Error),
    #[error("stored hash is not argon2id within the accepted parameter limits")]
    UnacceptableParameters,
    #[error("timed out waiting for a free password hashing slot")]
    Busy,
    #[error("the hashing task failed")]
    Join(#[from] tokio::task::JoinError),
}

fn argon2() -> Argon2<'static> {
    // Argon2::default() is argon2id v19 with m=19456, t=2, p=1.
    Argon2::default()
}

fn hash_blocking(secret: &str) -> Result<String, HashError> {
    let salt = SaltString::generate(&mut OsRng);
    argon2()
        .hash_password(secret.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(HashError::Argon2)
}

fn verify_blocking(secret: &str, phc: &str) -> Result<bool, HashError> {
    let parsed = Phc::new(phc).map_err(HashError::Argon2)?;
    let params = Params::try_from(&parsed).map_err(HashError::Argon2)?;
    let algorithm_ok = parsed.algorithm.as_str() == Algorithm::Argon2id.ident().as_str();
    if !algorithm_ok
        || params.m_cost() > MAX_M_COST_KIB
        || params.t_cost() > MAX_T_COST
        || params.p_cost() > MAX_P_COST
    {
        return Err(HashError::UnacceptableParameters);
    }
    match argon2().verify_password(secret.as_bytes(), &parsed) {
        Ok(()) => Ok(true),
        Err(argon2::password_hash::Error::Password) => Ok(false),
        Err(e) => Err(HashError::Argon2(e)),
    }
}

impl Argon2Hasher {
    /// A hasher; computes the dummy hash used for unknown accounts once.
    ///
    /// # Errors
    /// If argon2 cannot hash at all (it would fail on every login anyway).
    pub fn new(config: HasherConfig) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        let mut random = [0u8; 24];
        rand::fill(&mut random);
        let dummy_secret: String = random.iter().map(|b| format!("{b:02x}")).collect();
        let dummy = hash_blocking(&dummy_secret)?;
        Ok(Self {
            permits: Arc::new(Semaphore::new(config.max_concurrent.max(1))),
            max_wait: config.max_wait,
            dummy: Arc::from(dummy),
        })
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T, HashError> + Send + 'static,
    ) -> Result<T, RepoError> {
        let permit = tokio::time::timeout(self.max_wait, self.permits.clone().acquire_owned())
            .await
            .map_err(|_| RepoError::Unavailable(Box::new(HashError::Busy)))?
            .map_err(|e| RepoError::Other(Box::new(e)))?;
        let result = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            work()
        })
        .await
        .map_err(|e| RepoError::Other(Box::new(HashError::Join(e))))?;
        result.map_err(|e| RepoError::Other(Box::new(e)))
    }
}

/// Whether a PHC string was made with exactly the current algorithm,
/// version and parameters.
fn is_current(phc: &str) -> bool {
    let Ok(parsed) = Phc::new(phc) else {
        return false;
    };
    let current = Params::default();
    parsed.algorithm.as_str() == Algorithm::Argon2id.ident().as_str()
        && parsed.version == Some(u32::from(argon2::Version::V0x13))
        && Params::try_from(&parsed).is_ok_and(|p| {
            (p.m_cost(), p.t_cost(), p.p_cost())
                == (current.m_cost(), current.t_cost(), current.p_cost())
        })
}

#[async_trait]
impl PasswordHasher for Argon2Hasher {
    fn needs_rehash(&self, hash: &PasswordHash) -> bool {
        !is_current(hash.as_str())
    }

    async fn hash(&self, password: &Password) -> Result<PasswordHash, RepoError> {
        let secret = password.expose().to_owned();
        self.run(move || hash_blocking(&secret))
            .await
            .map(PasswordHash::from_phc)
    }

    async fn verify(
        &self,
        password: &Password,
        hash: Option<&PasswordHash>,
    ) -> Result<bool, RepoError> {
        let secret = password.expose().to_owned();
        let known = hash.is_some();
        let phc = hash.map_or_else(|| self.dummy.to_string(), |h| h.as_str().to_owned());
        let matched = self.run(move || verify_blocking(&secret, &phc)).await?;
        Ok(known && matched)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hasher() -> Argon2Hasher {
        Argon2Hasher::new(HasherConfig::default()).expect("hasher")
    }

    fn pw(s: &str) -> Password {
        Password::for_login(s.to_owned())
    }

    #[tokio::test]
    async fn hashes_are_argon2id_with_owasp_parameters_and_verify() {
        let h = hasher();
        let hash = h
            .hash(&pw("a-long-and-unusual-passphrase"))
            .await
            .expect("hash");
        assert!(
            hash.as_str().starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{}",
            hash.as_str()
        );
        assert!(!hash.as_str().contains("unusual"));
        assert!(
            h.verify(&pw("a-long-and-unusual-passphrase"), Some(&hash))
                .await
                .expect("verify")
        );
        assert!(
            !h.verify(&pw("a-long-and-unusual-passphrasE"), Some(&hash))
                .await
                .expect("verify")
        );
    }

    #[tokio::test]
    async fn only_hashes_with_other_parameters_need_rehashing() {
        let h = hasher();
        let current = h
            .hash(&pw("a-long-and-unusual-passphrase"))
            .await
            .expect("hash");
        assert!(!h.needs_rehash(&current));
        let salt = SaltString::generate(&mut OsRng);
        let weaker = Argon2::new(
            Algorithm::Argon2id,
            argon2::Version::V0x13,
            Params::new(8192, 1, 1, None).expect("params"),
        )
        .hash_password(b"a-long-and-unusual-passphrase", &salt)
        .expect("hash")
        .to_string();
        let weaker = PasswordHash::from_phc(weaker);
        assert!(h.needs_rehash(&weaker));
        assert!(
            h.verify(&pw("a-long-and-unusual-passphrase"), Some(&weaker))
                .await
                .expect("verify"),
            "still verifies"
        );
        assert!(h.needs_rehash(&PasswordHash::from_phc("garbage".into())));
    }

    #[tokio::test]
    async fn an_unknown_account_never_verifies() {
        let h = hasher();
        assert!(
            !h.verify(&pw("anything at all"), None)
                .await
                .expect("verify")
        );
    }

    #[tokio::test]
    async fn a_stored_hash_with_extreme_parameters_is_refused_before_verifying() {
        let h = hasher();
        let started = std::time::Instant::now();
        let evil = PasswordHash::from_phc(
            "$argon2id$v=19$m=8388608,t=2,p=4$c29tZXNhbHRzb21lc2FsdA$YWJjZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXo".into(),
        );
        assert!(matches!(
            h.verify(&pw("x"), Some(&evil)).await,
            Err(RepoError::Other(_))
        ));
        assert!(started.elapsed() < Duration::from_secs(1));
        let argon2i = PasswordHash::from_phc(
            "$argon2i$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$YWJjZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXo".into(),
        );
        assert!(h.verify(&pw("x"), Some(&argon2i)).await.is_err());
    }

    #[tokio::test]
    async fn callers_beyond_the_bound_are_refused_quickly_rather_than_queued_forever() {
        let h = Argon2Hasher::new(HasherConfig {
            max_concurrent: 1,
            max_wait: Duration::from_millis(1),
        })
        .expect("hasher");
        let held = h.permits.clone().acquire_owned().await.expect("permit");
        assert!(matches!(
            h.hash(&pw("a-long-and-unusual-passphrase")).await,
            Err(RepoError::Unavailable(_))
        ));
        drop(held);
        assert!(h.hash(&pw("a-long-and-unusual-passphrase")).await.is_ok());
    }
}
