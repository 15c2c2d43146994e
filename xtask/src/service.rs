//! Running the service for automation: a release build, and the binary on a free port that
//! stops when dropped. Shared by `loadtest`, `fuzz-api` and `soak`.
//!
//! Paths come from cargo, never from the checkout's layout: `CARGO_TARGET_DIR`, a
//! `build.target-dir` setting or a workspace elsewhere all move the target directory.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// The target directory cargo builds this workspace into, as `cargo metadata` reports it.
/// xtask keeps its scratch files (virtualenvs, clusters, scripts) there too.
pub fn target_dir(root: &Path) -> Result<PathBuf> {
    let output = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .current_dir(root)
        .stderr(Stdio::inherit())
        .output()
        .context("failed to run cargo metadata")?;
    if !output.status.success() {
        bail!("cargo metadata failed");
    }
    let metadata: serde_json::Value =
        serde_json::from_slice(&output.stdout).context("failed to read cargo metadata's output")?;
    metadata["target_directory"]
        .as_str()
        .map(PathBuf::from)
        .context("cargo metadata named no target_directory")
}

/// A scratch directory of xtask's own under the target directory, created if missing.
pub fn scratch_dir(root: &Path, name: &str) -> Result<PathBuf> {
    let dir = target_dir(root)?.join(name);
    std::fs::create_dir_all(&dir).with_context(|| format!("failed to create {}", dir.display()))?;
    Ok(dir)
}

/// A command-line tool from PyPI, installed once into a virtualenv under `scratch`: each
/// entry of `installs` is one `pip install` run, in order, so a later one can rely on an
/// earlier one (a build dependency installed first). Returns the tool's path.
pub fn python_tool(scratch: &Path, installs: &[&[&str]], tool: &str) -> Result<PathBuf> {
    let venv = scratch.join("venv");
    let path = venv.join("bin").join(tool);
    if path.is_file() {
        return Ok(path);
    }
    let status = Command::new("python3")
        .arg("-m")
        .arg("venv")
        .arg(&venv)
        .status()
        .context("failed to run python3 -m venv")?;
    if !status.success() {
        bail!("failed to create the virtualenv {}", venv.display());
    }
    for args in installs {
        let status = Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet"])
            .args(*args)
            .status()
            .context("failed to run pip")?;
        if !status.success() {
            bail!("failed to install {args:?}");
        }
    }
    if !path.is_file() {
        bail!("{tool} is not in {} after installing it", venv.display());
    }
    Ok(path)
}

/// A release build of the service: the executable cargo reported, and the workspace it
/// runs in.
pub struct Release {
    binary: PathBuf,
    root: PathBuf,
}

/// Builds the service in release mode and returns the executable where cargo put it, read
/// from cargo's own build messages; or, with `XTASK_SERVICE_BINARY` set, that executable
/// unbuilt, so a benchmark can measure another commit's build beside this one's.
pub fn build_release(root: &Path) -> Result<Release> {
    if let Some(binary) = std::env::var_os("XTASK_SERVICE_BINARY") {
        eprintln!(
            "measuring {} (XTASK_SERVICE_BINARY)",
            binary.to_string_lossy()
        );
        return Ok(Release {
            binary: PathBuf::from(binary),
            root: root.to_owned(),
        });
    }
    build(root, &[])
}

/// A release build with insights-http's `ceiling` feature (every usage route answers a
/// constant body), in a target directory of its own (`ceiling` under cargo's) so that it
/// never replaces the service's own build.
pub fn build_ceiling(root: &Path) -> Result<Release> {
    let target = target_dir(root)?.join("ceiling");
    build(
        root,
        &[
            "--features",
            "insights-http/ceiling",
            "--target-dir",
            &target.to_string_lossy(),
        ],
    )
}

/// Builds the service in release mode with `extra` arguments to cargo.
fn build(root: &Path, extra: &[&str]) -> Result<Release> {
    let output = Command::new(env!("CARGO"))
        .args([
            "build",
            "--release",
            "-p",
            "insights-http",
            "--bin",
            "insights-http",
            "--message-format=json-render-diagnostics",
        ])
        .args(extra)
        .current_dir(root)
        .stderr(Stdio::inherit())
        .output()
        .context("failed to run cargo build")?;
    if !output.status.success() {
        bail!("the release build failed");
    }
    let binary = executable_in(&String::from_utf8_lossy(&output.stdout), "insights-http")
        .context("cargo build reported no insights-http executable")?;
    Ok(Release {
        binary,
        root: root.to_owned(),
    })
}

/// The path of the executable target `name` among cargo's JSON build messages.
fn executable_in(messages: &str, name: &str) -> Option<PathBuf> {
    messages
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|message| {
            message["reason"] == "compiler-artifact" && message["target"]["name"] == name
        })
        .find_map(|message| message["executable"].as_str().map(PathBuf::from))
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
    pub fn start(release: &Release, env: &[(&str, String)]) -> Result<Server> {
        Server::start_logged(release, env, None)
    }

    /// As [`Server::start`], writing the service's log to `log` when given.
    pub fn start_logged(
        release: &Release,
        env: &[(&str, String)],
        log: Option<&Path>,
    ) -> Result<Server> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let addr = format!("127.0.0.1:{port}");
        let mut command = Command::new(&release.binary);
        command
            .current_dir(&release.root)
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
        let mut server = Server { child, addr };
        let started = Instant::now();
        while std::net::TcpStream::connect(&server.addr).is_err() {
            // A service that stopped at start (a database it could not set up, an address in
            // use) says so at once, rather than as a minute's wait for a port.
            if let Ok(Some(status)) = server.child.try_wait() {
                bail!(
                    "the service exited ({status}) before it listened on {}",
                    server.addr
                );
            }
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

/// A figure in KiB from `/proc/<pid>/status`, such as `VmRSS:` or `VmHWM:` (the peak).
pub fn memory_kib(pid: u32, field: &str) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .context("failed to read the service's /proc status")?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .with_context(|| format!("no {field} in /proc/{pid}/status"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_executable_is_read_from_cargos_messages() {
        let messages = r#"{"reason":"compiler-artifact","target":{"name":"insights_core"},"executable":null}
{"reason":"compiler-artifact","target":{"name":"insights-http"},"executable":"/elsewhere/release/insights-http"}
{"reason":"build-finished","success":true}"#;
        assert_eq!(
            executable_in(messages, "insights-http"),
            Some(PathBuf::from("/elsewhere/release/insights-http"))
        );
        assert_eq!(executable_in(messages, "xtask"), None);
    }
}
