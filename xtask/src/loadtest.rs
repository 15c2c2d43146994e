//! `cargo xtask loadtest`: the service under `wrk`, endpoint by endpoint, at its default
//! settings, compared with `/healthz` (the framework's fastest route) in the same run, written into
//! docs/performance.md. With `DATABASE_URL` it runs again on PostgreSQL metadata, with
//! `INSIGHTS_TIMESERIES_URL` again on the PostgreSQL time-series source, and with `--ceiling`
//! again on a build whose usage routes answer a constant body without their work.
//!
//! Every endpoint it sends is light, so every answer must be a 2xx: a Lua script counts each
//! answer's status, goodput counts 2xx answers only, and the command fails, naming the
//! endpoint, when any answer is anything else or a request gets none (issue 27: a load run
//! must not be able to hide refusals).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use anyhow::{bail, Context, Result};
use insights_core::Catalogue;

use crate::service::{self, Server};

/// wrk's `--timeout`, the service's default request timeout: an answer slower than this is
/// left out of wrk's percentiles, so the run counts and reports those answers instead.
const WRK_TIMEOUT_S: u32 = 10;

/// The load's shape, printed with the results so they can be reproduced.
pub struct Plan {
    /// wrk's connections; every endpoint runs once at each.
    pub connections: Vec<u32>,
    /// wrk's threads.
    pub threads: u32,
    /// Seconds per endpoint and connection count.
    pub seconds: u32,
    /// Rewrite the section of docs/performance.md when the run passes.
    pub write_doc: bool,
    /// Measure the `ceiling` build too ([`service::build_ceiling`]).
    pub ceiling: bool,
}

/// One endpoint's measurement at one connection count.
struct Row {
    name: &'static str,
    run: WrkRun,
    cpu: CpuPerAnswer,
}

pub fn run(root: &Path, plan: &Plan) -> Result<()> {
    require_wrk()?;
    let release = service::build_release(root)?;
    let ceiling_build = if plan.ceiling {
        Some(service::build_ceiling(root)?)
    } else {
        None
    };
    let scripts = service::scratch_dir(root, "loadtest")?;
    let counting_lua = write_counting_script(&scripts)?;
    let circuits_lua = write_circuits_script(&scripts)?;

    let mut modes = vec![("embedded", &release, Vec::<(&str, String)>::new())];
    if let Some(build) = &ceiling_build {
        // Right after the embedded mode, whose figures it is compared with.
        modes.push(("ceiling build", build, Vec::new()));
    }
    if let Ok(url) = std::env::var("DATABASE_URL") {
        modes.push(("postgres metadata", &release, vec![("DATABASE_URL", url)]));
    }
    if let Ok(url) = std::env::var("INSIGHTS_TIMESERIES_URL") {
        modes.push((
            "postgres time series",
            &release,
            vec![
                ("INSIGHTS_TIMESERIES", "postgres".to_owned()),
                ("INSIGHTS_TIMESERIES_URL", url),
            ],
        ));
    }
    let mut report = String::new();
    let mut failures = Vec::new();
    // Goodput of each endpoint at each connection count in embedded mode, for the other modes'
    // comparison column.
    let mut embedded_goodput: Vec<(u32, &'static str, f64)> = Vec::new();
    // The service runs with its default settings: the figures are those of the service as
    // deployed, refusals included, never of one tuned to admit the load.
    for (mode, binary, env) in modes {
        let server = Server::start(binary, &env)?;
        let base = format!("http://{}", server.addr);
        let org = "/v1/insights/organizations/955c3c4d-3a03-4d79-9655-3871f5ad999d/usage?start=2024-04-01T00:00:00Z&end=2024-04-02T00:00:00Z";
        let targets: Vec<(&'static str, String, &Path)> = vec![
            ("/healthz", format!("{base}/healthz"), &counting_lua),
            (
                "circuit usage (random circuits and windows)",
                format!("{base}/"),
                &circuits_lua,
            ),
            (
                "organization usage (a day)",
                format!("{base}{org}"),
                &counting_lua,
            ),
            (
                "organization usage, bucket=1h tz=America/New_York",
                format!("{base}{org}&bucket=1h&tz=America/New_York"),
                &counting_lua,
            ),
            (
                "brand metadata",
                format!("{base}/v1/brands/11111111-1111-1111-1111-111111111111/metadata"),
                &counting_lua,
            ),
            (
                "electric sensor",
                format!("{base}/v1/electric_sensors/785097c8-2b34-410a-a8ea-bcaf10791c45"),
                &counting_lua,
            ),
            // Again at the end: the machine drifts within a run (the same `/healthz` gave
            // 96k and 115k answers a second minutes apart), so the ratios are against the
            // mean of the two.
            ("/healthz, again", format!("{base}/healthz"), &counting_lua),
        ];
        // Each endpoint is warmed up for 1 s, then loaded at each connection count.
        let planned_s =
            targets.len() as u64 * (1 + plan.connections.len() as u64 * u64::from(plan.seconds));
        let _progress = crate::progress::Timed::start(
            &format!("loadtest, {mode} mode"),
            std::time::Duration::from_secs(planned_s),
        );
        // Warm up once, so caches and connections are in their steady state. Its answers
        // count towards the verdict too: a refused light request is refused whenever it is.
        for (name, url, script) in &targets {
            let run = Wrk::new(url, script, 1, 8, 1).run()?;
            if let Some(failure) = run.failure() {
                failures.push(format!(
                    "{mode}, warm-up at 8 connections: {name}: {failure}"
                ));
            }
        }
        for &connections in &plan.connections {
            let mut rows = Vec::new();
            for (name, url, script) in &targets {
                // wrk wants at least a connection a thread.
                let threads = plan.threads.min(connections);
                let before = CpuTimes::read(server.pid())?;
                let run = Wrk::new(url, script, threads, connections, plan.seconds.into()).run()?;
                let cpu = CpuTimes::read(server.pid())?.per_answer_since(&before, run.answers());
                eprintln!(
                    "{mode:>8} c{connections:<4} {name:<52} {:>9.0} 2xx/s  non-2xx {}  socket errors {}  p50 {:>6.2} ms  p99 {:>6.2} ms  server {:>5.1} µs/answer  wrk {:>5.1} µs/answer",
                    run.goodput(),
                    run.non_2xx(),
                    run.socket_errors,
                    run.p50_us as f64 / 1000.0,
                    run.p99_us as f64 / 1000.0,
                    cpu.server_user_us + cpu.server_kernel_us,
                    cpu.generator_us,
                );
                if let Some(failure) = run.failure() {
                    failures.push(format!(
                        "{mode}, {connections} connections: {name}: {failure}"
                    ));
                }
                rows.push(Row { name, run, cpu });
            }
            let (first, last) = (&rows[0], &rows[rows.len() - 1]);
            let healthz_goodput = (first.run.goodput() + last.run.goodput()) / 2.0;
            let healthz_cpu = (first.cpu.server_us() + last.cpu.server_us()) / 2.0;
            let versus_embedded = mode != "embedded";
            writeln!(report, "\n**{mode} mode, {connections} connections**\n").unwrap();
            writeln!(
                report,
                "| endpoint | goodput (2xx/s) | non-2xx answers | socket errors | answers over {WRK_TIMEOUT_S} s | p50 ms | p99 ms | goodput vs /healthz | server CPU µs/answer (user + kernel) | wrk CPU µs/answer | server CPU/answer, /healthz's vs this |{}",
                if versus_embedded { " goodput vs embedded |" } else { "" }
            )
            .unwrap();
            writeln!(
                report,
                "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |{}",
                if versus_embedded { " ---: |" } else { "" }
            )
            .unwrap();
            for row in &rows {
                let vs_embedded = embedded_goodput
                    .iter()
                    .find(|(at, name, _)| *at == connections && *name == row.name)
                    .map(|(_, _, goodput)| format!(" {} |", percent(row.run.goodput(), *goodput)))
                    .unwrap_or_default();
                writeln!(
                    report,
                    "| {} | {:.0} | {} | {} | {} | {:.2} | {:.2} | {} | {:.1} ({:.1} + {:.1}) | {:.1} | {} |{}",
                    row.name,
                    row.run.goodput(),
                    row.run.non_2xx(),
                    row.run.socket_errors,
                    row.run.slow,
                    row.run.p50_us as f64 / 1000.0,
                    row.run.p99_us as f64 / 1000.0,
                    percent(row.run.goodput(), healthz_goodput),
                    row.cpu.server_us(),
                    row.cpu.server_user_us,
                    row.cpu.server_kernel_us,
                    row.cpu.generator_us,
                    percent(healthz_cpu, row.cpu.server_us()),
                    vs_embedded
                )
                .unwrap();
            }
            if mode == "embedded" {
                embedded_goodput.extend(
                    rows.iter()
                        .map(|row| (connections, row.name, row.run.goodput())),
                );
            }
        }
        drop(server);
    }
    let connections: Vec<String> = plan.connections.iter().map(u32::to_string).collect();
    let section = format!(
        "Measured {} at commit {} with `{}` on {}: \
         `wrk -t{} -cN -d{}s --timeout {WRK_TIMEOUT_S}s` per endpoint for N = {}, after a \
         1 s warm-up, with a Lua script that counts every answer by status. Server and \
         load generator on the same machine; the service at its default settings, logging at \
         `warn`. Goodput counts 2xx answers only, per second; every endpoint here is light, so \
         any other answer fails the run. p50 and p99 are over all answers. `/healthz` runs \
         first and last, and the ratios to it are to the mean of the two. CPU per answer is \
         the service's (user + kernel, from `/proc/<pid>/stat`) and wrk's (from this \
         process's waited-for children) over the run, divided by all its answers; the last \
         ratio is the goodput ratio without the load generator's share of the cores.{}\n{report}",
        time_now(),
        commit(root),
        invocation(),
        machine(),
        plan.threads,
        plan.seconds,
        connections.join(" and "),
        if plan.ceiling {
            " The ceiling build (`--ceiling`) is the same service built with insights-http's \
             `ceiling` feature, whose usage routes answer a constant body of 592 bytes, copied \
             and tagged, after the same extractors and middleware but without their work: the \
             ratios of its usage rows are what a usage route could reach if its work cost \
             nothing."
        } else {
            ""
        },
    );
    println!("{section}");
    if !failures.is_empty() {
        eprintln!("docs/performance.md left as it is: light requests were refused");
        bail!(
            "light requests answered other than 2xx:\n  {}",
            failures.join("\n  ")
        );
    }
    if plan.write_doc {
        let path = root.join("docs/performance.md");
        let doc = std::fs::read_to_string(&path).context("failed to read docs/performance.md")?;
        let (begin, end) = ("<!-- loadtest:begin -->", "<!-- loadtest:end -->");
        let (Some(start), Some(stop)) = (doc.find(begin), doc.find(end)) else {
            bail!("docs/performance.md lacks the {begin} and {end} markers");
        };
        let updated = format!("{}{begin}\n{section}\n{}", &doc[..start], &doc[stop..]);
        std::fs::write(&path, updated).context("failed to write docs/performance.md")?;
        eprintln!("wrote: docs/performance.md");
    }
    Ok(())
}

/// The clock ticks `/proc/<pid>/stat` counts CPU time in: `USER_HZ`, which Linux fixes at 100
/// for every architecture it reports to user space on.
const USER_HZ: f64 = 100.0;

/// CPU time from `/proc`, in clock ticks: the service's own, and that of this process's
/// waited-for children, which is where wrk's lands once [`finish`] has waited for it.
#[derive(Clone, Copy, Debug, PartialEq)]
struct CpuTimes {
    server_user: u64,
    server_kernel: u64,
    children: u64,
}

/// A run's CPU time per answer, in µs.
#[derive(Clone, Copy, Debug, PartialEq)]
struct CpuPerAnswer {
    server_user_us: f64,
    server_kernel_us: f64,
    generator_us: f64,
}

impl CpuPerAnswer {
    fn server_us(&self) -> f64 {
        self.server_user_us + self.server_kernel_us
    }
}

impl CpuTimes {
    fn read(server: u32) -> Result<CpuTimes> {
        let stat = |path: String| {
            std::fs::read_to_string(&path).with_context(|| format!("failed to read {path}"))
        };
        let server_stat = stat(format!("/proc/{server}/stat"))?;
        let own_stat = stat("/proc/self/stat".to_owned())?;
        let (Some([server_user, server_kernel, _, _]), Some([_, _, user, kernel])) =
            (stat_times(&server_stat), stat_times(&own_stat))
        else {
            bail!("failed to read the CPU times in /proc/{server}/stat and /proc/self/stat");
        };
        Ok(CpuTimes {
            server_user,
            server_kernel,
            children: user + kernel,
        })
    }

    /// The CPU time from `earlier` to these times, per answer of the `answers` given.
    fn per_answer_since(&self, earlier: &CpuTimes, answers: u64) -> CpuPerAnswer {
        let per_answer = |now: u64, then: u64| {
            now.saturating_sub(then) as f64 * 1e6 / USER_HZ / answers.max(1) as f64
        };
        CpuPerAnswer {
            server_user_us: per_answer(self.server_user, earlier.server_user),
            server_kernel_us: per_answer(self.server_kernel, earlier.server_kernel),
            generator_us: per_answer(self.children, earlier.children),
        }
    }
}

/// `utime`, `stime`, `cutime` and `cstime` (fields 14 to 17) of a `/proc/<pid>/stat` line.
/// The fields are counted from the last `)`, since the command name before it, in
/// parentheses, may hold spaces and parentheses of its own.
fn stat_times(stat: &str) -> Option<[u64; 4]> {
    let (_, after_name) = stat.rsplit_once(')')?;
    // The first field after the name is field 3, the state.
    let mut fields = after_name.split_whitespace().skip(14 - 3);
    let mut next = || fields.next()?.parse().ok();
    Some([next()?, next()?, next()?, next()?])
}

/// `part` as a whole percentage of `whole`, or a dash when there is nothing to compare with.
fn percent(part: f64, whole: f64) -> String {
    if whole > 0.0 {
        format!("{:.0}%", 100.0 * part / whole)
    } else {
        "–".to_owned()
    }
}

/// Fails, saying how to install it, when wrk is not on `PATH`.
pub(crate) fn require_wrk() -> Result<()> {
    which("wrk").context("failed to find wrk; install it with `apt-get install wrk`")
}

/// Writes [`counting_script`] with the URL's own request into `dir`; returns its path.
pub(crate) fn write_counting_script(dir: &Path) -> Result<std::path::PathBuf> {
    write_script(&dir.join("count.lua"), &counting_script(""))
}

/// Writes [`counting_script`] asking random seed circuits for random windows of the shipped
/// day ([`circuit_request`]) into `dir`; returns its path. Its URL is the service's root.
pub(crate) fn write_circuits_script(dir: &Path) -> Result<std::path::PathBuf> {
    write_script(
        &dir.join("circuits.lua"),
        &counting_script(&circuit_request(&Catalogue::seed())),
    )
}

fn write_script(path: &Path, script: &str) -> Result<std::path::PathBuf> {
    std::fs::write(path, script)
        .with_context(|| format!("failed to write the Lua script {}", path.display()))?;
    Ok(path.to_owned())
}

/// The body of a wrk `request` function that asks random seed circuits for random windows
/// within the shipped day. The requests are written once, in `init`, and sent in turn: the
/// load generator shares the machine with the service, so what it spends formatting a
/// request as it is sent counts against the endpoint measured.
fn circuit_request(catalogue: &Catalogue) -> String {
    let ids: Vec<String> = catalogue
        .circuits
        .iter()
        .map(|circuit| format!("\"{}\"", circuit.id))
        .collect();
    format!(
        r#"-- Random circuits, random windows within the shipped day.
local ids = {{ {} }}
local function at(minute)
  if minute >= 1440 then return "2024-04-02T00:00:00Z" end
  return string.format("2024-04-01T%02d:%02d:00Z", math.floor(minute / 60), minute % 60)
end
local requests = {{}}
local next_request = 0
init = function(args)
  for i = 1, 4096 do
    local id = ids[math.random(#ids)]
    local first = math.random(0, 1439)
    local last = math.random(first + 1, 1440)
    requests[i] = wrk.format("GET", "/v1/insights/circuits/" .. id .. "/usage?start=" .. at(first) .. "&end=" .. at(last))
  end
end
request = function()
  next_request = next_request % #requests + 1
  return requests[next_request]
end
"#,
        ids.join(", ")
    )
}

/// A Lua script for wrk: `request` (empty: the URL's own request), then a `response` hook
/// that counts every answer by status in each thread and a `done` hook that prints one line
/// for [`parse_summary`]. wrk's own "Non-2xx or 3xx responses" counts only statuses above
/// 399, so it cannot give the 2xx count exactly.
fn counting_script(request: &str) -> String {
    format!(
        r#"-- Generated by cargo xtask (loadtest, stress).
{request}
local threads = {{}}
function setup(thread)
  table.insert(threads, thread)
end
xtask_statuses = {{}}
function response(status, headers, body)
  xtask_statuses[status] = (xtask_statuses[status] or 0) + 1
end
function done(summary, latency, requests)
  local total = {{}}
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("xtask_statuses")) do
      total[status] = (total[status] or 0) + n
    end
  end
  local parts = {{}}
  for status, n in pairs(total) do
    parts[#parts + 1] = string.format("%d:%d", status, n)
  end
  local e = summary.errors
  io.write(string.format(
    "xtask-wrk duration_us=%d requests=%d connect=%d read=%d write=%d timeout=%d p50_us=%d p99_us=%d max_us=%d statuses=%s\n",
    summary.duration, summary.requests, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max, table.concat(parts, ",")))
end
"#
    )
}

/// What one wrk run measured, from the counting script's summary line. wrk's latencies are
/// of all its answers, whatever their status, except those slower than its timeout.
#[derive(Debug, PartialEq)]
pub(crate) struct WrkRun {
    pub(crate) duration_us: u64,
    /// Answers by status; they add up to all the answers wrk read.
    pub(crate) statuses: BTreeMap<u16, u64>,
    /// Connect, read and write errors: requests that got no answer.
    pub(crate) socket_errors: u64,
    /// Answers slower than wrk's timeout, which its percentiles leave out.
    pub(crate) slow: u64,
    pub(crate) p50_us: u64,
    pub(crate) p99_us: u64,
    pub(crate) max_us: u64,
}

impl WrkRun {
    pub(crate) fn answers(&self) -> u64 {
        self.statuses.values().sum()
    }

    pub(crate) fn ok(&self) -> u64 {
        self.statuses.range(200..300).map(|(_, n)| n).sum()
    }

    pub(crate) fn non_2xx(&self) -> u64 {
        self.answers() - self.ok()
    }

    /// 2xx answers per second.
    pub(crate) fn goodput(&self) -> f64 {
        if self.duration_us == 0 {
            return 0.0;
        }
        self.ok() as f64 * 1e6 / self.duration_us as f64
    }

    /// Why the run fails a light endpoint: an answer other than 2xx, or a request without
    /// one.
    pub(crate) fn failure(&self) -> Option<String> {
        if self.non_2xx() == 0 && self.socket_errors == 0 {
            return None;
        }
        let refused: Vec<String> = self
            .statuses
            .iter()
            .filter(|(status, _)| !(200..300).contains(*status))
            .map(|(status, n)| format!("{n} × {status}"))
            .collect();
        Some(format!(
            "{} of {} answers not 2xx ({}), {} socket errors",
            self.non_2xx(),
            self.answers(),
            if refused.is_empty() {
                "none".to_owned()
            } else {
                refused.join(", ")
            },
            self.socket_errors
        ))
    }
}

/// Reads the counting script's line from wrk's output.
fn parse_summary(output: &str) -> Result<WrkRun, String> {
    let line = output
        .lines()
        .find_map(|line| line.strip_prefix("xtask-wrk "))
        .ok_or("no xtask-wrk line in wrk's output")?;
    let mut fields = BTreeMap::new();
    for field in line.split_whitespace() {
        let (key, value) = field
            .split_once('=')
            .ok_or_else(|| format!("{field:?} is not key=value"))?;
        fields.insert(key, value);
    }
    let number = |key: &str| -> Result<u64, String> {
        let value = fields.get(key).ok_or_else(|| format!("no {key}"))?;
        value
            .parse()
            .map_err(|_| format!("{key}={value} is not a whole number"))
    };
    let mut statuses = BTreeMap::new();
    for part in fields
        .get("statuses")
        .ok_or("no statuses")?
        .split(',')
        .filter(|part| !part.is_empty())
    {
        let parsed = part
            .split_once(':')
            .and_then(|(status, n)| Some((status.parse().ok()?, n.parse().ok()?)));
        let (status, n): (u16, u64) =
            parsed.ok_or_else(|| format!("{part:?} is not status:count"))?;
        *statuses.entry(status).or_default() += n;
    }
    let run = WrkRun {
        duration_us: number("duration_us")?,
        statuses,
        socket_errors: number("connect")? + number("read")? + number("write")?,
        slow: number("timeout")?,
        p50_us: number("p50_us")?,
        p99_us: number("p99_us")?,
        max_us: number("max_us")?,
    };
    let requests = number("requests")?;
    if run.answers() != requests {
        return Err(format!(
            "wrk read {requests} answers but the script counted {}",
            run.answers()
        ));
    }
    Ok(run)
}

/// One wrk run with a counting script.
pub(crate) struct Wrk<'a> {
    url: &'a str,
    script: &'a Path,
    threads: u32,
    connections: u32,
    seconds: u64,
    /// `--timeout`, in whole seconds (wrk takes no finer unit).
    timeout_s: u64,
    /// `--latency`: wrk prints its latency distribution too.
    latency: bool,
    /// `-H`: a header sent with every request, as `Name: value`.
    header: Option<String>,
}

impl<'a> Wrk<'a> {
    /// `threads` threads on `connections` connections for `seconds`, with a timeout of
    /// [`WRK_TIMEOUT_S`].
    pub(crate) fn new(
        url: &'a str,
        script: &'a Path,
        threads: u32,
        connections: u32,
        seconds: u64,
    ) -> Wrk<'a> {
        Wrk {
            url,
            script,
            threads,
            connections,
            seconds,
            timeout_s: WRK_TIMEOUT_S.into(),
            latency: false,
            header: None,
        }
    }

    /// wrk's timeout, in whole seconds.
    pub(crate) fn timeout(mut self, timeout_s: u64) -> Wrk<'a> {
        self.timeout_s = timeout_s;
        self
    }

    /// Has wrk print its latency distribution (`--latency`).
    pub(crate) fn latency(mut self) -> Wrk<'a> {
        self.latency = true;
        self
    }

    /// Sends `header` (`Name: value`) with every request.
    pub(crate) fn header(mut self, header: String) -> Wrk<'a> {
        self.header = Some(header);
        self
    }

    /// Starts wrk; [`finish`] waits for it and reads its summary.
    pub(crate) fn start(&self) -> Result<Child> {
        let mut command = Command::new("wrk");
        command.args([
            format!("-t{}", self.threads),
            format!("-c{}", self.connections),
            format!("-d{}s", self.seconds),
            format!("--timeout={}s", self.timeout_s),
        ]);
        if self.latency {
            command.arg("--latency");
        }
        if let Some(header) = &self.header {
            command.arg("-H").arg(header);
        }
        command
            .arg("-s")
            .arg(self.script)
            .arg(self.url)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("failed to run wrk")
    }

    /// Runs wrk to its end and reads its summary.
    pub(crate) fn run(&self) -> Result<WrkRun> {
        finish(self.start()?)
    }
}

/// Waits for a wrk started by [`Wrk::start`] and reads its summary.
pub(crate) fn finish(wrk: Child) -> Result<WrkRun> {
    let output = wrk.wait_with_output().context("failed to wait for wrk")?;
    let text = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!("wrk failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    parse_summary(&text)
        .map_err(|error| anyhow::anyhow!("failed to read wrk's output: {error}\n{text}"))
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

pub(crate) fn machine() -> String {
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
pub(crate) fn commit(root: &Path) -> String {
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

pub(crate) fn time_now() -> String {
    Command::new("date")
        .args(["-u", "+%Y-%m-%d"])
        .output()
        .ok()
        .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned())
        .unwrap_or_default()
}

/// The command as typed, for the tables' captions.
pub(crate) fn invocation() -> String {
    let args: Vec<String> = std::env::args().skip(1).collect();
    format!("cargo xtask {}", args.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_times_are_fields_14_to_17_counted_after_the_name() {
        fn check(stat: &str, expected: Option<[u64; 4]>) {
            assert_eq!(stat_times(stat), expected, "{stat}");
        }
        let tail = "S 1 2 3 4 5 6 7 8 9 10 111 222 333 444 20 0 7 0";
        check(
            &format!("42 (insights-http) {tail}"),
            Some([111, 222, 333, 444]),
        );
        // A name with spaces and parentheses of its own shifts no field.
        check(&format!("42 (a) b (c)) {tail}"), Some([111, 222, 333, 444]));
        check("42 (insights-http) S 1 2 3", None);
        check(
            "42 insights-http S 1 2 3 4 5 6 7 8 9 10 111 222 333 444",
            None,
        );
        check("42 (x) S 1 2 3 4 5 6 7 8 9 10 111 -2 333 444", None);
    }

    #[test]
    fn cpu_per_answer_is_the_ticks_between_readings_over_the_answers() {
        let earlier = CpuTimes {
            server_user: 100,
            server_kernel: 200,
            children: 50,
        };
        let later = CpuTimes {
            server_user: 150,
            server_kernel: 300,
            children: 80,
        };
        // 50 ticks of 10 ms over 1,000 answers: 500 µs each.
        assert_eq!(
            later.per_answer_since(&earlier, 1_000),
            CpuPerAnswer {
                server_user_us: 500.0,
                server_kernel_us: 1_000.0,
                generator_us: 300.0,
            }
        );
        // No answers: the time of the run, not a division by zero.
        assert_eq!(later.per_answer_since(&earlier, 0).server_us(), 1_500_000.0);
    }

    fn check(output: &str, expected: Result<WrkRun, &str>) {
        assert_eq!(
            parse_summary(output),
            expected.map_err(str::to_owned),
            "{output}"
        );
    }

    fn run(statuses: &[(u16, u64)], socket_errors: u64) -> WrkRun {
        WrkRun {
            duration_us: 2_000_000,
            statuses: statuses.iter().copied().collect(),
            socket_errors,
            slow: 1,
            p50_us: 650,
            p99_us: 3990,
            max_us: 12000,
        }
    }

    #[test]
    fn reads_the_counting_scripts_line() {
        let wrk = "Running 2s test @ http://127.0.0.1:1/healthz\n  Non-2xx or 3xx responses: 7\nRequests/sec:  5.00\n";
        let line = |rest: &str| {
            format!("{wrk}xtask-wrk duration_us=2000000 connect=1 read=2 write=3 timeout=1 p50_us=650 p99_us=3990 max_us=12000 {rest}\n")
        };
        check(
            &line("requests=10 statuses=200:3,503:7"),
            Ok(run(&[(200, 3), (503, 7)], 6)),
        );
        check(&line("requests=0 statuses="), Ok(run(&[], 6)));
        check(
            &line("requests=11 statuses=200:3,503:7"),
            Err("wrk read 11 answers but the script counted 10"),
        );
        check(
            &line("requests=3 statuses=200:3,503"),
            Err("\"503\" is not status:count"),
        );
        check(&line("requests=3"), Err("no statuses"));
        check(
            &line("requests=3 statuses=200:3 stray"),
            Err("\"stray\" is not key=value"),
        );
        check(
            &line("requests=-1 statuses=200:3"),
            Err("requests=-1 is not a whole number"),
        );
        check(wrk, Err("no xtask-wrk line in wrk's output"));
    }

    #[test]
    fn goodput_counts_2xx_only_and_any_other_answer_fails() {
        fn check(run: WrkRun, goodput: f64, failure: Option<&str>) {
            assert_eq!(run.goodput(), goodput, "{run:?}");
            assert_eq!(run.failure().as_deref(), failure, "{run:?}");
        }
        check(run(&[(200, 3000), (204, 1000)], 0), 2000.0, None);
        check(
            run(&[(200, 3000), (503, 7), (429, 1)], 0),
            1500.0,
            Some("8 of 3008 answers not 2xx (1 × 429, 7 × 503), 0 socket errors"),
        );
        check(
            run(&[(200, 10), (304, 2)], 0),
            5.0,
            Some("2 of 12 answers not 2xx (2 × 304), 0 socket errors"),
        );
        check(
            run(&[(200, 10)], 2),
            5.0,
            Some("0 of 10 answers not 2xx (none), 2 socket errors"),
        );
        check(run(&[], 0), 0.0, None);
    }
}
