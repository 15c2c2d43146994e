//! `cargo xtask fuzz-api`: schemathesis against the service's own OpenAPI document, from a
//! virtualenv under `target/`, with the conformance checks: no server errors, documented
//! status codes and content types, and bodies that match their schemas.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// The schemathesis release this project is checked with.
const SCHEMATHESIS: &str = "schemathesis==4.32.5";

/// The checks that must all pass.
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance";

pub fn run(root: &Path, max_examples: u32) -> Result<()> {
    let venv = root.join("target/fuzz-venv");
    let schemathesis = venv.join("bin/schemathesis");
    if !schemathesis.is_file() {
        let status = Command::new("python3")
            .arg("-m")
            .arg("venv")
            .arg(&venv)
            .status()
            .context("failed to run python3 -m venv")?;
        if !status.success() {
            bail!("failed to create the virtualenv {}", venv.display());
        }
        let status = Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet", SCHEMATHESIS])
            .status()
            .context("failed to run pip")?;
        if !status.success() {
            bail!("failed to install {SCHEMATHESIS}");
        }
    }
    let status = Command::new(env!("CARGO"))
        .args(["build", "--release", "-p", "insights-http"])
        .current_dir(root)
        .status()
        .context("failed to run cargo build")?;
    if !status.success() {
        bail!("the release build failed");
    }
    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let addr = format!("127.0.0.1:{port}");
    let mut server = Command::new(root.join("target/release/insights-http"))
        .current_dir(root)
        .env("INSIGHTS_ADDR", &addr)
        .env("RUST_LOG", "warn")
        .env_remove("DATABASE_URL")
        .env_remove("INSIGHTS_TIMESERIES")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .context("failed to start the service")?;
    let started = Instant::now();
    while std::net::TcpStream::connect(&addr).is_err() {
        if started.elapsed() > Duration::from_secs(60) {
            let _ = server.kill();
            bail!("the service did not start listening within 60 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let result = Command::new(&schemathesis)
        .args([
            "run",
            &format!("http://{addr}/openapi.json"),
            "--checks",
            CHECKS,
            "--max-examples",
            &max_examples.to_string(),
        ])
        .status()
        .context("failed to run schemathesis");
    let _ = server.kill();
    let _ = server.wait();
    if !result?.success() {
        bail!("schemathesis found failures; each comes with a curl command to reproduce it");
    }
    Ok(())
}
