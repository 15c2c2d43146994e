//! `cargo xtask soak`: the release binary against a PostgreSQL cluster of its own, in two
//! scenarios, with a keep-alive HTTP/1.1 client written here so that every response's status
//! is counted, not sampled.
//!
//! 1. Soak: a million mixed requests (every endpoint, good and bad input) on PostgreSQL
//!    metadata; zero unexpected statuses or connection errors, and resident memory after the
//!    warm-up (the first tenth) growing by less than 5 %.
//! 2. Chaos: metadata and samples both on PostgreSQL, which is stopped mid-load and started
//!    again; only 503s (with `Retry-After`) while it is down, none 5 s after it is back, no
//!    500s, and the process still up.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use insights_core::Catalogue;
use insights_testdb::Cluster;

use crate::client::Connection;
use crate::service::{self, Release, Server};

/// The load's size.
pub struct Plan {
    /// Requests in the soak scenario.
    pub requests: u64,
    /// Concurrent keep-alive connections.
    pub connections: usize,
    /// Seconds of load before, during and after the chaos outage.
    pub chaos_seconds: u64,
}

impl Default for Plan {
    fn default() -> Plan {
        Plan {
            requests: 1_000_000,
            connections: 8,
            chaos_seconds: 5,
        }
    }
}

pub fn run(root: &Path, plan: &Plan) -> Result<()> {
    let release = service::build_release(root)?;
    let work = service::target_dir(root)?.join("soak");
    // The cluster lives in the system's temporary directory, not the target directory: as
    // root it runs as the postgres user, who may not reach a target directory elsewhere
    // (a CARGO_TARGET_DIR made by mktemp is 0700).
    let cluster_dir = std::env::temp_dir().join("insights-soak-cluster");
    // A cluster left by an interrupted run may still be up; its directory goes with it.
    for dir in [&work, &cluster_dir] {
        if dir.exists() {
            let _ = Cluster::attach(&cluster_dir).map(|old| old.stop("immediate"));
            std::fs::remove_dir_all(dir)
                .with_context(|| format!("failed to remove {}", dir.display()))?;
        }
    }
    std::fs::create_dir_all(&work)
        .with_context(|| format!("failed to create {}", work.display()))?;
    let cluster = Cluster::create(&cluster_dir)
        .map_err(anyhow::Error::msg)
        .context("failed to start a PostgreSQL cluster for the soak")?;
    let url = prepare_database(root, &cluster)?;
    let reports = run_soak(&release, &work, &url, plan)
        .and_then(|soak| Ok((soak, run_chaos(&release, &work, &url, &cluster, plan)?)));
    // The cluster goes whatever happened; its directory is cleared on the next run.
    let _ = cluster.stop("immediate");
    let (soak, chaos) = reports?;
    println!("\n{soak}\n{chaos}");
    if !soak.passed() || !chaos.passed() {
        bail!("the soak or the chaos scenario missed its bar; the figures above say which");
    }
    Ok(())
}

/// Loads the seed and the shipped samples into a database `insights` on the cluster.
fn prepare_database(root: &Path, cluster: &Cluster) -> Result<String> {
    let admin = format!("{} dbname=postgres", cluster.params());
    let mut client = postgres::Client::connect(&admin, postgres::NoTls)
        .context("failed to connect to the soak cluster")?;
    client
        .batch_execute("CREATE DATABASE insights")
        .context("failed to create the database")?;
    let url = format!("{} dbname=insights", cluster.params());
    let mut client = postgres::Client::connect(&url, postgres::NoTls)
        .context("failed to connect to the soak database")?;
    let init_sql = std::fs::read_to_string(root.join("db/init/init.sql"))
        .context("failed to read db/init/init.sql")?;
    client
        .batch_execute(&init_sql)
        .context("failed to apply db/init/init.sql")?;
    let report = crate::ingest::import_file(&root.join("data/mock_timeseries.json"), &url)?;
    println!("soak database ready: {} samples imported", report.inserted);
    Ok(url)
}

/// One kind of request in the mix: how to make it, how often, and what it must answer.
struct Kind {
    name: &'static str,
    weight: u32,
    /// Whether the answer needs the database (so a 503 is acceptable during an outage).
    needs_database: bool,
    expected: u16,
    make: fn(&Seed, &mut Rng) -> String,
}

/// The ids requests pick from.
struct Seed {
    circuits: Vec<String>,
    sensors: Vec<String>,
    locations: Vec<String>,
    organizations: Vec<String>,
    brands: Vec<String>,
}

impl Seed {
    fn new() -> Seed {
        let catalogue = Catalogue::seed();
        Seed {
            circuits: catalogue
                .circuits
                .iter()
                .map(|c| c.id.to_string())
                .collect(),
            sensors: catalogue.sensors.iter().map(|s| s.id.to_string()).collect(),
            locations: catalogue
                .locations
                .iter()
                .map(|l| l.id.to_string())
                .collect(),
            organizations: catalogue
                .organizations
                .iter()
                .map(|o| o.id.to_string())
                .collect(),
            brands: catalogue.brands.iter().map(|b| b.id.to_string()).collect(),
        }
    }
}

/// A random window inside the shipped day, to the minute.
fn window(rng: &mut Rng) -> String {
    let start = rng.below(1440);
    let end = start + 1 + rng.below(1440 - start);
    let at = |minute: u64| format!("2024-04-01T{:02}:{:02}:00Z", minute / 60, minute % 60);
    let end = if end == 1440 {
        "2024-04-02T00:00:00Z".to_owned()
    } else {
        at(end)
    };
    format!("start={}&end={end}", at(start))
}

const KINDS: &[Kind] = &[
    Kind {
        name: "circuit usage",
        weight: 30,
        needs_database: true,
        expected: 200,
        make: |seed, rng| {
            let circuit = rng.pick(&seed.circuits);
            format!("/v1/insights/circuits/{circuit}/usage?{}", window(rng))
        },
    },
    Kind {
        name: "circuit usage, 15m buckets and demand",
        weight: 10,
        needs_database: true,
        expected: 200,
        make: |seed, rng| {
            let circuit = rng.pick(&seed.circuits);
            format!(
                "/v1/insights/circuits/{circuit}/usage?{}&bucket=15m&demand_interval=15m",
                window(rng)
            )
        },
    },
    Kind {
        name: "location usage, top 3",
        weight: 10,
        needs_database: true,
        expected: 200,
        make: |seed, rng| {
            let location = rng.pick(&seed.locations);
            format!(
                "/v1/insights/locations/{location}/usage?{}&top=3",
                window(rng)
            )
        },
    },
    Kind {
        name: "organization usage, hours in New York",
        weight: 10,
        needs_database: true,
        expected: 200,
        make: |seed, rng| {
            let organization = rng.pick(&seed.organizations);
            format!(
                "/v1/insights/organizations/{organization}/usage?{}&bucket=1h&tz=America/New_York",
                window(rng)
            )
        },
    },
    Kind {
        name: "brand usage, hourly demand",
        weight: 5,
        needs_database: true,
        expected: 200,
        make: |seed, rng| {
            let brand = rng.pick(&seed.brands);
            format!(
                "/v1/insights/brands/{brand}/usage?{}&demand_interval=1h",
                window(rng)
            )
        },
    },
    Kind {
        name: "electric sensor",
        weight: 5,
        needs_database: true,
        expected: 200,
        make: |seed, rng| format!("/v1/electric_sensors/{}", rng.pick(&seed.sensors)),
    },
    Kind {
        name: "circuit summary",
        weight: 5,
        needs_database: true,
        expected: 200,
        make: |seed, rng| {
            format!(
                "/v1/locations/{}/circuit-summary",
                rng.pick(&seed.locations)
            )
        },
    },
    Kind {
        name: "brand metadata",
        weight: 3,
        needs_database: true,
        expected: 200,
        make: |seed, rng| format!("/v1/brands/{}/metadata", rng.pick(&seed.brands)),
    },
    Kind {
        name: "unknown circuit",
        weight: 5,
        needs_database: true,
        expected: 404,
        make: |_, rng| {
            format!(
                "/v1/insights/circuits/00000000-0000-4000-8000-{:012x}/usage?{}",
                rng.below(1 << 40),
                window(rng)
            )
        },
    },
    Kind {
        name: "window that ends before it starts",
        weight: 4,
        needs_database: false,
        expected: 400,
        make: |seed, rng| {
            let circuit = rng.pick(&seed.circuits);
            format!("/v1/insights/circuits/{circuit}/usage?start=2024-04-02T00:00:00Z&end=2024-04-01T00:00:00Z")
        },
    },
    Kind {
        name: "malformed id",
        weight: 3,
        needs_database: false,
        expected: 400,
        make: |_, rng| format!("/v1/electric_sensors/not-a-uuid-{}", rng.below(1000)),
    },
    Kind {
        name: "unknown route",
        weight: 2,
        needs_database: false,
        expected: 404,
        make: |_, rng| format!("/v1/nothing/{}", rng.below(1000)),
    },
    Kind {
        name: "liveness",
        weight: 4,
        needs_database: false,
        expected: 200,
        make: |_, _| "/healthz".to_owned(),
    },
    Kind {
        name: "readiness",
        weight: 3,
        needs_database: true,
        expected: 200,
        make: |_, _| "/readyz".to_owned(),
    },
    Kind {
        name: "metrics",
        weight: 1,
        needs_database: false,
        expected: 200,
        make: |_, _| "/metrics".to_owned(),
    },
];

/// xorshift64*: fast, seedable, and good enough to spread requests.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }

    fn pick<'a>(&mut self, items: &'a [String]) -> &'a str {
        &items[self.below(items.len() as u64) as usize]
    }

    fn kind(&mut self) -> &'static Kind {
        let total: u32 = KINDS.iter().map(|kind| kind.weight).sum();
        let mut ticket = self.below(u64::from(total)) as u32;
        for kind in KINDS {
            if ticket < kind.weight {
                return kind;
            }
            ticket -= kind.weight;
        }
        &KINDS[0]
    }
}

/// What one response was.
#[derive(Clone, Copy)]
struct Outcome {
    at: Duration,
    kind: &'static str,
    needs_database: bool,
    expected: u16,
    /// The status, or 0 for a connection error.
    status: u16,
    retry_after: bool,
}

/// Runs `connections` clients until `stop` says so; each outcome goes to `record`.
fn load(
    addr: &str,
    connections: usize,
    stop: &(dyn Fn(u64) -> bool + Sync),
    record: &(dyn Fn(Outcome) + Sync),
) -> u64 {
    let seed = Seed::new();
    let started = Instant::now();
    let issued = AtomicU64::new(0);
    std::thread::scope(|scope| {
        for client in 0..connections {
            let (seed, issued) = (&seed, &issued);
            scope.spawn(move || {
                let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ ((client as u64 + 1) * 0x1000_0001));
                let mut connection = Connection::new(addr);
                while !stop(issued.fetch_add(1, Ordering::Relaxed)) {
                    let kind = rng.kind();
                    let path = (kind.make)(seed, &mut rng);
                    let (status, retry_after) = connection.get(&path).unwrap_or((0, false));
                    record(Outcome {
                        at: started.elapsed(),
                        kind: kind.name,
                        needs_database: kind.needs_database,
                        expected: kind.expected,
                        status,
                        retry_after,
                    });
                }
            });
        }
    });
    issued.load(Ordering::Relaxed)
}

/// The figures of the soak scenario.
struct SoakReport {
    requests: u64,
    seconds: f64,
    unexpected: Vec<String>,
    warm_rss_kib: u64,
    final_rss_kib: u64,
    peak_rss_kib: u64,
    panics: usize,
    cache_entries: String,
}

impl SoakReport {
    fn growth(&self) -> f64 {
        (self.final_rss_kib as f64 - self.warm_rss_kib as f64) / self.warm_rss_kib as f64
    }

    fn passed(&self) -> bool {
        self.unexpected.is_empty() && self.growth() < 0.05 && self.panics == 0
    }
}

impl std::fmt::Display for SoakReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "== soak ==")?;
        writeln!(
            f,
            "{} requests in {:.1} s ({:.0} req/s), {} unexpected: {:?}",
            self.requests,
            self.seconds,
            self.requests as f64 / self.seconds,
            self.unexpected.len(),
            &self.unexpected[..self.unexpected.len().min(5)]
        )?;
        writeln!(
            f,
            "RSS after the warm-up (the first quarter) {} KiB, at the end {} KiB, peak {} KiB: growth {:+.2} % (bar < 5 %)",
            self.warm_rss_kib,
            self.final_rss_kib,
            self.peak_rss_kib,
            self.growth() * 100.0
        )?;
        writeln!(
            f,
            "metadata cache entries at the end: {}",
            self.cache_entries
        )?;
        write!(f, "panics in the service log: {}", self.panics)
    }
}

fn run_soak(release: &Release, work: &Path, url: &str, plan: &Plan) -> Result<SoakReport> {
    let log = work.join("soak-service.log");
    let mut server =
        Server::start_logged(release, &[("DATABASE_URL", url.to_owned())], Some(&log))?;
    let pid = server.pid();
    let done = AtomicU64::new(0);
    let unexpected = Mutex::new(Vec::new());
    let finished = AtomicBool::new(false);
    // The warm-up is the first quarter: one request in twenty asks for a random unknown
    // circuit, whose "none" the metadata cache keeps, so its 10,000 entries fill up by about
    // a fifth of a million requests. Growth after that is what a leak would show.
    let warm_up = plan.requests / 4;
    let samples = Mutex::new(Vec::<(u64, u64)>::new());
    let started = Instant::now();
    println!(
        "soak: {} mixed requests over {} connections",
        plan.requests, plan.connections
    );
    let progress = crate::progress::counting("soak", plan.requests, "requests");
    std::thread::scope(|scope| {
        scope.spawn(|| {
            while !finished.load(Ordering::Relaxed) {
                progress.set_position(done.load(Ordering::Relaxed));
                if let Some(rss) = rss_kib(pid) {
                    samples
                        .lock()
                        .unwrap()
                        .push((done.load(Ordering::Relaxed), rss));
                }
                std::thread::sleep(Duration::from_millis(250));
            }
        });
        let total = plan.requests;
        load(
            &server.addr,
            plan.connections,
            &|issued| issued >= total,
            &|outcome| {
                let count = done.fetch_add(1, Ordering::Relaxed) + 1;
                if outcome.status != outcome.expected {
                    unexpected.lock().unwrap().push(format!(
                        "{}: {} (expected {})",
                        outcome.kind,
                        status_text(outcome.status),
                        outcome.expected
                    ));
                }
                if count.is_multiple_of(100_000) {
                    progress.suspend(|| {
                        println!(
                            "  {count} requests, {:.0} s, RSS {} KiB",
                            started.elapsed().as_secs_f64(),
                            rss_kib(pid).unwrap_or_default()
                        );
                    });
                }
            },
        );
        finished.store(true, Ordering::Relaxed);
    });
    progress.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64();
    let final_rss_kib = rss_kib(pid).context("failed to read the service's memory")?;
    let samples = samples.into_inner().unwrap();
    let after_warm_up: Vec<u64> = samples
        .iter()
        .filter(|(count, _)| *count >= warm_up)
        .map(|(_, rss)| *rss)
        .collect();
    let warm_rss_kib = *after_warm_up
        .first()
        .context("no memory sample after the warm-up; the run was too short to measure")?;
    if !server.is_running() {
        bail!("the service exited during the soak; see {}", log.display());
    }
    let cache_entries = Connection::new(&server.addr)
        .get_text("/metrics")
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|line| line.strip_prefix("insights_metadata_cache_entries "))
                .map(str::to_owned)
        })
        .unwrap_or_else(|| "unknown".to_owned());
    drop(server);
    Ok(SoakReport {
        requests: done.load(Ordering::Relaxed),
        seconds,
        unexpected: unexpected.into_inner().unwrap(),
        warm_rss_kib,
        final_rss_kib,
        peak_rss_kib: after_warm_up.into_iter().max().unwrap_or(final_rss_kib),
        panics: count_panics(&log)?,
        cache_entries,
    })
}

/// The figures of the chaos scenario.
struct ChaosReport {
    requests: u64,
    by_phase: [(u64, u64, u64); 3],
    server_errors: u64,
    unexpected: Vec<String>,
    without_retry_after: u64,
    outage: Duration,
    last_503_after_restart: Option<Duration>,
    first_database_200_after_restart: Option<Duration>,
    panics: usize,
    still_running: bool,
}

impl ChaosReport {
    fn passed(&self) -> bool {
        self.server_errors == 0
            && self.unexpected.is_empty()
            && self.without_retry_after == 0
            && self.panics == 0
            && self.still_running
            && self.by_phase[1].1 > 0
            && self
                .last_503_after_restart
                .is_none_or(|after| after <= Duration::from_secs(5))
    }
}

impl std::fmt::Display for ChaosReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "== chaos: PostgreSQL stopped for {:.1} s mid-load ==",
            self.outage.as_secs_f64()
        )?;
        writeln!(f, "{} requests", self.requests)?;
        for ((ok, unavailable, other), name) in
            self.by_phase.iter().zip(["before", "during", "after"])
        {
            writeln!(
                f,
                "  {name:>6} the outage: {ok} as expected, {unavailable} 503, {other} other"
            )?;
        }
        writeln!(
            f,
            "500s: {}; 503s without Retry-After: {}; unexpected: {} {:?}",
            self.server_errors,
            self.without_retry_after,
            self.unexpected.len(),
            &self.unexpected[..self.unexpected.len().min(5)]
        )?;
        let ms = |at: Option<Duration>| {
            at.map_or("none".to_owned(), |at| {
                format!("{:.0} ms", at.as_secs_f64() * 1000.0)
            })
        };
        writeln!(
            f,
            "after PostgreSQL accepted connections again: first 200 that needed it {}, last 503 {} (bar <= 5000 ms)",
            ms(self.first_database_200_after_restart),
            ms(self.last_503_after_restart)
        )?;
        write!(
            f,
            "panics in the service log: {}; service still running: {}",
            self.panics, self.still_running
        )
    }
}

fn run_chaos(
    release: &Release,
    work: &Path,
    url: &str,
    cluster: &Cluster,
    plan: &Plan,
) -> Result<ChaosReport> {
    let log = work.join("chaos-service.log");
    let mut server = Server::start_logged(
        release,
        &[
            ("DATABASE_URL", url.to_owned()),
            ("INSIGHTS_TIMESERIES", "postgres".to_owned()),
            // A short cache, so the outage reaches metadata lookups too.
            ("INSIGHTS_CACHE_TTL_S", "1".to_owned()),
        ],
        Some(&log),
    )?;
    let outcomes = Mutex::new(Vec::<Outcome>::new());
    let finished = AtomicBool::new(false);
    let timeline = Arc::new(Mutex::new((Duration::ZERO, Duration::ZERO, Duration::ZERO)));
    let started = Instant::now();
    let period = Duration::from_secs(plan.chaos_seconds);
    println!(
        "chaos: {} s of load, PostgreSQL stopped for {} s, then {} s more",
        plan.chaos_seconds,
        plan.chaos_seconds,
        plan.chaos_seconds * 2
    );
    let restart = std::thread::scope(|scope| {
        let restart = scope.spawn(|| -> Result<()> {
            let finish = || finished.store(true, Ordering::Relaxed);
            std::thread::sleep(period);
            let stop_at = started.elapsed();
            let stopped = cluster.stop("fast").map_err(anyhow::Error::msg);
            std::thread::sleep(period);
            let start_at = started.elapsed();
            let restarted = cluster.start().map_err(anyhow::Error::msg);
            let ready_at = started.elapsed();
            *timeline.lock().unwrap() = (stop_at, start_at, ready_at);
            if stopped.is_err() || restarted.is_err() {
                finish();
                stopped.context("failed to stop PostgreSQL")?;
                restarted.context("failed to start PostgreSQL again")?;
            }
            std::thread::sleep(period * 2);
            finish();
            Ok(())
        });
        load(
            &server.addr,
            plan.connections,
            &|_| finished.load(Ordering::Relaxed),
            &|outcome| outcomes.lock().unwrap().push(outcome),
        );
        restart.join().expect("the restart thread does not panic")
    });
    restart?;
    let (stop_at, start_at, ready_at) = *timeline.lock().unwrap();
    let outcomes = outcomes.into_inner().unwrap();
    let mut by_phase = [(0, 0, 0); 3];
    let mut unexpected = Vec::new();
    let (mut server_errors, mut without_retry_after) = (0, 0);
    let mut last_503_after_restart = None;
    let mut first_database_200_after_restart = None;
    for outcome in &outcomes {
        let phase = if outcome.at < stop_at {
            0
        } else if outcome.at < ready_at {
            1
        } else {
            2
        };
        let counts = &mut by_phase[phase];
        match outcome.status {
            status if status == outcome.expected => counts.0 += 1,
            503 if outcome.needs_database && phase > 0 => {
                counts.1 += 1;
                if !outcome.retry_after {
                    without_retry_after += 1;
                }
                if outcome.at >= ready_at {
                    last_503_after_restart = Some(outcome.at - ready_at);
                }
            }
            status => {
                counts.2 += 1;
                if status >= 500 && status != 503 {
                    server_errors += 1;
                }
                unexpected.push(format!(
                    "{}: {} at {:.3} s (expected {})",
                    outcome.kind,
                    status_text(status),
                    outcome.at.as_secs_f64(),
                    outcome.expected
                ));
            }
        }
        if outcome.at >= ready_at
            && outcome.needs_database
            && outcome.status == 200
            && first_database_200_after_restart.is_none()
        {
            first_database_200_after_restart = Some(outcome.at - ready_at);
        }
    }
    let still_running = server.is_running();
    drop(server);
    Ok(ChaosReport {
        requests: outcomes.len() as u64,
        by_phase,
        server_errors,
        unexpected,
        without_retry_after,
        outage: start_at - stop_at,
        last_503_after_restart,
        first_database_200_after_restart,
        panics: count_panics(&log)?,
        still_running,
    })
}

/// A status for a report; 0 stands for a connection that failed.
fn status_text(status: u16) -> String {
    match status {
        0 => "connection error".to_owned(),
        status => status.to_string(),
    }
}

/// A process's resident memory in KiB.
fn rss_kib(pid: u32) -> Option<u64> {
    crate::service::memory_kib(pid, "VmRSS:").ok()
}

fn count_panics(log: &Path) -> Result<usize> {
    let text = std::fs::read_to_string(log)
        .with_context(|| format!("failed to read {}", log.display()))?;
    Ok(text.matches("panicked").count())
}
