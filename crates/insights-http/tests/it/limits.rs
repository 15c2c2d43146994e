//! Limits: query strings over the cap are 414, and a request that outlives its time is a
//! 503 that says so; both are problem+json like every other error.

use std::time::Duration;

use serde_json::json;

use crate::errors::problem;
use crate::support::TestApp;

#[actix_web::test]
async fn a_query_string_over_the_cap_is_414() {
    let app = TestApp::spawn_settings(&[("INSIGHTS_MAX_QUERY_BYTES", "100")]).await;
    let path = "/v1/insights/circuits/d36e0c8c-d7d4-5740-88c4-dea626057ff1/usage";
    let at_cap = format!(
        "?start=2024-04-01T00:00:00Z&end=2024-04-02T00:00:00Z&bucket=1h&tz={}",
        "X".repeat(35)
    );
    assert_eq!(at_cap.len() - 1, 100);
    // At the cap the request is parsed, and the made-up zone is what is wrong.
    assert_eq!(app.get(&format!("{path}{at_cap}")).await.status, 400);
    let answer = app.get(&format!("{path}{at_cap}X")).await;
    assert_eq!(
        (answer.status, answer.content_type.as_str()),
        (414, "application/problem+json")
    );
    assert_eq!(
        answer.json(),
        json!({
            "type": "about:blank",
            "title": "URI Too Long",
            "status": 414,
            "detail": "the query string is 101 bytes long; the limit is 100",
        })
    );
}

/// The settings of a metadata database that accepts connections and never answers, with
/// timeouts far longer than any request's, and the task that holds those connections.
fn silent_database() -> (Vec<(&'static str, String)>, tokio::task::JoinHandle<()>) {
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    silent.set_nonblocking(true).unwrap();
    let port = silent.local_addr().unwrap().port();
    let silent = tokio::net::TcpListener::from_std(silent).unwrap();
    let held = tokio::spawn(async move {
        let mut connections = Vec::new();
        while let Ok((connection, _)) = silent.accept().await {
            connections.push(connection);
        }
    });
    let settings = vec![
        (
            "DATABASE_URL",
            format!("postgres://postgres@127.0.0.1:{port}/insights"),
        ),
        ("INSIGHTS_DB_POOL_SIZE", "2".to_owned()),
        ("INSIGHTS_DB_CONNECT_TIMEOUT_MS", "30000".to_owned()),
        ("INSIGHTS_DB_WAIT_TIMEOUT_MS", "30000".to_owned()),
        ("INSIGHTS_DB_STATEMENT_TIMEOUT_MS", "30000".to_owned()),
    ];
    (settings, held)
}

/// Serves with `settings` and `more` on top.
async fn spawn_with(settings: &[(&str, String)], more: &[(&str, &str)]) -> TestApp {
    let mut all: Vec<(&str, &str)> = settings
        .iter()
        .map(|(name, value)| (*name, value.as_str()))
        .collect();
    all.extend_from_slice(more);
    TestApp::spawn_settings(&all).await
}

#[actix_web::test]
async fn a_request_that_outlives_its_time_is_503() {
    let (database, held) = silent_database();
    let app = spawn_with(&database, &[("INSIGHTS_REQUEST_TIMEOUT_MS", "200")]).await;
    for path in [
        "/v1/brands/11111111-1111-1111-1111-111111111111/metadata",
        "/readyz",
    ] {
        let answer = app.get(path).await;
        assert_eq!(
            (answer.status, answer.retry_after.as_deref()),
            (503, Some("2")),
            "{path}"
        );
        assert_eq!(
            answer.json(),
            problem(
                503,
                "Service Unavailable",
                "The request took longer than the service allows; retry after the Retry-After delay."
            ),
            "{path}"
        );
    }
    // Liveness needs no dependency, so it never times out.
    assert_eq!(app.get("/healthz").await.status, 200);
    held.abort();
}

/// Reads until the server closes the connection (or resets it); false if it is still open
/// after the hang guard, which is far longer than the client timeout under test.
fn closed_by_server(stream: &mut std::net::TcpStream) -> bool {
    use std::io::Read;
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut buffer = [0u8; 4096];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(error) if error.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

/// One whole `/healthz` request and its answer, on a keep-alive connection.
fn healthz_on(stream: &mut std::net::TcpStream) -> String {
    use std::io::{Read, Write};
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
        .unwrap();
    let mut answer = Vec::new();
    let mut buffer = [0u8; 1024];
    while !answer.ends_with(br#"{"status":"ok"}"#) {
        let read = stream.read(&mut buffer).unwrap();
        assert!(read > 0, "closed before the answer");
        answer.extend_from_slice(&buffer[..read]);
    }
    String::from_utf8_lossy(&answer).into_owned()
}

#[actix_web::test]
async fn stalled_request_heads_are_closed_and_cannot_lock_others_out() {
    const CAP: usize = 6;
    let cap = CAP.to_string();
    let app = TestApp::spawn_settings(&[
        ("INSIGHTS_CLIENT_TIMEOUT_S", "1"),
        ("INSIGHTS_KEEP_ALIVE_S", "30"),
        ("INSIGHTS_MAX_CONNECTIONS", &cap),
        ("INSIGHTS_WORKERS", "1"),
    ])
    .await;
    let addr = app.address.trim_start_matches("http://").to_owned();
    actix_web::rt::task::spawn_blocking(move || {
        use std::io::Write;
        // Half stall inside their first request head; half send one whole request, then
        // stall inside the second: the case actix-http leaves without a timer.
        let mut stalled: Vec<std::net::TcpStream> = (0..CAP)
            .map(|index| {
                let mut stream = std::net::TcpStream::connect(&addr).unwrap();
                if index % 2 == 1 {
                    assert!(healthz_on(&mut stream).starts_with("HTTP/1.1 200"));
                }
                stream.write_all(b"GET /healthz HTTP/1.1\r\nHo").unwrap();
                stream
            })
            .collect();
        // Every slot is taken by a stalled client, yet a new client is answered: the stalled
        // connections are closed and free their slots.
        let mut newcomer = std::net::TcpStream::connect(&addr).unwrap();
        newcomer
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        assert!(healthz_on(&mut newcomer).starts_with("HTTP/1.1 200"));
        for (index, stream) in stalled.iter_mut().enumerate() {
            assert!(
                closed_by_server(stream),
                "stalled connection {index} is still open"
            );
        }
    })
    .await
    .unwrap();
}

/// Sends raw bytes on a new connection and reads the whole answer until the server closes.
fn raw_exchange(addr: &str, bytes: &[u8]) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    // The head may be refused before all of it is sent; what matters is the answer.
    let _ = stream.write_all(bytes);
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

#[actix_web::test]
async fn the_servers_own_refusals_are_problems_with_request_ids_and_are_counted() {
    let app = TestApp::spawn_settings(&[("INSIGHTS_CLIENT_TIMEOUT_S", "1")]).await;
    let addr = app.address.trim_start_matches("http://").to_owned();
    let answers = actix_web::rt::task::spawn_blocking(move || {
        let huge_header = format!(
            "GET /healthz HTTP/1.1\r\nHost: test\r\nX-Big: {}\r\n\r\n",
            "a".repeat(200 * 1024)
        );
        [
            (400, raw_exchange(&addr, b"NOT HTTP AT ALL\r\n\r\n")),
            (431, raw_exchange(&addr, huge_header.as_bytes())),
            (408, raw_exchange(&addr, b"GET /healthz HTTP/1.1\r\nHo")),
        ]
    })
    .await
    .unwrap();
    for (status, answer) in answers {
        let (head, body) = answer.split_once("\r\n\r\n").unwrap_or_default();
        let head = head.to_ascii_lowercase();
        assert!(head.starts_with(&format!("http/1.1 {status} ")), "{answer}");
        assert!(
            head.contains("content-type: application/problem+json"),
            "{answer}"
        );
        assert!(head.contains("x-request-id: "), "{answer}");
        let problem: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(problem["status"], status, "{answer}");
        assert!(problem["detail"]
            .as_str()
            .is_some_and(|detail| !detail.is_empty()));
    }
    let metrics = String::from_utf8(app.get("/metrics").await.body).unwrap();
    for status in [400, 408, 431] {
        let line =
            format!(r#"insights_http_requests_total{{route="unmatched",status="{status}"}} 1"#);
        assert!(metrics.contains(&line), "{line} in\n{metrics}");
    }
}

#[actix_web::test]
async fn a_request_slower_than_the_client_timeout_is_answered_and_keeps_its_connection() {
    // The client has 1 s to send a head; the request itself may take 1.5 s.
    let (database, held) = silent_database();
    let app = spawn_with(
        &database,
        &[
            ("INSIGHTS_REQUEST_TIMEOUT_MS", "1500"),
            ("INSIGHTS_CLIENT_TIMEOUT_S", "1"),
        ],
    )
    .await;
    let addr = app.address.trim_start_matches("http://").to_owned();
    actix_web::rt::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(&addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        stream
            .write_all(b"GET /readyz HTTP/1.1\r\nHost: test\r\n\r\n")
            .unwrap();
        let mut answer = Vec::new();
        let mut buffer = [0u8; 1024];
        while !answer.ends_with(b"retry after the Retry-After delay.\"}") {
            let read = stream.read(&mut buffer).unwrap();
            assert!(read > 0, "closed before the answer");
            answer.extend_from_slice(&buffer[..read]);
        }
        assert!(answer.starts_with(b"HTTP/1.1 503 "));
        // The same connection serves the next request.
        assert!(healthz_on(&mut stream).starts_with("HTTP/1.1 200"));
    })
    .await
    .unwrap();
    held.abort();
}

#[actix_web::test]
async fn bytes_that_are_no_request_do_not_hold_a_connection_open() {
    let app = TestApp::spawn_settings(&[
        ("INSIGHTS_CLIENT_TIMEOUT_S", "1"),
        ("INSIGHTS_KEEP_ALIVE_S", "30"),
    ])
    .await;
    let addr = app.address.trim_start_matches("http://").to_owned();
    actix_web::rt::task::spawn_blocking(move || {
        use std::io::Write;
        let mut streams = Vec::new();
        // A blank line after an answer: it ends no request head.
        let mut blank = std::net::TcpStream::connect(&addr).unwrap();
        assert!(healthz_on(&mut blank).starts_with("HTTP/1.1 200"));
        blank.write_all(b"\r\n\r\n").unwrap();
        streams.push(("blank lines after an answer", blank));
        // A chunked body whose data holds a blank line, never finished.
        let mut chunked = std::net::TcpStream::connect(&addr).unwrap();
        chunked
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n\r\n\r\nab\r\n\r\n")
            .unwrap();
        streams.push(("a chunked body that never ends", chunked));
        // One byte at a time, slower than the client timeout allows in all.
        let mut trickle = std::net::TcpStream::connect(&addr).unwrap();
        assert!(healthz_on(&mut trickle).starts_with("HTTP/1.1 200"));
        for byte in b"GET /heal" {
            // The server may close before the last byte: what matters is that it closes.
            if trickle.write_all(&[*byte]).is_err() {
                break;
            }
            std::thread::sleep(Duration::from_millis(150));
        }
        streams.push(("a head sent a byte at a time", trickle));
        for (what, mut stream) in streams {
            assert!(closed_by_server(&mut stream), "{what}: still open");
        }
    })
    .await
    .unwrap();
}

#[actix_web::test]
async fn an_answer_the_client_does_not_read_is_dropped_after_the_client_timeout() {
    let app = TestApp::spawn_settings(&[("INSIGHTS_CLIENT_TIMEOUT_S", "1")]).await;
    let addr: std::net::SocketAddr = app.address.trim_start_matches("http://").parse().unwrap();
    // A brand's minute buckets over six days, with the options that add to every usage
    // object: several megabytes, far more than the socket buffers hold.
    let path = "/v1/insights/brands/11111111-1111-1111-1111-111111111111/usage?start=2024-04-01T00:00:00Z&end=2024-04-07T00:00:00Z&bucket=1m&demand_interval=5m&baseload=true&compare=previous&top=100";
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stream = socket.connect(addr).await.unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    stream
        .write_all(format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").as_bytes())
        .await
        .unwrap();
    // Wait for the answer to start (its work may take a while on a busy machine), then read
    // nothing for longer than the client timeout, then everything that is left.
    let mut received = vec![0u8; 1];
    stream.read_exact(&mut received).await.unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let read = tokio::time::timeout(Duration::from_secs(60), async {
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(count) => received.extend_from_slice(&buffer[..count]),
            }
        }
    })
    .await;
    assert!(read.is_ok(), "the connection is still open");
    // The head says how long the answer is; less of it arrived.
    let text = String::from_utf8_lossy(&received);
    let (head, body) = text.split_once("\r\n\r\n").expect("a whole head arrived");
    assert!(head.starts_with("HTTP/1.1 200 "), "{head}");
    let length: usize = head
        .lines()
        .find_map(|line| {
            line.to_ascii_lowercase()
                .strip_prefix("content-length: ")
                .map(str::to_owned)
        })
        .expect("a content-length")
        .parse()
        .unwrap();
    assert!(
        length > 1 << 20,
        "{length} bytes: too small to fill the socket buffers"
    );
    assert!(
        body.len() < length,
        "{} bytes of {length} arrived: the answer was not dropped",
        body.len()
    );
}
