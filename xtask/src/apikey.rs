//! `cargo xtask apikey`: makes a new API key and the key-file line that admits it.

use anyhow::{bail, Context, Result};
use insights_http::auth::{key_line, KeyScope, KEY_PREFIX};

/// Reads `--brand ID`, `--organization ID` or `--operator` (and an optional `--label TEXT`),
/// then prints the key, once, and the line for `INSIGHTS_API_KEYS_FILE`.
pub fn run(args: &[String]) -> Result<()> {
    let mut scope = None;
    let mut label = String::new();
    let mut args = args.to_vec();
    if let Some(at) = args.iter().position(|arg| arg == "--operator") {
        args.remove(at);
        scope = Some(KeyScope::Operator);
    }
    for pair in args.chunks(2) {
        let [flag, value] = pair else {
            bail!("{} needs a value", pair[0]);
        };
        let id = || {
            value
                .parse::<uuid::Uuid>()
                .with_context(|| format!("failed to read {flag} {value:?} as a UUID"))
        };
        match flag.as_str() {
            "--brand" if scope.is_none() => scope = Some(KeyScope::Brand(id()?.into())),
            "--organization" if scope.is_none() => {
                scope = Some(KeyScope::Organization(id()?.into()))
            }
            "--brand" | "--organization" => {
                bail!("a key has one scope: give --brand, --organization or --operator once")
            }
            "--label" if !value.chars().any(char::is_whitespace) => label = value.clone(),
            "--label" => bail!("--label must be one word, got {value:?}"),
            other => bail!("unknown flag {other}"),
        }
    }
    let scope = scope.context("failed to find --brand ID, --organization ID or --operator")?;
    let key = new_key()?;
    println!("The key, shown only this once; give it to the client, who sends it as `Authorization: Bearer <key>`:");
    println!("{key}");
    println!();
    println!("The line to add to the INSIGHTS_API_KEYS_FILE file (it holds only the key's SHA-256), then restart the service:");
    println!("{}", key_line(&scope, &key, &label));
    Ok(())
}

/// 256 random bits from the operating system, in hex after the key prefix.
pub fn new_key() -> Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|error| anyhow::anyhow!("{error}"))
        .context("failed to read random bytes from the operating system")?;
    let hex: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
    Ok(format!("{KEY_PREFIX}{hex}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_long_random_and_prefixed() {
        let first = new_key().unwrap();
        let second = new_key().unwrap();
        assert_ne!(first, second);
        assert_eq!(first.len(), KEY_PREFIX.len() + 64);
        assert!(first.starts_with(KEY_PREFIX));
    }

    fn check(args: &[&str], expected_error: &str) {
        let args: Vec<String> = args.iter().map(|arg| arg.to_string()).collect();
        let error = run(&args).unwrap_err();
        assert_eq!(format!("{error:#}"), expected_error);
    }

    #[test]
    fn names_what_is_wrong_with_the_arguments() {
        check(
            &[],
            "failed to find --brand ID, --organization ID or --operator",
        );
        check(
            &[
                "--operator",
                "--brand",
                "11111111-1111-1111-1111-111111111111",
            ],
            "a key has one scope: give --brand, --organization or --operator once",
        );
        check(&["--brand"], "--brand needs a value");
        check(
            &["--brand", "acme"],
            "failed to read --brand \"acme\" as a UUID: invalid character: found `m` at 2",
        );
        check(
            &[
                "--brand",
                "11111111-1111-1111-1111-111111111111",
                "--organization",
                "955c3c4d-3a03-4d79-9655-3871f5ad999d",
            ],
            "a key has one scope: give --brand, --organization or --operator once",
        );
        check(
            &["--label", "two words"],
            "--label must be one word, got \"two words\"",
        );
        check(&["--tenant", "x"], "unknown flag --tenant");
    }
}
