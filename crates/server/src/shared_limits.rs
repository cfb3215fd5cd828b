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

/// Counts one request: answers 0 when it fits, else the microseconds until
/// one more would. `ARGV[1]` is the emission interval (µs per request),
/// `ARGV[2]` the burst (requests the bucket holds). Writing after `TIME`
/// needs Redis 5 or later (effects replication).
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
    /// `KG_REDIS_TIMEOUT_MS`: how long a request waits for Redis before
    /// it is counted by its instance alone.
    pub timeout: Duration,
    /// `KG_REDIS_KEY_PREFIX`: lets several deployments share one Redis.
    pub prefix: String,
}

impl std::fmt::Debug for RedisSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisSettings")
            .field("url", &"<redacted>")
            .field("timeout", &self.timeout)
            .field("prefix", &self.prefix)
            .finish()
    }
}

/// The budget in Redis. Its connection is opened lazily, and its tasks run
/// on the runtime that built it (the main one), not on whichever HTTP
/// worker asked first; a connection that failed or stopped answering is
/// replaced by a new one, so a Redis that vanished without closing its
/// sockets, or a demoted primary, is left behind.
pub struct RedisBudget {
    client: redis::Client,
    timeout: Duration,
    runtime: tokio::runtime::Handle,
    connection: std::sync::Mutex<ConnectionManager>,
    prefix: String,
    script: Arc<redis::Script>,
}

impl std::fmt::Debug for RedisBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBudget")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisBudget {
    /// A budget at `settings.url`, answering within `settings.timeout`;
    /// nothing is connected yet. Call it on the runtime its tasks should
    /// run on.
    ///
    /// # Errors
    /// The URL is not a Redis URL kg can use.
    pub fn new(settings: &RedisSettings) -> Result<Arc<Self>, String> {
        let timeout = settings.timeout;
        let client = redis::Client::open(settings.url.expose_secret())
            .map_err(|e| format!("KG_REDIS_URL cannot be used ({:?})", e.kind()))?;
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| "the shared rate-limit budget needs a Tokio runtime".to_owned())?;
        let connection = Self::lazy(&client, timeout)?;
        Ok(Arc::new(Self {
            client,
            timeout,
            runtime,
            connection: std::sync::Mutex::new(connection),
            prefix: settings.prefix.clone(),
            script: Arc::new(redis::Script::new(GCRA)),
        }))
    }

    /// A connection manager that connects on first use, on the current
    /// runtime, and leaves reconnecting to [`Self::replace`].
    fn lazy(client: &redis::Client, timeout: Duration) -> Result<ConnectionManager, String> {
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(0);
        ConnectionManager::new_lazy_with_config(client.clone(), config)
            .map_err(|e| format!("cannot set up a Redis connection ({:?})", e.kind()))
    }

    fn current(&self) -> ConnectionManager {
        self.connection
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Drops the connection for a new one, made on the budget's runtime.
    fn replace(&self) {
        let _on_its_runtime = self.runtime.enter();
        if let Ok(fresh) = Self::lazy(&self.client, self.timeout) {
            *self
                .connection
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = fresh;
        }
    }
}

impl SharedBudget for RedisBudget {
    fn take<'a>(
        &'a self,
        bucket: &'static str,
        key: &'a str,
        per_minute: u32,
    ) -> BoxFuture<'a, Result<SharedDecision, String>> {
        let mut connection = self.current();
        let interval = 60_000_000 / u64::from(per_minute.max(1));
        let key = format!("{}rl:{bucket}:{key}", self.prefix);
        let script = self.script.clone();
        Box::pin(async move {
            // On the budget's runtime: no HTTP worker drives Redis's I/O.
            let asked = self.runtime.spawn(async move {
                script
                    .key(key)
                    .arg(interval)
                    .arg(per_minute)
                    .invoke_async::<i64>(&mut connection)
                    .await
            });
            let answer = match tokio::time::timeout(self.timeout, asked).await {
                Ok(Ok(Ok(wait))) => Ok(wait),
                Ok(Ok(Err(e))) => Err(format!("Redis refused the rate-limit script: {e}")),
                Ok(Err(e)) => Err(format!("the rate-limit call to Redis did not finish: {e}")),
                Err(_) => Err(format!(
                    "Redis gave no answer within {} ms",
                    self.timeout.as_millis()
                )),
            };
            let wait = answer.inspect_err(|_| self.replace())?;
            Ok(match u64::try_from(wait) {
                Ok(0) => SharedDecision::Allowed,
                Ok(micros) => SharedDecision::Refused(Duration::from_micros(micros)),
                Err(_) => return Err(format!("Redis answered a negative wait: {wait}")),
            })
        })
    }
}
