//! `cargo xtask compose-check`: `docker-compose config` (the Python docker-compose 1.29.2,
//! from PyPI, which validates without a Docker engine) on `docker-compose.yml`, then the
//! deployment rules the resolved file and the `Dockerfile` must keep.

use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{bail, ensure, Context, Result};
use serde_json::Value;

use crate::service;

/// docker-compose 1.29.2 pins PyYAML below 6, whose source build needs Cython below 3; the
/// build dependencies are installed first and used without isolation.
const INSTALLS: &[&[&str]] = &[
    &["cython<3", "wheel", "setuptools"],
    &["--no-build-isolation", "pyyaml==5.4.1"],
    &["docker-compose==1.29.2"],
];

pub fn run(root: &Path) -> Result<()> {
    let scratch = service::scratch_dir(root, "compose")?;
    let compose = service::python_tool(&scratch, INSTALLS, "docker-compose")?;
    let output = Command::new(&compose)
        .args(["--file", "docker-compose.yml", "config"])
        .current_dir(root)
        .stderr(Stdio::inherit())
        .output()
        .context("failed to run docker-compose config")?;
    ensure!(
        output.status.success(),
        "docker-compose config refused docker-compose.yml"
    );
    // The resolved file, as JSON, through the virtualenv's own PyYAML.
    let python = compose.with_file_name("python");
    let mut child = Command::new(python)
        .args([
            "-c",
            "import json, sys, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .context("failed to run the virtualenv's python")?;
    std::io::Write::write_all(&mut child.stdin.take().context("stdin")?, &output.stdout)?;
    let converted = child.wait_with_output()?;
    ensure!(
        converted.status.success(),
        "could not read the resolved file"
    );
    let resolved: Value = serde_json::from_slice(&converted.stdout)?;
    let dockerfile = std::fs::read_to_string(root.join("Dockerfile"))?;
    let broken = broken_rules(&resolved, &dockerfile);
    if !broken.is_empty() {
        bail!(
            "the deployment files break these rules:\n  {}",
            broken.join("\n  ")
        );
    }
    println!("docker-compose config accepts docker-compose.yml, and every deployment rule holds");
    Ok(())
}

/// The rules the resolved compose file and the Dockerfile break; empty when all hold.
fn broken_rules(compose: &Value, dockerfile: &str) -> Vec<String> {
    let mut broken = Vec::new();
    let mut rule = |holds: bool, text: &str| {
        if !holds {
            broken.push(text.to_owned());
        }
    };
    let db = &compose["services"]["db"];
    let app = &compose["services"]["insights"];
    let db_check = words(&db["healthcheck"]["test"]);
    rule(
        db_check.windows(2).any(|pair| pair == ["-h", "127.0.0.1"]),
        "the database healthcheck asks over TCP (-h 127.0.0.1), so it fails while init scripts run",
    );
    for service in [db, app] {
        for port in service["ports"].as_array().into_iter().flatten() {
            // docker-compose 1.29 prints the short form, newer ones the long form.
            let loopback = match port {
                Value::String(short) => short.starts_with("127.0.0.1:"),
                long => long["host_ip"].as_str() == Some("127.0.0.1"),
            };
            rule(loopback, "published ports are bound to 127.0.0.1");
        }
        if let Some(image) = service["image"].as_str() {
            rule(pinned(image), "images name a version, not a moving tag");
        }
    }
    let url = app["environment"]["DATABASE_URL"].as_str().unwrap_or("");
    rule(
        url.starts_with("postgres://insights_app:"),
        "the service connects as the read-only login insights_app",
    );
    rule(
        words(&app["healthcheck"]["test"]).contains(&"healthcheck".to_owned()),
        "the service has a healthcheck through its own `healthcheck` subcommand",
    );
    let from_images: Vec<&str> = dockerfile
        .lines()
        .filter_map(|line| line.strip_prefix("FROM "))
        .filter_map(|rest| rest.split_whitespace().next())
        .filter(|image| image.contains(':') || image.contains('/') || image.contains('.'))
        .collect();
    rule(
        !from_images.is_empty() && from_images.iter().all(|image| pinned(image)),
        "the Dockerfile's base images name a version",
    );
    let cook = dockerfile.find("cargo chef cook");
    let copy_all = dockerfile.rfind("COPY . .");
    rule(
        matches!((cook, copy_all), (Some(cook), Some(copy)) if cook < copy),
        "the dependencies are built in their own layer before the sources are copied",
    );
    broken
}

/// A healthcheck's test as a list of words, whichever form the file used.
fn words(test: &Value) -> Vec<String> {
    match test {
        Value::Array(items) => items
            .iter()
            .filter_map(|item| item.as_str())
            .flat_map(|item| item.split_whitespace())
            .map(str::to_owned)
            .collect(),
        Value::String(text) => text.split_whitespace().map(str::to_owned).collect(),
        _ => Vec::new(),
    }
}

/// Whether an image reference names a version: a tag with a digit that is not a bare
/// major such as `1` or `15`, or a digest.
fn pinned(image: &str) -> bool {
    if image.contains("@sha256:") {
        return true;
    }
    let Some((_, tag)) = image.rsplit_once(':') else {
        return false;
    };
    let version = tag.split('-').next().unwrap_or("");
    version.contains('.') && version.chars().any(|c| c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(image: &str, expected: bool) {
        assert_eq!(pinned(image), expected, "{image}");
    }

    #[test]
    fn only_versioned_tags_are_pinned() {
        check("postgres:15.10-bookworm", true);
        check("rust:1.95.0-bookworm", true);
        check("debian:12.11-slim", true);
        check("postgres@sha256:0123abcd", true);
        check("postgres:15", false);
        check("rust:1-bookworm", false);
        check("debian:bookworm-slim", false);
        check("postgres", false);
        check("postgres:latest", false);
    }

    #[test]
    fn the_rules_catch_each_old_mistake() {
        let compose: Value = serde_json::json!({"services": {
            "db": {"image": "postgres:15", "healthcheck": {"test": ["CMD-SHELL", "pg_isready -U postgres"]},
                   "ports": [{"host_ip": null, "published": 5432, "target": 5432}]},
            "insights": {"environment": {"DATABASE_URL": "postgres://postgres:postgres@db:5432/insights"}}
        }});
        let dockerfile = "FROM rust:1-bookworm AS build\nCOPY . .\nRUN cargo build\n";
        assert_eq!(broken_rules(&compose, dockerfile).len(), 7);
    }
}
