//! `cargo xtask loadtest`: the service under `wrk`, endpoint by endpoint, compared with
//! `/healthz` (the framework's ceiling) in the same run, written into docs/performance.md.
//! With `DATABASE_URL` it runs again on PostgreSQL metadata, and with
//! `INSIGHTS_TIMESERIES_URL` again on the PostgreSQL time-series source.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context, Result};
use insights_core::Catalogue;

use crate::service::{self, Server};

/// One endpoint's measurements.
struct Row {
    name: &'static str,
    requests_per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
    errors: u64,
}

/// The load's shape, printed with the results so they can be reproduced.
pub struct Plan {
    pub connections: u32,
    pub threads: u32,
    pub seconds: u32,
}

pub fn run(root: &Path, plan: &Plan) -> Result<()> {
    which("wrk").context("failed to find wrk; install it with `apt-get install wrk`")?;
    let release = service::build_release(root)?;
    let scripts = service::scratch_dir(root, "loadtest")?;
    let circuits_lua = scripts.join("circuits.lua");
    std::fs::write(&circuits_lua, circuit_script(&Catalogue::seed()))
        .context("failed to write the Lua script")?;

    let mut modes = vec![("embedded", Vec::<(&str, String)>::new())];
    if let Ok(url) = std::env::var("DATABASE_URL") {
        modes.push(("postgres metadata", vec![("DATABASE_URL", url)]));
    }
    if let Ok(url) = std::env::var("INSIGHTS_TIMESERIES_URL") {
        modes.push((
            "postgres time series",
            vec![
                ("INSIGHTS_TIMESERIES", "postgres".to_owned()),
                ("INSIGHTS_TIMESERIES_URL", url),
            ],
        ));
    }
    let mut report = String::new();
    let mut embedded_rates: Vec<(String, f64)> = Vec::new();
    // As many compute slots as connections: the run measures how fast answers come, not how
    // fast the service refuses the requests beyond its default slots (4 per core) with 503.
    let slots = plan.connections.to_string();
    for (mode, mut env) in modes {
        env.push(("INSIGHTS_COMPUTE_SLOTS", slots.clone()));
        let server = Server::start(&release, &env)?;
        let base = format!("http://{}", server.addr);
        let org = "/v1/insights/organizations/955c3c4d-3a03-4d79-9655-3871f5ad999d/usage?start=2024-04-01T00:00:00Z&end=2024-04-02T00:00:00Z";
        let targets: Vec<(&'static str, String, Option<&Path>)> = vec![
            ("/healthz", format!("{base}/healthz"), None),
            (
                "circuit usage (random circuits and windows)",
                format!("{base}/"),
                Some(circuits_lua.as_path()),
            ),
            ("organization usage (a day)", format!("{base}{org}"), None),
            (
                "organization usage, bucket=1h tz=America/New_York",
                format!("{base}{org}&bucket=1h&tz=America/New_York"),
                None,
            ),
            (
                "brand metadata",
                format!("{base}/v1/brands/11111111-1111-1111-1111-111111111111/metadata"),
                None,
            ),
            (
                "electric sensor",
                format!("{base}/v1/electric_sensors/785097c8-2b34-410a-a8ea-bcaf10791c45"),
                None,
            ),
        ];
        // Warm up once, so caches and connections are in their steady state.
        for (_, url, script) in &targets {
            wrk(
                url,
                *script,
                &Plan {
                    connections: 8,
                    threads: 1,
                    seconds: 1,
                },
            )?;
        }
        let mut rows = Vec::new();
        for (name, url, script) in &targets {
            let row = wrk(url, *script, plan).map(|(rps, p50, p99, errors)| Row {
                name,
                requests_per_second: rps,
                p50_ms: p50,
                p99_ms: p99,
                errors,
            })?;
            eprintln!(
                "{mode:>8}  {name:<52} {:>9.0} req/s  p50 {:>6.2} ms  p99 {:>6.2} ms  errors {}",
                row.requests_per_second, row.p50_ms, row.p99_ms, row.errors
            );
            rows.push(row);
        }
        drop(server);
        let ceiling = rows[0].requests_per_second;
        writeln!(report, "\n**{mode} mode**\n").unwrap();
        let versus_embedded = mode != "embedded";
        writeln!(
            report,
            "| endpoint | requests/s | p50 ms | p99 ms | errors (non-2xx or socket) | vs /healthz |{}",
            if versus_embedded {
                " vs embedded |"
            } else {
                ""
            }
        )
        .unwrap();
        writeln!(
            report,
            "| --- | ---: | ---: | ---: | ---: | ---: |{}",
            if versus_embedded { " ---: |" } else { "" }
        )
        .unwrap();
        for row in &rows {
            let vs_embedded = embedded_rates
                .iter()
                .find(|(name, _)| name == row.name)
                .map(|(_, rate)| format!(" {:.0}% |", 100.0 * row.requests_per_second / rate))
                .unwrap_or_default();
            writeln!(
                report,
                "| {} | {:.0} | {:.2} | {:.2} | {} | {:.0}% |{}",
                row.name,
                row.requests_per_second,
                row.p50_ms,
                row.p99_ms,
                row.errors,
                100.0 * row.requests_per_second / ceiling,
                vs_embedded
            )
            .unwrap();
        }
        if mode == "embedded" {
            embedded_rates = rows
                .iter()
                .map(|row| (row.name.to_owned(), row.requests_per_second))
                .collect();
        }
    }
    let machine = machine();
    let section = format!(
        "Measured {} at commit {} with `cargo xtask loadtest --connections {} --seconds {}` on {machine}: \
         `wrk -t{} -c{} -d{}s --latency` per endpoint after a 1 s warm-up, \
         server and load generator on the same machine, the server logging at `warn` with \
         `INSIGHTS_COMPUTE_SLOTS` set to the connections.\n{report}",
        time_now(),
        commit(root),
        plan.connections,
        plan.seconds,
        plan.threads,
        plan.connections,
        plan.seconds
    );
    let path = root.join("docs/performance.md");
    let doc = std::fs::read_to_string(&path).context("failed to read docs/performance.md")?;
    let (begin, end) = ("<!-- loadtest:begin -->", "<!-- loadtest:end -->");
    let (Some(start), Some(stop)) = (doc.find(begin), doc.find(end)) else {
        bail!("docs/performance.md lacks the {begin} and {end} markers");
    };
    let updated = format!("{}{begin}\n{section}\n{}", &doc[..start], &doc[stop..]);
    std::fs::write(&path, updated).context("failed to write docs/performance.md")?;
    eprintln!("wrote: docs/performance.md");
    Ok(())
}

/// A Lua script for wrk that asks random seed circuits for random windows of 2024-04-01.
fn circuit_script(catalogue: &Catalogue) -> String {
    let ids: Vec<String> = catalogue
        .circuits
        .iter()
        .map(|circuit| format!("\"{}\"", circuit.id))
        .collect();
    format!(
        r#"-- Generated by cargo xtask loadtest: random circuits, random windows within the shipped day.
local ids = {{ {} }}
local function at(minute)
  if minute >= 1440 then return "2024-04-02T00:00:00Z" end
  return string.format("2024-04-01T%02d:%02d:00Z", math.floor(minute / 60), minute % 60)
end
request = function()
  local id = ids[math.random(#ids)]
  local first = math.random(0, 1439)
  local last = math.random(first + 1, 1440)
  return wrk.format("GET", "/v1/insights/circuits/" .. id .. "/usage?start=" .. at(first) .. "&end=" .. at(last))
end
"#,
        ids.join(", ")
    )
}

/// Runs wrk and reads requests/s, p50 and p99 (ms), and the count of failed requests.
fn wrk(url: &str, script: Option<&Path>, plan: &Plan) -> Result<(f64, f64, f64, u64)> {
    let mut command = Command::new("wrk");
    command.args([
        format!("-t{}", plan.threads),
        format!("-c{}", plan.connections),
        format!("-d{}s", plan.seconds),
        "--latency".to_owned(),
    ]);
    if let Some(script) = script {
        command.arg("-s").arg(script);
    }
    let output = command.arg(url).output().context("failed to run wrk")?;
    let text = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!("wrk failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    let field = |prefix: &str| -> Option<&str> {
        text.lines()
            .find_map(|line| line.trim().strip_prefix(prefix))
            .map(str::trim)
    };
    let rps: f64 = field("Requests/sec:")
        .context("failed to find Requests/sec in wrk's output")?
        .parse()?;
    let p50 = duration_ms(field("50%").context("failed to find p50 in wrk's output")?)?;
    let p99 = duration_ms(field("99%").context("failed to find p99 in wrk's output")?)?;
    let non_2xx: u64 = field("Non-2xx or 3xx responses:")
        .map(str::parse)
        .transpose()?
        .unwrap_or(0);
    let socket_errors: u64 = field("Socket errors:")
        .map(|rest| {
            rest.split(',')
                .filter_map(|part| part.split_whitespace().last()?.parse::<u64>().ok())
                .sum()
        })
        .unwrap_or(0);
    Ok((rps, p50, p99, non_2xx + socket_errors))
}

fn duration_ms(text: &str) -> Result<f64> {
    let split = text
        .find(|c: char| c.is_ascii_alphabetic())
        .context("failed to read a wrk duration")?;
    let (value, unit) = text.split_at(split);
    let value: f64 = value.parse()?;
    Ok(match unit {
        "us" => value / 1000.0,
        "ms" => value,
        "s" => value * 1000.0,
        "m" => value * 60_000.0,
        other => bail!("unknown wrk duration unit {other}"),
    })
}

fn which(program: &str) -> Result<()> {
    let found = std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()));
    if found {
        Ok(())
    } else {
        bail!("{program} is not on PATH")
    }
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines().find_map(|line| {
                line.strip_prefix("model name")
                    .map(|rest| rest.trim_start_matches([' ', '\t', ':']).to_owned())
            })
        })
        .unwrap_or_else(|| "an unknown CPU".to_owned());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let memory_gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|info| {
            info.lines().find_map(|line| {
                line.strip_prefix("MemTotal:")
                    .and_then(|rest| rest.split_whitespace().next()?.parse::<f64>().ok())
            })
        })
        .map(|kib| kib / 1024.0 / 1024.0)
        .unwrap_or(0.0);
    format!("{cores} cores ({cpu}) and {memory_gib:.0} GiB of memory")
}

/// The checkout's commit, with `+changes` when the tree differs from it.
fn commit(root: &Path) -> String {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .current_dir(root)
            .output()
            .ok()
            .filter(|output| output.status.success())
            .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned())
    };
    let Some(head) = git(&["rev-parse", "--short", "HEAD"]) else {
        return "(not a git checkout)".to_owned();
    };
    match git(&["status", "--porcelain"]) {
        Some(changes) if !changes.is_empty() => format!("{head}+changes"),
        _ => head,
    }
}

fn time_now() -> String {
    Command::new("date")
        .args(["-u", "+%Y-%m-%d"])
        .output()
        .ok()
        .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned())
        .unwrap_or_default()
}
