//! The sea-orm adapter for kg's repository ports, on PostgreSQL and SQLite.
//!
//! Every repository is written once, over `ConnectionTrait`, and works on a
//! connection or inside a transaction. Each write port method opens one
//! transaction (`BEGIN IMMEDIATE` on SQLite, so concurrent writers queue on
//! the busy timeout instead of failing to upgrade a read lock), makes its
//! change and the audit row, and commits; an early `?` drops the transaction,
//! which rolls it back. Database constraints back every invariant, and their
//! violations are mapped to domain conflicts here.

mod api_keys;
mod audit;
mod batch;
mod changes;
mod connect;
mod convert;
mod entities;
mod error;
mod idempotency;
mod models;
mod relationships;
mod sessions;
mod settings;
mod throttle;
mod users;

#[cfg(feature = "testing")]
pub mod testing;

pub use api_keys::SeaOrmApiKeyRepository;
pub use audit::SeaOrmAuditLog;
pub use batch::SeaOrmBatchRepository;
pub use changes::SeaOrmChangeFeed;
pub use connect::{
    DatabaseSettings, SeaOrmHealthProbe, SeaOrmPoolMonitor, connect, connect_for_migrations,
    durability_report,
};
pub use entities::SeaOrmEntityRepository;
pub use idempotency::SeaOrmIdempotencyStore;
pub use kg_migration::{MigrationCommand, MigrationReport, latest_migration, run as migrate};
pub use relationships::SeaOrmRelationshipRepository;
pub use sea_orm::{DatabaseBackend, DatabaseConnection};
pub use sessions::SeaOrmSessionRepository;
pub use settings::SeaOrmModeStore;
pub use throttle::SeaOrmLoginThrottle;
pub use users::SeaOrmUserRepository;
