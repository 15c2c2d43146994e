//! Running the service for automation: a release build, and the binary on a free port that
//! stops when dropped. Shared by `loadtest`, `fuzz-api` and `soak`.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// Builds the service in release mode.
pub fn build_release(root: &Path) -> Result<()> {
    let status = Command::new(env!("CARGO"))
        .args(["build", "--release", "-p", "insights-http"])
        .current_dir(root)
        .status()
        .context("failed to run cargo build")?;
    if !status.success() {
        bail!("the release build failed");
    }
    Ok(())
}

/// The service on a free port, stopped when dropped.
pub struct Server {
    child: Child,
    /// Where it listens, as host:port.
    pub addr: String,
}

impl Server {
    /// Starts the release binary on a free port with `env` on top of a clean environment
    /// (no database or time-series settings), logging at `warn`, and waits until it listens.
    pub fn start(root: &Path, env: &[(&str, String)]) -> Result<Server> {
        Server::start_logged(root, env, None)
    }

    /// As [`Server::start`], writing the service's log to `log` when given.
    pub fn start_logged(root: &Path, env: &[(&str, String)], log: Option<&Path>) -> Result<Server> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let addr = format!("127.0.0.1:{port}");
        let mut command = Command::new(root.join("target/release/insights-http"));
        command
            .current_dir(root)
            .env("INSIGHTS_ADDR", &addr)
            .env("RUST_LOG", "warn")
            .env_remove("DATABASE_URL")
            .env_remove("INSIGHTS_TIMESERIES")
            .env_remove("INSIGHTS_TIMESERIES_URL")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(log) = log {
            let file = std::fs::File::create(log)
                .with_context(|| format!("failed to create {}", log.display()))?;
            command.stdout(file.try_clone()?).stderr(file);
        }
        for (key, value) in env {
            command.env(key, value);
        }
        let child = command.spawn().context("failed to start the service")?;
        let server = Server { child, addr };
        let started = Instant::now();
        while std::net::TcpStream::connect(&server.addr).is_err() {
            if started.elapsed() > Duration::from_secs(60) {
                bail!("the service did not start listening within 60 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(server)
    }
}

impl Server {
    /// The service's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
