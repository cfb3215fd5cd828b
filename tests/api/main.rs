//! Black-box tests of the kg service over a real socket. Each test starts
//! the application on a free port over a fresh database: SQLite by default,
//! PostgreSQL with `KG_TEST_DATABASE=postgres`.

mod helpers;

mod limits;
mod maintenance;
mod metrics;
mod neighbors;
mod principals;

mod api_keys;
mod auth;
mod authz;
mod batch;
mod changes;
mod contract;
mod cookies;
mod duplicates;
mod entities;
mod errors;
mod evidence;
mod explore;
mod faults;
mod history;
mod idempotency;
mod relationships;
mod sessions;
mod statements;
mod users;
