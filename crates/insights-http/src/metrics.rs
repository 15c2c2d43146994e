//! Prometheus metrics in the text exposition format (0.0.4): requests by route and status,
//! latency histograms by route, requests in flight, and, read when scraped, the database
//! pools, the metadata cache, the samples loaded and the process's memory.
//!
//! Requests are labelled by the route pattern actix matched, so a new route is counted
//! under its own label with nothing to keep in step by hand. Patterns come only from the
//! registered routes, so the label set is bounded; `MAX_ROUTE_LABELS` caps it all the same.
//! Counters are atomics; recording takes a shared lock only to find the route's counters.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

/// The label of requests that match no route, so unknown paths cannot grow the label set.
const UNMATCHED: &str = "unmatched";

/// The most route labels kept; requests of any further pattern count as `unmatched`.
const MAX_ROUTE_LABELS: usize = 64;

/// Upper bounds of the latency histogram's buckets, in seconds.
const LATENCY_BOUNDS_S: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Statuses from 100 to 599, one counter each.
const N_STATUSES: usize = 500;

/// A histogram of durations over [`LATENCY_BOUNDS_S`].
#[derive(Default)]
struct Histogram {
    /// Cumulative counts are computed when scraped; each slot counts its own bucket only.
    buckets: [AtomicU64; LATENCY_BOUNDS_S.len() + 1],
    sum_ns: AtomicU64,
}

impl Histogram {
    fn observe(&self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        let bucket = LATENCY_BOUNDS_S
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(LATENCY_BOUNDS_S.len());
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        self.sum_ns.fetch_add(
            u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// Writes the buckets, sum and count of `name`, with `labels` (`key="value",` each)
    /// before `le`.
    fn render(&self, text: &mut String, name: &str, labels: &str) {
        let mut cumulative = 0;
        let bounds = LATENCY_BOUNDS_S.iter().map(|bound| bound.to_string());
        for (bound, bucket) in bounds.chain(["+Inf".to_owned()]).zip(&self.buckets) {
            cumulative += bucket.load(Ordering::Relaxed);
            let _ = writeln!(text, "{name}_bucket{{{labels}le=\"{bound}\"}} {cumulative}");
        }
        let sum_s = self.sum_ns.load(Ordering::Relaxed) as f64 / 1e9;
        let labels = match labels.trim_end_matches(',') {
            "" => String::new(),
            labels => format!("{{{labels}}}"),
        };
        let _ = writeln!(
            text,
            "{name}_sum{labels} {sum_s}\n{name}_count{labels} {cumulative}"
        );
    }
}

struct RouteMetrics {
    route: String,
    by_status: Box<[AtomicU64]>,
    latency: Histogram,
}

impl RouteMetrics {
    fn new(route: &str) -> RouteMetrics {
        RouteMetrics {
            route: route.to_owned(),
            by_status: (0..N_STATUSES).map(|_| AtomicU64::new(0)).collect(),
            latency: Histogram::default(),
        }
    }
}

/// Whom a rate limit refused, as `/metrics` counts it: the kind of caller, never the key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LimitedCaller {
    /// A client address, while keys are off.
    Address = 0,
    /// A brand's key.
    Brand = 1,
    /// An organization's key.
    Organization = 2,
}

impl LimitedCaller {
    const LABELS: [&'static str; 3] = ["address", "brand", "organization"];
}

/// The service's own counters.
pub struct Metrics {
    /// The counters of each route label seen, `unmatched` first.
    routes: RwLock<Vec<Arc<RouteMetrics>>>,
    in_flight: AtomicI64,
    /// Requests refused by a rate limit, by [`LimitedCaller`].
    rate_limited: [AtomicU64; 3],
    /// Requests that read the time series, by class: light ones run at once, heavy ones go
    /// through admission.
    classified: [AtomicU64; 2],
    /// How long admitted heavy requests waited for a slot.
    queue_wait: Histogram,
}

/// How a request that reads the time series was classified by its estimated work.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WorkClass {
    /// Small enough to answer at once, on the worker that read it.
    Light = 0,
    /// Admitted to a compute slot, perhaps after a wait.
    Heavy = 1,
}

impl WorkClass {
    const LABELS: [&'static str; 2] = ["light", "heavy"];
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics")
            .field("routes", &self.routes().len())
            .finish()
    }
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics {
            routes: RwLock::new(vec![Arc::new(RouteMetrics::new(UNMATCHED))]),
            in_flight: AtomicI64::new(0),
            rate_limited: Default::default(),
            classified: Default::default(),
            queue_wait: Histogram::default(),
        }
    }
}

/// Counts a request in flight until dropped, even when the client goes away mid-request.
pub struct InFlight<'a>(&'a AtomicI64);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Metrics {
    /// Marks a request as started; it stays in flight until the guard is dropped.
    pub fn start(&self) -> InFlight<'_> {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(&self.in_flight)
    }

    /// Every route label's counters so far.
    fn routes(&self) -> Vec<Arc<RouteMetrics>> {
        self.routes
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The counters of a route pattern, made on its first request.
    fn route(&self, route: Option<&str>) -> Arc<RouteMetrics> {
        let name = route.unwrap_or(UNMATCHED);
        let find = |routes: &[Arc<RouteMetrics>]| {
            routes.iter().find(|metrics| metrics.route == name).cloned()
        };
        if let Some(found) = find(&self.routes.read().unwrap_or_else(PoisonError::into_inner)) {
            return found;
        }
        let mut routes = self.routes.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(found) = find(&routes) {
            return found;
        }
        if routes.len() >= MAX_ROUTE_LABELS {
            return Arc::clone(&routes[0]);
        }
        let metrics = Arc::new(RouteMetrics::new(name));
        routes.push(Arc::clone(&metrics));
        metrics
    }

    /// Counts a request a rate limit refused.
    pub fn record_rate_limited(&self, caller: LimitedCaller) {
        self.rate_limited[caller as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a request of this class.
    pub fn record_class(&self, class: WorkClass) {
        self.classified[class as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Records how long a heavy request waited for its slot.
    pub fn record_queue_wait(&self, waited: Duration) {
        self.queue_wait.observe(waited);
    }

    /// Records one answered request under the route pattern it matched (`None`: none).
    pub fn record(&self, route: Option<&str>, status: u16, elapsed: Duration) {
        let metrics = self.route(route);
        if let Some(counter) = usize::from(status)
            .checked_sub(100)
            .and_then(|slot| metrics.by_status.get(slot))
        {
            counter.fetch_add(1, Ordering::Relaxed);
        }
        metrics.latency.observe(elapsed);
    }

    /// The exposition text: the service's counters, then the values read now.
    pub fn render(&self, now: &Snapshot) -> String {
        let mut text = String::with_capacity(16 * 1024);
        family(
            &mut text,
            "insights_http_requests_total",
            "counter",
            "HTTP requests answered, by route pattern and status.",
        );
        let mut routes = self.routes();
        routes.sort_by(|a, b| a.route.cmp(&b.route));
        for metrics in &routes {
            for (slot, counter) in metrics.by_status.iter().enumerate() {
                let count = counter.load(Ordering::Relaxed);
                if count > 0 {
                    let status = slot + 100;
                    let _ = writeln!(
                        text,
                        "insights_http_requests_total{{route=\"{}\",status=\"{status}\"}} {count}",
                        metrics.route
                    );
                }
            }
        }
        family(
            &mut text,
            "insights_http_request_duration_seconds",
            "histogram",
            "Time from a request's arrival to its response, by route pattern.",
        );
        for metrics in &routes {
            metrics.latency.render(
                &mut text,
                "insights_http_request_duration_seconds",
                &format!("route=\"{}\",", metrics.route),
            );
        }
        family(
            &mut text,
            "insights_rate_limited_total",
            "counter",
            "Requests refused 429 by a rate limit, by kind of caller: a client address (keys off), a brand's key or an organization's key.",
        );
        for (label, counter) in LimitedCaller::LABELS.iter().zip(&self.rate_limited) {
            let count = counter.load(Ordering::Relaxed);
            let _ = writeln!(
                text,
                "insights_rate_limited_total{{caller=\"{label}\"}} {count}"
            );
        }
        family(
            &mut text,
            "insights_series_requests_total",
            "counter",
            "Requests that read the time series (usage and data ranges), by class of estimated work: light ones are answered at once, heavy ones take a compute slot, perhaps after a wait.",
        );
        for (label, counter) in WorkClass::LABELS.iter().zip(&self.classified) {
            let count = counter.load(Ordering::Relaxed);
            let _ = writeln!(
                text,
                "insights_series_requests_total{{class=\"{label}\"}} {count}"
            );
        }
        family(
            &mut text,
            "insights_compute_queue_seconds",
            "histogram",
            "How long heavy requests that got a compute slot waited for it.",
        );
        self.queue_wait
            .render(&mut text, "insights_compute_queue_seconds", "");
        gauge(
            &mut text,
            "insights_http_requests_in_flight",
            "Requests being answered now.",
            self.in_flight.load(Ordering::Relaxed),
        );
        now.render(&mut text);
        text
    }
}

/// A connection pool's state, as the adapters report it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolGauges {
    /// `metadata` or `timeseries`.
    pub pool: &'static str,
    /// The most connections it opens.
    pub max_size: usize,
    /// Connections open now.
    pub open: usize,
    /// Open connections that are idle.
    pub idle: usize,
    /// Requests waiting for a connection.
    pub waiting: usize,
}

/// Values read when scraped rather than counted as requests pass.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Snapshot {
    /// The database pools in use; none with the embedded default.
    pub pools: Vec<PoolGauges>,
    /// Metadata cache hits and misses and entries held, with PostgreSQL metadata.
    pub cache: Option<(u64, u64, usize)>,
    /// Samples and series held in memory, with the file source.
    pub samples_loaded: Option<(usize, usize)>,
    /// The replicas samples are read from, with PostgreSQL samples and replicas set.
    pub replicas: Vec<insights_pg::ReplicaStatus>,
    /// The process's resident memory, where the platform tells.
    pub resident_bytes: Option<u64>,
    /// Seconds since the Unix epoch when the process started.
    pub start_time_s: u64,
    /// The slots and queue of heavy requests.
    pub admission: crate::admission::AdmissionStatus,
    /// Heavy requests whose deadline passed while their work ran.
    pub timed_out: u64,
}

impl Snapshot {
    fn render(&self, text: &mut String) {
        if !self.pools.is_empty() {
            family(
                text,
                "insights_db_pool_connections",
                "gauge",
                "Database connections by pool and state: idle, busy (open and in use), or max (the pool's size).",
            );
            for pool in &self.pools {
                let busy = pool.open.saturating_sub(pool.idle);
                for (state, count) in [("idle", pool.idle), ("busy", busy), ("max", pool.max_size)]
                {
                    let _ = writeln!(
                        text,
                        "insights_db_pool_connections{{pool=\"{}\",state=\"{state}\"}} {count}",
                        pool.pool
                    );
                }
            }
            family(
                text,
                "insights_db_pool_waiting",
                "gauge",
                "Requests waiting for a database connection, by pool.",
            );
            for pool in &self.pools {
                let _ = writeln!(
                    text,
                    "insights_db_pool_waiting{{pool=\"{}\"}} {}",
                    pool.pool, pool.waiting
                );
            }
        }
        if let Some((hits, misses, entries)) = self.cache {
            counter(
                text,
                "insights_metadata_cache_hits_total",
                "Metadata lookups answered from the cache.",
                hits,
            );
            counter(
                text,
                "insights_metadata_cache_misses_total",
                "Metadata lookups that went to the database.",
                misses,
            );
            gauge(
                text,
                "insights_metadata_cache_entries",
                "Metadata answers held in the cache.",
                entries,
            );
        }
        if let Some((samples, series)) = self.samples_loaded {
            gauge(
                text,
                "insights_timeseries_samples_loaded",
                "Power samples held in memory by the file source.",
                samples,
            );
            gauge(
                text,
                "insights_timeseries_series_loaded",
                "Series held in memory by the file source.",
                series,
            );
        }
        if !self.replicas.is_empty() {
            family(
                text,
                "insights_replica_lag_seconds",
                "gauge",
                "How far each replica of the samples' database was behind the primary at its last probe; NaN while not known.",
            );
            for replica in &self.replicas {
                let lag = replica.lag.map_or(f64::NAN, |lag| lag.as_secs_f64());
                let _ = writeln!(
                    text,
                    "insights_replica_lag_seconds{{replica=\"{}\"}} {lag}",
                    label_value(&replica.replica)
                );
            }
            family(
                text,
                "insights_replica_in_rotation",
                "gauge",
                "1 while sample reads may go to the replica; 0 while it is down, further behind than INSIGHTS_REPLICA_MAX_LAG_MS, not a replica, its last probe is over 3 s old, or a read found it out of reach since its last probe.",
            );
            for replica in &self.replicas {
                let _ = writeln!(
                    text,
                    "insights_replica_in_rotation{{replica=\"{}\"}} {}",
                    label_value(&replica.replica),
                    u8::from(replica.in_rotation)
                );
            }
        }
        gauge(
            text,
            "insights_compute_slots",
            "Heavy usage requests the service runs at once (INSIGHTS_COMPUTE_SLOTS).",
            self.admission.slots,
        );
        gauge(
            text,
            "insights_compute_busy",
            "Heavy requests running now.",
            self.admission.busy,
        );
        gauge(
            text,
            "insights_compute_waiting",
            "Heavy requests waiting for a slot now.",
            self.admission.waiting,
        );
        family(
            text,
            "insights_compute_refused_total",
            "counter",
            "Heavy requests refused with 503, by reason: the queue was full, the caller's share of it was, the request could not start within the queueing target or its deadline, or answers waiting for their clients held the answer budget.",
        );
        for (reason, count) in &self.admission.refused {
            let _ = writeln!(
                text,
                "insights_compute_refused_total{{reason=\"{}\"}} {count}",
                reason.label()
            );
        }
        gauge(
            text,
            "insights_answers_waiting_bytes",
            "Bytes of answers over 64 KiB written and not yet all taken by their connections.",
            self.admission.answers_waiting,
        );
        gauge(
            text,
            "insights_answer_budget_bytes",
            "The most those answers may hold before heavy requests are refused (INSIGHTS_ANSWER_BUDGET_MIB).",
            self.admission.answer_budget,
        );
        counter(
            text,
            "insights_compute_timed_out_total",
            "Heavy requests answered with 503 because their deadline passed while they ran.",
            self.timed_out,
        );
        if let Some(bytes) = self.resident_bytes {
            gauge(
                text,
                "process_resident_memory_bytes",
                "Resident memory size in bytes.",
                bytes,
            );
        }
        gauge(
            text,
            "process_start_time_seconds",
            "Start time of the process since the Unix epoch in seconds.",
            self.start_time_s,
        );
    }
}

/// A label's value with the characters the exposition format escapes, escaped.
fn label_value(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn family(text: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(text, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn gauge(text: &mut String, name: &str, help: &str, value: impl std::fmt::Display) {
    family(text, name, "gauge", help);
    let _ = writeln!(text, "{name} {value}");
}

fn counter(text: &mut String, name: &str, help: &str, value: u64) {
    family(text, name, "counter", help);
    let _ = writeln!(text, "{name} {value}");
}

/// The process's resident memory, from /proc on Linux; `None` elsewhere.
pub fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admission::Refusal;

    fn check(record: &[(Option<&str>, u16, u64)], snapshot: Snapshot, expected_lines: &[&str]) {
        let metrics = Metrics::default();
        for (route, status, micros) in record {
            metrics.record(*route, *status, Duration::from_micros(*micros));
        }
        let text = metrics.render(&snapshot);
        let lines: Vec<&str> = text
            .lines()
            .filter(|line| {
                // Zero histograms of routes not under test would drown the expectation.
                !line.starts_with('#') && (!line.contains("duration") || line.contains("/healthz"))
            })
            .collect();
        assert_eq!(lines, expected_lines);
    }

    #[test]
    fn counts_by_route_and_status_with_cumulative_buckets() {
        check(
            &[
                (Some("/healthz"), 200, 400),
                (Some("/healthz"), 200, 3_000),
                (Some("/healthz"), 414, 20_000_000),
                (Some("/v1/brands/{brand_id}/metadata"), 404, 1),
                (Some("/v1/new/{thing_id}"), 404, 1),
                (None, 405, 1),
            ],
            Snapshot {
                pools: vec![PoolGauges {
                    pool: "metadata",
                    max_size: 16,
                    open: 3,
                    idle: 2,
                    waiting: 0,
                }],
                cache: Some((7, 2, 2)),
                samples_loaded: Some((51_840, 36)),
                replicas: vec![
                    insights_pg::ReplicaStatus {
                        replica: "PostgreSQL at replica-a:5432/samples as reader".to_owned(),
                        lag: Some(Duration::from_millis(250)),
                        in_rotation: true,
                        reason: None,
                    },
                    insights_pg::ReplicaStatus {
                        replica: "PostgreSQL at replica-b:5432/samples as reader".to_owned(),
                        lag: None,
                        in_rotation: false,
                        reason: Some("unreachable".to_owned()),
                    },
                ],
                resident_bytes: Some(4096),
                start_time_s: 1_700_000_000,
                admission: crate::admission::AdmissionStatus {
                    slots: 8,
                    busy: 1,
                    waiting: 4,
                    refused: vec![
                        (Refusal::QueueFull, 3),
                        (Refusal::CallerShare, 0),
                        (Refusal::QueueDeadline, 5),
                        (Refusal::AnswersWaiting, 1),
                    ],
                    answers_waiting: 4_194_304,
                    answer_budget: 33_554_432,
                },
                timed_out: 2,
            },
            &[
                r#"insights_http_requests_total{route="/healthz",status="200"} 2"#,
                r#"insights_http_requests_total{route="/healthz",status="414"} 1"#,
                r#"insights_http_requests_total{route="/v1/brands/{brand_id}/metadata",status="404"} 1"#,
                r#"insights_http_requests_total{route="/v1/new/{thing_id}",status="404"} 1"#,
                r#"insights_http_requests_total{route="unmatched",status="405"} 1"#,
                r#"insights_http_request_duration_seconds_bucket{route="/healthz",le="0.0005"} 1"#,
                r#"insights_http_request_duration_seconds_bucket{route="/healthz",le="0.001"} 1"#,
                r#"insights_http_request_duration_seconds_bucket{route="/healthz",le="0.0025"} 1"#,
                r#"insights_http_request_duration_seconds_bucket{route="/healthz",le="0.005"} 2"#,
                r#"insights_http_request_duration_seconds_bucket{route="/healthz",le="0.01"} 2"#,
                r#"insights_http_request_duration_seconds_bucket{route="/healthz",le="0.025"} 2"#,
                r#"insights_http_request_duration_seconds_bucket{route="/healthz",le="0.05"} 2"#,
                r#"insights_http_request_duration_seconds_bucket{route="/healthz",le="0.1"} 2"#,
                r#"insights_http_request_duration_seconds_bucket{route="/healthz",le="0.25"} 2"#,
                r#"insights_http_request_duration_seconds_bucket{route="/healthz",le="0.5"} 2"#,
                r#"insights_http_request_duration_seconds_bucket{route="/healthz",le="1"} 2"#,
                r#"insights_http_request_duration_seconds_bucket{route="/healthz",le="2.5"} 2"#,
                r#"insights_http_request_duration_seconds_bucket{route="/healthz",le="5"} 2"#,
                r#"insights_http_request_duration_seconds_bucket{route="/healthz",le="10"} 2"#,
                r#"insights_http_request_duration_seconds_bucket{route="/healthz",le="+Inf"} 3"#,
                r#"insights_http_request_duration_seconds_sum{route="/healthz"} 20.0034"#,
                r#"insights_http_request_duration_seconds_count{route="/healthz"} 3"#,
                "insights_rate_limited_total{caller=\"address\"} 0",
                "insights_rate_limited_total{caller=\"brand\"} 0",
                "insights_rate_limited_total{caller=\"organization\"} 0",
                "insights_series_requests_total{class=\"light\"} 0",
                "insights_series_requests_total{class=\"heavy\"} 0",
                "insights_compute_queue_seconds_bucket{le=\"0.0005\"} 0",
                "insights_compute_queue_seconds_bucket{le=\"0.001\"} 0",
                "insights_compute_queue_seconds_bucket{le=\"0.0025\"} 0",
                "insights_compute_queue_seconds_bucket{le=\"0.005\"} 0",
                "insights_compute_queue_seconds_bucket{le=\"0.01\"} 0",
                "insights_compute_queue_seconds_bucket{le=\"0.025\"} 0",
                "insights_compute_queue_seconds_bucket{le=\"0.05\"} 0",
                "insights_compute_queue_seconds_bucket{le=\"0.1\"} 0",
                "insights_compute_queue_seconds_bucket{le=\"0.25\"} 0",
                "insights_compute_queue_seconds_bucket{le=\"0.5\"} 0",
                "insights_compute_queue_seconds_bucket{le=\"1\"} 0",
                "insights_compute_queue_seconds_bucket{le=\"2.5\"} 0",
                "insights_compute_queue_seconds_bucket{le=\"5\"} 0",
                "insights_compute_queue_seconds_bucket{le=\"10\"} 0",
                "insights_compute_queue_seconds_bucket{le=\"+Inf\"} 0",
                "insights_compute_queue_seconds_sum 0",
                "insights_compute_queue_seconds_count 0",
                "insights_http_requests_in_flight 0",
                r#"insights_db_pool_connections{pool="metadata",state="idle"} 2"#,
                r#"insights_db_pool_connections{pool="metadata",state="busy"} 1"#,
                r#"insights_db_pool_connections{pool="metadata",state="max"} 16"#,
                r#"insights_db_pool_waiting{pool="metadata"} 0"#,
                "insights_metadata_cache_hits_total 7",
                "insights_metadata_cache_misses_total 2",
                "insights_metadata_cache_entries 2",
                "insights_timeseries_samples_loaded 51840",
                "insights_timeseries_series_loaded 36",
                r#"insights_replica_lag_seconds{replica="PostgreSQL at replica-a:5432/samples as reader"} 0.25"#,
                r#"insights_replica_lag_seconds{replica="PostgreSQL at replica-b:5432/samples as reader"} NaN"#,
                r#"insights_replica_in_rotation{replica="PostgreSQL at replica-a:5432/samples as reader"} 1"#,
                r#"insights_replica_in_rotation{replica="PostgreSQL at replica-b:5432/samples as reader"} 0"#,
                "insights_compute_slots 8",
                "insights_compute_busy 1",
                "insights_compute_waiting 4",
                "insights_compute_refused_total{reason=\"queue_full\"} 3",
                "insights_compute_refused_total{reason=\"caller_share\"} 0",
                "insights_compute_refused_total{reason=\"queue_deadline\"} 5",
                "insights_compute_refused_total{reason=\"answers_waiting\"} 1",
                "insights_answers_waiting_bytes 4194304",
                "insights_answer_budget_bytes 33554432",
                "insights_compute_timed_out_total 2",
                "process_resident_memory_bytes 4096",
                "process_start_time_seconds 1700000000",
            ],
        );
    }

    #[test]
    fn the_route_labels_are_capped() {
        let metrics = Metrics::default();
        for index in 0..MAX_ROUTE_LABELS + 10 {
            metrics.record(Some(&format!("/r{index}")), 200, Duration::ZERO);
        }
        let routes = metrics.routes();
        assert_eq!(routes.len(), MAX_ROUTE_LABELS);
        assert_eq!(routes[0].route, UNMATCHED);
        // The patterns past the cap were counted as unmatched.
        assert_eq!(routes[0].by_status[100].load(Ordering::Relaxed), 11);
    }
}
