//! `cargo xtask stress`: the worst case under load. While many connections send the heaviest
//! request the API admits, a separate client polls `/healthz`; the run reports the health
//! check's latency, the heavy answers by status and latency against the request timeout, and
//! the service's peak memory above its idle level.
//!
//! These are benchmark figures for `docs/performance.md`, never assertions in tests.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};

use crate::client::Connection;
use crate::service::{self, Server};

/// The heaviest request the API admits on the shipped data: the whole brand, 366 days, day
/// buckets, 5-minute demand intervals and the top 100 circuits.
pub const HEAVIEST: &str = "/v1/insights/brands/11111111-1111-1111-1111-111111111111/usage?start=2024-01-01T00:00:00Z&end=2025-01-01T00:00:00Z&bucket=1d&demand_interval=5m&top=100";

/// How a run is shaped.
pub struct Plan {
    /// Connections sending the heaviest request back to back.
    pub connections: usize,
    /// How long the load lasts.
    pub seconds: u64,
    /// The service's `INSIGHTS_REQUEST_TIMEOUT_MS`.
    pub timeout_ms: u64,
}

pub fn run(root: &Path, plan: &Plan) -> Result<()> {
    let release = service::build_release(root)?;
    let server = Server::start(
        &release,
        &[("INSIGHTS_REQUEST_TIMEOUT_MS", plan.timeout_ms.to_string())],
    )?;
    let idle_kib = service::memory_kib(server.pid(), "VmRSS:")?;
    let (single_status, single) = {
        let mut connection = Connection::new(&server.addr);
        let started = Instant::now();
        let status = connection.get(HEAVIEST)?.0;
        // A 503 alone means the timeout is shorter than the request: a deadline run.
        if status != 200 && status != 503 {
            bail!("the heaviest request alone answered {status}");
        }
        (status, started.elapsed())
    };
    let single_peak_kib = service::memory_kib(server.pid(), "VmHWM:")?;

    let stop = AtomicBool::new(false);
    let heavy = Mutex::new(Vec::<(u16, Duration)>::new());
    let health = Mutex::new(Vec::<Duration>::new());
    let errors = Mutex::new(Vec::<String>::new());
    std::thread::scope(|scope| {
        for _ in 0..plan.connections {
            scope.spawn(|| {
                let outcome = (|| -> Result<()> {
                    let mut connection = Connection::new(&server.addr);
                    while !stop.load(Ordering::Relaxed) {
                        let started = Instant::now();
                        let status = connection.get(HEAVIEST)?.0;
                        heavy
                            .lock()
                            .expect("no panics")
                            .push((status, started.elapsed()));
                        if status == 503 {
                            // As a client honouring Retry-After would, though sooner.
                            std::thread::sleep(Duration::from_millis(50));
                        }
                    }
                    Ok(())
                })();
                if let Err(error) = outcome {
                    errors.lock().expect("no panics").push(format!("{error:#}"));
                }
            });
        }
        scope.spawn(|| {
            let outcome = (|| -> Result<()> {
                let mut connection = Connection::new(&server.addr);
                while !stop.load(Ordering::Relaxed) {
                    let started = Instant::now();
                    let status = connection.get("/healthz")?.0;
                    if status != 200 {
                        bail!("/healthz answered {status}");
                    }
                    health.lock().expect("no panics").push(started.elapsed());
                    std::thread::sleep(Duration::from_millis(10));
                }
                Ok(())
            })();
            if let Err(error) = outcome {
                errors.lock().expect("no panics").push(format!("{error:#}"));
            }
        });
        std::thread::sleep(Duration::from_secs(plan.seconds));
        stop.store(true, Ordering::Relaxed);
    });
    let peak_kib = service::memory_kib(server.pid(), "VmHWM:")?;
    let errors = errors.into_inner().expect("no panics");
    if !errors.is_empty() {
        bail!("connections failed: {}", errors.join("; "));
    }
    let mut health = health.into_inner().expect("no panics");
    health.sort();
    let heavy = heavy.into_inner().expect("no panics");
    let count = |status: u16| heavy.iter().filter(|(code, _)| *code == status).count();
    let slowest = |status: u16| {
        heavy
            .iter()
            .filter(|(code, _)| *code == status)
            .map(|(_, elapsed)| *elapsed)
            .max()
            .unwrap_or_default()
    };
    let others = heavy.len() - count(200) - count(503);
    let ms = |duration: Duration| duration.as_secs_f64() * 1000.0;
    println!("heaviest request: {HEAVIEST}");
    println!(
        "alone: {single_status} in {:.0} ms; peak RSS {:.1} MiB above idle ({:.1} MiB)",
        ms(single),
        (single_peak_kib.saturating_sub(idle_kib)) as f64 / 1024.0,
        idle_kib as f64 / 1024.0
    );
    println!(
        "{} connections for {} s, timeout {} ms: {} answers: {} x 200 (slowest {:.0} ms), {} x 503 (slowest {:.0} ms), {others} other",
        plan.connections,
        plan.seconds,
        plan.timeout_ms,
        heavy.len(),
        count(200),
        ms(slowest(200)),
        count(503),
        ms(slowest(503)),
    );
    println!(
        "/healthz meanwhile: {} checks, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        health.len(),
        ms(percentile(&health, 0.50)),
        ms(percentile(&health, 0.99)),
        ms(health.last().copied().unwrap_or_default())
    );
    println!(
        "peak RSS over the whole run: {:.1} MiB above idle",
        (peak_kib.saturating_sub(idle_kib)) as f64 / 1024.0
    );
    if others > 0 {
        bail!("{others} heavy answers were neither 200 nor 503");
    }
    Ok(())
}

fn percentile(sorted: &[Duration], share: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() as f64 * share).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[index]
}
