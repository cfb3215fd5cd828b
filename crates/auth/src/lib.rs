//! Authentication adapters: argon2id password hashing, JWT access tokens and
//! opaque refresh tokens.
//!
//! Both implement ports of `kg-application`; nothing here knows HTTP or SQL.

mod api_keys;
mod jwt;
mod password;
mod refresh;

pub use api_keys::OpaqueApiKeys;
pub use jwt::{JwtConfig, JwtIssuer, JwtSecret, SecretError};
pub use password::{Argon2Hasher, HasherConfig};
pub use refresh::OpaqueRefreshTokens;
