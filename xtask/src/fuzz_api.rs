//! `cargo xtask fuzz-api`: schemathesis against the service's own OpenAPI document, from a
//! virtualenv under `target/`, with the conformance checks: no server errors, documented
//! status codes and content types, and bodies that match their schemas.

use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::service::{self, Server};

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
    service::build_release(root)?;
    let server = Server::start(root, &[])?;
    let result = Command::new(&schemathesis)
        .args([
            "run",
            &format!("http://{}/openapi.json", server.addr),
            "--checks",
            CHECKS,
            "--max-examples",
            &max_examples.to_string(),
        ])
        .status()
        .context("failed to run schemathesis");
    drop(server);
    if !result?.success() {
        bail!("schemathesis found failures; each comes with a curl command to reproduce it");
    }
    Ok(())
}
