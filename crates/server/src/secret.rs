//! Loading the JWT secret, generating it once in development.

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;

use anyhow::Context as _;
use kg_auth::JwtSecret;

use crate::SecretSource;

fn read(path: &Path) -> anyhow::Result<JwtSecret> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the JWT secret from {}", path.display()))?;
    JwtSecret::new(text.trim().as_bytes().to_vec())
        .map_err(|e| anyhow::anyhow!("the JWT secret in {} {e}", path.display()))
}

/// The secret the settings name, generating the development one if needed.
///
/// # Errors
/// When the file cannot be read or written, or the secret is weak.
pub fn load_secret(source: &SecretSource) -> anyhow::Result<JwtSecret> {
    match source {
        SecretSource::Value(secret) => Ok(secret.clone()),
        SecretSource::File(path) => read(path),
        SecretSource::Generated(path) => {
            if path.exists() {
                return read(path);
            }
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
            }
            let hex: String = JwtSecret::generate()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .with_context(|| format!("creating {}", path.display()))?;
            file.write_all(hex.as_bytes())
                .and_then(|()| file.sync_all())
                .with_context(|| format!("writing {}", path.display()))?;
            tracing::info!(path = %path.display(), "generated a development JWT secret");
            read(path)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn the_development_secret_is_generated_once_with_mode_0600() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("data").join("jwt_secret");
        load_secret(&SecretSource::Generated(path.clone()))?;
        let first = std::fs::read_to_string(&path)?;
        assert_eq!(
            std::fs::metadata(&path)?.permissions().mode() & 0o777,
            0o600
        );
        load_secret(&SecretSource::Generated(path.clone()))?;
        assert_eq!(
            std::fs::read_to_string(&path)?,
            first,
            "reused, not regenerated"
        );
        assert!(first.len() >= 64);
        Ok(())
    }
}
