//! `cargo xtask client-check`: generates a Python client from the served `/openapi.json` with
//! openapi-python-client (PyPI, in a virtualenv in the target directory), calls every
//! operation through it against the release binary, and checks that each answer parses into
//! the model the document names, problem bodies included, and that the client has one model
//! class per shared shape.

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

/// Model classes the client must have: the bodies and the shared shapes. A shape inlined
/// again would add a class with a longer name. (The shared enumerations are literal types,
/// which the script checks.)
const MODELS: &[&str] = &[
    "BrandListBody",
    "BrandMetadataBody",
    "BrandUsageBody",
    "Bucket",
    "CircuitDetail",
    "CircuitRef",
    "CircuitSummaryBody",
    "CircuitUsageBody",
    "Comparison",
    "DataRangeBody",
    "ElectricSensorBody",
    "InvalidParam",
    "LocationCounts",
    "LocationUsageBody",
    "NamedRef",
    "OrganizationLocations",
    "OrganizationRef",
    "OrganizationUsageBody",
    "PartUsage",
    "PeakDemand",
    "Problem",
    "RankedCircuitRef",
    "SensorCircuits",
    "SensorLocation",
    "SensorRef",
    "SensorUsage",
    "StatusBody",
    "TopCircuit",
    "Usage",
    "VisibleBrand",
    "VisibleOrganization",
    "Window",
];

pub fn run(root: &Path) -> Result<()> {
    let scratch = service::scratch_dir(root, "client")?;
    let generator = service::python_tool(&scratch, &[&[GENERATOR]], "openapi-python-client")?;
    let release = service::build_release(root)?;
    let server = Server::start(&release, &[])?;
    let document = ureq::get(&format!("http://{}/openapi.json", server.addr))
        .call()
        .context("GET /openapi.json")?
        .into_string()?;
    let spec = scratch.join("openapi.json");
    std::fs::write(&spec, document)?;
    // Time-zone names such as `Etc/GMT+0` and `Etc/GMT-0` make the same Python identifier;
    // literal enums keep them as strings.
    let config = scratch.join("config.yaml");
    std::fs::write(&config, "literal_enums: true\n")?;
    let client_root = scratch.join("generated");
    let package = client_root.join(PACKAGE);
    let _ = std::fs::remove_dir_all(&client_root);
    std::fs::create_dir_all(&client_root)?;
    let status = Command::new(&generator)
        .arg("generate")
        .arg("--path")
        .arg(&spec)
        .args(["--meta", "none", "--config"])
        .arg(&config)
        .arg("--output-path")
        .arg(&package)
        .status()
        .context("failed to run openapi-python-client")?;
    ensure!(
        status.success(),
        "openapi-python-client could not generate a client"
    );
    let script = scratch.join("client_check.py");
    std::fs::write(&script, SCRIPT)?;
    let output = Command::new(generator.with_file_name("python"))
        .arg(&script)
        .arg(&client_root)
        .arg(format!("http://{}", server.addr))
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
    ensure!(
        classes == MODELS,
        "the client's model classes are not one per shape:\n  got      {classes:?}\n  expected {MODELS:?}"
    );
    println!("ok: every operation answers through the generated client, one model class per shape");
    Ok(())
}
