//! Authentication adapters: argon2id password hashing and JWT access tokens.
//!
//! Both implement ports of `kg-application`; nothing here knows HTTP or SQL.

mod jwt;
mod password;

pub use jwt::{JwtConfig, JwtIssuer, JwtSecret, SecretError};
pub use password::{Argon2Hasher, HasherConfig};
