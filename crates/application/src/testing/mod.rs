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
pub use store::{FailureRecord, InMemoryState, InMemoryStore};

#[cfg(test)]
mod tests;
