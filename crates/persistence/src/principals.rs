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
//! connection with the time it sent the beat; when the beat comes back,
//! every change committed before that time has come back before it, so the
//! cache may answer until that time plus [`PRINCIPAL_STALENESS_BOUND`]. A
//! listener that loses its connection, or hears nothing (not even its own
//! beats) for [`SILENCE`], distrusts the cache and reconnects.

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

/// How long the listener waits before it connects again after a loss.
const RECONNECT_AFTER: Duration = Duration::from_millis(250);

/// A beat's payload prefix.
const BEAT_PREFIX: &str = "beat:";

/// Follows the channel of the PostgreSQL database at `url` for ever,
/// driving `cache`: the cache is used only while this runs and hears its
/// own beats. Spawn it once per instance.
pub async fn follow(url: String, cache: Arc<PrincipalCache>) {
    let started = Instant::now();
    let nonce = uuid::Uuid::new_v4().simple().to_string();
    loop {
        let (listened, lost) = listen(&url, &cache, started, &nonce).await;
        cache.distrust();
        if listened {
            tracing::warn!(error = %lost, "principal channel lost; authenticating from the database until it is back");
        } else {
            tracing::debug!(error = %lost, "principal channel not listening");
        }
        tokio::time::sleep(RECONNECT_AFTER).await;
    }
}

/// Why the channel stopped.
#[derive(Debug, thiserror::Error)]
enum Lost {
    #[error("{0}")]
    Database(#[from] sea_orm::sqlx::Error),
    #[error("the connection closed")]
    Closed,
    #[error("nothing heard for {0:?}")]
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

/// One subscription, until it is lost: whether it was listening, and why
/// it stopped.
async fn listen(url: &str, cache: &PrincipalCache, started: Instant, nonce: &str) -> (bool, Lost) {
    let pool = match pool(url).await {
        Ok(pool) => pool,
        Err(lost) => return (false, lost),
    };
    let subscribed = async {
        let mut listener = PgListener::connect_with(&pool).await?;
        // A lost connection ends this subscription instead of being
        // replaced behind our back: what was notified meanwhile is gone.
        listener.eager_reconnect(false);
        listener.listen(CHANNEL).await?;
        Ok::<_, Lost>(listener)
    };
    let mut listener = match subscribed.await {
        Ok(listener) => listener,
        Err(lost) => {
            pool.close().await;
            return (false, lost);
        }
    };
    // Whatever changed before the subscription is not known to have been
    // seen: start from nothing.
    cache.distrust();
    tracing::info!("principal channel listening");
    let beats = tokio::spawn(beat(pool.clone(), started, nonce.to_owned()));
    let lost = receive(&mut listener, cache, started, nonce).await;
    beats.abort();
    drop(listener);
    pool.close().await;
    (true, lost)
}

/// Sends a beat every [`BEAT`] until aborted; a beat that fails is simply
/// not heard, and the silence ends the subscription.
async fn beat(pool: PgPool, started: Instant, nonce: String) {
    let mut every = tokio::time::interval(BEAT);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let sent = started.elapsed().as_micros();
        let payload = format!("{BEAT_PREFIX}{nonce}:{sent}");
        let beat = sea_orm::sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(payload)
            .execute(&pool);
        if let Ok(Err(err)) = tokio::time::timeout(SILENCE, beat).await {
            tracing::debug!(error = %err, "principal channel beat failed");
        }
    }
}

/// Drives the cache from what the channel delivers, until it is lost.
async fn receive(
    listener: &mut PgListener,
    cache: &PrincipalCache,
    started: Instant,
    nonce: &str,
) -> Lost {
    loop {
        let notification = match tokio::time::timeout(SILENCE, listener.try_recv()).await {
            Err(_) => return Lost::Silent(SILENCE),
            Ok(Err(err)) => return Lost::Database(err),
            Ok(Ok(None)) => return Lost::Closed,
            Ok(Ok(Some(notification))) => notification,
        };
        match beat_sent_at(notification.payload(), nonce) {
            Some(Some(micros)) => {
                let sent = started + Duration::from_micros(micros);
                cache.vouch_until(sent + PRINCIPAL_STALENESS_BOUND);
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
    }
}
