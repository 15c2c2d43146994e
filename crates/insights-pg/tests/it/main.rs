//! Integration tests of the PostgreSQL metadata store and time-series source against a real
//! server.

mod lookups;
mod outage;
mod pooler;
mod replicas;
mod rollups;
mod unavailable;

use std::time::Duration;

use insights_pg::{PgConfig, PgMetadata, Pooler};
use insights_testdb::TestDb;

/// A store on a scratch database with short timeouts.
fn store(db: &TestDb) -> PgMetadata {
    store_at(db.url())
}

fn store_at(url: &str) -> PgMetadata {
    PgMetadata::new(&config(url)).unwrap()
}

/// The settings of [`store_at`]: a pool of 4, short timeouts, straight to the server.
fn config(url: &str) -> PgConfig {
    PgConfig {
        url: url.to_owned(),
        pool_size: 4,
        connect_timeout: Duration::from_millis(500),
        wait_timeout: Duration::from_millis(500),
        statement_timeout: Duration::from_millis(1000),
        pooler: Pooler::None,
    }
}
