//! `cargo xtask unread`: clients that ask for one of the largest answers and never read it.
//! Each opens a connection with a 4 KiB receive buffer, sends the request and reads nothing;
//! the run waits three client timeouts, then reports the service's peak memory above idle and
//! how many of the connections the service closed. It runs `--runs` times, each on a fresh
//! service, and fails when the median peak passes `--max-mib` or when any connection is still
//! open: an answer nobody reads must be dropped, and its memory freed.

use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::service::{self, Server};

/// A brand's minute buckets over six days with every option that adds to each usage object:
/// about 4 MB of JSON, far more than socket buffers hold.
pub const LARGE: &str = "/v1/insights/brands/11111111-1111-1111-1111-111111111111/usage?start=2024-04-01T00:00:00Z&end=2024-04-07T00:00:00Z&bucket=1m&demand_interval=5m&baseload=true&compare=previous&top=100";

/// The service's default client timeout (`INSIGHTS_CLIENT_TIMEOUT_S`).
const CLIENT_TIMEOUT: Duration = Duration::from_secs(5);

/// How a run is shaped.
pub struct Plan {
    /// Connections that never read.
    pub clients: usize,
    /// The most the service's peak RSS may rise above idle, in MiB: the median of the runs'.
    pub max_mib: u64,
    /// Runs, each on a fresh service.
    pub runs: usize,
}

pub fn run(root: &Path, plan: &Plan) -> Result<()> {
    let release = service::build_release(root)?;
    let mut peaks = Vec::with_capacity(plan.runs);
    for _ in 0..plan.runs {
        peaks.push(run_once(root, &release, plan)?);
    }
    peaks.sort_unstable();
    let median = peaks[peaks.len() / 2];
    println!(
        "peak RSS above idle over {} runs: {} MiB; median {median} MiB",
        peaks.len(),
        peaks
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    );
    if median > plan.max_mib {
        bail!(
            "the unread answers raised peak RSS {median} MiB above idle (the median of {} runs), more than {} MiB",
            peaks.len(),
            plan.max_mib
        );
    }
    Ok(())
}

/// One run on a service of its own; fails when a connection stays open, and returns the peak
/// RSS above idle in MiB.
fn run_once(root: &Path, release: &service::Release, plan: &Plan) -> Result<u64> {
    let server = Server::start(release, &[])?;
    let idle_kib = service::memory_kib(server.pid(), "VmRSS:")?;
    let addr: std::net::SocketAddr = server.addr.parse().context("the service's address")?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (closed, answered_bytes) = runtime.block_on(async {
        let mut streams = Vec::with_capacity(plan.clients);
        for _ in 0..plan.clients {
            let socket = tokio::net::TcpSocket::new_v4()?;
            socket.set_recv_buffer_size(4096)?;
            let mut stream = socket.connect(addr).await?;
            stream
                .write_all(format!("GET {LARGE} HTTP/1.1\r\nHost: unread\r\n\r\n").as_bytes())
                .await?;
            streams.push(stream);
        }
        tokio::time::sleep(3 * CLIENT_TIMEOUT).await;
        // Now read what is left: a connection the service closed ends at once.
        let mut closed = 0;
        let mut bytes = 0;
        for mut stream in streams {
            let mut buffer = vec![0u8; 1 << 16];
            let drained = tokio::time::timeout(CLIENT_TIMEOUT, async {
                loop {
                    match stream.read(&mut buffer).await {
                        Ok(0) | Err(_) => break,
                        Ok(count) => bytes += count,
                    }
                }
            })
            .await;
            closed += usize::from(drained.is_ok());
        }
        Ok::<_, std::io::Error>((closed, bytes))
    })?;
    let peak_mib = service::memory_kib(server.pid(), "VmHWM:")?.saturating_sub(idle_kib) / 1024;
    println!(
        "`cargo xtask unread --clients {}` at commit {}: {} connections asked for {LARGE} and read nothing for {} s; the service closed {closed} of them ({answered_bytes} bytes were waiting in all), and its peak RSS rose {peak_mib} MiB above idle ({} MiB).",
        plan.clients,
        crate::loadtest::commit(root),
        plan.clients,
        (3 * CLIENT_TIMEOUT).as_secs(),
        idle_kib / 1024
    );
    if closed < plan.clients {
        bail!(
            "{} of {} unread connections are still open",
            plan.clients - closed,
            plan.clients
        );
    }
    Ok(peak_mib)
}
