//! The sea-orm adapter for kg's repository ports, on PostgreSQL and SQLite.
//!
//! Repositories are written once, generic over what they run on (an
//! [`Executor`]: a connection pool or a transaction). Each write port method
//! begins a write transaction (`BEGIN IMMEDIATE` on SQLite, so concurrent
//! writers queue on the busy timeout instead of failing to upgrade a read
//! lock), makes its change with its audit and change-feed rows, and
//! commits; an early `?` drops the transaction, which rolls it back. Built
//! on a transaction, as [`SeaOrmUnitOfWork`] builds them, the same method is
//! a savepoint inside it. Rows are written by one set of row writers for
//! every path; multi-row policies come from the application's planners.
//! Database constraints back every invariant, and their violations are
//! mapped to domain conflicts here.

mod api_keys;
mod audit;
mod batch;
mod changes;
mod connect;
mod convert;
mod entities;
mod error;
mod evidence;
mod housekeeping;
mod idempotency;
mod json_text;
mod models;
mod principals;
mod relationships;
mod rows;
mod sessions;
mod settings;
mod sql;
mod throttle;
mod unit_of_work;
mod users;

#[cfg(feature = "testing")]
pub mod testing;

pub use api_keys::SeaOrmApiKeyRepository;
pub use audit::SeaOrmAuditLog;
pub use batch::SeaOrmBatchRepository;
pub use changes::SeaOrmChangeFeed;
pub use connect::{
    DatabaseSettings, SeaOrmHealthProbe, SeaOrmPoolMonitor, StatementCount, connect,
    connect_for_migrations, durability_report,
};
pub use entities::SeaOrmEntityRepository;
pub use evidence::SeaOrmEvidenceRepository;
pub use housekeeping::SeaOrmHousekeeping;
pub use idempotency::SeaOrmIdempotencyStore;
pub use kg_migration::{MigrationCommand, MigrationReport, latest_migration, run as migrate};
pub use principals::{
    APPLICATION_NAME as PRINCIPALS_APPLICATION_NAME, follow as follow_principal_changes,
};
pub use relationships::SeaOrmRelationshipRepository;
pub use sea_orm::{DatabaseBackend, DatabaseConnection};
pub use sessions::SeaOrmSessionRepository;
pub use settings::SeaOrmModeStore;
pub use sql::Executor;
pub use throttle::SeaOrmLoginThrottle;
pub use unit_of_work::SeaOrmUnitOfWork;
pub use users::SeaOrmUserRepository;
