//! Request metrics, rendered in the Prometheus text format at `/metrics`.
//!
//! Counters live in one small map behind a mutex, keyed by route template
//! (never the raw path, so cardinality stays bounded), method and status.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};

/// Upper bounds of the latency histogram, in seconds.
const BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

#[derive(Default)]
struct Counters {
    requests: BTreeMap<(String, String, u16), u64>,
    latency: BTreeMap<(String, String), Histogram>,
    problems: BTreeMap<&'static str, u64>,
    batch_items: BTreeMap<&'static str, u64>,
    purged: BTreeMap<&'static str, u64>,
}

/// The service's metrics. Cheap to share; one per process.
#[derive(Default)]
pub struct Metrics {
    counters: Mutex<Counters>,
    in_flight: AtomicI64,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

/// Counts a request in flight until dropped.
pub(crate) struct InFlight<'a>(&'a Metrics);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Metrics {
    fn counters(&self) -> std::sync::MutexGuard<'_, Counters> {
        self.counters
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn start(&self) -> InFlight<'_> {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(self)
    }

    /// Records a finished request under its route template.
    pub(crate) fn finish(
        &self,
        route: &str,
        method: &str,
        status: u16,
        seconds: f64,
        problem: Option<&'static str>,
    ) {
        let mut c = self.counters();
        *c.requests
            .entry((route.to_owned(), method.to_owned(), status))
            .or_default() += 1;
        let h = c
            .latency
            .entry((route.to_owned(), method.to_owned()))
            .or_default();
        for (slot, bound) in h.counts.iter_mut().zip(BUCKETS) {
            if seconds <= bound {
                *slot += 1;
            }
        }
        h.sum += seconds;
        h.count += 1;
        if let Some(code) = problem {
            *c.problems.entry(code).or_default() += 1;
        }
    }

    /// Records batch items by outcome.
    pub(crate) fn batch_items(&self, outcome: &'static str, n: usize) {
        *self.counters().batch_items.entry(outcome).or_default() += n as u64;
    }

    /// Records rows purged from `table` (a purge that removed none still
    /// shows the table, at its count so far).
    pub fn purged(&self, table: &'static str, n: u64) {
        *self.counters().purged.entry(table).or_default() += n;
    }

    /// The text exposition, with the pool's state and how many clients the
    /// rate limits track.
    pub(crate) fn render(&self, pool: &kg_application::PoolSnapshot, clients: usize) -> String {
        let c = self.counters();
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP kg_http_requests_total Requests answered, by route template, method and status."
        );
        let _ = writeln!(out, "# TYPE kg_http_requests_total counter");
        for ((route, method, status), n) in &c.requests {
            let _ = writeln!(
                out,
                "kg_http_requests_total{{route=\"{route}\",method=\"{method}\",status=\"{status}\"}} {n}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP kg_http_request_duration_seconds Time to answer, by route template and method."
        );
        let _ = writeln!(out, "# TYPE kg_http_request_duration_seconds histogram");
        for ((route, method), h) in &c.latency {
            let labels = format!("route=\"{route}\",method=\"{method}\"");
            for (bound, n) in BUCKETS.iter().zip(h.counts) {
                let _ = writeln!(
                    out,
                    "kg_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {n}"
                );
            }
            let _ = writeln!(
                out,
                "kg_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "kg_http_request_duration_seconds_sum{{{labels}}} {}",
                h.sum
            );
            let _ = writeln!(
                out,
                "kg_http_request_duration_seconds_count{{{labels}}} {}",
                h.count
            );
        }
        let _ = writeln!(
            out,
            "# HELP kg_http_requests_in_flight Requests being answered now."
        );
        let _ = writeln!(out, "# TYPE kg_http_requests_in_flight gauge");
        let _ = writeln!(
            out,
            "kg_http_requests_in_flight {}",
            self.in_flight.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP kg_problems_total Problem responses by code (invalid_credentials: failed logins; login_throttled; rate_limited; ...)."
        );
        let _ = writeln!(out, "# TYPE kg_problems_total counter");
        for (code, n) in &c.problems {
            let _ = writeln!(out, "kg_problems_total{{code=\"{code}\"}} {n}");
        }
        let _ = writeln!(
            out,
            "# HELP kg_batch_items_total Batch items applied, by outcome."
        );
        let _ = writeln!(out, "# TYPE kg_batch_items_total counter");
        for (outcome, n) in &c.batch_items {
            let _ = writeln!(out, "kg_batch_items_total{{outcome=\"{outcome}\"}} {n}");
        }
        let _ = writeln!(
            out,
            "# HELP kg_purged_rows_total Rows past their use deleted by the periodic purge, by table."
        );
        let _ = writeln!(out, "# TYPE kg_purged_rows_total counter");
        for (table, n) in &c.purged {
            let _ = writeln!(out, "kg_purged_rows_total{{table=\"{table}\"}} {n}");
        }
        let _ = writeln!(
            out,
            "# HELP kg_db_pool_connections Database connections by state."
        );
        let _ = writeln!(out, "# TYPE kg_db_pool_connections gauge");
        let _ = writeln!(
            out,
            "kg_db_pool_connections{{state=\"open\"}} {}",
            pool.size
        );
        let _ = writeln!(
            out,
            "kg_db_pool_connections{{state=\"idle\"}} {}",
            pool.idle
        );
        let _ = writeln!(out, "kg_db_pool_connections{{state=\"max\"}} {}", pool.max);
        let _ = writeln!(
            out,
            "# HELP kg_db_statements_total Statements sent to the database (queries and commands; not BEGIN or COMMIT)."
        );
        let _ = writeln!(out, "# TYPE kg_db_statements_total counter");
        let _ = writeln!(out, "kg_db_statements_total {}", pool.statements);
        let _ = writeln!(
            out,
            "# HELP kg_db_pool_acquire_seconds Time this scrape waited for a connection (-1: none within the acquire timeout)."
        );
        let _ = writeln!(out, "# TYPE kg_db_pool_acquire_seconds gauge");
        let _ = writeln!(
            out,
            "kg_db_pool_acquire_seconds {}",
            pool.acquire_seconds.unwrap_or(-1.0)
        );
        let _ = writeln!(
            out,
            "# HELP kg_rate_limit_clients Client keys the per-client rate limits hold now, summed over the limits (an address in two limits counts twice); each is dropped once its bucket refills."
        );
        let _ = writeln!(out, "# TYPE kg_rate_limit_clients gauge");
        let _ = writeln!(out, "kg_rate_limit_clients {clients}");
        out
    }
}
