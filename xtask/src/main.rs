//! Project automation, run as `cargo xtask <command>`; `cargo xtask help` lists the commands.

mod codegen;
mod db_init;
mod gen_data;
#[cfg(test)]
mod tidy;

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use insights_core::Catalogue;

const HELP: &str = "\
cargo xtask <command>

Commands:
  gen-data    regenerate data/mock_timeseries.json (deterministic and seeded)
  codegen     regenerate db/init/init.sql (from db/schema.sql and data/catalogue.tsv)
              and openapi/insights.json and openapi/monolith.yaml (from the routes)
  db-init     apply db/init/init.sql to DATABASE_URL; an already seeded database is left as it is
  help        print this text
";

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = project_root();
    match args.first().map(String::as_str) {
        Some("gen-data") if args.len() == 1 => write_file(
            &root.join("data/mock_timeseries.json"),
            &gen_data::shipped(),
        ),
        Some("codegen") if args.len() == 1 => {
            for (path, contents) in generated_files(&root)? {
                write_file(&root.join(path), &contents)?;
            }
            Ok(())
        }
        Some("db-init") if args.len() == 1 => {
            let url = std::env::var("DATABASE_URL")
                .context("failed to read DATABASE_URL, which db-init applies the seed to")?;
            db_init::run(&url, &read_file(&root.join("db/init/init.sql"))?)
        }
        Some("help") | None => {
            print!("{HELP}");
            Ok(())
        }
        Some(_) => bail!("unknown command or arguments: {}\n\n{HELP}", args.join(" ")),
    }
}

/// Every file `codegen` writes, with its expected contents, relative to the root.
fn generated_files(root: &Path) -> Result<Vec<(&'static str, String)>> {
    let schema = read_file(&root.join("db/schema.sql"))?;
    let catalogue = Catalogue::parse_tsv(&read_file(&root.join("data/catalogue.tsv"))?)
        .context("failed to parse data/catalogue.tsv")?;
    let documents = insights_http::openapi::documents();
    Ok(vec![
        ("db/init/init.sql", codegen::init_sql(&schema, &catalogue)),
        ("openapi/insights.json", documents.v3.clone()),
        (
            "openapi/monolith.yaml",
            codegen::monolith_yaml(&documents.v3),
        ),
    ])
}

fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the root")
        .to_path_buf()
}

fn read_file(path: &Path) -> Result<String> {
    fs::read_to_string(path).with_context(|| format!("failed to read {}", path.display()))
}

fn write_file(path: &Path, contents: &str) -> Result<()> {
    if fs::read_to_string(path).ok().as_deref() == Some(contents) {
        eprintln!("unchanged: {}", path.display());
        return Ok(());
    }
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)
            .with_context(|| format!("failed to create {}", parent.display()))?;
    }
    fs::write(path, contents).with_context(|| format!("failed to write {}", path.display()))?;
    eprintln!("wrote: {}", path.display());
    Ok(())
}
