//! `cargo xtask scale`: the PostgreSQL time-series source against the file source on a
//! generated data set of N circuits × D days: the import's speed, the database's size per
//! sample, and the latency of long windows side by side with a 1-hour window, every answer
//! compared byte for byte between the two sources. With `--stream`, part of the data set
//! arrives as sensors would send it, a minute's batch at a time, and each batch's cost and
//! freshness are reported; with `--late N`, N samples of its last 30 days arrive after that,
//! in one batch, as a backlog of late data would: its commit and the settling of its days
//! are timed, and the queries are timed between the two as well.
//!
//! These are benchmark figures for `docs/performance.md` and `docs/scaling.md`, never
//! assertions in tests.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use insights_core::Catalogue;
use time::OffsetDateTime;

use crate::client::Connection;
use crate::gen_data::SHIPPED_START;
use crate::service::{self, Server};

/// How a run is shaped.
pub struct Plan {
    /// Circuits in the synthetic catalogue.
    pub circuits: usize,
    /// Days of samples.
    pub days: i64,
    /// Timed requests per query and source; the median is reported.
    pub requests: usize,
    /// Reuse the data set and database of an earlier run of the same size when present.
    pub reuse: bool,
    /// Minute batches to stream after the data set, one sample per circuit each, before
    /// the queries are timed; none when 0.
    pub stream: usize,
    /// Run on a throwaway primary and streaming replica, reading samples from the replica.
    pub replica: bool,
    /// Samples of the data set's last 30 days (before its streamed hours) held back from its
    /// first import and sent in one batch after the stream; none when 0.
    pub late: usize,
}

/// Untimed rounds before the timed ones: enough for every pooled connection the sequential
/// requests use to have prepared its statements.
const WARM_UPS: usize = 10;

/// One timed query: its label and its path, without the organization's prefix.
struct Query {
    label: String,
    path: String,
}

pub fn run(root: &Path, plan: &Plan) -> Result<()> {
    let name = format!("scale-{}x{}", plan.circuits, plan.days);
    let dir = service::scratch_dir(root, &name)?;
    let samples_file = dir.join("timeseries.json");
    if !(plan.reuse && samples_file.exists()) {
        crate::gen_scale(root, plan.circuits, plan.days, &dir)?;
    }
    // With --replica, a primary and a replica of this run's own, stopped when it ends.
    let replication = plan.replica.then(insights_testdb::Replication::start);
    if plan.replica && plan.reuse {
        bail!("--replica starts a throwaway primary, which holds no earlier run: drop --reuse");
    }
    let admin_url = match &replication {
        Some(replication) => replication.primary_url_for("postgres"),
        None => std::env::var("DATABASE_URL").context(
            "failed to read DATABASE_URL: a PostgreSQL server's maintenance database, where scale creates its own",
        )?,
    };
    let database = format!("insights_{}", name.replace('-', "_"));
    let db_url = with_database(&admin_url, &database)?;
    let mut admin = postgres::Client::connect(&admin_url, postgres::NoTls)
        .context("failed to connect to DATABASE_URL")?;
    let exists = !admin
        .query("SELECT 1 FROM pg_database WHERE datname = $1", &[&database])?
        .is_empty();
    let cut = plan.stream > 0 || plan.late > 0;
    if !(plan.reuse && exists) {
        admin.batch_execute(&format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"))?;
        admin.batch_execute(&format!("CREATE DATABASE {database}"))?;
        let mut client = postgres::Client::connect(&db_url, postgres::NoTls)?;
        client.batch_execute(&std::fs::read_to_string(dir.join("seed.sql"))?)?;
        // Measured as a user meets it: nothing run by hand after the import, which settles
        // what it wrote itself.
        if !cut {
            crate::ingest::import_file(&samples_file, &db_url)?;
        }
    } else if cut {
        bail!("--stream and --late need a fresh database: they import the data set in parts; drop --reuse");
    }
    // Streaming imports the data set in three parts: everything before its last 12 hours in
    // one batch, then those hours' first minutes a batch each, as sensors would send them,
    // then the rest in one batch, so the two sources hold the same samples afterwards.
    let streamed = if cut {
        Some(Streamed::load(&samples_file, plan)?)
    } else {
        None
    };
    if let Some(streamed) = &streamed {
        streamed.import_before(&db_url)?;
    }
    print_sizes(&db_url)?;

    let release = service::build_release(root)?;
    let common = [
        ("INSIGHTS_MAX_WINDOW_DAYS", "400".to_owned()),
        ("INSIGHTS_REQUEST_TIMEOUT_MS", "60000".to_owned()),
        ("INSIGHTS_DB_STATEMENT_TIMEOUT_MS", "60000".to_owned()),
    ];
    let catalogue_path = dir.join("catalogue.tsv");
    let mut file_env = common.to_vec();
    file_env.push(("INSIGHTS_CATALOGUE", catalogue_path.display().to_string()));
    file_env.push(("INSIGHTS_TIMESERIES", samples_file.display().to_string()));
    let mut pg_env = common.to_vec();
    pg_env.push(("DATABASE_URL", db_url.clone()));
    pg_env.push(("INSIGHTS_TIMESERIES", "postgres".to_owned()));
    pg_env.push(("INSIGHTS_TIMESERIES_URL", db_url.clone()));
    if let Some(replication) = &replication {
        // Refused rather than read from the primary: every answer is the replica's.
        replication.wait_for_replay();
        pg_env.push((
            "INSIGHTS_TIMESERIES_REPLICA_URLS",
            replication.replica_url_for(&database),
        ));
        pg_env.push(("INSIGHTS_REPLICA_FALLBACK", "refuse".to_owned()));
    }
    let file_server = Server::start(&release, &file_env)?;
    let pg_server = Server::start(&release, &pg_env)?;
    wait_ready(&file_server.addr, Duration::from_secs(600))?;
    wait_ready(&pg_server.addr, Duration::from_secs(60))?;

    let catalogue = Catalogue::synthetic(plan.circuits);
    if let Some(streamed) = &streamed {
        let replica = replication
            .as_ref()
            .map(|replication| replication.replica_url_for(&database));
        streamed.stream(&db_url, replica.as_deref(), &pg_server.addr, &catalogue)?;
        streamed.import_after(&db_url)?;
        if let Some(late) = streamed.commit_late(&db_url)? {
            // As readers meet it between the late batch's commit and its settling.
            println!("\nwith the late samples waiting, before they are settled:");
            time_queries(plan, &catalogue, &file_server.addr, &pg_server.addr)?;
            late.settle()?;
        }
        // Every rollup row the batches maintained, checked against the samples.
        crate::ingest::verify(&db_url)?;
    }
    time_queries(plan, &catalogue, &file_server.addr, &pg_server.addr)
}

/// Times the organization's queries on both servers, round-robin, and prints their medians
/// and ratios; fails when the sources' answers differ by a byte.
fn time_queries(plan: &Plan, catalogue: &Catalogue, file_addr: &str, pg_addr: &str) -> Result<()> {
    let organization = catalogue.organizations[0].id.0;
    let n_circuits = catalogue
        .circuits
        .iter()
        .filter(|circuit| {
            let sensor = catalogue.sensors.iter().find(|s| s.id == circuit.sensor_id);
            let location =
                sensor.and_then(|s| catalogue.locations.iter().find(|l| l.id == s.location_id));
            location.is_some_and(|l| l.organization_id.0 == organization)
        })
        .count();
    let prefix = format!("/v1/insights/organizations/{organization}/usage");
    let queries = queries(plan.days);
    println!(
        "\nthe organization of {n_circuits} circuits; median of {} requests per query and source, in rounds of every query and source once, after {WARM_UPS} untimed rounds",
        plan.requests
    );
    println!("\n| window | file source | PostgreSQL source | ÷ PostgreSQL 1 h on the hour | ÷ PostgreSQL 1 h at :07:13 | bytes identical |");
    println!("|---|---|---|---|---|---|");
    let mut file = Connection::new(file_addr);
    let mut pg = Connection::new(pg_addr);
    let paths: Vec<String> = queries
        .iter()
        .map(|query| format!("{prefix}?{}", query.path))
        .collect();
    // Round-robin, every query and source once a round, so that the machine's slow spells
    // fall on all of them alike rather than on whichever query was being timed.
    let mut latencies = vec![[Vec::new(), Vec::new()]; paths.len()];
    let mut bodies = vec![[Vec::new(), Vec::new()]; paths.len()];
    let rounds = plan.requests + WARM_UPS;
    let progress = crate::progress::counting(
        "timing the queries",
        (rounds * paths.len() * 2) as u64,
        "requests",
    );
    for round in 0..rounds {
        for (index, path) in paths.iter().enumerate() {
            for (source, connection) in [&mut file, &mut pg].into_iter().enumerate() {
                let took = time(connection, path)?;
                if round >= WARM_UPS {
                    latencies[index][source].push(took);
                }
                if round == 0 {
                    bodies[index][source] = connection.body().to_vec();
                }
                progress.inc(1);
            }
        }
    }
    progress.finish_and_clear();
    let mut baseline = (f64::NAN, f64::NAN);
    for (index, query) in queries.iter().enumerate() {
        let path = &paths[index];
        let [file_ms, pg_ms] = std::mem::take(&mut latencies[index]).map(median);
        let [file_body, pg_body] = &bodies[index];
        match index {
            0 => baseline.0 = pg_ms,
            1 => baseline.1 = pg_ms,
            _ => {}
        }
        let ratio = |baseline: f64| {
            if baseline.is_nan() {
                "—".to_owned()
            } else {
                format!("{:.2}", pg_ms / baseline)
            }
        };
        println!(
            "| {} | {file_ms:.1} ms | {pg_ms:.1} ms | {} | {} | {} |",
            query.label,
            ratio(baseline.0),
            ratio(baseline.1),
            if file_body == pg_body { "yes" } else { "NO" }
        );
        if file_body != pg_body {
            bail!(
                "{path}: the sources differ\nfile: {}\npostgres: {}",
                String::from_utf8_lossy(file_body),
                String::from_utf8_lossy(pg_body)
            );
        }
    }
    Ok(())
}

/// A data set cut for streaming: the samples before its last 12 hours, those hours' first
/// minutes one by one, and the rest; and the late samples, held back from the first part.
struct Streamed {
    source: insights_mockts::MockTimeSeries,
    /// The first streamed minute, in ns since the epoch.
    first_ns: i64,
    /// Minutes streamed.
    minutes: usize,
    /// The samples held back to arrive late: series, ns since the epoch, watts.
    late: Vec<(insights_core::SeriesKey, i64, f64)>,
    /// The instants of the late samples, by series.
    held_back: HashMap<insights_core::SeriesKey, HashSet<i64>>,
    /// Where the late samples start, in ns since the epoch.
    late_from_ns: i64,
}

/// Imports `samples` in one batch through the importer `import --from -` uses, and reports
/// the time it took and the rate, as `what`.
fn import_reporting(
    db_url: &str,
    samples: impl Iterator<Item = (insights_core::SeriesKey, i64, f64)>,
    what: &str,
) -> Result<()> {
    let started = Instant::now();
    let report = runtime()?.block_on(insights_pg::import(db_url, samples))?;
    println!(
        "imported {what}: {} samples in {:.1} s, {:.0} samples/s",
        report.inserted,
        started.elapsed().as_secs_f64(),
        report.inserted as f64 / started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// How far back late samples go.
const LATE_DAYS: i64 = 30;

const MINUTE_NS: i64 = 60_000_000_000;

/// The most minutes `--stream` sends: the data set's last 12 hours, which it holds back.
pub const MAX_STREAM_MINUTES: u64 = 12 * 60;

impl Streamed {
    fn load(file: &Path, plan: &Plan) -> Result<Streamed> {
        let source = insights_mockts::MockTimeSeries::from_path(file)
            .with_context(|| format!("failed to load {}", file.display()))?;
        let end = SHIPPED_START + time::Duration::DAY * plan.days as i32;
        let first: OffsetDateTime = end - time::Duration::HOUR * 12;
        let first_ns = i64::try_from(first.unix_timestamp_nanos()).context("the time fits")?;
        // Late samples come from the last 30 days before the streamed hours, less the two
        // hours the watermark holds back, so each is older than the watermark when it
        // arrives; evenly spaced among the samples there, in the index's order (series by
        // series, each in time order), so each series gives its share over the whole span.
        // Two passes, so memory grows with the late samples, not with the data set.
        let late_from = (end - time::Duration::DAY * LATE_DAYS as i32).max(SHIPPED_START);
        let late_from_ns =
            i64::try_from(late_from.unix_timestamp_nanos()).context("the time fits")?;
        let late_to_ns = first_ns - 2 * 60 * MINUTE_NS;
        let candidates = || {
            source
                .samples()
                .filter(move |&(_, at, _)| at >= late_from_ns && at < late_to_ns)
        };
        let total = if plan.late == 0 {
            0
        } else {
            candidates().count()
        };
        let count = plan.late.min(total);
        // Candidate `index` is taken when it is the first at or after a multiple of
        // total / count: exactly `count` of them.
        let late: Vec<(insights_core::SeriesKey, i64, f64)> = if count == 0 {
            Vec::new()
        } else {
            candidates()
                .enumerate()
                .filter(|&(index, _)| (index * count) % total < count)
                .map(|(_, (key, at, watts))| (key.clone(), at, watts))
                .collect()
        };
        let mut held_back: HashMap<insights_core::SeriesKey, HashSet<i64>> = HashMap::new();
        for (key, at, _) in &late {
            held_back.entry(key.clone()).or_default().insert(*at);
        }
        Ok(Streamed {
            source,
            first_ns,
            minutes: plan.stream,
            late,
            held_back,
            late_from_ns,
        })
    }

    fn streamed_end_ns(&self) -> i64 {
        self.first_ns + self.minutes as i64 * MINUTE_NS
    }

    /// Imports the samples in `[from, to)` ns in one batch, less the late ones, reporting it
    /// as `what`.
    fn import_between(&self, db_url: &str, (from, to): (i64, i64), what: &str) -> Result<()> {
        let held_back = |key, at| {
            !self.held_back.is_empty()
                && self
                    .held_back
                    .get(key)
                    .is_some_and(|instants: &HashSet<i64>| instants.contains(&at))
        };
        let samples = self
            .source
            .samples()
            .filter(|&(key, at, _)| at >= from && at < to && !held_back(key, at))
            .map(|(key, at, watts)| (key.clone(), at, watts));
        import_reporting(db_url, samples, what)
    }

    fn import_before(&self, db_url: &str) -> Result<()> {
        let what = if self.late.is_empty() {
            "all but the last 12 hours"
        } else {
            "all but the last 12 hours and the late samples"
        };
        self.import_between(db_url, (i64::MIN, self.first_ns), what)
    }

    fn import_after(&self, db_url: &str) -> Result<()> {
        let what = "the rest of the last 12 hours";
        self.import_between(db_url, (self.streamed_end_ns(), i64::MAX), what)
    }

    /// Imports the late samples in one batch, as a backlog of late data arrives, and reports
    /// its commit; answers include it from then on. `None` without late samples.
    fn commit_late(&self, db_url: &str) -> Result<Option<LateCommitted>> {
        if self.late.is_empty() {
            return Ok(None);
        }
        let what = format!(
            "{} late samples, spread over the {:.1} days before the last 14 hours, in one batch",
            self.late.len(),
            (self.first_ns - 2 * 60 * MINUTE_NS - self.late_from_ns) as f64
                / (24 * 60 * MINUTE_NS) as f64
        );
        let runtime = runtime()?;
        let mut importer = runtime.block_on(insights_pg::Importer::connect(db_url))?;
        let started = Instant::now();
        let report = runtime.block_on(importer.import(self.late.iter().cloned()))?;
        println!(
            "imported {what}: {} samples committed in {:.1} s, {} of them left waiting to be settled",
            report.inserted,
            started.elapsed().as_secs_f64(),
            report.late_deferred,
        );
        Ok(Some(LateCommitted { runtime, importer }))
    }

    /// Sends each streamed minute as one batch through the importer `import --from -` uses
    /// (one transaction with its rollups), and reports each batch's commit time and how long
    /// after the commit an answer of the PostgreSQL source included it; with a replica
    /// (`replica_url`), also how long after the commit the replica had replayed it.
    fn stream(
        &self,
        db_url: &str,
        replica_url: Option<&str>,
        pg_addr: &str,
        catalogue: &Catalogue,
    ) -> Result<()> {
        let mut replay = replica_url.map(Replay::connect).transpose()?;
        let mut positions = db_url
            .parse::<postgres::Config>()?
            .connect(postgres::NoTls)
            .context("failed to connect to the primary")?;
        let runtime = runtime()?;
        let mut batches: Vec<Vec<(insights_core::SeriesKey, i64, f64)>> =
            vec![Vec::new(); self.minutes];
        for (key, at, watts) in self.source.samples() {
            if at >= self.first_ns && at < self.streamed_end_ns() {
                let minute = ((at - self.first_ns) / MINUTE_NS) as usize;
                batches[minute].push((key.clone(), at, watts));
            }
        }
        // The last circuit's answer tells when a batch can be read.
        let probe = catalogue
            .circuits
            .last()
            .context("the catalogue has circuits")?
            .id;
        let mut importer = runtime.block_on(insights_pg::Importer::connect(db_url))?;
        println!(
            "\nstreaming {} minute batches of one sample a circuit into days that hold 12 hours already\n",
            self.minutes
        );
        println!("| batch | minute | samples | commit | samples/s | answered after the commit | replayed after the commit |");
        println!("|---|---|---|---|---|---|---|");
        let mut commits = Vec::new();
        let mut freshness = Vec::new();
        let mut lags = Vec::new();
        let mut samples_sent = 0;
        let mut connection = Connection::new(pg_addr);
        for (index, batch) in batches.into_iter().enumerate() {
            let minute = OffsetDateTime::from_unix_timestamp_nanos(i128::from(
                self.first_ns + index as i64 * MINUTE_NS,
            ))
            .context("the minute is a time")?;
            let n_samples = batch.len();
            samples_sent += n_samples;
            let started = Instant::now();
            let report = runtime.block_on(importer.import(batch.into_iter()))?;
            let committed = started.elapsed();
            let lag = match &mut replay {
                Some(replay) => Some(replay.after_commit(&mut positions)?),
                None => None,
            };
            if report.inserted != n_samples as u64 {
                bail!(
                    "batch {index} inserted {} of {n_samples} samples",
                    report.inserted
                );
            }
            // Ask until the answer over the batch's minute counts the probe's sample.
            let path = format!(
                "/v1/insights/circuits/{probe}/usage?start={}&end={}",
                insights_core::format_utc(minute),
                insights_core::format_utc(minute + time::Duration::MINUTE)
            );
            let answered = loop {
                let (status, _) = connection
                    .get(&path)
                    .with_context(|| format!("failed to GET {path}"))?;
                let body = String::from_utf8_lossy(connection.body());
                if status == 200 && body.contains("\"sample_count\":1") {
                    break started.elapsed().saturating_sub(committed);
                }
                if started.elapsed() > committed + Duration::from_secs(60) {
                    bail!("{path}: the batch was not answered within 60 s of its commit: {body}");
                }
            };
            println!(
                "| {} | {} | {n_samples} | {:.0} ms | {:.0} | {:.1} ms | {} |",
                index + 1,
                insights_core::format_utc(minute),
                committed.as_secs_f64() * 1000.0,
                n_samples as f64 / committed.as_secs_f64(),
                answered.as_secs_f64() * 1000.0,
                lag.map_or("-".to_owned(), |lag| format!(
                    "{:.1} ms",
                    lag.as_secs_f64() * 1000.0
                ))
            );
            commits.push(committed.as_secs_f64() * 1000.0);
            freshness.push(answered.as_secs_f64() * 1000.0);
            lags.extend(lag.map(|lag| lag.as_secs_f64() * 1000.0));
        }
        runtime.block_on(importer.close());
        let max = |values: &[f64]| values.iter().copied().fold(0.0, f64::max);
        let total_s = commits.iter().sum::<f64>() / 1000.0;
        println!(
            "\nstreaming: commit median {:.0} ms, max {:.0} ms; {:.0} samples/s over all batches; answered after the commit: median {:.1} ms, max {:.1} ms\n",
            median(commits.clone()),
            max(&commits),
            samples_sent as f64 / total_s,
            median(freshness.clone()),
            max(&freshness)
        );
        if !lags.is_empty() {
            println!(
                "replica: replayed after the commit: median {:.1} ms, max {:.1} ms (the answers above came from the replica)\n",
                median(lags.clone()),
                max(&lags)
            );
        }
        Ok(())
    }
}

/// The importer that committed the late batch, whose samples wait to be settled.
struct LateCommitted {
    runtime: tokio::runtime::Runtime,
    importer: insights_pg::Importer,
}

impl LateCommitted {
    /// Settles the late samples as `import` does before it returns, and reports how long
    /// that took.
    fn settle(self) -> Result<()> {
        let LateCommitted {
            runtime,
            mut importer,
        } = self;
        let started = Instant::now();
        let series_days = runtime.block_on(importer.settle_all_late())?;
        runtime.block_on(importer.close());
        println!(
            "settled the late samples of {series_days} series-days in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        Ok(())
    }
}

/// A streaming replica, asked how far it has replayed.
struct Replay {
    replica: postgres::Client,
}

impl Replay {
    fn connect(url: &str) -> Result<Replay> {
        Ok(Replay {
            replica: postgres::Client::connect(url, postgres::NoTls)
                .context("failed to connect to the replica")?,
        })
    }

    /// Reads the primary's WAL position just after a commit, and returns how long the
    /// replica then took to replay to it, asking every 0.2 ms. The reading of the position
    /// is counted: a round trip, well under a millisecond here.
    fn after_commit(&mut self, primary: &mut postgres::Client) -> Result<Duration> {
        let started = Instant::now();
        let written: i64 = primary
            .query_one(
                "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::int8",
                &[],
            )?
            .get(0);
        loop {
            let replayed: i64 = self
                .replica
                .query_one(
                    "SELECT pg_wal_lsn_diff(pg_last_wal_replay_lsn(), '0/0')::int8",
                    &[],
                )?
                .get(0);
            if replayed >= written {
                return Ok(started.elapsed());
            }
            if started.elapsed() > Duration::from_secs(60) {
                bail!("the replica did not replay a batch within 60 s of its commit");
            }
            std::thread::sleep(Duration::from_micros(200));
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("failed to start a runtime")
}

/// The 1-hour windows first (the baselines), then the long ones.
fn queries(days: i64) -> Vec<Query> {
    let at = |offset: time::Duration| insights_core::format_utc(SHIPPED_START + offset);
    let day = time::Duration::DAY;
    let hour = time::Duration::HOUR;
    let middle = day * (days / 2) as i32;
    let odd = time::Duration::seconds(7 * 60 + 13);
    let window = |start: time::Duration, length: time::Duration, extra: &str| {
        format!("start={}&end={}{extra}", at(start), at(start + length))
    };
    let last = day * days as i32;
    let mut queries = vec![
        Query {
            label: "1 h".into(),
            path: window(middle + hour * 10, hour, ""),
        },
        Query {
            label: "1 h, from :07:13".into(),
            path: window(middle + hour * 10 + odd, hour, ""),
        },
        Query {
            label: "1 d".into(),
            path: window(middle, day, ""),
        },
    ];
    if days >= 30 {
        queries.push(Query {
            label: "30 d".into(),
            path: window(middle - day * 15, day * 30, ""),
        });
    }
    let long = days.min(120);
    queries.push(Query {
        label: format!("{long} d"),
        path: window(time::Duration::ZERO, day * long as i32, ""),
    });
    queries.push(Query {
        label: format!("{long} d less an hour, from 00:07:13"),
        path: window(odd, day * long as i32 - hour, ""),
    });
    // New York's midnight is 04:00 UTC in daylight saving time, when the data starts.
    // A data set of one day holds no whole local day of either zone: no window to ask for.
    let new_york = (day * long as i32 - day).min(last - hour * 4);
    if new_york.is_positive() {
        queries.push(Query {
            label: format!("{} d by day, New York", new_york.whole_days()),
            path: window(hour * 4, new_york, "&bucket=1d&tz=America/New_York"),
        });
    }
    // Kathmandu's midnight is 18:15 UTC the day before.
    let kathmandu = (day * 14i32).min(last - day);
    if kathmandu.is_positive() {
        queries.push(Query {
            label: format!("{} d by hour, Kathmandu", kathmandu.whole_days()),
            path: window(
                hour * 18 + time::Duration::minutes(15),
                kathmandu,
                "&bucket=1h&tz=Asia/Kathmandu",
            ),
        });
    }
    if days > 120 {
        queries.push(Query {
            label: format!("{days} d"),
            path: window(time::Duration::ZERO, last, ""),
        });
        queries.push(Query {
            label: format!("{} d by day, New York", days - 1),
            path: window(hour * 4, last - day, "&bucket=1d&tz=America/New_York"),
        });
    }
    queries
}

/// The latency of one GET of `path`, in ms; its body stays in `connection`.
fn time(connection: &mut Connection, path: &str) -> Result<f64> {
    let started = Instant::now();
    let (status, _) = connection
        .get(path)
        .with_context(|| format!("failed to GET {path}"))?;
    let took = started.elapsed().as_secs_f64() * 1000.0;
    if status != 200 {
        bail!(
            "{path} answered {status}: {}",
            String::from_utf8_lossy(connection.body())
        );
    }
    Ok(took)
}

fn median(mut latencies: Vec<f64>) -> f64 {
    latencies.sort_by(f64::total_cmp);
    latencies[latencies.len() / 2]
}

fn wait_ready(addr: &str, within: Duration) -> Result<()> {
    let started = Instant::now();
    let mut connection = Connection::new(addr);
    loop {
        if let Ok((200, _)) = connection.get("/readyz") {
            return Ok(());
        }
        if started.elapsed() > within {
            bail!(
                "the service at {addr} was not ready within {} s",
                within.as_secs()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The URL of another database on the same server.
fn with_database(url: &str, database: &str) -> Result<String> {
    let mut config: postgres::Config = url.parse().context("DATABASE_URL is not a valid URL")?;
    config.dbname(database);
    let host = match config.get_hosts().first() {
        Some(postgres::config::Host::Tcp(host)) => host.clone(),
        Some(postgres::config::Host::Unix(path)) => path.display().to_string(),
        None => "localhost".to_owned(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let user = config.get_user().unwrap_or("postgres");
    let password = config
        .get_password()
        .map(|password| format!(" password={}", String::from_utf8_lossy(password)))
        .unwrap_or_default();
    Ok(format!(
        "host={host} port={port} user={user}{password} dbname={database}"
    ))
}

/// Rows and bytes of samples and rollups, tables and indexes together.
fn print_sizes(url: &str) -> Result<()> {
    let mut client = postgres::Client::connect(url, postgres::NoTls)?;
    let row = client.query_one(
        "SELECT (SELECT count(*) FROM power_samples),
                (SELECT sum(pg_total_relation_size(relid))::bigint FROM pg_partition_tree('power_samples')),
                (SELECT count(*) FROM power_rollups),
                pg_total_relation_size('power_rollups'),
                (SELECT count(*) FROM power_rollup_packs),
                pg_total_relation_size('power_rollup_packs')",
        &[],
    )?;
    let [samples, sample_bytes, rollups, rollup_bytes, packs, pack_bytes] =
        std::array::from_fn::<i64, 6, _>(|column| row.get(column));
    let per = |bytes: i64| bytes as f64 / samples.max(1) as f64;
    let mib = |bytes: i64| bytes as f64 / 1048576.0;
    println!(
        "database: {samples} samples in {:.0} MiB ({:.1} B/sample with indexes); {rollups} rollup rows in {:.0} MiB ({:.1} B/sample); {packs} packs in {:.0} MiB ({:.1} B/sample); together {:.1} B/sample",
        mib(sample_bytes),
        per(sample_bytes),
        mib(rollup_bytes),
        per(rollup_bytes),
        mib(pack_bytes),
        per(pack_bytes),
        per(sample_bytes + rollup_bytes + pack_bytes)
    );
    Ok(())
}
