//! Project automation, run as `cargo xtask <command>`; `cargo xtask --help` lists the
//! commands, and every command answers `--help`.

mod apikey;
mod client;
mod client_check;
mod codegen;
mod compose;
mod dashboard_check;
mod db_init;
mod fuzz_api;
mod gen_data;
mod ingest;
mod loadtest;
mod mutants;
mod progress;
mod scale;
mod service;
mod soak;
mod stress;
#[cfg(test)]
mod tidy;
mod unread;

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use insights_core::Catalogue;

/// Project automation for the Insights Service.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask", about, disable_help_subcommand = false)]
struct Cli {
    #[command(subcommand)]
    command: Task,
}

#[derive(Debug, Subcommand)]
enum Task {
    /// Regenerate data/mock_timeseries.json (deterministic and seeded); with --circuits,
    /// --days and --out, write a synthetic data set for scale runs instead: DIR/catalogue.tsv
    /// (for INSIGHTS_CATALOGUE), DIR/seed.sql (schema and seed, for PostgreSQL) and
    /// DIR/timeseries.json (every minute of D days from 2024-04-01 for N circuits).
    GenData {
        /// Circuits in the synthetic catalogue.
        #[arg(long, requires_all = ["days", "out"], value_parser = clap::value_parser!(u32).range(1..))]
        circuits: Option<u32>,
        /// Days of samples, 1 to 366.
        #[arg(long, requires_all = ["circuits", "out"], value_parser = clap::value_parser!(i64).range(1..=366))]
        days: Option<i64>,
        /// The directory to write the data set to.
        #[arg(long, requires_all = ["circuits", "days"])]
        out: Option<PathBuf>,
    },
    /// Regenerate db/init/init.sql (from db/schema.sql and data/catalogue.tsv),
    /// openapi/insights.json and openapi/monolith.yaml (from the routes), and the
    /// configuration table of docs/operations.md (from insights_http::settings::VARIABLES).
    Codegen,
    /// Apply db/init/init.sql to DATABASE_URL; an already seeded database is left as it is.
    DbInit,
    /// Load samples into the power_samples table of INSIGHTS_TIMESERIES_URL (or
    /// DATABASE_URL) with binary COPY, and bring the rollups of every day they touch up to
    /// date in the same transaction; samples already there are skipped, so importing twice
    /// changes nothing.
    Import {
        /// The sample file (a JSON array as data/mock_timeseries.json, or one object per
        /// line), imported in one transaction; or - to stream rows from standard input in
        /// batches.
        #[arg(long)]
        from: PathBuf,
        /// With --from -: the most rows in one batch (one transaction).
        #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
        batch_rows: u64,
        /// With --from -: commit a batch this many milliseconds after its first row at the
        /// latest, so a slow pipe's rows are answered within about that long.
        #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=3_600_000))]
        batch_ms: u64,
    },
    /// Check or recompute the rollups of INSIGHTS_TIMESERIES_URL (or DATABASE_URL).
    Rollup {
        /// Compare every rollup row with a recomputation from the samples; exit non-zero
        /// when any differs.
        #[arg(long, conflicts_with = "rebuild", required_unless_present = "rebuild")]
        verify: bool,
        /// Recompute the rollups of every day with samples (between --from and --to).
        #[arg(long)]
        rebuild: bool,
        /// With --rebuild: the first instant (RFC 3339) whose day is recomputed.
        #[arg(long, conflicts_with = "verify")]
        from: Option<String>,
        /// With --rebuild: the last instant (RFC 3339) whose day is recomputed.
        #[arg(long, conflicts_with = "verify")]
        to: Option<String>,
    },
    /// Build in release mode, run the service at its default settings under wrk for each
    /// endpoint (again on DATABASE_URL metadata, and on INSIGHTS_TIMESERIES_URL samples, when
    /// set), print each endpoint's goodput (2xx answers/s), refusals and latency, and update
    /// docs/performance.md. Fails, naming the endpoint, when any answer is not a 2xx.
    Loadtest {
        /// wrk's connections; a list (64,256) runs every endpoint at each.
        #[arg(long, value_delimiter = ',', default_values_t = [64], value_parser = clap::value_parser!(u32).range(1..=10_000))]
        connections: Vec<u32>,
        /// Seconds per endpoint and connection count.
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=3600))]
        seconds: u32,
        /// Print the tables only; leave docs/performance.md as it is.
        #[arg(long)]
        no_write: bool,
        /// Also measure a build with insights-http's `ceiling` feature, whose usage routes
        /// answer a constant body without their work, after the embedded mode: what a usage
        /// request costs the framework and middleware alone. It is built from this tree, even
        /// when XTASK_SERVICE_BINARY names the service measured.
        #[arg(long)]
        ceiling: bool,
    },
    /// Run schemathesis (installed into a virtualenv in the target directory) against the
    /// service's OpenAPI document with every check (--checks all, settings in
    /// xtask/schemathesis.toml), with API keys off and on.
    FuzzApi {
        /// Examples per operation.
        #[arg(long, default_value_t = 150, value_parser = clap::value_parser!(u32).range(1..))]
        max_examples: u32,
    },
    /// Validate docker-compose.yml with `docker-compose config` (docker-compose 1.29.2 from
    /// PyPI, in a virtualenv in the target directory; no Docker engine needed) and check the
    /// deployment rules: TCP database healthcheck, ports on 127.0.0.1, the read-only login,
    /// a service healthcheck, pinned images and a cached dependency layer.
    ComposeCheck,
    /// Build in release mode and generate clients from the served /openapi.json with each
    /// generator's default settings: a Python client with openapi-python-client (in a
    /// virtualenv in the target directory), through which every operation is called and each
    /// answer must parse, with one model class per shared shape; and TypeScript types with
    /// openapi-typescript (npm ci from xtask/clients/ts into the target directory), which
    /// `tsc --strict` checks against the typed calls of check.ts before node runs them.
    ClientCheck,
    /// Build in release mode and check the dashboard in headless Chromium (Debian's chromium
    /// and chromium-driver) over WebDriver: a deep link's tables equal the API's answer, the
    /// picker lists the seed, the default window is the latest day, errors read as words.
    DashboardCheck {
        /// Where to save the screenshot of the deep link (default: the target directory).
        #[arg(long)]
        screenshot: Option<std::path::PathBuf>,
    },
    /// Build in release mode and run the service against a PostgreSQL cluster of its own
    /// (initdb and pg_ctl, in the system's temporary directory): mixed requests with zero
    /// unexpected answers and RSS growth under 5 % after the warm-up; then PostgreSQL stopped
    /// mid-load: only 503s while it is down, none 5 s after it is back, no 500s.
    Soak {
        /// Requests in the soak, at least 1000 so there is a warm-up to measure after.
        #[arg(long, default_value_t = 1_000_000, value_parser = clap::value_parser!(u64).range(1000..))]
        requests: u64,
        /// Keep-alive connections.
        #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..=256))]
        connections: u64,
        /// Seconds PostgreSQL is down in the chaos run.
        #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=600))]
        chaos_seconds: u64,
    },
    /// Build in release mode and run the service at its default settings under the worst
    /// load: by default (--mode mixed) connections sending the heaviest request the API
    /// admits beside wrk sending light circuit-usage requests, while a separate client polls
    /// /healthz. Prints a table of each traffic's answers by status, goodput (2xx/s) and
    /// latency, and the service's peak RSS above idle. Fails when any light request (or
    /// /healthz) is answered other than 2xx, or a heavy one other than 200 or 503.
    Stress {
        /// The load's shape: mixed; heavy (the heaviest request only); two-callers (API keys
        /// on: caller A floods the heaviest request, caller B sends light requests and the
        /// heaviest on 4 connections; reports B's share of the heavy goodput).
        #[arg(long, value_enum, default_value_t = stress::Mode::Mixed)]
        mode: stress::Mode,
        /// Connections sending the heaviest request (caller A's with two-callers).
        #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u64).range(1..=1024))]
        connections: u64,
        /// wrk's connections sending light requests: 64 by default, caller B's 8 with
        /// two-callers.
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1024))]
        light_connections: Option<u64>,
        /// Seconds of load.
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=3600))]
        seconds: u64,
        /// Set the service's request timeout (INSIGHTS_REQUEST_TIMEOUT_MS); unset keeps the
        /// service's default.
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..=600_000))]
        timeout_ms: Option<u64>,
    },
    /// Build in release mode, open connections that ask for one of the largest answers and
    /// never read it, and fail unless the service closes every one within three client
    /// timeouts and its peak RSS stays within --max-mib above idle.
    Unread {
        /// Connections that never read.
        #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=4096))]
        clients: u64,
        /// The most the peak RSS may rise above idle, in MiB (the median over the runs).
        #[arg(long, default_value_t = 64)]
        max_mib: u64,
        /// Runs, each on a service of its own: the median peak is held to --max-mib, as one
        /// binary's peak varies by ±10 MiB from run to run.
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=99))]
        runs: u64,
    },
    /// Generate N circuits × D days (gen-data), import them into a database of their own on
    /// the server of DATABASE_URL, and time long windows against a 1-hour window on the file
    /// source and the PostgreSQL source side by side, comparing every answer byte for byte.
    Scale {
        /// Circuits in the synthetic catalogue.
        #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u32).range(1..))]
        circuits: u32,
        /// Days of samples, 1 to 366.
        #[arg(long, default_value_t = 120, value_parser = clap::value_parser!(i64).range(1..=366))]
        days: i64,
        /// Timed requests per query and source; the median is reported.
        #[arg(long, default_value_t = 9, value_parser = clap::value_parser!(u64).range(1..=1000))]
        requests: u64,
        /// Reuse the data set and database of an earlier run of the same size.
        #[arg(long)]
        reuse: bool,
        /// Then stream this many consecutive minute batches (one sample per circuit each)
        /// through the importer, reporting each batch's commit time and how soon an answer
        /// included it, before the queries are timed; at most 720, the data set's last 12 hours.
        #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=scale::MAX_STREAM_MINUTES))]
        stream: u64,
        /// Run on a throwaway primary and streaming replica (initdb and pg_basebackup, as
        /// the test helper starts them) instead of DATABASE_URL's server: the PostgreSQL
        /// service reads samples from the replica alone, and streaming reports each batch's
        /// replica lag.
        #[arg(long)]
        replica: bool,
        /// Hold this many samples of the data set's last 30 days back from its first import
        /// and send them after the stream in one batch, as late data, reporting its commit
        /// time; the two sources then hold the same samples again.
        #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=1_000_000))]
        late: u64,
    },
    /// Mutation testing: run cargo-mutants (installed into the target directory when
    /// missing) on insights-core and insights-mockts against each crate's own tests, print
    /// each score, and fail when one is under 95 % of viable mutants caught.
    Mutants {
        /// Only the mutants on lines changed since this git revision (for example main),
        /// and fail when any of them is missed.
        #[arg(long, value_name = "BASE")]
        in_diff: Option<String>,
    },
    /// Print a new API key and the line that admits it in INSIGHTS_API_KEYS_FILE (the file
    /// stores only the key's SHA-256). An operator's key reads /metrics and no tenant's data.
    Apikey(apikey::Args),
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let root = project_root();
    match cli.command {
        Task::GenData {
            circuits: Some(circuits),
            days: Some(days),
            out: Some(out),
        } => gen_scale(&root, circuits as usize, days, &out),
        Task::GenData { .. } => write_file(
            &root.join("data/mock_timeseries.json"),
            &gen_data::shipped(),
        ),
        Task::Codegen => {
            for (path, contents) in generated_files(&root)? {
                write_file(&root.join(path), &contents)?;
            }
            Ok(())
        }
        Task::DbInit => {
            let url = std::env::var("DATABASE_URL")
                .context("failed to read DATABASE_URL, which db-init applies the seed to")?;
            db_init::run(&url, &read_file(&root.join("db/init/init.sql"))?)
        }
        Task::Import {
            from,
            batch_rows,
            batch_ms,
        } => {
            let url = ingest::database_url()?;
            if from.as_os_str() == "-" {
                let input = ingest::Input {
                    file: None,
                    batch_rows: batch_rows as usize,
                    batch_wait: std::time::Duration::from_millis(batch_ms),
                };
                ingest::import(&input, &url).map(drop)
            } else {
                ingest::import_file(&from, &url).map(drop)
            }
        }
        Task::Rollup {
            verify, from, to, ..
        } => {
            let url = ingest::database_url()?;
            if verify {
                ingest::verify(&url)
            } else {
                ingest::rebuild(&url, from.as_deref(), to.as_deref())
            }
        }
        Task::Loadtest {
            connections,
            seconds,
            no_write,
            ceiling,
        } => loadtest::run(
            &root,
            &loadtest::Plan {
                connections,
                threads: 2,
                seconds,
                write_doc: !no_write,
                ceiling,
            },
        ),
        Task::FuzzApi { max_examples } => fuzz_api::run(&root, max_examples),
        Task::ComposeCheck => compose::run(&root),
        Task::ClientCheck => client_check::run(&root),
        Task::DashboardCheck { screenshot } => dashboard_check::run(&root, screenshot),
        Task::Soak {
            requests,
            connections,
            chaos_seconds,
        } => soak::run(
            &root,
            &soak::Plan {
                requests,
                connections: connections as usize,
                chaos_seconds,
            },
        ),
        Task::Stress {
            mode,
            connections,
            light_connections,
            seconds,
            timeout_ms,
        } => stress::run(
            &root,
            &stress::Plan {
                mode,
                connections: connections as usize,
                light_connections: light_connections.map(|n| n as usize),
                seconds,
                timeout_ms,
            },
        ),
        Task::Unread {
            clients,
            max_mib,
            runs,
        } => unread::run(
            &root,
            &unread::Plan {
                clients: clients as usize,
                max_mib,
                runs: runs as usize,
            },
        ),
        Task::Scale {
            circuits,
            days,
            requests,
            reuse,
            stream,
            replica,
            late,
        } => scale::run(
            &root,
            &scale::Plan {
                circuits: circuits as usize,
                days,
                requests: requests as usize,
                reuse,
                stream: stream as usize,
                replica,
                late: late as usize,
            },
        ),
        Task::Mutants { in_diff } => mutants::run(&root, in_diff.as_deref()),
        Task::Apikey(args) => apikey::run(&args),
    }
}

/// `gen-data --circuits N --days D --out DIR`.
fn gen_scale(root: &Path, circuits: usize, days: i64, out: &Path) -> Result<()> {
    fs::create_dir_all(out).with_context(|| format!("failed to create {}", out.display()))?;
    let catalogue = Catalogue::synthetic(circuits);
    let comments = [&*format!(
        "A synthetic catalogue of {circuits} circuits, written by cargo xtask gen-data."
    )];
    write_file(&out.join("catalogue.tsv"), &catalogue.to_tsv(&comments))?;
    let schema = read_file(&root.join("db/schema.sql"))?;
    write_file(
        &out.join("seed.sql"),
        &codegen::init_sql(&schema, &catalogue),
    )?;
    let path = out.join("timeseries.json");
    let file =
        fs::File::create(&path).with_context(|| format!("failed to create {}", path.display()))?;
    let mut writer = std::io::BufWriter::with_capacity(1 << 20, file);
    let n_samples = circuits as u64 * days.unsigned_abs() * gen_data::MINUTES_PER_DAY as u64;
    let progress = progress::counting(&format!("writing {}", path.display()), n_samples, "samples");
    gen_data::write_samples(
        &mut writer,
        &catalogue,
        gen_data::SHIPPED_SEED,
        gen_data::SHIPPED_START,
        days,
        &progress,
    )
    .and_then(|()| std::io::Write::flush(&mut writer))
    .with_context(|| format!("failed to write {}", path.display()))?;
    progress.finish_and_clear();
    eprintln!(
        "wrote: {} ({} samples)",
        path.display(),
        circuits as i64 * days * gen_data::MINUTES_PER_DAY
    );
    Ok(())
}

/// Every file `codegen` writes, with its expected contents, relative to the root.
fn generated_files(root: &Path) -> Result<Vec<(&'static str, String)>> {
    let schema = read_file(&root.join("db/schema.sql"))?;
    let catalogue = Catalogue::parse_tsv(&read_file(&root.join("data/catalogue.tsv"))?)
        .context("failed to parse data/catalogue.tsv")?;
    let documents = insights_http::openapi::documents();
    let operations = read_file(&root.join("docs/operations.md"))?;
    Ok(vec![
        ("db/init/init.sql", codegen::init_sql(&schema, &catalogue)),
        ("docs/operations.md", codegen::operations_md(&operations)?),
        ("openapi/insights.json", documents.v3.clone()),
        (
            "openapi/monolith.yaml",
            codegen::monolith_yaml(&documents.v3),
        ),
    ])
}

fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the root")
        .to_path_buf()
}

fn read_file(path: &Path) -> Result<String> {
    fs::read_to_string(path).with_context(|| format!("failed to read {}", path.display()))
}

fn write_file(path: &Path, contents: &str) -> Result<()> {
    if fs::read_to_string(path).ok().as_deref() == Some(contents) {
        eprintln!("unchanged: {}", path.display());
        return Ok(());
    }
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)
            .with_context(|| format!("failed to create {}", parent.display()))?;
    }
    fs::write(path, contents).with_context(|| format!("failed to write {}", path.display()))?;
    eprintln!("wrote: {}", path.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn every_command_answers_help() {
        Cli::command().debug_assert();
        let mut names: Vec<String> = Cli::command()
            .get_subcommands()
            .map(|command| command.get_name().to_owned())
            .collect();
        assert!(names.len() >= 9, "{names:?}");
        names.push(String::new());
        for name in names {
            let args: Vec<&str> = ["xtask", name.as_str(), "--help"]
                .into_iter()
                .filter(|arg| !arg.is_empty())
                .collect();
            let error = Cli::try_parse_from(&args).expect_err("--help stops parsing");
            assert_eq!(error.kind(), clap::error::ErrorKind::DisplayHelp, "{name}");
        }
    }

    #[test]
    fn bad_arguments_name_what_is_wrong() {
        use clap::error::ErrorKind;
        fn check(args: &[&str], expected: ErrorKind) {
            let mut full = vec!["xtask"];
            full.extend_from_slice(args);
            let error = Cli::try_parse_from(&full).expect_err("refused");
            assert_eq!(error.kind(), expected, "{args:?}: {error}");
        }
        check(
            &["gen-data", "--circuits", "3"],
            ErrorKind::MissingRequiredArgument,
        );
        check(
            &["gen-data", "--circuits", "3", "--days", "367", "--out", "x"],
            ErrorKind::ValueValidation,
        );
        check(&["soak", "--requests", "999"], ErrorKind::ValueValidation);
        check(
            &["stress", "--connections", "0"],
            ErrorKind::ValueValidation,
        );
        check(&["stress", "--mode", "light"], ErrorKind::InvalidValue);
        check(
            &["stress", "--light-connections", "0"],
            ErrorKind::ValueValidation,
        );
        check(
            &["loadtest", "--connections", "64,0"],
            ErrorKind::ValueValidation,
        );
        check(
            &["fuzz-api", "--max-examples", "many"],
            ErrorKind::ValueValidation,
        );
        check(&["import"], ErrorKind::MissingRequiredArgument);
        check(
            &["import", "--from", "-", "--batch-rows", "0"],
            ErrorKind::ValueValidation,
        );
        check(&["rollup"], ErrorKind::MissingRequiredArgument);
        check(
            &["rollup", "--verify", "--rebuild"],
            ErrorKind::ArgumentConflict,
        );
        check(
            &["rollup", "--verify", "--from", "2024-01-01T00:00:00Z"],
            ErrorKind::ArgumentConflict,
        );
        check(&["no-such-command"], ErrorKind::InvalidSubcommand);
    }

    #[test]
    fn loadtest_takes_a_list_of_connection_counts() {
        fn check(args: &[&str], expected: &[u32]) {
            let mut full = vec!["xtask", "loadtest"];
            full.extend_from_slice(args);
            match Cli::try_parse_from(&full).expect("parsed").command {
                Task::Loadtest { connections, .. } => assert_eq!(connections, expected, "{args:?}"),
                other => panic!("{other:?}"),
            }
        }
        check(&[], &[64]);
        check(&["--connections", "256"], &[256]);
        check(&["--connections", "64,256"], &[64, 256]);
        check(&["--connections", "64", "--connections", "256"], &[64, 256]);
    }
}
