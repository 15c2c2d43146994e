//! `cargo xtask fuzz-api`: schemathesis against the service's own OpenAPI document, from a
//! virtualenv in the target directory, with every check it has (`--checks all`): no server
//! errors, documented status codes, content types and bodies, invalid data refused and
//! valid data accepted, and the rest. It runs twice: with API keys off, and with them on and
//! a brand's key in every request.

use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::service::{self, Server};

/// The schemathesis release this project is checked with.
const SCHEMATHESIS: &str = "schemathesis==4.32.5";

/// Every check schemathesis has, negative-data rejection among them: a check left out is a
/// defect not seen.
const CHECKS: &str = "all";

pub fn run(root: &Path, max_examples: u32) -> Result<()> {
    let scratch = service::scratch_dir(root, "fuzz")?;
    let schemathesis = service::python_tool(&scratch, &[&[SCHEMATHESIS]], "schemathesis")?;
    let release = service::build_release(root)?;
    // Once as deployed by default, once with keys on and a brand's key, so the scoped
    // paths and their 404s are fuzzed too.
    let key = crate::apikey::new_key()?;
    let scope = insights_http::auth::KeyScope::Brand(
        "11111111-1111-1111-1111-111111111111"
            .parse::<uuid::Uuid>()
            .expect("a literal UUID")
            .into(),
    );
    let keys_file = scratch.join("keys");
    std::fs::write(
        &keys_file,
        insights_http::auth::key_line(&scope, &key, "fuzz"),
    )
    .with_context(|| format!("failed to write {}", keys_file.display()))?;
    let passes = [
        ("keys off", Vec::new(), None),
        (
            "keys on, a DemoBrand key",
            vec![(
                "INSIGHTS_API_KEYS_FILE",
                keys_file.to_string_lossy().into_owned(),
            )],
            Some(format!("Authorization: Bearer {key}")),
        ),
    ];
    for (name, env, header) in passes {
        println!("== schemathesis, {name}");
        let server = Server::start(&release, &env)?;
        let mut command = Command::new(&schemathesis);
        command
            .arg("--config-file")
            .arg(root.join("xtask/schemathesis.toml"));
        command.args([
            "run",
            &format!("http://{}/openapi.json", server.addr),
            "--checks",
            CHECKS,
            "--max-examples",
            &max_examples.to_string(),
        ]);
        if let Some(header) = header {
            command.args(["--header", &header]);
        }
        let result = command.status().context("failed to run schemathesis");
        drop(server);
        if !result?.success() {
            bail!("schemathesis found failures ({name}); each comes with a curl command to reproduce it");
        }
    }
    Ok(())
}
