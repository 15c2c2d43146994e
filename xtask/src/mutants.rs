//! `cargo xtask mutants`: mutation testing of the core and the file source with cargo-mutants,
//! installed into the target directory when missing, and the score each crate's own tests get.
//!
//! The settings are in `.cargo/mutants.toml`: each mutant is built with the `mutants` profile
//! (opt-level 1), so the property tests run in seconds, and tested with the crate's unit and
//! integration tests; mutants that no test can tell from the original are excluded there,
//! each with its reason.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use serde_json::Value;

use crate::service::scratch_dir;

/// The cargo-mutants release the score is measured with.
const CARGO_MUTANTS_VERSION: &str = "27.1.0";

/// The crates whose own tests are scored.
const CRATES: [&str; 2] = ["insights-core", "insights-mockts"];

/// The share of viable mutants a crate's tests must catch.
const REQUIRED_SCORE: f64 = 0.95;

/// How one crate fared.
#[derive(Debug, PartialEq)]
struct Score {
    caught: u64,
    missed: u64,
    timeout: u64,
    unviable: u64,
}

impl Score {
    /// Caught mutants (a timeout is caught: the mutant made the tests hang) over viable ones.
    fn share(&self) -> f64 {
        let viable = self.caught + self.missed + self.timeout;
        if viable == 0 {
            return 1.0;
        }
        (self.caught + self.timeout) as f64 / viable as f64
    }

    /// Reads cargo-mutants' `outcomes.json`.
    fn from_outcomes(outcomes: &Value) -> Result<Score> {
        let count = |field: &str| {
            outcomes[field]
                .as_u64()
                .with_context(|| format!("outcomes.json has no count `{field}`"))
        };
        Ok(Score {
            caught: count("caught")?,
            missed: count("missed")?,
            timeout: count("timeout")?,
            unviable: count("unviable")?,
        })
    }
}

/// cargo-mutants, installed under the target directory at the pinned version when missing.
fn cargo_mutants(root: &Path) -> Result<PathBuf> {
    let tools = scratch_dir(root, "tools")?;
    let binary = tools.join("bin").join("cargo-mutants");
    let installed = Command::new(&binary)
        .args(["mutants", "--version"])
        .output()
        .ok()
        .filter(|output| output.status.success())
        .map(|output| String::from_utf8_lossy(&output.stdout).into_owned());
    if installed.is_some_and(|version| version.trim().ends_with(CARGO_MUTANTS_VERSION)) {
        return Ok(binary);
    }
    eprintln!(
        "installing cargo-mutants {CARGO_MUTANTS_VERSION} into {}",
        tools.display()
    );
    let status = Command::new(env!("CARGO"))
        .args(["install", "cargo-mutants", "--locked", "--version"])
        .arg(CARGO_MUTANTS_VERSION)
        .arg("--root")
        .arg(&tools)
        .status()
        .context("failed to run cargo install")?;
    if !status.success() {
        bail!("cargo install cargo-mutants failed");
    }
    Ok(binary)
}

/// Runs cargo-mutants on each crate, or only on the lines changed since `base` (a git
/// revision) with `in_diff`, and fails when a crate's score is under [`REQUIRED_SCORE`], or
/// when any mutant of a changed line is missed.
pub fn run(root: &Path, in_diff: Option<&str>) -> Result<()> {
    let binary = cargo_mutants(root)?;
    let diff = match in_diff {
        None => None,
        Some(base) => {
            let output = Command::new("git")
                .args(["diff", base, "--"])
                .args(CRATES.map(|name| format!("crates/{name}")))
                .current_dir(root)
                .output()
                .context("failed to run git diff")?;
            if !output.status.success() {
                bail!("git diff {base} failed");
            }
            let path = scratch_dir(root, "mutants")?.join("changes.diff");
            std::fs::write(&path, &output.stdout)
                .with_context(|| format!("failed to write {}", path.display()))?;
            Some(path)
        }
    };
    let mut failures = Vec::new();
    for name in CRATES {
        let out = scratch_dir(root, &format!("mutants/{name}"))?;
        let mut command = Command::new(&binary);
        command
            // The profile, the test arguments, the timeout and the exclusions are in
            // .cargo/mutants.toml, which a plain `cargo mutants` reads too.
            .args(["mutants", "--package", name])
            .arg("--output")
            .arg(&out)
            .current_dir(root);
        if let Some(diff) = &diff {
            command.arg("--in-diff").arg(diff);
        }
        // An earlier run's results must not stand in for this one's.
        let outcomes_path = out.join("mutants.out").join("outcomes.json");
        if outcomes_path.exists() {
            std::fs::remove_file(&outcomes_path)
                .with_context(|| format!("failed to remove {}", outcomes_path.display()))?;
        }
        let status = command
            .status()
            .with_context(|| format!("failed to run {}", binary.display()))?;
        // cargo-mutants exits with 2 when a mutant is missed, 3 on a timeout and 4 when the
        // unmutated tests fail; the outcomes below decide. Other codes mean it could not run.
        if !matches!(status.code(), Some(0 | 2 | 3 | 4)) {
            bail!("{} failed: {status}", binary.display());
        }
        if diff.is_some() && !outcomes_path.exists() {
            println!("{name}: no mutants on the changed lines");
            continue;
        }
        let text = std::fs::read_to_string(&outcomes_path)
            .with_context(|| format!("failed to read {}", outcomes_path.display()))?;
        let outcomes: Value = serde_json::from_str(&text)
            .with_context(|| format!("failed to parse {}", outcomes_path.display()))?;
        if outcomes["outcomes"]
            .as_array()
            .and_then(|all| all.first())
            .is_some_and(|baseline| baseline["summary"] != "Success")
        {
            failures.push(format!("{name}: the unmutated tests fail"));
            continue;
        }
        let score = Score::from_outcomes(&outcomes)?;
        println!(
            "{name}: {} of {} viable mutants caught ({:.1} %): {} by a failing test, {} by a timeout; {} missed; {} unviable",
            score.caught + score.timeout,
            score.caught + score.missed + score.timeout,
            100.0 * score.share(),
            score.caught,
            score.timeout,
            score.missed,
            score.unviable,
        );
        let missed_list = out.join("mutants.out").join("missed.txt");
        if score.missed > 0 {
            println!("  missed ({}):", missed_list.display());
            let missed = std::fs::read_to_string(&missed_list).unwrap_or_default();
            for line in missed.lines() {
                println!("    {line}");
            }
        }
        let standard_met = match diff {
            Some(_) => score.missed == 0,
            None => score.share() >= REQUIRED_SCORE,
        };
        if !standard_met {
            failures.push(format!(
                "{name}: {:.1} % caught, {} missed",
                100.0 * score.share(),
                score.missed
            ));
        }
    }
    if !failures.is_empty() {
        bail!(
            "mutation testing is below the standard ({}):\n{}",
            match diff {
                Some(_) => "every mutant of a changed line caught".to_owned(),
                None => format!("{:.0} % of viable mutants caught", 100.0 * REQUIRED_SCORE),
            },
            failures.join("\n")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(outcomes: &str, expected: Score, share: f64) {
        let score = Score::from_outcomes(&serde_json::from_str(outcomes).unwrap()).unwrap();
        assert_eq!((&score, score.share()), (&expected, share));
    }

    #[test]
    fn timeouts_count_as_caught_and_unviable_mutants_not_at_all() {
        check(
            r#"{"caught": 90, "missed": 5, "timeout": 5, "unviable": 40}"#,
            Score {
                caught: 90,
                missed: 5,
                timeout: 5,
                unviable: 40,
            },
            0.95,
        );
        check(
            r#"{"caught": 0, "missed": 0, "timeout": 0, "unviable": 3}"#,
            Score {
                caught: 0,
                missed: 0,
                timeout: 0,
                unviable: 3,
            },
            1.0,
        );
        assert!(Score::from_outcomes(&serde_json::json!({"caught": 1})).is_err());
    }
}
