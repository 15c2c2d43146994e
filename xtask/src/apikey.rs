//! `cargo xtask apikey`: makes a new API key and the key-file line that admits it.

use anyhow::{Context, Result};
use insights_http::auth::{key_line, KeyScope, KEY_PREFIX};

/// The key's scope and its label.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    scope: ScopeArgs,
    /// One word that names the key in the file; not beginning with `rate=`.
    #[arg(long, value_name = "WORD", value_parser = label)]
    label: Option<String>,
}

/// Exactly one scope.
#[derive(Debug, clap::Args)]
#[group(required = true, multiple = false)]
struct ScopeArgs {
    /// A key for this brand and everything under it.
    #[arg(long, value_name = "ID")]
    brand: Option<uuid::Uuid>,
    /// A key for this organization and everything under it.
    #[arg(long, value_name = "ID")]
    organization: Option<uuid::Uuid>,
    /// A key for operations: /metrics, and no tenant's data.
    #[arg(long)]
    operator: bool,
}

fn label(text: &str) -> Result<String, String> {
    if text.is_empty() || text.chars().any(char::is_whitespace) {
        Err(format!("must be one word, got {text:?}"))
    } else if text.starts_with("rate=") {
        // The label follows the hash, where the key file reads `rate=…` as the key's own rate
        // limit: such a label would override INSIGHTS_RATE_LIMIT, or stop the service.
        Err(format!(
            "must not begin with rate=, which the key file reads as the key's own rate limit, got {text:?}; to give the key a rate, add rate=<per second>/<burst> after the hash by hand"
        ))
    } else {
        Ok(text.to_owned())
    }
}

impl Args {
    fn scope(&self) -> Option<KeyScope> {
        match (
            self.scope.brand,
            self.scope.organization,
            self.scope.operator,
        ) {
            (Some(id), None, false) => Some(KeyScope::Brand(id.into())),
            (None, Some(id), false) => Some(KeyScope::Organization(id.into())),
            (None, None, true) => Some(KeyScope::Operator),
            _ => None,
        }
    }
}

/// Prints a new key, once, and the line for `INSIGHTS_API_KEYS_FILE`.
pub fn run(args: &Args) -> Result<()> {
    let scope = args
        .scope()
        .context("a key has exactly one scope: --brand, --organization or --operator")?;
    let key = new_key()?;
    println!("The key, shown only this once; give it to the client, who sends it as `Authorization: Bearer <key>`:");
    println!("{key}");
    println!();
    println!("The line to add to the INSIGHTS_API_KEYS_FILE file (it holds only the key's SHA-256), then restart the service:");
    println!(
        "{}",
        key_line(&scope, &key, args.label.as_deref().unwrap_or_default())
    );
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

    fn check(args: &[&str], expected: Result<Option<KeyScope>, clap::error::ErrorKind>) {
        use clap::Parser;
        #[derive(Debug, Parser)]
        struct Cli {
            #[command(flatten)]
            args: Args,
        }
        let mut full = vec!["apikey"];
        full.extend_from_slice(args);
        let actual = Cli::try_parse_from(&full)
            .map(|cli| cli.args.scope())
            .map_err(|error| error.kind());
        assert_eq!(actual, expected, "{args:?}");
    }

    #[test]
    fn takes_exactly_one_scope_and_a_one_word_label() {
        use clap::error::ErrorKind;
        const BRAND: &str = "11111111-1111-1111-1111-111111111111";
        check(
            &["--brand", BRAND, "--label", "dashboard"],
            Ok(Some(KeyScope::Brand(
                BRAND.parse::<uuid::Uuid>().unwrap().into(),
            ))),
        );
        check(&["--operator"], Ok(Some(KeyScope::Operator)));
        check(&[], Err(ErrorKind::MissingRequiredArgument));
        check(&["--brand"], Err(ErrorKind::InvalidValue));
        check(&["--brand", "acme"], Err(ErrorKind::ValueValidation));
        check(
            &["--brand", BRAND, "--organization", BRAND],
            Err(ErrorKind::ArgumentConflict),
        );
        check(
            &["--operator", "--brand", BRAND],
            Err(ErrorKind::ArgumentConflict),
        );
        check(
            &["--operator", "--label", "two words"],
            Err(ErrorKind::ValueValidation),
        );
        check(&["--tenant", "x"], Err(ErrorKind::UnknownArgument));
        check(
            &["--operator", "--label", "rate=1000/1000"],
            Err(ErrorKind::ValueValidation),
        );
        check(
            &["--operator", "--label", "rate=abc"],
            Err(ErrorKind::ValueValidation),
        );
        check(
            &["--operator", "--label", "ratelimited"],
            Ok(Some(KeyScope::Operator)),
        );
    }

    #[test]
    fn an_accepted_label_is_read_back_as_a_label_not_a_rate() {
        for text in ["dashboard", "ratelimited", "rate", "x=rate=1/1", "rate:1/1"] {
            let label = label(text).unwrap();
            let line = key_line(&KeyScope::Operator, "ins_test", &label);
            let ring = insights_http::auth::KeyRing::parse(&line).unwrap();
            assert_eq!(ring.rates(), [None], "{line}");
        }
        assert_eq!(
            label("rate=1000/1000").unwrap_err(),
            r#"must not begin with rate=, which the key file reads as the key's own rate limit, got "rate=1000/1000"; to give the key a rate, add rate=<per second>/<burst> after the hash by hand"#
        );
    }
}
