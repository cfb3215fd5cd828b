//! The composition root: settings, wiring of ports to adapters, start-up
//! checks, telemetry and the command line. No business logic lives here.

mod secret;
mod settings;
mod shared_limits;
mod startup;
pub mod telemetry;
pub mod transfer;

pub use secret::load_secret;
pub use settings::{Environment, LogFormat, SecretSource, Settings, SettingsError};
pub use shared_limits::RedisSettings;
pub use startup::{
    Application, Services, build_services, ensure_sqlite_dir, open_database, prepare_schema,
};
