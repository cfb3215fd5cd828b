//! The rate-limit budget several instances share, in Redis (ADR 41).
//!
//! Each bucket is one key holding its GCRA "theoretical arrival time", in
//! microseconds of Redis's own clock, so instances whose clocks disagree
//! still agree on the budget. One script reads, decides and writes it
//! atomically; the key expires when its bucket would be full again.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use kg_http::{SharedBudget, SharedDecision};
use redis::aio::ConnectionManager;
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::OnceCell;

/// Counts one request: answers 0 when it fits, else the microseconds until
/// one more would. `ARGV[1]` is the emission interval (µs per request),
/// `ARGV[2]` the burst (requests the bucket holds).
const GCRA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local next_tat = tat + interval
local wait = next_tat - burst * interval - now
if wait > 0 then return wait end
redis.call('SET', KEYS[1], string.format('%.0f', next_tat), 'PX', math.ceil((next_tat - now) / 1000))
return 0
";

/// Where the shared budget lives, and the prefix of its keys.
#[derive(Clone)]
pub struct RedisSettings {
    /// `KG_REDIS_URL`: may carry a password, so it is never printed.
    pub url: SecretString,
    /// `KG_REDIS_KEY_PREFIX`: lets several deployments share one Redis.
    pub prefix: String,
}

impl std::fmt::Debug for RedisSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisSettings")
            .field("url", &"<redacted>")
            .field("prefix", &self.prefix)
            .finish()
    }
}

/// The budget in Redis, connected on first use and reconnected by the
/// connection manager after a failure.
pub struct RedisBudget {
    client: redis::Client,
    connection: OnceCell<ConnectionManager>,
    prefix: String,
    script: redis::Script,
}

impl std::fmt::Debug for RedisBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBudget")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisBudget {
    /// A budget at `settings.url`; nothing is connected yet.
    ///
    /// # Errors
    /// The URL is not a Redis URL.
    pub fn new(settings: &RedisSettings) -> Result<Arc<Self>, String> {
        let client = redis::Client::open(settings.url.expose_secret())
            .map_err(|e| format!("KG_REDIS_URL is not a Redis URL ({:?})", e.kind()))?;
        Ok(Arc::new(Self {
            client,
            connection: OnceCell::new(),
            prefix: settings.prefix.clone(),
            script: redis::Script::new(GCRA),
        }))
    }

    async fn connection(&self) -> Result<ConnectionManager, String> {
        self.connection
            .get_or_try_init(|| async {
                let config = redis::aio::ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(Duration::from_millis(500)))
                    .set_response_timeout(Some(Duration::from_millis(250)))
                    .set_number_of_retries(1);
                ConnectionManager::new_with_config(self.client.clone(), config).await
            })
            .await
            .cloned()
            .map_err(|e| format!("cannot connect to Redis: {e}"))
    }
}

impl SharedBudget for RedisBudget {
    fn take<'a>(
        &'a self,
        bucket: &'static str,
        key: &'a str,
        per_minute: u32,
    ) -> BoxFuture<'a, Result<SharedDecision, String>> {
        Box::pin(async move {
            let mut connection = self.connection().await?;
            let interval = 60_000_000 / u64::from(per_minute.max(1));
            let wait: i64 = self
                .script
                .key(format!("{}rl:{bucket}:{key}", self.prefix))
                .arg(interval)
                .arg(per_minute)
                .invoke_async(&mut connection)
                .await
                .map_err(|e| format!("Redis refused the rate-limit script: {e}"))?;
            Ok(match u64::try_from(wait) {
                Ok(0) => SharedDecision::Allowed,
                Ok(micros) => SharedDecision::Refused(Duration::from_micros(micros)),
                Err(_) => return Err(format!("Redis answered a negative wait: {wait}")),
            })
        })
    }
}
