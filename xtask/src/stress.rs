//! `cargo xtask stress`: the worst case under load, in one of three shapes (`--mode`):
//!
//! - `mixed`, the default: connections send the heaviest request the API admits back to
//!   back while wrk sends light circuit-usage requests on others and one client polls
//!   `/healthz`.
//! - `heavy`: only the heaviest request and the `/healthz` poll, the shape of issue 11.
//! - `two-callers`: API keys on. Caller A floods the heaviest request; caller B sends light
//!   requests (with wrk) and a few heavy ones, and the run reports B's share of the heavy
//!   goodput.
//!
//! The heavy requests and the `/healthz` poll come from threads of this crate's client, which
//! mostly wait. The light traffic comes from wrk, with the Lua scripts of `cargo xtask
//! loadtest`: client threads of an unoptimised xtask would spend the cores the service needs,
//! and measure themselves rather than the service.
//!
//! Every mode reports each kind of traffic's answers by status, goodput (2xx answers a
//! second), latency, and the service's peak memory above its idle level, as a Markdown table
//! for `docs/performance.md`. The service runs with its default settings. A light request
//! (`/healthz` included) answered other than 2xx, or not at all, fails the run: a refused
//! light request is the failure issue 27 is about, and no figure may hide it. A heavy request
//! may be refused, with a 503 and `Retry-After`; any other answer fails the run too. No
//! timing is a verdict.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::client::Connection;
use crate::loadtest::{commit, invocation, machine, Wrk, WrkRun};
use crate::service::{self, Server};

/// The heaviest request the API admits on the shipped data: the whole brand, 366 days, day
/// buckets, 5-minute demand intervals and the top 100 circuits.
pub const HEAVIEST: &str = "/v1/insights/brands/11111111-1111-1111-1111-111111111111/usage?start=2024-01-01T00:00:00Z&end=2025-01-01T00:00:00Z&bucket=1d&demand_interval=5m&top=100";

/// The seed's brand; a key scoped to it reads everything in the seed.
const BRAND: &str = "11111111-1111-1111-1111-111111111111";

/// wrk's threads for the light traffic (fewer if it has fewer connections).
const WRK_THREADS: u32 = 2;
/// Light connections in `mixed` mode unless `--light-connections` says otherwise.
const LIGHT_CONNECTIONS: usize = 64;
/// Caller B's light connections in `two-callers` mode unless `--light-connections` says
/// otherwise: a modest caller beside a flood.
const B_LIGHT_CONNECTIONS: usize = 8;
/// Caller B's heavy connections in `two-callers` mode.
const B_HEAVY_CONNECTIONS: usize = 4;

/// How long the `/healthz` poller waits between checks.
const HEALTH_INTERVAL: Duration = Duration::from_millis(10);
/// How long a client waits after a 503 or a failed request before the next: as a client
/// honouring `Retry-After` would, though sooner, and so a refused loop does not spin.
const REFUSAL_PAUSE: Duration = Duration::from_millis(50);
/// How much longer than the service's request timeout a client waits for an answer: past
/// that the service has broken its deadline, and the request counts as unanswered.
const CLIENT_MARGIN: Duration = Duration::from_secs(5);

/// The shape of the load.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// Heavy and light requests together, and the `/healthz` poll.
    Mixed,
    /// Only the heaviest request, and the `/healthz` poll.
    Heavy,
    /// API keys on: caller A floods the heaviest request; caller B sends light requests and
    /// a few heavy ones.
    TwoCallers,
}

/// How a run is shaped.
pub struct Plan {
    pub mode: Mode,
    /// Connections sending the heaviest request back to back (caller A's in `two-callers`).
    pub connections: usize,
    /// wrk's connections sending light requests (caller B's in `two-callers`); `None` for
    /// the mode's default.
    pub light_connections: Option<usize>,
    /// How long the load lasts.
    pub seconds: u64,
    /// The service's `INSIGHTS_REQUEST_TIMEOUT_MS`; `None` keeps the service's default.
    pub timeout_ms: Option<u64>,
}

/// What a stream of requests asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// Circuit usage of a random seed circuit over a random window within 2024-04-01, from
    /// wrk.
    Light,
    /// [`HEAVIEST`].
    Heavy,
    /// `/healthz`, every [`HEALTH_INTERVAL`], on one connection.
    Health,
}

/// One kind of traffic from one caller, on its own connections.
struct Stream {
    /// Who sends it, in the report: "" when keys are off.
    caller: &'static str,
    kind: Kind,
    connections: usize,
    /// The caller's API key.
    key: Option<String>,
}

impl Stream {
    fn label(&self) -> String {
        let what = match self.kind {
            Kind::Light => "light (wrk): circuit usage, random windows of 2024-04-01",
            Kind::Heavy => "heavy: the heaviest request",
            Kind::Health => "`/healthz` every 10 ms",
        };
        if self.caller.is_empty() {
            what.to_owned()
        } else {
            format!("caller {}, {what}", self.caller)
        }
    }

    /// Whether every answer must be a 2xx.
    fn is_light(&self) -> bool {
        self.kind != Kind::Heavy
    }
}

/// What one stream measured.
#[derive(Debug, PartialEq)]
enum Figures {
    /// From this crate's client threads, request by request.
    Client(Tally),
    /// From wrk's counting script.
    Wrk(WrkRun),
}

impl Figures {
    fn ok(&self) -> u64 {
        match self {
            Figures::Client(tally) => tally.ok(),
            Figures::Wrk(run) => run.ok(),
        }
    }
}

/// One request's outcome.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Sample {
    /// `None`: no answer (the connection failed, or the client gave up).
    status: Option<u16>,
    retry_after: bool,
    latency: Duration,
    /// When the answer came, from the start of the load.
    done: Duration,
}

pub fn run(root: &Path, plan: &Plan) -> Result<()> {
    if plan.mode == Mode::Heavy && plan.light_connections.is_some() {
        bail!("--light-connections has no light traffic to shape in --mode heavy");
    }
    if plan.mode != Mode::Heavy {
        crate::loadtest::require_wrk()?;
    }
    let release = service::build_release(root)?;
    let scratch = service::scratch_dir(root, "stress")?;
    let circuits_lua = crate::loadtest::write_circuits_script(&scratch)?;
    let mut env = Vec::new();
    if let Some(timeout_ms) = plan.timeout_ms {
        env.push(("INSIGHTS_REQUEST_TIMEOUT_MS", timeout_ms.to_string()));
    }
    let keys = if plan.mode == Mode::TwoCallers {
        let keys = [crate::apikey::new_key()?, crate::apikey::new_key()?];
        let scope = insights_http::auth::KeyScope::Brand(
            BRAND.parse::<uuid::Uuid>().expect("a literal UUID").into(),
        );
        let file = scratch.join("keys");
        let lines = format!(
            "{}\n{}\n",
            insights_http::auth::key_line(&scope, &keys[0], "stress-a"),
            insights_http::auth::key_line(&scope, &keys[1], "stress-b")
        );
        std::fs::write(&file, lines)
            .with_context(|| format!("failed to write {}", file.display()))?;
        env.push(("INSIGHTS_API_KEYS_FILE", file.display().to_string()));
        Some(keys)
    } else {
        None
    };
    let streams = streams(plan, keys.as_ref());
    let timeout = plan.timeout_ms.map_or_else(
        || insights_http::settings::Limits::default().request_timeout,
        Duration::from_millis,
    );
    let limit = timeout + CLIENT_MARGIN;

    let server = Server::start(&release, &env)?;
    let idle_kib = service::memory_kib(server.pid(), "VmRSS:")?;
    let (single_status, single) = {
        let mut connection = Connection::bounded(&server.addr, limit);
        if let Some(key) = streams[0].key.as_deref() {
            connection = connection.with_key(key);
        }
        let started = Instant::now();
        let status = connection
            .get(HEAVIEST)
            .context("the heaviest request alone got no answer")?
            .0;
        // A 503 alone means the timeout is shorter than the request: a deadline run.
        if status != 200 && status != 503 {
            bail!("the heaviest request alone answered {status}");
        }
        (status, started.elapsed())
    };
    let single_peak_kib = service::memory_kib(server.pid(), "VmHWM:")?;

    let root_url = format!("http://{}/", server.addr);
    // wrk's timeout is in whole seconds: the client threads' limit, rounded up.
    let wrk_timeout_s = limit.as_secs() + u64::from(limit.subsec_nanos() > 0);
    let wrks: Vec<Option<Wrk>> = streams
        .iter()
        .map(|stream| {
            (stream.kind == Kind::Light).then(|| {
                let connections = u32::try_from(stream.connections).unwrap_or(u32::MAX);
                let wrk = Wrk::new(
                    &root_url,
                    &circuits_lua,
                    WRK_THREADS.min(connections),
                    connections,
                    plan.seconds,
                )
                .timeout(wrk_timeout_s)
                .latency();
                match &stream.key {
                    Some(key) => wrk.header(format!("Authorization: Bearer {key}")),
                    None => wrk,
                }
            })
        })
        .collect();
    let window = Duration::from_secs(plan.seconds);
    eprintln!(
        "stress: {} connections for {} s",
        streams
            .iter()
            .map(|stream| stream.connections)
            .sum::<usize>(),
        plan.seconds
    );
    // Every stream starts at once: wrk on a thread that waits for it, the others on a
    // thread a connection.
    enum Running<W, C> {
        Wrk(W),
        Clients(Vec<C>),
    }
    let start = Instant::now();
    let progress = crate::progress::Timed::start("stress", window);
    let figures: Vec<Result<Figures>> = std::thread::scope(|scope| {
        let handles: Vec<_> = streams
            .iter()
            .zip(&wrks)
            .map(|(stream, wrk)| match wrk {
                Some(wrk) => Running::Wrk(scope.spawn(move || wrk.run())),
                None => Running::Clients(
                    (0..stream.connections)
                        .map(|_| {
                            let load = Load {
                                addr: &server.addr,
                                stream,
                                start,
                                deadline: start + window,
                                limit,
                            };
                            scope.spawn(move || load.drive())
                        })
                        .collect(),
                ),
            })
            .collect();
        handles
            .into_iter()
            .map(|handles| match handles {
                Running::Wrk(wrk) => wrk
                    .join()
                    .expect("the thread waiting for wrk panicked")
                    .map(Figures::Wrk),
                Running::Clients(threads) => {
                    let samples: Vec<Sample> = threads
                        .into_iter()
                        .flat_map(|handle| handle.join().expect("a load thread panicked"))
                        .collect();
                    Ok(Figures::Client(tally(&samples, window)))
                }
            })
            .collect()
    });
    drop(progress);
    let drained = start.elapsed().saturating_sub(window);
    let peak_kib = service::memory_kib(server.pid(), "VmHWM:")?;
    drop(server);
    let figures = figures.into_iter().collect::<Result<Vec<Figures>>>()?;
    let mib = |kib: u64| kib as f64 / 1024.0;
    let ms = |duration: Duration| duration.as_secs_f64() * 1000.0;
    let mut report = String::new();
    let light = if wrks.iter().any(Option::is_some) {
        format!(
            " The light traffic is wrk's (`wrk -t{WRK_THREADS} -cN -d{}s --timeout {}s \
             --latency`, N its connections, fewer threads if N is 1), with a Lua script that \
             counts every answer by status and asks random seed circuits for random windows; \
             wrk drops its requests in flight at the end, and its goodput is over its own run.",
            plan.seconds, wrk_timeout_s,
        )
    } else {
        String::new()
    };
    writeln!(
        report,
        "`{}` at commit {} on {}; the service at its default settings{}, release build, \
         shipped data, client and service on the same machine. {} s of load; the client \
         threads' requests in flight at its end were waited for ({:.1} s) and their answers \
         count. Goodput is 2xx answers a second, from the start to the traffic's last \
         answer.{light}\n",
        invocation(),
        commit(root),
        machine(),
        plan.timeout_ms
            .map(|ms| format!(" but `INSIGHTS_REQUEST_TIMEOUT_MS={ms}`"))
            .unwrap_or_default(),
        plan.seconds,
        drained.as_secs_f64(),
    )
    .unwrap();
    writeln!(
        report,
        "The heaviest request, `{HEAVIEST}`, alone: {single_status} in {:.0} ms, peak RSS \
         {:.1} MiB above idle ({:.1} MiB).\n",
        ms(single),
        mib(single_peak_kib.saturating_sub(idle_kib)),
        mib(idle_kib)
    )
    .unwrap();
    report.push_str(&table(&streams, &figures));
    writeln!(
        report,
        "\nPeak RSS over the whole run: {:.1} MiB above idle.",
        mib(peak_kib.saturating_sub(idle_kib))
    )
    .unwrap();
    if plan.mode == Mode::TwoCallers {
        // By counts: the two heavy streams ran side by side, and their spans differ only by
        // when each one's last answer came.
        let heavy = |caller: &str| -> u64 {
            streams
                .iter()
                .zip(&figures)
                .filter(|(stream, _)| stream.kind == Kind::Heavy && stream.caller == caller)
                .map(|(_, figures)| figures.ok())
                .sum()
        };
        let (a, b) = (heavy("A"), heavy("B"));
        writeln!(
            report,
            "Caller B's share of the heavy goodput: {} ({b} of {} heavy 2xx answers; B has {} \
             of the {} heavy connections).",
            share(b as f64, (a + b) as f64),
            a + b,
            B_HEAVY_CONNECTIONS,
            B_HEAVY_CONNECTIONS + plan.connections,
        )
        .unwrap();
        if let Some(caveat) = share_caveat(a + b) {
            writeln!(report, "{caveat}").unwrap();
        }
    }
    println!("{report}");
    let failures = verdicts(&streams, &figures);
    if !failures.is_empty() {
        bail!("{}", failures.join("\n"));
    }
    Ok(())
}

/// Heavy answers below which a two-caller run cannot judge a share: each heavy request runs
/// for seconds among the others, so a 15 s run answers about twenty, and one answer more or
/// less moves B's share by five points (31 % to 39 % in three such runs, 50 % and 52 % over
/// 60 s, `docs/performance.md`).
const HEAVY_ANSWERS_FOR_A_SHARE: u64 = 40;

/// What to say beside a share taken from `heavy_answers` heavy 2xx answers, when they are
/// too few to judge it by.
fn share_caveat(heavy_answers: u64) -> Option<String> {
    (heavy_answers < HEAVY_ANSWERS_FOR_A_SHARE).then(|| {
        format!(
            "Too few heavy answers to judge the share by ({heavy_answers}, under \
             {HEAVY_ANSWERS_FOR_A_SHARE}): run longer, for example with --seconds 60."
        )
    })
}

/// The streams of a run: the first is the one the heaviest request alone is sent as.
fn streams(plan: &Plan, keys: Option<&[String; 2]>) -> Vec<Stream> {
    let stream = |caller, kind, connections, key: Option<&String>| Stream {
        caller,
        kind,
        connections,
        key: key.cloned(),
    };
    let health = stream("", Kind::Health, 1, None);
    match (plan.mode, keys) {
        (Mode::TwoCallers, Some([a, b])) => vec![
            stream("A", Kind::Heavy, plan.connections, Some(a)),
            stream(
                "B",
                Kind::Light,
                plan.light_connections.unwrap_or(B_LIGHT_CONNECTIONS),
                Some(b),
            ),
            stream("B", Kind::Heavy, B_HEAVY_CONNECTIONS, Some(b)),
            health,
        ],
        (Mode::Heavy, _) => vec![stream("", Kind::Heavy, plan.connections, None), health],
        _ => vec![
            stream("", Kind::Heavy, plan.connections, None),
            stream(
                "",
                Kind::Light,
                plan.light_connections.unwrap_or(LIGHT_CONNECTIONS),
                None,
            ),
            health,
        ],
    }
}

/// What one load thread needs.
#[derive(Clone, Copy)]
struct Load<'a> {
    addr: &'a str,
    stream: &'a Stream,
    start: Instant,
    deadline: Instant,
    /// The longest a request may take before it counts as unanswered.
    limit: Duration,
}

impl Load<'_> {
    /// Sends the stream's requests on one connection until the deadline; the request in
    /// flight then is waited for, at most `limit`, so the loop always ends.
    fn drive(self) -> Vec<Sample> {
        let mut connection = Connection::bounded(self.addr, self.limit);
        if let Some(key) = &self.stream.key {
            connection = connection.with_key(key);
        }
        let path = match self.stream.kind {
            Kind::Heavy => HEAVIEST,
            Kind::Health => "/healthz",
            Kind::Light => unreachable!("wrk sends the light traffic"),
        };
        let mut samples = Vec::new();
        while Instant::now() < self.deadline {
            let started = Instant::now();
            let answer = connection.get(path).ok();
            let now = Instant::now();
            samples.push(Sample {
                status: answer.map(|(status, _)| status),
                retry_after: answer.is_some_and(|(_, retry_after)| retry_after),
                latency: now - started,
                done: now - self.start,
            });
            let pause = match answer {
                Some((status, _)) if status != 503 => match self.stream.kind {
                    Kind::Health => HEALTH_INTERVAL,
                    Kind::Light | Kind::Heavy => Duration::ZERO,
                },
                _ => REFUSAL_PAUSE,
            };
            std::thread::sleep(pause.min(self.deadline.saturating_duration_since(Instant::now())));
        }
        samples
    }
}

/// The figures of one stream of client threads.
#[derive(Debug, PartialEq)]
struct Tally {
    /// Answers by status, all of them, those after the window included.
    statuses: BTreeMap<u16, u64>,
    unanswered: u64,
    /// 503s without `Retry-After`.
    bare_refusals: u64,
    /// From the start of the load to the stream's last answer, or the load's length if
    /// longer: the requests in flight at the end are waited for, and their answers count.
    span: Duration,
    /// p50, p99 and max of the 2xx answers.
    ok_latency: [Duration; 3],
    /// The slowest answer other than 2xx.
    slowest_other: Duration,
}

fn tally(samples: &[Sample], window: Duration) -> Tally {
    let mut statuses = BTreeMap::new();
    let mut ok = Vec::new();
    let mut tally = Tally {
        statuses: BTreeMap::new(),
        unanswered: 0,
        bare_refusals: 0,
        span: window,
        ok_latency: [Duration::ZERO; 3],
        slowest_other: Duration::ZERO,
    };
    for sample in samples {
        tally.span = tally.span.max(sample.done);
        let Some(status) = sample.status else {
            tally.unanswered += 1;
            continue;
        };
        *statuses.entry(status).or_insert(0) += 1;
        if (200..300).contains(&status) {
            ok.push(sample.latency);
        } else {
            tally.slowest_other = tally.slowest_other.max(sample.latency);
            tally.bare_refusals += u64::from(status == 503 && !sample.retry_after);
        }
    }
    ok.sort();
    tally.statuses = statuses;
    tally.ok_latency = [
        percentile(&ok, 0.50),
        percentile(&ok, 0.99),
        ok.last().copied().unwrap_or_default(),
    ];
    tally
}

impl Tally {
    fn answers(&self) -> u64 {
        self.statuses.values().sum()
    }

    fn ok(&self) -> u64 {
        self.statuses.range(200..300).map(|(_, n)| n).sum()
    }

    /// Requests answered other than 2xx, or not at all.
    fn not_ok(&self) -> u64 {
        self.answers() - self.ok() + self.unanswered
    }

    /// 2xx answers a second, over the stream's span. A heavy request can take longer than a
    /// short run: counting only the answers within the load's length would give such a run
    /// no heavy goodput at all.
    fn goodput(&self) -> f64 {
        self.ok() as f64 / self.span.as_secs_f64().max(f64::MIN_POSITIVE)
    }

    /// "1200 × 200, 5 × 503, 1 unanswered".
    fn by_status(&self) -> String {
        let unanswered = (self.unanswered > 0).then(|| format!("{} unanswered", self.unanswered));
        by_status(&self.statuses, unanswered)
    }
}

/// "1200 × 200, 5 × 503", then `more` if any; "none" for nothing at all.
fn by_status(statuses: &BTreeMap<u16, u64>, more: Option<String>) -> String {
    let parts: Vec<String> = statuses
        .iter()
        .map(|(status, n)| format!("{n} × {status}"))
        .chain(more)
        .collect();
    if parts.is_empty() {
        "none".to_owned()
    } else {
        parts.join(", ")
    }
}

/// wrk's answers by status, socket errors and timeouts.
fn wrk_by_status(run: &WrkRun) -> String {
    by_status(
        &run.statuses,
        Some(format!(
            "{} socket errors, {} timeouts",
            run.socket_errors, run.slow
        )),
    )
}

/// Why the run fails, if it does: a light request answered other than 2xx or not at all
/// (wrk's socket errors, and its timeouts: requests unanswered past the service's deadline),
/// a heavy one answered neither 200 nor 503 or not at all, or a 503 without `Retry-After`.
fn verdicts(streams: &[Stream], figures: &[Figures]) -> Vec<String> {
    let mut failures = Vec::new();
    for (stream, figures) in streams.iter().zip(figures) {
        let label = stream.label();
        let tally = match figures {
            Figures::Client(tally) => tally,
            Figures::Wrk(run) => {
                if let Some(failure) = run.failure() {
                    failures.push(format!("{label}: {failure}"));
                }
                if run.slow > 0 {
                    failures.push(format!(
                        "{label}: {} wrk timeouts (requests unanswered past the service's \
                         deadline and wrk's timeout)",
                        run.slow
                    ));
                }
                continue;
            }
        };
        if stream.is_light() {
            if tally.not_ok() > 0 {
                failures.push(format!(
                    "{label}: {} of {} light requests not answered 2xx ({})",
                    tally.not_ok(),
                    tally.answers() + tally.unanswered,
                    tally.by_status()
                ));
            }
        } else {
            let others = tally.answers()
                - tally.statuses.get(&200).copied().unwrap_or(0)
                - tally.statuses.get(&503).copied().unwrap_or(0);
            if others > 0 || tally.unanswered > 0 {
                failures.push(format!(
                    "{label}: {others} answers neither 200 nor 503 and {} unanswered ({})",
                    tally.unanswered,
                    tally.by_status()
                ));
            }
        }
        if tally.bare_refusals > 0 {
            failures.push(format!(
                "{label}: {} answers were 503 without Retry-After",
                tally.bare_refusals
            ));
        }
    }
    failures
}

/// The Markdown table of a run.
fn table(streams: &[Stream], figures: &[Figures]) -> String {
    let ms = |duration: Duration| format!("{:.1}", duration.as_secs_f64() * 1000.0);
    let mut table = String::from(
        "| traffic | connections | answers by status | goodput (2xx/s) | p50 ms | p99 ms | max ms | slowest other answer ms |\n\
         | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |\n",
    );
    let mut wrk = false;
    for (stream, figures) in streams.iter().zip(figures) {
        let (by_status, goodput, [p50, p99, max], slowest_other) = match figures {
            Figures::Client(tally) => (
                tally.by_status(),
                tally.goodput(),
                tally.ok_latency,
                (tally.answers() > tally.ok()).then(|| ms(tally.slowest_other)),
            ),
            Figures::Wrk(run) => {
                wrk = true;
                (
                    wrk_by_status(run),
                    run.goodput(),
                    [run.p50_us, run.p99_us, run.max_us].map(Duration::from_micros),
                    // wrk does not tell other answers' latencies apart.
                    (run.non_2xx() > 0).then(|| "n/a".to_owned()),
                )
            }
        };
        writeln!(
            table,
            "| {} | {} | {by_status} | {goodput:.1} | {} | {} | {} | {} |",
            stream.label(),
            stream.connections,
            ms(p50),
            ms(p99),
            ms(max),
            slowest_other.unwrap_or_else(|| "–".to_owned()),
        )
        .unwrap();
    }
    table.push_str(if wrk {
        "\nLatencies are of 2xx answers, except wrk's (the light traffic's): wrk's own figures, \
         over all its answers whatever their status, leaving out any slower than its timeout \
         (counted as timeouts).\n"
    } else {
        "\nLatencies are of 2xx answers.\n"
    });
    table
}

/// `part` as a whole percentage of `whole`, or a dash when there is nothing to share.
fn share(part: f64, whole: f64) -> String {
    if whole > 0.0 {
        format!("{:.0} %", 100.0 * part / whole)
    } else {
        "–".to_owned()
    }
}

fn percentile(sorted: &[Duration], share: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() as f64 * share).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[index]
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn a_share_from_few_heavy_answers_says_so() {
        fn check(heavy_answers: u64, expected: Option<&str>) {
            assert_eq!(share_caveat(heavy_answers).as_deref(), expected);
        }
        check(
            13,
            Some("Too few heavy answers to judge the share by (13, under 40): run longer, for example with --seconds 60."),
        );
        check(
            39,
            Some("Too few heavy answers to judge the share by (39, under 40): run longer, for example with --seconds 60."),
        );
        check(40, None);
        check(80, None);
    }

    /// A sample from its status (0: no answer), latency and completion, in milliseconds.
    fn sample(status: u16, latency_ms: u32, done_ms: u32) -> Sample {
        Sample {
            status: (status != 0).then_some(status),
            retry_after: status == 503,
            latency: MS * latency_ms,
            done: MS * done_ms,
        }
    }

    #[test]
    fn tallies_count_every_answer_and_goodput_counts_2xx_only() {
        fn check(samples: &[Sample], expected: (&str, f64, [u32; 3], u64, u32)) {
            let tally = tally(samples, Duration::from_secs(2));
            let (by_status, goodput, [p50, p99, max], not_ok, slowest_other) = expected;
            assert_eq!(tally.by_status(), by_status, "{samples:?}");
            assert_eq!(tally.goodput(), goodput, "{samples:?}");
            assert_eq!(
                tally.ok_latency,
                [MS * p50, MS * p99, MS * max],
                "{samples:?}"
            );
            assert_eq!(tally.not_ok(), not_ok, "{samples:?}");
            assert_eq!(tally.slowest_other, MS * slowest_other, "{samples:?}");
        }
        check(&[], ("none", 0.0, [0, 0, 0], 0, 0));
        check(
            &[
                sample(200, 3, 100),
                sample(200, 1, 200),
                sample(204, 2, 300),
            ],
            ("2 × 200, 1 × 204", 1.5, [2, 3, 3], 0, 0),
        );
        // Answers after the load's 2 s count, and the time they took with them.
        check(
            &[
                sample(200, 1, 1000),
                sample(200, 9, 2000),
                sample(200, 30, 4000),
            ],
            ("3 × 200", 0.75, [9, 30, 30], 0, 0),
        );
        check(
            &[sample(200, 1, 1000), sample(0, 9, 8000)],
            ("1 × 200, 1 unanswered", 0.125, [1, 1, 1], 1, 0),
        );
        check(
            &[
                sample(200, 4, 10),
                sample(503, 7, 20),
                sample(0, 60, 90),
                sample(429, 2, 99),
            ],
            (
                "1 × 200, 1 × 429, 1 × 503, 1 unanswered",
                0.5,
                [4, 4, 4],
                3,
                7,
            ),
        );
    }

    fn stream(kind: Kind) -> Stream {
        Stream {
            caller: "B",
            kind,
            connections: 1,
            key: None,
        }
    }

    #[test]
    fn light_refusals_and_odd_heavy_answers_fail_the_run() {
        fn check(kind: Kind, samples: &[Sample], expected: &[&str]) {
            let figures = [Figures::Client(tally(samples, Duration::from_secs(1)))];
            assert_eq!(
                verdicts(&[stream(kind)], &figures),
                expected,
                "{kind:?} {samples:?}"
            );
        }
        let ok = sample(200, 1, 1);
        let refused = sample(503, 1, 1);
        let bare = Sample {
            retry_after: false,
            ..refused
        };
        check(Kind::Health, &[ok, ok], &[]);
        check(
            Kind::Health,
            &[ok, refused, sample(0, 1, 1)],
            &["caller B, `/healthz` every 10 ms: 2 of 3 light requests not answered 2xx (1 × 200, 1 × 503, 1 unanswered)"],
        );
        check(
            Kind::Health,
            &[sample(500, 1, 1)],
            &["caller B, `/healthz` every 10 ms: 1 of 1 light requests not answered 2xx (1 × 500)"],
        );
        check(Kind::Heavy, &[ok, refused, refused], &[]);
        check(
            Kind::Heavy,
            &[ok, sample(500, 1, 1), sample(0, 1, 1), bare],
            &[
                "caller B, heavy: the heaviest request: 1 answers neither 200 nor 503 and 1 unanswered (1 × 200, 1 × 500, 1 × 503, 1 unanswered)",
                "caller B, heavy: the heaviest request: 1 answers were 503 without Retry-After",
            ],
        );
    }

    #[test]
    fn wrks_refusals_socket_errors_and_timeouts_fail_the_run() {
        fn check(statuses: &[(u16, u64)], socket_errors: u64, slow: u64, expected: &[&str]) {
            let run = WrkRun {
                duration_us: 1_000_000,
                statuses: statuses.iter().copied().collect(),
                socket_errors,
                slow,
                p50_us: 1,
                p99_us: 2,
                max_us: 3,
            };
            let figures = [Figures::Wrk(run)];
            assert_eq!(
                verdicts(&[stream(Kind::Light)], &figures),
                expected,
                "{figures:?}"
            );
        }
        let label = "caller B, light (wrk): circuit usage, random windows of 2024-04-01";
        check(&[(200, 9), (204, 1)], 0, 0, &[]);
        check(
            &[(200, 9), (503, 2)],
            0,
            0,
            &[&format!(
                "{label}: 2 of 11 answers not 2xx (2 × 503), 0 socket errors"
            )],
        );
        check(
            &[(200, 9)],
            1,
            2,
            &[
                &format!("{label}: 0 of 9 answers not 2xx (none), 1 socket errors"),
                &format!("{label}: 2 wrk timeouts (requests unanswered past the service's deadline and wrk's timeout)"),
            ],
        );
    }

    #[test]
    fn wrks_row_counts_its_socket_errors_and_timeouts() {
        let run = WrkRun {
            duration_us: 2_000_000,
            statuses: [(200, 3000), (503, 2)].into_iter().collect(),
            socket_errors: 1,
            slow: 0,
            p50_us: 1500,
            p99_us: 9000,
            max_us: 40_000,
        };
        let table = table(&[stream(Kind::Light)], &[Figures::Wrk(run)]);
        assert!(
            table.contains("| caller B, light (wrk): circuit usage, random windows of 2024-04-01 | 1 | 3000 × 200, 2 × 503, 1 socket errors, 0 timeouts | 1500.0 | 1.5 | 9.0 | 40.0 | n/a |"),
            "{table}"
        );
        assert!(
            table.contains("over all its answers whatever their status"),
            "{table}"
        );
    }
}
