//! Project automation, run as `cargo xtask <command>`; `cargo xtask help` lists the commands.

mod apikey;
mod codegen;
mod db_init;
mod fuzz_api;
mod gen_data;
mod loadtest;
mod service;
mod soak;
mod stress;
#[cfg(test)]
mod tidy;

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use insights_core::Catalogue;

const HELP: &str = "\
cargo xtask <command>

Commands:
  gen-data    regenerate data/mock_timeseries.json (deterministic and seeded)
  gen-data --circuits N --days D --out DIR
              write a synthetic data set for scale runs: DIR/catalogue.tsv (for
              INSIGHTS_CATALOGUE), DIR/seed.sql (schema and seed, for PostgreSQL) and
              DIR/timeseries.json (every minute of D days from 2024-04-01 for N circuits)
  codegen     regenerate db/init/init.sql (from db/schema.sql and data/catalogue.tsv)
              and openapi/insights.json and openapi/monolith.yaml (from the routes)
  import --from FILE
              load a sample file into the power_samples table of INSIGHTS_TIMESERIES_URL
              (or DATABASE_URL) with binary COPY; samples already there are skipped
  db-init     apply db/init/init.sql to DATABASE_URL; an already seeded database is left as it is
  loadtest [--connections C] [--seconds S]
              build in release mode, run the service under wrk for each endpoint (again
              on DATABASE_URL metadata, and on INSIGHTS_TIMESERIES_URL samples, when set),
              and update docs/performance.md
  fuzz-api [--max-examples N]
              run schemathesis (installed into a virtualenv in the target directory) against
              the service's OpenAPI document with every check (--checks all, settings in
              xtask/schemathesis.toml); N examples per operation
              (default 150, about 2,600 requests)
  soak [--requests N] [--connections C] [--chaos-seconds S]
              build in release mode and run the service against a PostgreSQL cluster of its
              own (initdb and pg_ctl, in the system's temporary directory): N mixed requests (default 1,000,000)
              with zero unexpected answers and RSS growth under 5 % after the warm-up; then
              PostgreSQL stopped for S seconds (default 5) mid-load: only 503s while it is
              down, none 5 s after it is back, no 500s
  stress [--connections C] [--seconds S] [--timeout-ms T]
              build in release mode; while C connections (default 32) send the heaviest
              request the API admits for S seconds (default 20), with the service's
              request timeout T (default 10000), a separate client polls /healthz; prints
              its p50, p99 and max, the heavy answers by status and slowest latency, and
              the service's peak RSS above idle
  apikey --brand ID | --organization ID | --operator [--label WORD]
              print a new API key and the line that admits it in INSIGHTS_API_KEYS_FILE
              (the file stores only the key's SHA-256); an operator's key reads /metrics
              and no tenant's data
  help        print this text
";

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = project_root();
    match args.first().map(String::as_str) {
        Some("gen-data") if args.len() == 1 => write_file(
            &root.join("data/mock_timeseries.json"),
            &gen_data::shipped(),
        ),
        Some("gen-data") => gen_scale(&root, &args[1..]),
        Some("codegen") if args.len() == 1 => {
            for (path, contents) in generated_files(&root)? {
                write_file(&root.join(path), &contents)?;
            }
            Ok(())
        }
        Some("db-init") if args.len() == 1 => {
            let url = std::env::var("DATABASE_URL")
                .context("failed to read DATABASE_URL, which db-init applies the seed to")?;
            db_init::run(&url, &read_file(&root.join("db/init/init.sql"))?)
        }
        Some("import") if args.len() == 3 && args[1] == "--from" => {
            let url = std::env::var("INSIGHTS_TIMESERIES_URL")
                .or_else(|_| std::env::var("DATABASE_URL"))
                .context("failed to read INSIGHTS_TIMESERIES_URL or DATABASE_URL, which import loads into")?;
            let report = import(Path::new(&args[2]), &url)?;
            println!(
                "imported {}: {} samples offered, {} new, {} already there; nominal interval {} s",
                args[2],
                report.offered,
                report.inserted,
                report.offered - report.inserted,
                report.interval.as_seconds_f64()
            );
            Ok(())
        }
        Some("loadtest") => {
            let mut plan = loadtest::Plan {
                connections: 64,
                threads: 2,
                seconds: 10,
            };
            let mut args = args[1..].iter();
            while let Some(flag) = args.next() {
                let value: u32 = args
                    .next()
                    .with_context(|| format!("failed to read a value after {flag}"))?
                    .parse()
                    .with_context(|| format!("failed to read {flag} as a whole number"))?;
                match flag.as_str() {
                    "--connections" => plan.connections = value,
                    "--seconds" => plan.seconds = value,
                    other => bail!("unknown flag {other}\n\n{HELP}"),
                }
            }
            loadtest::run(&root, &plan)
        }
        Some("fuzz-api") => {
            let max_examples = match &args[1..] {
                [] => 150,
                [flag, value] if flag == "--max-examples" => value
                    .parse()
                    .context("failed to read --max-examples as a whole number")?,
                _ => bail!("unknown arguments: {}\n\n{HELP}", args.join(" ")),
            };
            fuzz_api::run(&root, max_examples)
        }
        Some("apikey") => apikey::run(&args[1..]),
        Some("stress") => {
            let mut plan = stress::Plan {
                connections: 32,
                seconds: 20,
                timeout_ms: 10_000,
            };
            for pair in args[1..].chunks(2) {
                let [flag, value] = pair else {
                    bail!("{} needs a value\n\n{HELP}", pair[0]);
                };
                let value: u64 = value
                    .parse()
                    .with_context(|| format!("failed to read {flag} as a whole number"))?;
                match flag.as_str() {
                    "--connections" if (1..=1024).contains(&value) => {
                        plan.connections = value as usize
                    }
                    "--seconds" if (1..=3600).contains(&value) => plan.seconds = value,
                    "--timeout-ms" if (1..=600_000).contains(&value) => plan.timeout_ms = value,
                    other => bail!("{other} is unknown or out of range\n\n{HELP}"),
                }
            }
            stress::run(&root, &plan)
        }
        Some("soak") => {
            let mut plan = soak::Plan::default();
            for pair in args[1..].chunks(2) {
                let [flag, value] = pair else {
                    bail!("{} needs a value\n\n{HELP}", pair[0]);
                };
                let value: u64 = value
                    .parse()
                    .with_context(|| format!("failed to read {flag} as a whole number"))?;
                match flag.as_str() {
                    "--requests" if value >= 1000 => plan.requests = value,
                    "--requests" => {
                        bail!("--requests must be at least 1000, to measure after a warm-up")
                    }
                    "--connections" if (1..=256).contains(&value) => {
                        plan.connections = value as usize
                    }
                    "--connections" => bail!("--connections must be from 1 to 256"),
                    "--chaos-seconds" if (1..=600).contains(&value) => plan.chaos_seconds = value,
                    "--chaos-seconds" => bail!("--chaos-seconds must be from 1 to 600"),
                    other => bail!("unknown flag {other}\n\n{HELP}"),
                }
            }
            soak::run(&root, &plan)
        }
        Some("help") | None => {
            print!("{HELP}");
            Ok(())
        }
        Some(_) => bail!("unknown command or arguments: {}\n\n{HELP}", args.join(" ")),
    }
}

/// Imports a sample file into the `power_samples` table at `url`, on a runtime of its own.
fn import(path: &Path, url: &str) -> Result<insights_http::ImportReport> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("failed to start a runtime")?;
    runtime
        .block_on(insights_http::import_samples(path, url))
        .map_err(anyhow::Error::msg)
        .with_context(|| format!("failed to import {}", path.display()))
}

/// `gen-data --circuits N --days D --out DIR`.
fn gen_scale(root: &Path, args: &[String]) -> Result<()> {
    let mut circuits = None;
    let mut days = None;
    let mut out = None;
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .with_context(|| format!("failed to read a value after {flag}"))?;
        match flag.as_str() {
            "--circuits" => {
                circuits = Some(
                    value
                        .parse::<usize>()
                        .context("failed to read --circuits as a whole number")?,
                )
            }
            "--days" => {
                days = Some(
                    value
                        .parse::<i64>()
                        .context("failed to read --days as a whole number")?,
                )
            }
            "--out" => out = Some(PathBuf::from(value)),
            other => bail!("unknown flag {other}\n\n{HELP}"),
        }
    }
    let (Some(circuits), Some(days), Some(out)) = (circuits, days, out) else {
        bail!("gen-data needs --circuits, --days and --out together\n\n{HELP}");
    };
    if circuits == 0 || !(1..=366).contains(&days) {
        bail!("--circuits must be at least 1 and --days from 1 to 366");
    }
    fs::create_dir_all(&out).with_context(|| format!("failed to create {}", out.display()))?;
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
    gen_data::write_samples(
        &mut writer,
        &catalogue,
        gen_data::SHIPPED_SEED,
        gen_data::SHIPPED_START,
        days,
    )
    .and_then(|()| std::io::Write::flush(&mut writer))
    .with_context(|| format!("failed to write {}", path.display()))?;
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
    Ok(vec![
        ("db/init/init.sql", codegen::init_sql(&schema, &catalogue)),
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
