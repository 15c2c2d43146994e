//! The real binary as operators run it: graceful shutdown on SIGTERM and SIGINT, the sample
//! file reloaded on SIGHUP, JSON logs that carry request ids, and logs that never hold a DSN
//! password or an API key.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use insights_http::auth::{key_line, KeyScope};
use insights_testdb::TestDb;
use serde_json::Value;

use crate::support::TestApp;

const ORGANIZATION_DAY: &str = "/v1/insights/organizations/955c3c4d-3a03-4d79-9655-3871f5ad999d/usage?start=2024-04-01T00:00:00Z&end=2024-04-02T00:00:00Z&bucket=1h";

/// A running service binary and everything it has logged so far.
struct Service {
    child: Child,
    addr: SocketAddr,
    log: Arc<Mutex<String>>,
}

impl Service {
    /// Starts the binary with only `env` set (and no .env to find), and waits until it serves.
    fn start(env: &[(&str, &str)]) -> Service {
        let shipped = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../data/mock_timeseries.json"
        );
        let mut child = Command::new(env!("CARGO_BIN_EXE_insights-http"))
            .env_clear()
            .current_dir(std::env::temp_dir())
            .env("INSIGHTS_ADDR", "127.0.0.1:0")
            .env("INSIGHTS_TIMESERIES", shipped)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the service binary starts");
        let log = Arc::new(Mutex::new(String::new()));
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let log = log.clone();
            let addr_tx = addr_tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if let Some(addr) = served_addr(&line) {
                        let _ = addr_tx.send(addr);
                    }
                    let mut log = log.lock().unwrap();
                    log.push_str(&line);
                    log.push('\n');
                }
            });
        }
        let addr = addr_rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| {
                let _ = child.kill();
                panic!("the service did not start: {}", log.lock().unwrap())
            });
        Service { child, addr, log }
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// The log once `ready` holds for it, or after 10 s: the service writes a request's line
    /// before it answers, but the threads reading its output may not have read it yet.
    fn log_when(&self, ready: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let log = self.log();
            if ready(&log) || Instant::now() > deadline {
                return log;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -{signal}");
    }

    /// Waits for the process to exit; a bound, not a timing claim.
    fn wait(&mut self) -> std::process::ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "no exit: {}", self.log());
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The address from the "serving" line, in either log format.
fn served_addr(line: &str) -> Option<SocketAddr> {
    if !line.contains("serving") {
        return None;
    }
    if let Ok(event) = serde_json::from_str::<Value>(line) {
        return event.pointer("/fields/addr")?.as_str()?.parse().ok();
    }
    line.split_whitespace()
        .find_map(|field| field.strip_prefix("addr="))?
        .parse()
        .ok()
}

/// One HTTP/1.1 exchange on an open connection; returns the status and the body.
fn read_response(connection: &mut TcpStream, service: &Service) -> (u16, Vec<u8>) {
    let mut reader = BufReader::new(connection);
    let mut status_line = String::new();
    reader.read_line(&mut status_line).unwrap();
    let Some(status) = status_line
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
    else {
        panic!("no response: {}", service.log())
    };
    let mut length = 0;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        if line.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap();
            }
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
    (status, body)
}

fn get(service: &Service, path: &str, headers: &str) -> (u16, Vec<u8>) {
    let addr = service.addr;
    let mut connection = TcpStream::connect(addr).unwrap();
    write!(
        connection,
        "GET {path} HTTP/1.1\r\nHost: test\r\n{headers}Connection: close\r\n\r\n"
    )
    .unwrap();
    read_response(&mut connection, service)
}

/// A TCP proxy whose gate, while closed, holds back everything the database sends: a
/// database that has taken a query and not answered yet. Plain threads, because the test
/// itself blocks.
struct GatedProxy {
    port: u16,
    gate: Arc<(Mutex<bool>, std::sync::Condvar)>,
}

impl GatedProxy {
    fn start(target: (String, u16)) -> GatedProxy {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let gate = Arc::new((Mutex::new(true), std::sync::Condvar::new()));
        let shared_gate = gate.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().map_while(Result::ok) {
                let Ok(server) = TcpStream::connect((target.0.as_str(), target.1)) else {
                    continue;
                };
                let (mut client_in, mut server_out) =
                    (client.try_clone().unwrap(), server.try_clone().unwrap());
                std::thread::spawn(move || std::io::copy(&mut client_in, &mut server_out));
                let gate = shared_gate.clone();
                std::thread::spawn(move || {
                    let (mut server_in, mut client_out) = (server, client);
                    let mut chunk = [0u8; 16 * 1024];
                    while let Ok(n_read @ 1..) = server_in.read(&mut chunk) {
                        let (lock, opened) = &*gate;
                        drop(
                            opened
                                .wait_while(lock.lock().unwrap(), |open| !*open)
                                .unwrap(),
                        );
                        if client_out.write_all(&chunk[..n_read]).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        GatedProxy { port, gate }
    }

    fn set_open(&self, open: bool) {
        let (lock, opened) = &*self.gate;
        *lock.lock().unwrap() = open;
        opened.notify_all();
    }
}

/// The value of one unlabelled metric.
fn metric(service: &Service, name: &str) -> String {
    let (_, body) = get(service, "/metrics", "");
    let text = String::from_utf8(body).unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix(&format!("{name} ")))
        .unwrap_or_default()
        .to_owned()
}

#[actix_web::test]
async fn a_signal_refuses_new_connections_and_lets_requests_in_flight_finish() {
    let expected = TestApp::spawn().await.get(ORGANIZATION_DAY).await.body;
    let db = TestDb::new();
    for signal in ["TERM", "INT"] {
        let proxy = GatedProxy::start(db.host_port());
        let url = db.url_via("127.0.0.1", proxy.port);
        let mut service = Service::start(&[
            ("RUST_LOG", "info"),
            ("DATABASE_URL", &url),
            ("INSIGHTS_DB_CONNECT_TIMEOUT_MS", "60000"),
            ("INSIGHTS_DB_WAIT_TIMEOUT_MS", "60000"),
            ("INSIGHTS_DB_STATEMENT_TIMEOUT_MS", "60000"),
            ("INSIGHTS_REQUEST_TIMEOUT_MS", "60000"),
        ]);
        // The request waits on the gated database, so it is in flight when the signal comes.
        proxy.set_open(false);
        let mut connection = TcpStream::connect(service.addr).unwrap();
        write!(
            connection,
            "GET {ORGANIZATION_DAY} HTTP/1.1\r\nHost: test\r\n\r\n"
        )
        .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        // Two in flight: the held request and the metrics request asking.
        while metric(&service, "insights_http_requests_in_flight") != "2" {
            assert!(Instant::now() < deadline, "the request never arrived");
            std::thread::sleep(Duration::from_millis(10));
        }
        service.signal(signal);
        while TcpStream::connect(service.addr).is_ok() {
            assert!(
                Instant::now() < deadline,
                "SIG{signal}: still accepting connections"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        // New connections are refused; now let the database answer.
        proxy.set_open(true);
        let (status, body) = read_response(&mut connection, &service);
        assert_eq!((status, body == expected), (200, true), "SIG{signal}");
        drop(connection);
        let exit = service.wait();
        let log = service.log();
        assert!(exit.success(), "SIG{signal}: {exit:?}\n{log}");
        assert!(log.contains("stopped"), "SIG{signal}: {log}");
    }
}

#[actix_web::test]
async fn logs_never_hold_passwords_or_keys_and_json_logs_carry_request_ids() {
    const PASSWORD: &str = "Pa55-never-logged";
    const KEY: &str = "ins_key_never_logged_0123456789";
    const WRONG_KEY: &str = "ins_wrong_key_never_logged_42";
    let db = TestDb::new();
    let keys_file = std::env::temp_dir().join(format!("insights-keys-{}", db.name()));
    let scope = KeyScope::Brand("11111111-1111-1111-1111-111111111111".parse().unwrap());
    std::fs::write(&keys_file, key_line(&scope, KEY, "test")).unwrap();
    let keys_path = keys_file.to_str().unwrap();
    // Trust authentication ignores the password, so the service really connects with it.
    let reachable = format!("{} password={PASSWORD}", db.url());
    let closed_port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let unreachable = format!("postgres://reader:{PASSWORD}@127.0.0.1:{closed_port}/insights");
    for (database_url, format, data_status) in [
        (reachable.as_str(), "json", 200),
        (unreachable.as_str(), "text", 503),
    ] {
        let service = Service::start(&[
            ("RUST_LOG", "debug"),
            ("INSIGHTS_LOG_FORMAT", format),
            ("DATABASE_URL", database_url),
            ("INSIGHTS_API_KEYS_FILE", keys_path),
        ]);
        let good = format!("Authorization: Bearer {KEY}\r\n");
        let wrong = format!("Authorization: Bearer {WRONG_KEY}\r\n");
        let brand = "/v1/brands/11111111-1111-1111-1111-111111111111/metadata";
        assert_eq!(get(&service, brand, &good).0, data_status, "{format}");
        assert_eq!(get(&service, brand, &wrong).0, 401, "{format}");
        // A tenant's key may not read /metrics; an operator's may.
        assert_eq!(get(&service, "/metrics", &good).0, 403, "{format}");
        let traced = "X-Request-Id: trace-me-7\r\n";
        assert_eq!(get(&service, "/healthz", traced).0, 200, "{format}");
        // A request the server cannot read is answered and logged at WARN, not ERROR.
        let mut garbage = TcpStream::connect(service.addr).unwrap();
        garbage.write_all(b"NOT HTTP AT ALL\r\n\r\n").unwrap();
        let mut answer = String::new();
        let _ = garbage.read_to_string(&mut answer);
        assert!(answer.starts_with("HTTP/1.1 400 "), "{answer}");
        let log = service.log_when(|log| {
            log.contains("trace-me-7")
                && log.contains("answered a request the server could not read")
        });
        for secret in [PASSWORD, KEY, WRONG_KEY] {
            assert!(!log.contains(secret), "{format} logs hold {secret}:\n{log}");
        }
        if format == "json" {
            let events: Vec<Value> = log
                .lines()
                .map(|line| {
                    serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}"))
                })
                .collect();
            let requests: Vec<&Value> = events
                .iter()
                .filter(|event| event["fields"]["message"] == "request")
                .collect();
            assert_eq!(requests.len(), 4, "{log}");
            assert!(
                events.iter().all(|event| event["level"] != "ERROR"),
                "{log}"
            );
            assert!(requests
                .iter()
                .all(|event| event["span"]["request_id"].is_string()));
            assert!(requests
                .iter()
                .any(|event| event["span"]["request_id"] == "trace-me-7"));
        }
    }
    std::fs::remove_file(keys_file).unwrap();
}

/// Runs `insights-http healthcheck` against `addr` and returns whether it succeeded.
fn healthcheck(addr: &str) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_insights-http"))
        .arg("healthcheck")
        .env_clear()
        .current_dir(std::env::temp_dir())
        .env("INSIGHTS_ADDR", addr)
        .output()
        .expect("the healthcheck runs")
}

#[actix_web::test]
async fn the_healthcheck_subcommand_passes_on_a_serving_service_and_fails_without_one() {
    let mut service = Service::start(&[]);
    // The compose file's form: the service listens on every interface, the probe uses loopback.
    let listen = format!("0.0.0.0:{}", service.addr.port());
    let passed = healthcheck(&listen);
    assert!(
        passed.status.success(),
        "{}",
        String::from_utf8_lossy(&passed.stderr)
    );

    service.signal("TERM");
    assert!(service.wait().success());
    let failed = healthcheck(&service.addr.to_string());
    assert_eq!(failed.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(stderr.contains("is not healthy"), "{stderr}");
}

/// Waits until the log has `count` lines holding `message`; a bound, not a timing claim.
fn await_log_lines(service: &Service, message: &str, count: usize) {
    let log = service.log_when(|log| log.matches(message).count() >= count);
    assert!(
        log.matches(message).count() >= count,
        "no {count} × {message:?}:\n{log}"
    );
}

#[actix_web::test]
async fn sighup_reloads_the_sample_file_and_a_file_that_does_not_load_changes_nothing() {
    let shipped = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../data/mock_timeseries.json"
    );
    let rows: Vec<Value> = serde_json::from_slice(&std::fs::read(shipped).unwrap()).unwrap();
    // The same file without the afternoons of the day the request asks about.
    let fewer: Vec<&Value> = rows
        .iter()
        .filter(|row| {
            let at = row["timestamp"].as_str().unwrap();
            !(at.starts_with("2024-04-01T1") || at.starts_with("2024-04-01T2"))
        })
        .collect();
    assert!(fewer.len() < rows.len());
    let dir = std::env::temp_dir().join(format!("insights-sighup-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (live, fewer_path) = (dir.join("live.json"), dir.join("fewer.json"));
    std::fs::write(&fewer_path, serde_json::to_vec(&fewer).unwrap()).unwrap();
    std::fs::copy(shipped, &live).unwrap();

    let service = Service::start(&[
        ("RUST_LOG", "info"),
        ("INSIGHTS_TIMESERIES", live.to_str().unwrap()),
    ]);
    let as_shipped = get(&service, ORGANIZATION_DAY, "");
    assert_eq!(as_shipped.0, 200);
    // What a service started on the smaller file answers: a reload must answer the same.
    let restarted = Service::start(&[("INSIGHTS_TIMESERIES", fewer_path.to_str().unwrap())]);
    let as_fewer = get(&restarted, ORGANIZATION_DAY, "");
    assert_ne!(as_fewer, as_shipped);

    std::fs::copy(&fewer_path, &live).unwrap();
    service.signal("HUP");
    await_log_lines(&service, "time series reloaded on SIGHUP", 1);
    assert_eq!(get(&service, ORGANIZATION_DAY, ""), as_fewer);
    let samples = fewer.len().to_string();
    assert_eq!(
        metric(&service, "insights_timeseries_samples_loaded"),
        samples
    );

    // A file cut short does not load; the service goes on answering from the last good one.
    let whole = std::fs::read(shipped).unwrap();
    std::fs::write(&live, &whole[..whole.len() / 2]).unwrap();
    service.signal("HUP");
    await_log_lines(&service, "the sample file did not reload", 1);
    assert_eq!(get(&service, ORGANIZATION_DAY, ""), as_fewer);

    std::fs::write(&live, &whole).unwrap();
    service.signal("HUP");
    await_log_lines(&service, "time series reloaded on SIGHUP", 2);
    assert_eq!(get(&service, ORGANIZATION_DAY, ""), as_shipped);
    std::fs::remove_dir_all(dir).unwrap();
}

/// `insights-http healthcheck` run in `dir` with only `INSIGHTS_ADDR` set: it reads the
/// configuration (and `.env`) before it probes, so its error shows which `.env` it read.
fn healthcheck_in(dir: &std::path::Path, addr: &str) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_insights-http"))
        .arg("healthcheck")
        .env_clear()
        .current_dir(dir)
        .env("INSIGHTS_ADDR", addr)
        .output()
        .expect("the healthcheck runs");
    assert!(!output.status.success(), "nothing serves {addr}");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn only_the_working_directorys_env_file_is_read() {
    let root = std::env::temp_dir().join(format!("insights-dotenv-{}", std::process::id()));
    let below = root.join("below");
    std::fs::create_dir_all(&below).unwrap();
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    // A value the service refuses, so the error says whether the file was read.
    std::fs::write(root.join(".env"), "INSIGHTS_LOG_FORMAT=xml\n").unwrap();
    let from_below = healthcheck_in(&below, &closed);
    assert!(
        from_below.contains("is not healthy") && !from_below.contains("INSIGHTS_LOG_FORMAT"),
        "a parent directory's .env was read: {from_below}"
    );
    let from_root = healthcheck_in(&root, &closed);
    assert!(
        from_root.contains("INSIGHTS_LOG_FORMAT must be text or json"),
        "the working directory's .env was not read: {from_root}"
    );
    // A line that does not parse stops the service, named by its variable, not its value.
    std::fs::write(
        below.join(".env"),
        "DATABASE_URL='postgres://reader:Pa55-in-dotenv@db/insights\n",
    )
    .unwrap();
    let unparsed = healthcheck_in(&below, &closed);
    assert!(
        unparsed.contains("the line setting DATABASE_URL does not parse")
            && !unparsed.contains("Pa55-in-dotenv"),
        "{unparsed}"
    );
    std::fs::remove_dir_all(root).unwrap();
}

/// Lines go to stdout from a thread of their own, in batches. None is lost to that: every
/// request of several connections at once has its line, and the lines still waiting when the
/// service stops are written before it exits.
#[test]
fn every_request_has_its_log_line_up_to_the_last_before_it_stops() {
    const CONNECTIONS: usize = 4;
    const REQUESTS_EACH: usize = 250;
    let mut service = Service::start(&[("RUST_LOG", "info")]);
    std::thread::scope(|scope| {
        for _ in 0..CONNECTIONS {
            scope.spawn(|| {
                let mut connection = TcpStream::connect(service.addr).unwrap();
                for _ in 0..REQUESTS_EACH {
                    write!(connection, "GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n").unwrap();
                    assert_eq!(read_response(&mut connection, &service).0, 200);
                }
            });
        }
    });
    service.signal("TERM");
    assert!(service.wait().success(), "{}", service.log());
    let log = service.log_when(|log| log.contains("stopped"));
    assert!(log.contains("stopped"), "{log}");
    assert_eq!(
        log.matches("path=/healthz}").count(),
        CONNECTIONS * REQUESTS_EACH,
        "{log}"
    );
}
