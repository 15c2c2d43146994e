//! Outages answer `Unavailable` promptly, and the store recovers by itself.

use insights_core::{MetadataError, MetadataRepo, OrganizationId};
use insights_testdb::TestDb;

use crate::{store, store_at};

/// A guard against hanging, not a performance bound: the store's own timeouts are far shorter.
const HANG_GUARD: std::time::Duration = std::time::Duration::from_secs(30);

fn east() -> OrganizationId {
    OrganizationId("955c3c4d-3a03-4d79-9655-3871f5ad999d".parse().unwrap())
}

#[tokio::test]
async fn an_unreachable_server_is_unavailable_not_a_hang() {
    // Nothing listens on a port that was just freed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let store = store_at(&format!(
        "host=127.0.0.1 port={port} user=postgres dbname=postgres"
    ));
    let answer = tokio::time::timeout(HANG_GUARD, store.organization(east()))
        .await
        .expect("the store does not hang");
    assert!(
        matches!(answer, Err(MetadataError::Unavailable { .. })),
        "{answer:?}"
    );
    let ready = tokio::time::timeout(HANG_GUARD, store.check_ready())
        .await
        .expect("the store does not hang");
    assert!(
        matches!(ready, Err(MetadataError::Unavailable { .. })),
        "{ready:?}"
    );
}

#[tokio::test]
async fn terminated_connections_are_replaced() {
    let db = TestDb::new();
    let store = store(&db);
    assert!(store.organization(east()).await.unwrap().is_some());
    db.execute(&format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{}' AND pid <> pg_backend_pid()",
        db.name()
    ));
    // The pool may hand out the dead connection once; each failure must be Unavailable, and
    // the store must answer again within a few attempts without being rebuilt.
    let mut failures = Vec::new();
    for _ in 0..5 {
        match store.organization(east()).await {
            Ok(answer) => {
                assert!(answer.is_some());
                assert!(
                    failures
                        .iter()
                        .all(|error| matches!(error, MetadataError::Unavailable { .. })),
                    "{failures:?}"
                );
                return;
            }
            Err(error) => failures.push(error),
        }
    }
    panic!("the store did not recover: {failures:?}");
}

#[tokio::test]
async fn a_missing_schema_is_inconsistent_not_unavailable() {
    let db = TestDb::new();
    db.execute("DROP TABLE circuits");
    let answer = store(&db).organization(east()).await;
    assert!(
        matches!(answer, Err(MetadataError::Inconsistent { .. })),
        "{answer:?}"
    );
}

#[test]
fn the_url_is_never_shown() {
    let store = store_at("postgres://reader:s3cret-pass@db.internal:6543/meta");
    assert_eq!(
        store.describe(),
        "PostgreSQL at db.internal:6543/meta as reader"
    );
    assert!(!format!("{store:?}").contains("s3cret"));
    let config = insights_pg::PgConfig {
        url: "postgres://reader:s3cret-pass@db.internal/meta".into(),
        pool_size: 1,
        connect_timeout: std::time::Duration::from_secs(1),
        wait_timeout: std::time::Duration::from_secs(1),
        statement_timeout: std::time::Duration::from_secs(1),
        pooler: insights_pg::Pooler::None,
    };
    assert!(!format!("{config:?}").contains("s3cret"));
    let error = insights_pg::PgMetadata::new(&insights_pg::PgConfig {
        url: "postgres://reader:s3cret@db/meta?sslmode=require".into(),
        ..config.clone()
    })
    .unwrap_err();
    assert_eq!(error, insights_pg::PgSetupError::TlsRequired);
    let error = insights_pg::PgMetadata::new(&insights_pg::PgConfig {
        url: "postgres://reader:s3cret@db:notaport/meta".into(),
        ..config
    })
    .unwrap_err();
    assert!(!error.to_string().contains("s3cret"), "{error}");
}

#[tokio::test]
async fn a_refused_login_is_unavailable_and_says_what_to_check() {
    // insights_reader is created without LOGIN, so the server refuses it (SQLSTATE 28000).
    let db = TestDb::new();
    let (host, port) = db.host_port();
    let store = store_at(&format!(
        "host={host} port={port} user=insights_reader dbname={}",
        db.name()
    ));
    for answer in [
        store.organization(east()).await.map(|_| ()),
        store.check_ready().await,
    ] {
        match answer {
            Err(MetadataError::Unavailable { reason }) => assert!(
                reason.starts_with("the database refused the login")
                    && reason.contains("SQLSTATE 28000"),
                "{reason}"
            ),
            other => panic!("expected Unavailable, got {other:?}"),
        }
    }
}
