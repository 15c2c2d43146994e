//! `cargo xtask db-init`: applies `db/init/init.sql` to `DATABASE_URL`, once.

use anyhow::{Context, Result};
use postgres::{Client, NoTls};

/// Seeds the database unless it already has the schema; never changes a seeded database.
pub fn run(url: &str, init_sql: &str) -> Result<()> {
    let mut client = Client::connect(url, NoTls)
        .map_err(explain)
        .context("failed to connect to DATABASE_URL")?;
    let seeded: bool = client
        .query_one("SELECT to_regclass('public.brands') IS NOT NULL", &[])
        .map_err(explain)
        .context("failed to check for an existing schema")?
        .get(0);
    if seeded {
        let counts = client
            .query_one(
                "SELECT (SELECT count(*) FROM brands), (SELECT count(*) FROM organizations), (SELECT count(*) FROM locations),
                        (SELECT count(*) FROM electric_sensors), (SELECT count(*) FROM circuits)",
                &[],
            )
            .map_err(explain)
            .context("failed to count the existing rows")?;
        let count = |index: usize| counts.get::<_, i64>(index);
        println!(
            "already seeded: the database has the schema, with {} brands, {} organizations, {} locations, {} electric sensors and {} circuits; nothing was changed",
            count(0),
            count(1),
            count(2),
            count(3),
            count(4)
        );
        return Ok(());
    }
    // init.sql is one transaction, so a failure leaves the database as it was.
    client
        .batch_execute(init_sql)
        .map_err(explain)
        .context("failed to apply db/init/init.sql")?;
    println!("seeded: applied db/init/init.sql");
    Ok(())
}

/// `postgres::Error` prints only "db error"; the server's message is what helps.
fn explain(error: postgres::Error) -> anyhow::Error {
    match error.as_db_error() {
        Some(db_error) => anyhow::anyhow!(
            "{} (SQLSTATE {})",
            db_error.message(),
            db_error.code().code()
        ),
        None => anyhow::anyhow!(error),
    }
}
