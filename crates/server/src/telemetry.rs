//! Logging: JSON lines in production, readable lines in development, the
//! level from `KG_LOG`.

use tracing_subscriber::EnvFilter;

use crate::LogFormat;

/// Installs the global subscriber once; later calls are ignored (tests).
pub fn init(format: LogFormat, filter: &str) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
        LogFormat::Pretty => builder.compact().try_init(),
    };
}
