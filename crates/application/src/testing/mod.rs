//! In-memory fakes of the ports, for tests of the use cases and of code
//! built on them. Built for this crate's own tests, and for other crates
//! with the `testing` feature.
//!
//! [`InMemoryStore`] implements every repository port of the graph and of
//! accounts with the contracts the database adapter keeps; the other fakes
//! make secrets and tokens that are predictable and readable.

mod clock;
mod secrets;
mod store;

pub use clock::FixedClock;
pub use secrets::{FakeHasher, FakeKeySecrets, FakeRefresh, FakeTokens};
pub use store::{FailureRecord, InMemoryState, InMemoryStore, RefreshTokenRecord};

/// An attribution with every field set. A field added to
/// [`kg_domain::Attribution`] must be set here, and the round-trip tests
/// that use it then check that each mapping carries the field.
///
/// # Errors
/// Never, unless a value here stops being valid.
pub fn full_attribution() -> Result<kg_domain::Attribution, Box<dyn std::error::Error>> {
    Ok(kg_domain::Attribution {
        confidence: Some(kg_domain::Confidence::new(0.25)?),
        source_ref: Some(kg_domain::SourceRef::parse("https://example.org/a")?),
        source_type: Some(kg_domain::TypeName::parse("web")?),
        metadata: kg_domain::Metadata::new(serde_json::json!({"k": [1, 2]}))?,
    })
}

#[cfg(test)]
mod tests;
