//! Starting a server for a test and talking to it.

use std::sync::{Arc, OnceLock};

use insights_http::startup::Application;
use insights_http::Settings;
use insights_mockts::MockTimeSeries;
use serde_json::Value;

/// The shipped data, loaded once per test binary.
pub fn shipped_timeseries() -> Arc<MockTimeSeries> {
    static SHIPPED: OnceLock<Arc<MockTimeSeries>> = OnceLock::new();
    SHIPPED
        .get_or_init(|| {
            let path = concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../data/mock_timeseries.json"
            );
            Arc::new(MockTimeSeries::from_path(path.as_ref()).expect("the shipped data loads"))
        })
        .clone()
}

/// A running server and a client for it.
pub struct TestApp {
    pub address: String,
    client: awc::Client,
}

/// A response's status, the headers tests look at, and its body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub content_type: String,
    pub retry_after: Option<String>,
    pub request_id: Option<String>,
    pub www_authenticate: Option<String>,
    /// The caching headers: `ETag`, `Cache-Control` and `Vary`.
    pub etag: Option<String>,
    pub cache_control: Option<String>,
    pub vary: Option<String>,
    /// Every header, as (lower-case name, value).
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    /// A header's value, if the answer has it.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|error| {
            panic!(
                "body is not JSON ({error}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

/// A file of `contents` in the system's temporary directory, named for this process and a
/// counter, so that tests running at once never share one.
pub fn scratch_file(name: &str, contents: &str) -> std::path::PathBuf {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let index = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = std::env::temp_dir().join(format!(
        "insights-test-{}-{index}-{name}",
        std::process::id()
    ));
    std::fs::write(&path, contents).unwrap();
    path
}

impl TestApp {
    /// Serves the embedded catalogue and the shipped data on a free port, built from the
    /// settings as `main` builds it.
    pub async fn spawn() -> TestApp {
        TestApp::spawn_settings(&[]).await
    }

    /// Serves PostgreSQL metadata from `url`, with short timeouts, a cache of `cache_ttl`
    /// (zero caches nothing), and the shipped data, built from the settings as `main` builds
    /// it.
    pub async fn spawn_postgres(url: &str, cache_ttl: std::time::Duration) -> TestApp {
        let ttl = cache_ttl.as_secs().to_string();
        TestApp::spawn_settings(&[
            ("DATABASE_URL", url),
            ("INSIGHTS_DB_POOL_SIZE", "4"),
            ("INSIGHTS_DB_CONNECT_TIMEOUT_MS", "500"),
            ("INSIGHTS_DB_WAIT_TIMEOUT_MS", "500"),
            ("INSIGHTS_DB_STATEMENT_TIMEOUT_MS", "1000"),
            ("INSIGHTS_CACHE_TTL_S", &ttl),
            ("INSIGHTS_CACHE_CAPACITY", "1000"),
        ])
        .await
    }

    /// Serves what `Application::build` builds from these settings, on a free port with the
    /// shipped data unless they say otherwise; nothing else of the environment is read.
    pub async fn spawn_settings(overrides: &[(&str, &str)]) -> TestApp {
        let shipped = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../data/mock_timeseries.json"
        );
        let mut values = vec![
            ("INSIGHTS_ADDR", "127.0.0.1:0"),
            ("INSIGHTS_TIMESERIES", shipped),
        ];
        values.extend_from_slice(overrides);
        let settings = Settings::from_lookup(|key| {
            values
                .iter()
                .rev()
                .find(|(name, _)| *name == key)
                .map(|(_, value)| value.to_string())
        })
        .expect("the test's settings are valid");
        let application = Application::build(&settings)
            .await
            .expect("the service starts");
        let address = format!("http://{}", application.addr());
        actix_web::rt::spawn(application.run_until_stopped());
        TestApp {
            address,
            client: awc::Client::builder().disable_redirects().finish(),
        }
    }

    /// Serves the embedded catalogue and samples from `json`, a sample file's text, written
    /// to a scratch file that the file source reads at start.
    pub async fn spawn_with_samples(json: &str) -> TestApp {
        let path = scratch_file("samples.json", json);
        let app = TestApp::spawn_settings(&[("INSIGHTS_TIMESERIES", path.to_str().unwrap())]).await;
        std::fs::remove_file(&path).unwrap();
        app
    }

    /// GETs a path and query, as written (no re-encoding).
    pub async fn get(&self, path_and_query: &str) -> Answer {
        self.request("GET", path_and_query).await
    }

    pub async fn request(&self, method: &str, path_and_query: &str) -> Answer {
        self.request_with(method, path_and_query, &[]).await
    }

    /// Sends a request with extra headers.
    pub async fn request_with(
        &self,
        method: &str,
        path_and_query: &str,
        headers: &[(&str, &str)],
    ) -> Answer {
        let method = actix_web::http::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self
            .client
            .request(method, format!("{}{path_and_query}", self.address));
        // Appended, so a test can send a header twice.
        for (name, value) in headers {
            request = request.append_header((*name, *value));
        }
        let mut response = request
            .send()
            .await
            .unwrap_or_else(|error| panic!("request to {path_and_query} failed: {error}"));
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .map(|value| value.to_str().unwrap().to_owned())
        };
        let content_type = header("content-type").unwrap_or_default();
        let retry_after = header("retry-after");
        let request_id = header("x-request-id");
        let www_authenticate = header("www-authenticate");
        let (etag, cache_control, vary) = (header("etag"), header("cache-control"), header("vary"));
        let all_headers = response
            .headers()
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_owned(),
                    value.to_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        let body = response.body().limit(16 << 20).await.unwrap().to_vec();
        Answer {
            status: response.status().as_u16(),
            content_type,
            retry_after,
            request_id,
            www_authenticate,
            etag,
            cache_control,
            vary,
            headers: all_headers,
            body,
        }
    }
}
