//! The change channel that drives the application's [`PrincipalCache`] on
//! PostgreSQL (ADR 34).
//!
//! Triggers on `users`, `sessions` and `api_keys` (migration 16) notify
//! [`CHANNEL`] in the transaction of every change to someone's standing: a
//! session revoked or deleted, a user deactivated, demoted or deleted, a
//! key revoked, expired or changed. PostgreSQL delivers a notification to
//! every listening session once its transaction commits, in commit order.
//!
//! [`follow`] listens on its own connection and drops the cache's
//! principals on each such notification. To vouch for the cache it proves
//! its own delivery: every [`BEAT`] it notifies the channel from a second
//! connection with the time it sent the beat, provided every trigger is in
//! place and enabled; when the beat comes back, every change committed
//! before that time has come back before it, so the cache may answer until
//! that time plus [`PRINCIPAL_STALENESS_BOUND`]. A listener that loses its
//! connection, or hears none of its own beats for [`SILENCE`], distrusts
//! the cache and reconnects, waiting longer while the channel keeps
//! failing.
//!
//! Writes that suppress triggers (a session with
//! `session_replication_role = replica`, as `pg_restore --disable-triggers`
//! uses) notify nothing, as they also bypass the append-only audit log:
//! restart the instances after such a restore.

use std::str::FromStr as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kg_application::{PRINCIPAL_STALENESS_BOUND, PrincipalCache};
use sea_orm::sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions};

/// The channel the triggers notify.
pub const CHANNEL: &str = "kg_principals";

/// How the listener's connections name themselves in `pg_stat_activity`.
pub const APPLICATION_NAME: &str = "kg-principals";

/// How often the listener sends itself a beat.
pub const BEAT: Duration = Duration::from_millis(400);

/// How long the listener waits for any notification before it takes the
/// channel for lost: several beats' worth.
pub const SILENCE: Duration = Duration::from_millis(1_600);

/// How long the listener first waits before it connects again after a
/// loss; the wait doubles while the channel keeps failing, up to
/// [`RECONNECT_AT_MOST`].
const RECONNECT_AFTER: Duration = Duration::from_millis(250);

/// The longest wait between two attempts to connect.
const RECONNECT_AT_MOST: Duration = Duration::from_secs(5);

/// How often a channel that keeps failing is reported at `warn`.
const REPORT_EVERY: Duration = Duration::from_secs(60);

/// A beat's payload prefix.
const BEAT_PREFIX: &str = "beat:";

/// The triggers of migration 16 that notify the channel. A beat is sent
/// only while every one of them exists and fires, so a cache is never
/// vouched for while changes could go unnotified.
const TRIGGERS: [&str; 6] = [
    "sessions_notify_update",
    "sessions_notify_delete",
    "users_notify_update",
    "users_notify_delete",
    "api_keys_notify_update",
    "api_keys_notify_delete",
];

/// Follows the channel of the PostgreSQL database at `url` for ever,
/// driving `cache`: the cache is used only while this runs and hears its
/// own beats. Spawn it once per instance.
pub async fn follow(url: String, cache: Arc<PrincipalCache>) {
    let started = Instant::now();
    let nonce = uuid::Uuid::new_v4().simple().to_string();
    let mut wait = RECONNECT_AFTER;
    // Since when the channel has not vouched, and when that was last told.
    let mut failing: Option<(Instant, Instant)> = None;
    loop {
        let (vouched, lost) = listen(&url, &cache, started, &nonce).await;
        cache.distrust();
        let now = Instant::now();
        if vouched {
            tracing::warn!(error = %lost, "principal channel lost; authenticating from the database until it is back");
            wait = RECONNECT_AFTER;
            failing = Some((now, now));
        } else {
            match failing {
                Some((since, told)) if now - told < REPORT_EVERY => {
                    tracing::debug!(error = %lost, failing_secs = (now - since).as_secs(), "principal channel not working");
                }
                Some((since, _)) => {
                    tracing::warn!(error = %lost, failing_secs = (now - since).as_secs(), "principal channel not working; authenticating from the database");
                    failing = Some((since, now));
                }
                None => {
                    tracing::warn!(error = %lost, "principal channel not working; authenticating from the database");
                    failing = Some((now, now));
                }
            }
            wait = (wait * 2).min(RECONNECT_AT_MOST);
        }
        tokio::time::sleep(wait).await;
    }
}

/// Why the channel stopped.
#[derive(Debug, thiserror::Error)]
enum Lost {
    #[error("{0}")]
    Database(#[from] sea_orm::sqlx::Error),
    #[error("the connection closed")]
    Closed,
    #[error("no beat of its own heard for {0:?}")]
    Silent(Duration),
}

async fn pool(url: &str) -> Result<PgPool, Lost> {
    let options = PgConnectOptions::from_str(url)?.application_name(APPLICATION_NAME);
    Ok(PgPoolOptions::new()
        .max_connections(2)
        .acquire_timeout(SILENCE)
        .connect_with(options)
        .await?)
}

/// One subscription, until it is lost: whether the channel vouched for the
/// cache meanwhile, and why it stopped. Every step that waits on the
/// network is bounded, so a connection that went silent is given up
/// within [`SILENCE`] and never holds up the next attempt.
async fn listen(url: &str, cache: &PrincipalCache, started: Instant, nonce: &str) -> (bool, Lost) {
    let subscribed = async {
        let pool = pool(url).await?;
        let mut listener = PgListener::connect_with(&pool).await?;
        // A lost connection ends this subscription instead of being
        // replaced behind our back: what was notified meanwhile is gone.
        listener.eager_reconnect(false);
        listener.listen(CHANNEL).await?;
        Ok::<_, Lost>((pool, listener))
    };
    let (pool, mut listener) = match tokio::time::timeout(SILENCE, subscribed).await {
        Ok(Ok(subscribed)) => subscribed,
        Ok(Err(lost)) => return (false, lost),
        Err(_) => return (false, Lost::Silent(SILENCE)),
    };
    // Whatever changed before the subscription is not known to have been
    // seen: start from nothing.
    cache.distrust();
    tracing::debug!("principal channel listening");
    let beats = tokio::spawn(beat(pool.clone(), started, nonce.to_owned()));
    let (vouched, lost) = receive(&mut listener, cache, started, nonce).await;
    beats.abort();
    // Let go without waiting: on a dead connection both the listener's
    // `UNLISTEN` and the pool's close would wait for the network to give up.
    drop(listener);
    tokio::spawn(async move { pool.close().await });
    (vouched, lost)
}

/// Sends a beat every [`BEAT`] until aborted, while every trigger of
/// [`TRIGGERS`] exists and fires; a beat that is not sent is not heard,
/// and the silence ends the subscription.
async fn beat(pool: PgPool, started: Instant, nonce: String) {
    let mut every = tokio::time::interval(BEAT);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let triggers: Vec<String> = TRIGGERS.iter().map(|t| (*t).to_owned()).collect();
    loop {
        every.tick().await;
        let sent = started.elapsed().as_micros();
        let payload = format!("{BEAT_PREFIX}{nonce}:{sent}");
        let beat = sea_orm::sqlx::query(
            "SELECT pg_notify($1, $2) FROM pg_trigger \
             WHERE tgname = ANY($3) AND tgenabled IN ('O', 'A') HAVING count(*) = $4",
        )
        .bind(CHANNEL)
        .bind(payload)
        .bind(&triggers)
        .bind(i64::try_from(TRIGGERS.len()).unwrap_or(i64::MAX))
        .execute(&pool);
        match tokio::time::timeout(SILENCE, beat).await {
            Ok(Ok(done)) if done.rows_affected() == 0 => {
                tracing::debug!("a trigger of the principal channel is missing or disabled");
            }
            Ok(Ok(_)) => {}
            Ok(Err(err)) => tracing::debug!(error = %err, "principal channel beat failed"),
            Err(_) => tracing::debug!("principal channel beat timed out"),
        }
    }
}

/// Drives the cache from what the channel delivers until it is lost, or
/// until none of its own beats has come back for [`SILENCE`] (other
/// instances' beats do not count); returns whether it vouched meanwhile.
async fn receive(
    listener: &mut PgListener,
    cache: &PrincipalCache,
    started: Instant,
    nonce: &str,
) -> (bool, Lost) {
    let mut vouched = false;
    let mut heard = Instant::now();
    loop {
        let wait = (heard + SILENCE).saturating_duration_since(Instant::now());
        let notification = match tokio::time::timeout(wait, listener.try_recv()).await {
            Err(_) => return (vouched, Lost::Silent(SILENCE)),
            Ok(Err(err)) => return (vouched, Lost::Database(err)),
            Ok(Ok(None)) => return (vouched, Lost::Closed),
            Ok(Ok(Some(notification))) => notification,
        };
        match beat_sent_at(notification.payload(), nonce) {
            Some(Some(micros)) => {
                let sent = started + Duration::from_micros(micros);
                // Anyone who may connect may notify: a beat "sent" in the
                // future is not ours.
                if sent <= Instant::now() {
                    if !vouched {
                        tracing::info!("principal channel vouching for the cache");
                    }
                    vouched = true;
                    heard = Instant::now();
                    cache.vouch_until(sent + PRINCIPAL_STALENESS_BOUND);
                }
            }
            // Another instance's beat.
            Some(None) => {}
            None => cache.invalidate(),
        }
    }
}

/// `None` for a change; `Some(None)` for a beat of another listener;
/// `Some(Some(micros))` for one of ours, sent `micros` after it started.
fn beat_sent_at(payload: &str, nonce: &str) -> Option<Option<u64>> {
    let beat = payload.strip_prefix(BEAT_PREFIX)?;
    Some(
        beat.strip_prefix(nonce)
            .and_then(|rest| rest.strip_prefix(':'))
            .and_then(|micros| micros.parse().ok()),
    )
}

#[cfg(test)]
mod tests {
    use super::beat_sent_at;

    #[test]
    fn beats_are_told_from_changes_and_ours_from_others() {
        assert_eq!(beat_sent_at("users", "n1"), None);
        assert_eq!(beat_sent_at("sessions", "n1"), None);
        assert_eq!(beat_sent_at("beat:n1:1250", "n1"), Some(Some(1250)));
        assert_eq!(beat_sent_at("beat:n2:1250", "n1"), Some(None));
        assert_eq!(beat_sent_at("beat:n1x:1250", "n1"), Some(None));
        assert_eq!(beat_sent_at("beat:n1:", "n1"), Some(None));
        assert_eq!(beat_sent_at("beat:n1:-5", "n1"), Some(None));
    }
}
