//! `cargo xtask client-check`: generates clients from the served `/openapi.json`, each with
//! its generator's default settings, and calls the release binary through them.
//!
//! - Python: openapi-python-client (PyPI, in a virtualenv in the target directory) must
//!   generate without a warning; every operation is called, each answer must parse into the
//!   model the document names, problem bodies included, and the client must have one model
//!   class per shared shape.
//! - TypeScript: openapi-typescript (npm, installed from `xtask/clients/ts`'s lock into the
//!   target directory, never globally) generates the types; `tsc --strict` must accept the
//!   typed calls of `check.ts` and reject the ones it marks, and node then runs them.

use std::path::Path;
use std::process::Command;

use anyhow::{ensure, Context, Result};

use crate::service::{self, Server};

/// The generator release this project is checked with.
const GENERATOR: &str = "openapi-python-client==0.29.1";

/// The package name the generator derives from the document's title.
const PACKAGE: &str = "insights_service_api_client";

/// The script that calls every operation; see its docstring.
const SCRIPT: &str = include_str!("../python/client_check.py");

/// The TypeScript check's project: its pinned tools, the compiler's settings and the calls.
const TS_PROJECT: &[(&str, &str)] = &[
    ("package.json", include_str!("../clients/ts/package.json")),
    (
        "package-lock.json",
        include_str!("../clients/ts/package-lock.json"),
    ),
    ("tsconfig.json", include_str!("../clients/ts/tsconfig.json")),
    ("check.ts", include_str!("../clients/ts/check.ts")),
];

/// The model classes the client must have, one per object schema the document names: the
/// bodies and the shared shapes, sorted. A shape inlined again would add a class with a
/// longer name that the document does not name. (The shared enumerations are literal types,
/// which the script checks.)
fn expected_models(document: &str) -> Result<Vec<String>> {
    let document: serde_json::Value =
        serde_json::from_str(document).context("the served document is not JSON")?;
    let schemas = document["components"]["schemas"]
        .as_object()
        .context("the served document has no components.schemas")?;
    let mut models: Vec<String> = schemas
        .iter()
        .filter(|(_, schema)| schema["type"] == "object")
        .map(|(name, _)| name.clone())
        .collect();
    models.sort_unstable();
    Ok(models)
}

pub fn run(root: &Path) -> Result<()> {
    let scratch = service::scratch_dir(root, "client")?;
    let generator = service::python_tool(&scratch, &[&[GENERATOR]], "openapi-python-client")?;
    let ts_scratch = service::scratch_dir(root, "client-ts")?;
    npm_ci(&ts_scratch)?;
    let release = service::build_release(root)?;
    let server = Server::start(&release, &[])?;
    let document = ureq::get(&format!("http://{}/openapi.json", server.addr))
        .call()
        .context("GET /openapi.json")?
        .into_string()?;
    let base_url = format!("http://{}", server.addr);
    println!("== Python: openapi-python-client, default settings");
    python(&scratch, &generator, &document, &base_url)?;
    println!("== TypeScript: openapi-typescript, default settings; tsc --strict; node");
    typescript(&ts_scratch, &document, &base_url)?;
    println!("ok: both generated clients call the service with their generators' default settings");
    Ok(())
}

/// Generates the Python client, calls every operation through it, and checks its models.
fn python(scratch: &Path, generator: &Path, document: &str, base_url: &str) -> Result<()> {
    let spec = scratch.join("openapi.json");
    std::fs::write(&spec, document)?;
    let client_root = scratch.join("generated");
    let package = client_root.join(PACKAGE);
    let _ = std::fs::remove_dir_all(&client_root);
    std::fs::create_dir_all(&client_root)?;
    // No --config: the defaults, whose formatting hooks run the virtualenv's ruff.
    let venv_bin = generator
        .parent()
        .context("the generator is in a directory")?;
    let path = std::env::join_paths(std::iter::once(venv_bin.to_owned()).chain(
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
    ))?;
    let output = Command::new(generator)
        .arg("generate")
        .arg("--path")
        .arg(&spec)
        .args(["--meta", "none", "--output-path"])
        .arg(&package)
        .env("PATH", path)
        .output()
        .context("failed to run openapi-python-client")?;
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    print!("{said}");
    ensure!(
        output.status.success() && package.is_dir(),
        "openapi-python-client could not generate a client"
    );
    ensure!(
        !said.contains("Warning"),
        "openapi-python-client warned while generating the client"
    );
    let script = scratch.join("client_check.py");
    std::fs::write(&script, SCRIPT)?;
    let output = Command::new(generator.with_file_name("python"))
        .arg(&script)
        .arg(&client_root)
        .arg(base_url)
        .output()
        .context("failed to run the client check")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    print!("{stdout}");
    eprint!("{}", String::from_utf8_lossy(&output.stderr));
    ensure!(output.status.success(), "the generated client failed");
    let classes = stdout
        .lines()
        .find_map(|line| line.split_once("model classes: ").map(|(_, list)| list))
        .context("the check named no model classes")?;
    let classes: Vec<&str> = classes.split(", ").collect();
    let expected = expected_models(document)?;
    ensure!(
        classes == expected,
        "the client's model classes are not one per shape:\n  got      {classes:?}\n  expected {expected:?}"
    );
    println!("ok: every operation answers through the generated client, one model class per shape");
    Ok(())
}

/// Installs the TypeScript check's pinned tools into `scratch` with `npm ci`, unless the
/// lock they were installed from is the committed one.
fn npm_ci(scratch: &Path) -> Result<()> {
    let installed = scratch.join("node_modules/.package-lock.json");
    let lock = scratch.join("package-lock.json");
    let committed = TS_PROJECT
        .iter()
        .find(|(name, _)| *name == "package-lock.json")
        .map(|(_, text)| *text)
        .unwrap_or_default();
    let current =
        installed.is_file() && std::fs::read_to_string(&lock).is_ok_and(|text| text == committed);
    for (name, text) in TS_PROJECT {
        std::fs::write(scratch.join(name), text)?;
    }
    if current {
        return Ok(());
    }
    let status = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(scratch)
        .status()
        .context("failed to run npm (install Node.js and npm)")?;
    ensure!(status.success(), "npm ci failed in {}", scratch.display());
    Ok(())
}

/// Generates the TypeScript types, type-checks the typed calls and runs them.
fn typescript(scratch: &Path, document: &str, base_url: &str) -> Result<()> {
    std::fs::write(scratch.join("openapi.json"), document)?;
    let _ = std::fs::remove_dir_all(scratch.join("out"));
    let bin = scratch.join("node_modules/.bin");
    let run = |program: std::path::PathBuf, args: &[&str], what: &str| -> Result<()> {
        let status = Command::new(&program)
            .args(args)
            .current_dir(scratch)
            .status()
            .with_context(|| format!("failed to run {}", program.display()))?;
        ensure!(status.success(), "{what} failed");
        Ok(())
    };
    run(
        bin.join("openapi-typescript"),
        &["openapi.json", "--output", "schema.d.ts"],
        "openapi-typescript",
    )?;
    run(
        bin.join("tsc"),
        &["-p", "tsconfig.json"],
        "tsc, type-checking the typed calls",
    )?;
    run(
        "node".into(),
        &["out/check.js", base_url],
        "the TypeScript client's calls",
    )?;
    println!("ok: the generated types accept the typed calls and refuse the wrong ones; the calls answer as typed");
    Ok(())
}
