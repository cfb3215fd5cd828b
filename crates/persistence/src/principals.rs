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
//! connection with a single-use token, provided every trigger is in place
//! and enabled, and with a fingerprint of those triggers; when the beat
//! comes back, every change committed before it was sent has come back
//! before it, so the cache may answer until the send time plus
//! [`PRINCIPAL_STALENESS_BOUND`]. A fingerprint that differs from the last
//! one (a trigger disabled and enabled again, even inside one transaction)
//! starts the cache over. A listener that loses its
//! connection, or hears none of its own beats for [`SILENCE`], distrusts
//! the cache and reconnects, waiting longer while the channel keeps
//! failing.
//!
//! A session with `session_replication_role = replica` fires no ordinary
//! trigger and changes nothing in the catalogue, so its writes notify
//! nothing (they also bypass the append-only audit log): restart the
//! instances after writing these tables that way.

use std::collections::VecDeque;
use std::str::FromStr as _;
use std::sync::{Arc, Mutex, PoisonError};
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
    let mut wait = RECONNECT_AFTER;
    // Since when the channel has not vouched, and when that was last told.
    let mut failing: Option<(Instant, Instant)> = None;
    loop {
        let (vouched, lost) = listen(&url, &cache).await;
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
async fn listen(url: &str, cache: &PrincipalCache) -> (bool, Lost) {
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
    let pending = Arc::new(Pending::default());
    let beats = tokio::spawn(beat(pool.clone(), pending.clone()));
    let (vouched, lost) = receive(&mut listener, cache, &pending).await;
    beats.abort();
    // Let go without waiting: on a dead connection both the listener's
    // `UNLISTEN` and the pool's close would wait for the network to give up.
    drop(listener);
    tokio::spawn(async move { pool.close().await });
    (vouched, lost)
}

/// The beats sent and not yet heard back: each one's single-use token and
/// when it was sent. Anyone who may connect may listen and notify, so a
/// beat counts only if it carries a token this listener handed out and has
/// not seen yet.
#[derive(Debug, Default)]
struct Pending(Mutex<VecDeque<(String, Instant)>>);

impl Pending {
    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<(String, Instant)>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A new token, sent now.
    fn issue(&self) -> String {
        let token = uuid::Uuid::new_v4().simple().to_string();
        let mut pending = self.lock();
        let now = Instant::now();
        // Beats lost on the way are not waited for longer than the silence.
        pending.retain(|(_, sent)| now.duration_since(*sent) <= SILENCE * 2);
        pending.push_back((token.clone(), now));
        token
    }

    /// When the beat with `token` was sent, if it is one of ours not heard
    /// before; it cannot be heard again.
    fn heard(&self, token: &str) -> Option<Instant> {
        let mut pending = self.lock();
        let at = pending.iter().position(|(t, _)| t == token)?;
        pending.remove(at).map(|(_, sent)| sent)
    }
}

/// The beat's statement: it notifies only while each trigger of
/// [`TRIGGERS`] is on its table, calls kg's function and is enabled, and
/// it appends a fingerprint of those triggers and of the function. A
/// trigger disabled and enabled again, or replaced, changes the
/// fingerprint (its catalogue row is rewritten), even when that happened
/// between two beats or inside one transaction with the changes it hid.
const BEAT_SQL: &str = "SELECT pg_notify($1, $2 || ':' \
       || string_agg(t.oid::text || '.' || t.xmin::text || '.' || t.tgenabled::text, ',' ORDER BY t.oid) \
       || '/' || (SELECT p.xmin::text FROM pg_proc p WHERE p.oid = 'kg_notify_principals'::regproc)) \
     FROM pg_trigger t \
     WHERE t.tgname = ANY($3) AND t.tgenabled IN ('O', 'A') \
       AND t.tgrelid IN ('sessions'::regclass, 'users'::regclass, 'api_keys'::regclass) \
       AND t.tgfoid = 'kg_notify_principals'::regproc \
     HAVING count(*) = $4";

/// Sends a beat every [`BEAT`] until aborted, while every trigger of
/// [`TRIGGERS`] is in place; a beat that is not sent is not heard, and the
/// silence ends the subscription.
async fn beat(pool: PgPool, pending: Arc<Pending>) {
    let mut every = tokio::time::interval(BEAT);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let triggers: Vec<String> = TRIGGERS.iter().map(|t| (*t).to_owned()).collect();
    loop {
        every.tick().await;
        let payload = format!("{BEAT_PREFIX}{}", pending.issue());
        let beat = sea_orm::sqlx::query(BEAT_SQL)
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
    pending: &Pending,
) -> (bool, Lost) {
    let mut vouched = false;
    let mut heard = Instant::now();
    let mut fingerprint: Option<String> = None;
    loop {
        let wait = (heard + SILENCE).saturating_duration_since(Instant::now());
        let notification = match tokio::time::timeout(wait, listener.try_recv()).await {
            Err(_) => return (vouched, Lost::Silent(SILENCE)),
            Ok(Err(err)) => return (vouched, Lost::Database(err)),
            Ok(Ok(None)) => return (vouched, Lost::Closed),
            Ok(Ok(Some(notification))) => notification,
        };
        let Some((token, print)) = beat_parts(notification.payload()) else {
            cache.invalidate();
            continue;
        };
        // Another instance's beat, or a forged one.
        let Some(sent) = pending.heard(token) else {
            continue;
        };
        if fingerprint.as_deref().is_some_and(|known| known != print) {
            // The triggers changed since the last beat: changes made
            // meanwhile may not have been notified.
            tracing::warn!("the principal channel's triggers changed; starting the cache over");
            cache.distrust();
        }
        fingerprint = Some(print.to_owned());
        if !vouched {
            tracing::info!("principal channel vouching for the cache");
        }
        vouched = true;
        heard = Instant::now();
        cache.vouch_until(sent + PRINCIPAL_STALENESS_BOUND);
    }
}

/// A beat's token and trigger fingerprint; `None` for a change.
fn beat_parts(payload: &str) -> Option<(&str, &str)> {
    payload.strip_prefix(BEAT_PREFIX)?.split_once(':')
}

#[cfg(test)]
mod tests {
    use super::{Pending, beat_parts};

    #[test]
    fn beats_are_told_from_changes() {
        assert_eq!(beat_parts("users"), None);
        assert_eq!(beat_parts("sessions"), None);
        assert_eq!(
            beat_parts("beat:t1:1.2.O,3.4.O/9"),
            Some(("t1", "1.2.O,3.4.O/9"))
        );
    }

    #[test]
    fn a_beat_counts_once_and_only_if_it_is_ours() {
        let pending = Pending::default();
        let token = pending.issue();
        assert!(pending.heard("someone-elses").is_none());
        assert!(pending.heard(&token).is_some());
        assert!(pending.heard(&token).is_none(), "a replayed beat");
    }
}
