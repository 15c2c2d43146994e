//! Admission by estimated work: a usage request is light up to `INSIGHTS_LIGHT_WORK` figures
//! (circuits × ranges) and heavy past it, and the class changes where the work runs, never
//! the answer. Long answers waiting for their clients hold a byte budget, and while they fill
//! it heavy work is refused.

use std::time::Duration;

use tokio::io::AsyncWriteExt;

use crate::errors::problem;
use crate::support::TestApp;

const CIRCUIT: &str = "/v1/insights/circuits/d36e0c8c-d7d4-5740-88c4-dea626057ff1/usage";
const ORGANIZATION: &str = "/v1/insights/organizations/955c3c4d-3a03-4d79-9655-3871f5ad999d/usage";

/// The requests that read the time series counted by class so far, as `(light, heavy)`.
async fn classified(app: &TestApp) -> (u64, u64) {
    let metrics = String::from_utf8(app.get("/metrics").await.body).unwrap();
    let count = |class: &str| {
        let prefix = format!("insights_series_requests_total{{class=\"{class}\"}} ");
        metrics
            .lines()
            .find_map(|line| line.strip_prefix(&prefix))
            .unwrap_or_else(|| panic!("no {prefix} in\n{metrics}"))
            .parse()
            .unwrap()
    };
    (count("light"), count("heavy"))
}

#[actix_web::test]
async fn a_request_is_light_up_to_the_threshold_and_heavy_past_it() {
    let app = TestApp::spawn_settings(&[("INSIGHTS_LIGHT_WORK", "24")]).await;
    fn check(path: &str, expected: (u64, u64)) -> (String, (u64, u64)) {
        (path.to_owned(), expected)
    }
    for (path, expected) in [
        // One circuit, 24 hourly buckets: 24 figures, at the threshold.
        check(
            &format!("{CIRCUIT}?start=2024-04-01T00:00:00Z&end=2024-04-02T00:00:00Z&bucket=1h"),
            (1, 0),
        ),
        // One hour more is a 25th bucket.
        check(
            &format!("{CIRCUIT}?start=2024-04-01T00:00:00Z&end=2024-04-02T01:00:00Z&bucket=1h"),
            (1, 1),
        ),
        // Without buckets, one figure a circuit: the seed's first organization has 12.
        check(
            &format!("{ORGANIZATION}?start=2024-04-01T00:00:00Z&end=2024-04-02T00:00:00Z"),
            (2, 1),
        ),
        // Two hourly buckets over its 12 circuits are 24 figures; three are 36.
        check(
            &format!(
                "{ORGANIZATION}?start=2024-04-01T00:00:00Z&end=2024-04-01T02:00:00Z&bucket=1h"
            ),
            (3, 1),
        ),
        check(
            &format!(
                "{ORGANIZATION}?start=2024-04-01T00:00:00Z&end=2024-04-01T03:00:00Z&bucket=1h"
            ),
            (3, 2),
        ),
    ] {
        assert_eq!(app.get(&path).await.status, 200, "{path}");
        assert_eq!(classified(&app).await, expected, "after {path}");
    }
}

#[actix_web::test]
async fn light_and_heavy_work_give_the_same_answers() {
    let everything_light = TestApp::spawn_settings(&[("INSIGHTS_LIGHT_WORK", "16000000")]).await;
    let everything_heavy = TestApp::spawn_settings(&[("INSIGHTS_LIGHT_WORK", "0")]).await;
    for path in [
        format!("{CIRCUIT}?start=2024-04-01T00:00:00Z&end=2024-04-03T00:00:00Z&bucket=1h&demand_interval=15m"),
        format!("{ORGANIZATION}?start=2024-04-01T00:00:00Z&end=2024-04-02T00:00:00Z&top=3&baseload=true"),
        "/v1/insights/organizations/955c3c4d-3a03-4d79-9655-3871f5ad999d/data-range".to_owned(),
        "/v1/insights/data-range".to_owned(),
    ] {
        let light = everything_light.get(&path).await;
        let heavy = everything_heavy.get(&path).await;
        assert_eq!(light.status, 200, "{path}");
        assert_eq!(light.json(), heavy.json(), "{path}");
        // Heavy answers are written, and tagged, on the compute pool (`answer`): the same
        // bytes and the same tag as the middlewares give a light one.
        assert_eq!(light.body, heavy.body, "{path}");
        assert_eq!(light.etag, heavy.etag, "{path}");
    }
    let csv = format!(
        "{ORGANIZATION}?start=2024-04-01T00:00:00Z&end=2024-04-02T00:00:00Z&bucket=1h&format=csv"
    );
    let (light, heavy) = (
        everything_light.get(&csv).await,
        everything_heavy.get(&csv).await,
    );
    assert!(
        light.content_type.starts_with("text/csv"),
        "{}",
        light.content_type
    );
    assert_eq!(
        (&light.content_type, &light.body, &light.etag),
        (&heavy.content_type, &heavy.body, &heavy.etag)
    );
    // A client that holds the tag gets a 304 either way.
    let tag = heavy.etag.clone().unwrap();
    let again = everything_heavy
        .request_with("GET", &csv, &[("If-None-Match", &tag)])
        .await;
    assert_eq!(again.status, 304);
    // Usage requests are classed by their work, data ranges by their scope: the whole
    // fleet's is heavy, an organization's light.
    assert_eq!(classified(&everything_light).await, (4, 1));
    assert_eq!(classified(&everything_heavy).await, (1, 5));
}

/// A circuit's 10,000 minute buckets with everything that adds to each (heavy, at 25,334
/// figures): 4.9 MB of JSON, more than a budget of 1 MiB, and than the kernel's socket buffers
/// hold for a client that does not read ([`the_kernel_cannot_take_it_all`]).
const LONG: &str = "/v1/insights/circuits/d36e0c8c-d7d4-5740-88c4-dea626057ff1/usage?start=2024-04-01T00:00:00Z&end=2024-04-07T22:40:00Z&bucket=1m&demand_interval=5m&baseload=true&compare=previous";

/// Fails, naming the cause, where the kernel may buffer an answer of `length` bytes whole for
/// a client that does not read (the server's send buffer grows up to `tcp_wmem`'s largest,
/// 4 MiB by default), since the answer would then leave the server at once.
fn the_kernel_cannot_take_it_all(length: usize) {
    let wmem = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_wmem").unwrap_or_default();
    let largest: usize = wmem
        .split_whitespace()
        .last()
        .and_then(|bytes| bytes.parse().ok())
        .unwrap_or(4 << 20);
    // The client's 4 KiB window, and what the server keeps in its own buffer, besides.
    assert!(
        length > largest + (256 << 10),
        "an answer of {length} bytes fits the kernel's send buffers ({largest} bytes at most)"
    );
}

/// Bytes of answers waiting for their clients, by `/metrics`, once `wanted` holds of them;
/// the server gives a claim back when its connection notices, so this waits for it, up to a
/// hang guard far longer than that takes.
async fn answers_waiting_once(app: &TestApp, wanted: impl Fn(u64) -> bool) -> u64 {
    for _ in 0..600 {
        let metrics = String::from_utf8(app.get("/metrics").await.body).unwrap();
        let bytes = metrics
            .lines()
            .find_map(|line| line.strip_prefix("insights_answers_waiting_bytes "))
            .unwrap_or_else(|| panic!("no insights_answers_waiting_bytes in\n{metrics}"))
            .parse()
            .unwrap();
        if wanted(bytes) {
            return bytes;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the answers waiting never reached the state wanted");
}

#[actix_web::test]
async fn answers_no_client_reads_hold_the_budget_and_heavy_work_waits_for_them_to_go() {
    // A client timeout far longer than the test, so that the unread answer stays claimed
    // until the client goes.
    let app = TestApp::spawn_settings(&[
        ("INSIGHTS_ANSWER_BUDGET_MIB", "1"),
        ("INSIGHTS_CLIENT_TIMEOUT_S", "60"),
    ])
    .await;
    // A client that reads, chunk by chunk: the whole answer, and nothing held after it.
    let read = app.get(LONG).await;
    assert_eq!(read.status, 200);
    assert_eq!(read.json()["series"].as_array().map(Vec::len), Some(10_000));
    the_kernel_cannot_take_it_all(read.body.len());
    assert_eq!(answers_waiting_once(&app, |bytes| bytes == 0).await, 0);

    // A client that asks for it and never reads, with a receive buffer far smaller.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut unread = socket
        .connect(app.address.trim_start_matches("http://").parse().unwrap())
        .await
        .unwrap();
    unread
        .write_all(format!("GET {LONG} HTTP/1.1\r\nHost: test\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let held = answers_waiting_once(&app, |bytes| bytes > 0).await;
    assert_eq!(held, read.body.len() as u64);

    // 12 circuits in 48 hourly buckets: 576 figures, past the default 512.
    let heavy =
        format!("{ORGANIZATION}?start=2024-04-01T00:00:00Z&end=2024-04-03T00:00:00Z&bucket=1h");
    let refused = app.get(&heavy).await;
    // Retry-After is the client timeout, the longest an unread answer is kept.
    assert_eq!(
        (refused.status, refused.retry_after.as_deref()),
        (503, Some("60"))
    );
    assert_eq!(
        refused.json(),
        problem(
            503,
            "Service Unavailable",
            "The service holds as many long answers waiting for their clients to read them as it may; retry after the Retry-After delay."
        )
    );
    // Light work goes on.
    let light = format!("{CIRCUIT}?start=2024-04-01T00:00:00Z&end=2024-04-02T00:00:00Z");
    assert_eq!(app.get(&light).await.status, 200);
    let metrics = String::from_utf8(app.get("/metrics").await.body).unwrap();
    assert!(
        metrics.contains("insights_compute_refused_total{reason=\"answers_waiting\"} 1\n"),
        "{metrics}"
    );

    // Once the client goes, its answer's claim is given back and heavy work starts again.
    drop(unread);
    assert_eq!(answers_waiting_once(&app, |bytes| bytes == 0).await, 0);
    assert_eq!(app.get(&heavy).await.status, 200);
}
