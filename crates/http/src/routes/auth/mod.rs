//! `/v1/auth`: tokens and the caller's own account.

pub(crate) mod me;
pub(crate) mod token;
