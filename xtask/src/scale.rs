//! `cargo xtask scale`: the PostgreSQL time-series source against the file source on a
//! generated data set of N circuits × D days: the import's speed, the database's size per
//! sample, and the latency of long windows side by side with a 1-hour window, every answer
//! compared byte for byte between the two sources.
//!
//! These are benchmark figures for `docs/performance.md` and `docs/scaling.md`, never
//! assertions in tests.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use insights_core::Catalogue;

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
    let admin_url = std::env::var("DATABASE_URL").context(
        "failed to read DATABASE_URL: a PostgreSQL server's maintenance database, where scale creates its own",
    )?;
    let database = format!("insights_{}", name.replace('-', "_"));
    let db_url = with_database(&admin_url, &database)?;
    let mut admin = postgres::Client::connect(&admin_url, postgres::NoTls)
        .context("failed to connect to DATABASE_URL")?;
    let exists = !admin
        .query("SELECT 1 FROM pg_database WHERE datname = $1", &[&database])?
        .is_empty();
    if !(plan.reuse && exists) {
        admin.batch_execute(&format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"))?;
        admin.batch_execute(&format!("CREATE DATABASE {database}"))?;
        let mut client = postgres::Client::connect(&db_url, postgres::NoTls)?;
        client.batch_execute(&std::fs::read_to_string(dir.join("seed.sql"))?)?;
        // Measured as a user meets it: nothing run by hand after the import, which settles
        // what it wrote itself.
        crate::ingest::import_file(&samples_file, &db_url)?;
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
    let file_server = Server::start(&release, &file_env)?;
    let pg_server = Server::start(&release, &pg_env)?;
    wait_ready(&file_server.addr, Duration::from_secs(600))?;
    wait_ready(&pg_server.addr, Duration::from_secs(60))?;

    let catalogue = Catalogue::synthetic(plan.circuits);
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
    let mut file = Connection::new(&file_server.addr);
    let mut pg = Connection::new(&pg_server.addr);
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
    let new_york = (day * long as i32 - day).min(last - hour * 4);
    queries.push(Query {
        label: format!("{} d by day, New York", new_york.whole_days()),
        path: window(hour * 4, new_york, "&bucket=1d&tz=America/New_York"),
    });
    // Kathmandu's midnight is 18:15 UTC the day before.
    let kathmandu = (day * 14i32).min(last - day);
    queries.push(Query {
        label: format!("{} d by hour, Kathmandu", kathmandu.whole_days()),
        path: window(
            hour * 18 + time::Duration::minutes(15),
            kathmandu,
            "&bucket=1h&tz=Asia/Kathmandu",
        ),
    });
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
