//! `Settings`: every configuration value, read from the environment once, in `main`.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use insights_pg::{PgConfig, Pooler};
use time::Duration;

/// One environment variable the service reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Variable {
    /// Its name.
    pub name: &'static str,
    /// Its default, as the documentation writes it (Markdown).
    pub default: &'static str,
    /// What it does (Markdown).
    pub meaning: &'static str,
}

/// Every variable the service reads, in the order `docs/operations.md` lists them: the one
/// list that document's table is generated from (`cargo xtask codegen`), and that a tidy test
/// holds against the names the code reads and against `.env.example`.
pub const VARIABLES: &[Variable] = &[
    Variable {
        name: "INSIGHTS_ADDR",
        default: "`127.0.0.1:8080`",
        meaning: "address to listen on (`0.0.0.0:8080` in a container; port 0 picks a free port, logged on the `serving` line)",
    },
    Variable {
        name: "INSIGHTS_TIMESERIES",
        default: "`data/mock_timeseries.json`",
        meaning: "the sample file (loaded again on SIGHUP), or `postgres` for the `power_samples` table",
    },
    Variable {
        name: "INSIGHTS_TIMESERIES_URL",
        default: "`DATABASE_URL`",
        meaning: "with `INSIGHTS_TIMESERIES=postgres`: the database holding the samples",
    },
    Variable {
        name: "INSIGHTS_CATALOGUE",
        default: "unset",
        meaning: "a catalogue file for the embedded store",
    },
    Variable {
        name: "INSIGHTS_MAX_WINDOW_DAYS",
        default: "`366`",
        meaning: "the longest window a request may ask for",
    },
    Variable {
        name: "DATABASE_URL",
        default: "unset",
        meaning: "metadata from this PostgreSQL; unset serves the embedded seed catalogue",
    },
    Variable {
        name: "INSIGHTS_DB_POOL_SIZE",
        default: "`16`",
        meaning: "connections per pool (metadata and samples each have one)",
    },
    Variable {
        name: "INSIGHTS_DB_CONNECT_TIMEOUT_MS",
        default: "`500`",
        meaning: "limit on opening one connection",
    },
    Variable {
        name: "INSIGHTS_DB_WAIT_TIMEOUT_MS",
        default: "`500`",
        meaning: "limit on waiting for a pooled connection",
    },
    Variable {
        name: "INSIGHTS_DB_STATEMENT_TIMEOUT_MS",
        default: "`1000`",
        meaning: "limit on one statement, server- and client-side",
    },
    Variable {
        name: "INSIGHTS_DB_POOLER",
        default: "`none`",
        meaning: "`transaction` when the databases are reached through a pooler such as PgBouncer: statements unnamed, session settings as `SET LOCAL` in each statement's transaction; `none` prepares statements once per connection",
    },
    Variable {
        name: "INSIGHTS_CACHE_TTL_S",
        default: "`60`",
        meaning: "seconds a metadata answer from PostgreSQL is cached (0: none)",
    },
    Variable {
        name: "INSIGHTS_CACHE_CAPACITY",
        default: "`10000`",
        meaning: "most metadata answers cached",
    },
    Variable {
        name: "INSIGHTS_REQUEST_TIMEOUT_MS",
        default: "`10000`",
        meaning: "a request's work still unfinished after this is a 503",
    },
    Variable {
        name: "INSIGHTS_MAX_QUERY_BYTES",
        default: "`2048`",
        meaning: "a longer query string is a 414",
    },
    Variable {
        name: "INSIGHTS_MAX_CONNECTIONS",
        default: "`4096`",
        meaning: "open connections served at once; more wait in the listen backlog",
    },
    Variable {
        name: "INSIGHTS_WORKERS",
        default: "the number of cores",
        meaning: "worker threads",
    },
    Variable {
        name: "INSIGHTS_CLIENT_TIMEOUT_S",
        default: "`5`",
        meaning: "time a client has, after connecting and after each answer, to send a whole request head; a stalled connection is closed",
    },
    Variable {
        name: "INSIGHTS_COMPUTE_THREADS",
        default: "the number of cores",
        meaning: "low-priority threads that usage requests run on, off the workers",
    },
    Variable {
        name: "INSIGHTS_COMPUTE_SLOTS",
        default: "4 × the cores",
        meaning: "heavy requests run at once, each caller at most half of them; more wait in the queue",
    },
    Variable {
        name: "INSIGHTS_QUEUE_CAPACITY",
        default: "64 × the cores",
        meaning: "heavy requests that may wait for a slot at once, each caller at most half of them; past it, 503",
    },
    Variable {
        name: "INSIGHTS_QUEUE_TARGET_MS",
        default: "`100`",
        meaning: "the longest a heavy request waits for a slot; one that cannot start by then (predicted from the drain rate, or by its timer) is 503",
    },
    Variable {
        name: "INSIGHTS_LIGHT_WORK",
        default: "`512`",
        meaning: "figures (circuits × buckets and intervals) up to which a usage request is light: answered at once, never queued or refused for want of a slot",
    },
    Variable {
        name: "INSIGHTS_KEEP_ALIVE_S",
        default: "`5`",
        meaning: "how long an idle keep-alive connection stays open (0: none)",
    },
    Variable {
        name: "INSIGHTS_SHUTDOWN_TIMEOUT_S",
        default: "`30`",
        meaning: "how long requests in flight get to finish on SIGTERM or SIGINT",
    },
    Variable {
        name: "INSIGHTS_API_KEYS_FILE",
        default: "unset",
        meaning: "the API key file; unset turns authentication off",
    },
    Variable {
        name: "INSIGHTS_METRICS_REQUIRE_KEY",
        default: "`true`",
        meaning: "with keys on, whether `/metrics` needs an operator's key",
    },
    Variable {
        name: "INSIGHTS_RATE_LIMIT",
        default: "`off`",
        meaning: "`<requests per second>/<burst>` for each API key (a key's own `rate=` in the key file wins), or for each client address while keys are off; over it, `/v1/` answers 429",
    },
    Variable {
        name: "INSIGHTS_LOG_FORMAT",
        default: "`text`",
        meaning: "`text` for people, `json` for log pipelines",
    },
    Variable {
        name: "RUST_LOG",
        default: "`info`",
        meaning: "log filter, in `tracing-subscriber`'s `EnvFilter` syntax",
    },
];

/// Why the configuration is unusable; names the variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingsError {
    /// The environment variable.
    pub variable: &'static str,
    /// What is wrong with its value.
    pub reason: String,
}

impl fmt::Display for SettingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.variable, self.reason)
    }
}

impl std::error::Error for SettingsError {}

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// One human-readable line per event.
    Text,
    /// One JSON object per event, with the span fields (such as `request_id`).
    Json,
}

/// The machine's cores, the default for both kinds of thread.
fn cores() -> usize {
    std::thread::available_parallelism().map_or(2, usize::from)
}

/// The figures (circuits × ranges) up to which a usage request is light: about a
/// millisecond of work on the file source at most (a circuit in 512 buckets), measured in
/// `docs/performance.md`.
pub const DEFAULT_LIGHT_WORK: usize = 512;

/// Per-request and per-connection limits; the server and the middleware read them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// `INSIGHTS_REQUEST_TIMEOUT_MS`: a request still unanswered after this gets a 503.
    pub request_timeout: std::time::Duration,
    /// `INSIGHTS_MAX_QUERY_BYTES`: a longer query string gets a 414.
    pub max_query_bytes: usize,
    /// `INSIGHTS_MAX_CONNECTIONS`: open connections beyond this wait in the listen backlog.
    pub max_connections: usize,
    /// `INSIGHTS_WORKERS`: worker threads; each serves many connections.
    pub workers: usize,
    /// `INSIGHTS_KEEP_ALIVE_S`: how long an idle keep-alive connection is held open.
    pub keep_alive: std::time::Duration,
    /// `INSIGHTS_SHUTDOWN_TIMEOUT_S`: how long in-flight requests get to finish on SIGTERM.
    pub shutdown_timeout: std::time::Duration,
    /// `INSIGHTS_CLIENT_TIMEOUT_S`: how long a client has, after connecting and after each
    /// answer, to send a whole request head; a connection that stalls longer is closed.
    pub client_timeout: std::time::Duration,
    /// `INSIGHTS_COMPUTE_THREADS`: threads that heavy (usage) requests run on, apart from the
    /// workers that serve connections.
    pub compute_threads: usize,
    /// `INSIGHTS_COMPUTE_SLOTS`: heavy requests run at once; more wait in the queue.
    pub compute_slots: usize,
    /// `INSIGHTS_QUEUE_CAPACITY`: heavy requests that may wait for a slot at once.
    pub queue_capacity: usize,
    /// `INSIGHTS_QUEUE_TARGET_MS`: the longest a heavy request waits for a slot before a 503.
    pub queue_target: std::time::Duration,
    /// `INSIGHTS_LIGHT_WORK`: the figures (circuits × ranges) up to which a usage request is
    /// light, answered at once without a slot.
    pub light_work: usize,
}

impl Limits {
    /// The sizes of the heavy requests' slots and queue.
    pub fn admission(&self) -> crate::admission::AdmissionLimits {
        crate::admission::AdmissionLimits {
            slots: self.compute_slots,
            queue: self.queue_capacity,
            target: self.queue_target,
        }
    }
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            request_timeout: std::time::Duration::from_secs(10),
            max_query_bytes: 2048,
            max_connections: 4096,
            workers: cores(),
            client_timeout: std::time::Duration::from_secs(5),
            compute_threads: cores(),
            compute_slots: 4 * cores(),
            queue_capacity: 64 * cores(),
            queue_target: std::time::Duration::from_millis(100),
            light_work: DEFAULT_LIGHT_WORK,
            keep_alive: std::time::Duration::from_secs(5),
            shutdown_timeout: std::time::Duration::from_secs(30),
        }
    }
}

/// The service's configuration. `.env.example` documents each variable.
#[derive(Clone, PartialEq, Eq)]
pub struct Settings {
    /// `INSIGHTS_ADDR`: where to listen.
    pub addr: SocketAddr,
    /// `INSIGHTS_TIMESERIES`: the sample file, or `postgres` for the `power_samples` table.
    pub timeseries_path: PathBuf,
    /// With `INSIGHTS_TIMESERIES=postgres`: `INSIGHTS_TIMESERIES_URL`, else `DATABASE_URL`.
    pub timeseries_database: Option<PgConfig>,
    /// `INSIGHTS_CATALOGUE`: a catalogue file for the embedded store; `None` is the seed.
    pub catalogue_path: Option<PathBuf>,
    /// `INSIGHTS_MAX_WINDOW_DAYS`: the longest window a request may ask for.
    pub max_window: Duration,
    /// `DATABASE_URL` and the `INSIGHTS_DB_*` limits; `None` serves the embedded catalogue.
    pub database: Option<PgConfig>,
    /// `INSIGHTS_CACHE_TTL_S`: how long PostgreSQL metadata is cached; zero caches nothing.
    pub cache_ttl: std::time::Duration,
    /// `INSIGHTS_CACHE_CAPACITY`: the most metadata entries cached.
    pub cache_capacity: usize,
    /// `INSIGHTS_LOG_FORMAT`: `text` (the default) or `json`.
    pub log_format: LogFormat,
    /// The `INSIGHTS_REQUEST_TIMEOUT_MS`, `_MAX_QUERY_BYTES`, `_MAX_CONNECTIONS`, `_WORKERS`,
    /// `_KEEP_ALIVE_S` and `_SHUTDOWN_TIMEOUT_S` limits.
    pub limits: Limits,
    /// `INSIGHTS_API_KEYS_FILE`: the hashed API keys; `None` turns authentication off.
    pub api_keys_file: Option<PathBuf>,
    /// `INSIGHTS_METRICS_REQUIRE_KEY`: whether `/metrics` needs a key when keys are on.
    pub metrics_require_key: bool,
    /// `INSIGHTS_RATE_LIMIT`: each caller's rate; `None` limits no one but keys with their own.
    pub rate_limit: Option<crate::ratelimit::Rate>,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("addr", &self.addr)
            // A path setting may hold a database URL by mistake, password and all.
            .field("timeseries_path", &Redacted(&self.timeseries_path))
            .field(
                "catalogue_path",
                &self.catalogue_path.as_deref().map(Redacted),
            )
            .field("timeseries_database", &self.timeseries_database)
            .field("max_window_days", &self.max_window.whole_days())
            // PgConfig's Debug redacts the URL, which may hold a password.
            .field("database", &self.database)
            .field("cache_ttl", &self.cache_ttl)
            .field("cache_capacity", &self.cache_capacity)
            .field("log_format", &self.log_format)
            .field("limits", &self.limits)
            .field(
                "api_keys_file",
                &self.api_keys_file.as_deref().map(Redacted),
            )
            .field("metrics_require_key", &self.metrics_require_key)
            .field("rate_limit", &self.rate_limit)
            .finish()
    }
}

/// A path as its text, with any URL credentials in it redacted ([`redact_credentials`]).
#[derive(Clone, Copy)]
pub struct Redacted<'a>(pub &'a Path);

impl fmt::Debug for Redacted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(redact_credentials(&self.0.to_string_lossy()).as_str(), f)
    }
}

impl fmt::Display for Redacted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact_credentials(&self.0.to_string_lossy()))
    }
}

/// `text` with the user and password of every `scheme://user:password@` in it replaced by
/// `<redacted>`. Paths are logged, and an operator may put a database URL in a path's
/// variable (`INSIGHTS_TIMESERIES` for `INSIGHTS_TIMESERIES_URL`). The credentials run to the
/// last `@` before whitespace, not to the first `/`: a password may hold an unencoded `/`,
/// and a path with an `@` losing a little to the redaction costs nothing.
pub fn redact_credentials(text: &str) -> String {
    let mut redacted = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(scheme_end) = rest.find("://") {
        let (head, tail) = rest.split_at(scheme_end + "://".len());
        redacted.push_str(head);
        let word_end = tail.find(char::is_whitespace).unwrap_or(tail.len());
        let Some(at) = tail[..word_end].rfind('@') else {
            rest = tail;
            continue;
        };
        redacted.push_str("<redacted>");
        rest = &tail[at..];
    }
    redacted.push_str(rest);
    redacted
}

impl Settings {
    /// Reads the settings through `lookup`, which is `std::env::var` in `main` and a map in tests.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Settings, SettingsError> {
        let addr = parse_or(&lookup, "INSIGHTS_ADDR", "127.0.0.1:8080", |text| {
            text.parse::<SocketAddr>()
                .map_err(|_| "must be an address such as 127.0.0.1:8080".to_owned())
        })?;
        let timeseries_path = PathBuf::from(
            lookup("INSIGHTS_TIMESERIES").unwrap_or_else(|| "data/mock_timeseries.json".to_owned()),
        );
        let catalogue_path = lookup("INSIGHTS_CATALOGUE")
            .filter(|path| !path.trim().is_empty())
            .map(PathBuf::from);
        let max_window = parse_or(
            &lookup,
            "INSIGHTS_MAX_WINDOW_DAYS",
            "366",
            |text| match text.parse::<i64>() {
                Ok(days) if (1..=36_600).contains(&days) => Ok(Duration::days(days)),
                _ => Err("must be a whole number of days from 1 to 36600".to_owned()),
            },
        )?;
        // One set of pool limits serves both databases; each gets its own pool.
        let pool = PgConfig {
            url: String::new(),
            pool_size: parse_or(&lookup, "INSIGHTS_DB_POOL_SIZE", "16", |text| {
                match text.parse::<usize>() {
                    Ok(size) if (1..=1024).contains(&size) => Ok(size),
                    _ => Err("must be a whole number from 1 to 1024".to_owned()),
                }
            })?,
            connect_timeout: parse_or(
                &lookup,
                "INSIGHTS_DB_CONNECT_TIMEOUT_MS",
                "500",
                milliseconds,
            )?,
            wait_timeout: parse_or(&lookup, "INSIGHTS_DB_WAIT_TIMEOUT_MS", "500", milliseconds)?,
            statement_timeout: parse_or(
                &lookup,
                "INSIGHTS_DB_STATEMENT_TIMEOUT_MS",
                "1000",
                milliseconds,
            )?,
            pooler: parse_or(&lookup, "INSIGHTS_DB_POOLER", "none", |text| match text {
                "none" => Ok(Pooler::None),
                "transaction" => Ok(Pooler::Transaction),
                _ => Err("must be none or transaction".to_owned()),
            })?,
        };
        let url_of = |variable: &str| lookup(variable).filter(|url| !url.trim().is_empty());
        let database = url_of("DATABASE_URL").map(|url| PgConfig {
            url,
            ..pool.clone()
        });
        let timeseries_database = if timeseries_path.as_os_str() == "postgres" {
            let url = url_of("INSIGHTS_TIMESERIES_URL")
                .or_else(|| url_of("DATABASE_URL"))
                .ok_or_else(|| SettingsError {
                    variable: "INSIGHTS_TIMESERIES",
                    reason: "is postgres, which needs INSIGHTS_TIMESERIES_URL or DATABASE_URL"
                        .to_owned(),
                })?;
            Some(PgConfig { url, ..pool })
        } else {
            None
        };
        let cache_ttl = parse_or(&lookup, "INSIGHTS_CACHE_TTL_S", "60", |text| {
            match text.parse::<u64>() {
                Ok(seconds) if seconds <= 86_400 => Ok(std::time::Duration::from_secs(seconds)),
                _ => Err("must be a whole number of seconds from 0 to 86400".to_owned()),
            }
        })?;
        let cache_capacity = parse_or(
            &lookup,
            "INSIGHTS_CACHE_CAPACITY",
            "10000",
            |text| match text.parse::<usize>() {
                Ok(capacity) if (1..=10_000_000).contains(&capacity) => Ok(capacity),
                _ => Err("must be a whole number from 1 to 10000000".to_owned()),
            },
        )?;
        let log_format = parse_or(&lookup, "INSIGHTS_LOG_FORMAT", "text", |text| match text {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            _ => Err("must be text or json".to_owned()),
        })?;
        let defaults = Limits::default();
        let limits = Limits {
            request_timeout: parse_or(
                &lookup,
                "INSIGHTS_REQUEST_TIMEOUT_MS",
                &defaults.request_timeout.as_millis().to_string(),
                milliseconds,
            )?,
            max_query_bytes: parse_or(
                &lookup,
                "INSIGHTS_MAX_QUERY_BYTES",
                &defaults.max_query_bytes.to_string(),
                |text| whole_number(text, 64, 65_536),
            )?,
            max_connections: parse_or(
                &lookup,
                "INSIGHTS_MAX_CONNECTIONS",
                &defaults.max_connections.to_string(),
                |text| whole_number(text, 1, 1_000_000),
            )?,
            workers: parse_or(
                &lookup,
                "INSIGHTS_WORKERS",
                &defaults.workers.to_string(),
                |text| whole_number(text, 1, 1024),
            )?,
            keep_alive: parse_or(
                &lookup,
                "INSIGHTS_KEEP_ALIVE_S",
                &defaults.keep_alive.as_secs().to_string(),
                seconds,
            )?,
            shutdown_timeout: parse_or(
                &lookup,
                "INSIGHTS_SHUTDOWN_TIMEOUT_S",
                &defaults.shutdown_timeout.as_secs().to_string(),
                seconds,
            )?,
            client_timeout: parse_or(
                &lookup,
                "INSIGHTS_CLIENT_TIMEOUT_S",
                &defaults.client_timeout.as_secs().to_string(),
                |text| match text.parse::<u64>() {
                    Ok(seconds) if (1..=3600).contains(&seconds) => {
                        Ok(std::time::Duration::from_secs(seconds))
                    }
                    _ => Err("must be a whole number of seconds from 1 to 3600".to_owned()),
                },
            )?,
            compute_threads: parse_or(
                &lookup,
                "INSIGHTS_COMPUTE_THREADS",
                &defaults.compute_threads.to_string(),
                |text| whole_number(text, 1, 1024),
            )?,
            compute_slots: parse_or(
                &lookup,
                "INSIGHTS_COMPUTE_SLOTS",
                &defaults.compute_slots.to_string(),
                |text| whole_number(text, 1, 65_536),
            )?,
            queue_capacity: parse_or(
                &lookup,
                "INSIGHTS_QUEUE_CAPACITY",
                &defaults.queue_capacity.to_string(),
                |text| whole_number(text, 0, 65_536),
            )?,
            queue_target: parse_or(
                &lookup,
                "INSIGHTS_QUEUE_TARGET_MS",
                &defaults.queue_target.as_millis().to_string(),
                |text| {
                    whole_number(text, 0, 60_000)
                        .map(|ms| std::time::Duration::from_millis(ms as u64))
                },
            )?,
            light_work: parse_or(
                &lookup,
                "INSIGHTS_LIGHT_WORK",
                &defaults.light_work.to_string(),
                |text| whole_number(text, 0, insights_core::MAX_CELLS_PER_REQUEST),
            )?,
        };
        let api_keys_file = lookup("INSIGHTS_API_KEYS_FILE")
            .filter(|path| !path.trim().is_empty())
            .map(PathBuf::from);
        let metrics_require_key = parse_or(
            &lookup,
            "INSIGHTS_METRICS_REQUIRE_KEY",
            "true",
            |text| match text {
                "true" => Ok(true),
                "false" => Ok(false),
                _ => Err("must be true or false".to_owned()),
            },
        )?;
        let rate_limit = parse_or(&lookup, "INSIGHTS_RATE_LIMIT", "off", |text| match text {
            "off" => Ok(None),
            text => crate::ratelimit::Rate::parse(text).map(Some).map_err(|_| {
                "must be off or <requests per second>/<burst>, such as 20/40".to_owned()
            }),
        })?;
        Ok(Settings {
            log_format,
            limits,
            api_keys_file,
            metrics_require_key,
            rate_limit,
            addr,
            timeseries_path,
            timeseries_database,
            catalogue_path,
            max_window,
            database,
            cache_ttl,
            cache_capacity,
        })
    }
}

fn whole_number(text: &str, min: usize, max: usize) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(number) if (min..=max).contains(&number) => Ok(number),
        _ => Err(format!("must be a whole number from {min} to {max}")),
    }
}

fn seconds(text: &str) -> Result<std::time::Duration, String> {
    whole_number(text, 0, 3600).map(|seconds| std::time::Duration::from_secs(seconds as u64))
}

fn milliseconds(text: &str) -> Result<std::time::Duration, String> {
    match text.parse::<u64>() {
        Ok(ms) if (1..=600_000).contains(&ms) => Ok(std::time::Duration::from_millis(ms)),
        _ => Err("must be a whole number of milliseconds from 1 to 600000".to_owned()),
    }
}

fn parse_or<T>(
    lookup: &impl Fn(&str) -> Option<String>,
    variable: &'static str,
    default: &str,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Result<T, SettingsError> {
    let text = lookup(variable).unwrap_or_else(|| default.to_owned());
    parse(text.trim()).map_err(|reason| SettingsError {
        variable,
        reason: format!("{reason}, got {text:?}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(pairs: &[(&str, &str)], expected: Result<&str, &str>) {
        // The worker default is the machine's core count; pin it so the text is stable.
        let actual = Settings::from_lookup(|key| {
            pairs
                .iter()
                .find(|(name, _)| *name == key)
                .map(|(_, value)| value.to_string())
                .or_else(|| (key == "INSIGHTS_WORKERS").then(|| "2".to_owned()))
        });
        let actual = actual
            .map(|settings| format!("{settings:?}"))
            .map_err(|error| error.to_string());
        assert_eq!(actual, expected.map(str::to_owned).map_err(str::to_owned));
    }

    #[test]
    fn reads_defaults_and_overrides() {
        let defaults = r#"Settings { addr: 127.0.0.1:8080, timeseries_path: "data/mock_timeseries.json", catalogue_path: None, timeseries_database: None, max_window_days: 366, database: None, cache_ttl: 60s, cache_capacity: 10000, log_format: Text, limits: Limits { request_timeout: 10s, max_query_bytes: 2048, max_connections: 4096, workers: 2, keep_alive: 5s, shutdown_timeout: 30s, client_timeout: 5s, compute_threads: 2, compute_slots: 8, queue_capacity: 128, queue_target: 100ms, light_work: 512 }, api_keys_file: None, metrics_require_key: true, rate_limit: None }"#;
        check(&[], Ok(defaults));
        check(
            &[
                ("INSIGHTS_ADDR", "0.0.0.0:9000"),
                ("INSIGHTS_TIMESERIES", "/tmp/x.json"),
                ("INSIGHTS_MAX_WINDOW_DAYS", "31"),
            ],
            Ok(
                r#"Settings { addr: 0.0.0.0:9000, timeseries_path: "/tmp/x.json", catalogue_path: None, timeseries_database: None, max_window_days: 31, database: None, cache_ttl: 60s, cache_capacity: 10000, log_format: Text, limits: Limits { request_timeout: 10s, max_query_bytes: 2048, max_connections: 4096, workers: 2, keep_alive: 5s, shutdown_timeout: 30s, client_timeout: 5s, compute_threads: 2, compute_slots: 8, queue_capacity: 128, queue_target: 100ms, light_work: 512 }, api_keys_file: None, metrics_require_key: true, rate_limit: None }"#,
            ),
        );
        check(
            &[
                ("DATABASE_URL", "postgres://reader:s3cret@db/meta"),
                ("INSIGHTS_DB_POOL_SIZE", "4"),
                ("INSIGHTS_DB_STATEMENT_TIMEOUT_MS", "250"),
            ],
            Ok(
                r#"Settings { addr: 127.0.0.1:8080, timeseries_path: "data/mock_timeseries.json", catalogue_path: None, timeseries_database: None, max_window_days: 366, database: Some(PgConfig { url: "<redacted>", pool_size: 4, connect_timeout: 500ms, wait_timeout: 500ms, statement_timeout: 250ms, pooler: None }), cache_ttl: 60s, cache_capacity: 10000, log_format: Text, limits: Limits { request_timeout: 10s, max_query_bytes: 2048, max_connections: 4096, workers: 2, keep_alive: 5s, shutdown_timeout: 30s, client_timeout: 5s, compute_threads: 2, compute_slots: 8, queue_capacity: 128, queue_target: 100ms, light_work: 512 }, api_keys_file: None, metrics_require_key: true, rate_limit: None }"#,
            ),
        );
        check(
            &[
                ("INSIGHTS_LOG_FORMAT", "json"),
                ("INSIGHTS_REQUEST_TIMEOUT_MS", "250"),
                ("INSIGHTS_MAX_QUERY_BYTES", "512"),
                ("INSIGHTS_MAX_CONNECTIONS", "100"),
                ("INSIGHTS_WORKERS", "8"),
                ("INSIGHTS_KEEP_ALIVE_S", "0"),
                ("INSIGHTS_SHUTDOWN_TIMEOUT_S", "3"),
                ("INSIGHTS_API_KEYS_FILE", "/etc/insights/keys"),
                ("INSIGHTS_METRICS_REQUIRE_KEY", "false"),
            ],
            Ok(
                r#"Settings { addr: 127.0.0.1:8080, timeseries_path: "data/mock_timeseries.json", catalogue_path: None, timeseries_database: None, max_window_days: 366, database: None, cache_ttl: 60s, cache_capacity: 10000, log_format: Json, limits: Limits { request_timeout: 250ms, max_query_bytes: 512, max_connections: 100, workers: 8, keep_alive: 0ns, shutdown_timeout: 3s, client_timeout: 5s, compute_threads: 2, compute_slots: 8, queue_capacity: 128, queue_target: 100ms, light_work: 512 }, api_keys_file: Some("/etc/insights/keys"), metrics_require_key: false, rate_limit: None }"#,
            ),
        );
        // A blank DATABASE_URL, as a .env may leave it, means none.
        check(&[("DATABASE_URL", " ")], Ok(defaults));
        // Through a pooler in transaction mode, for both databases.
        check(
            &[
                ("DATABASE_URL", "postgres://reader@pgbouncer:6432/meta"),
                ("INSIGHTS_TIMESERIES", "postgres"),
                ("INSIGHTS_DB_POOLER", "transaction"),
            ],
            Ok(
                r#"Settings { addr: 127.0.0.1:8080, timeseries_path: "postgres", catalogue_path: None, timeseries_database: Some(PgConfig { url: "<redacted>", pool_size: 16, connect_timeout: 500ms, wait_timeout: 500ms, statement_timeout: 1s, pooler: Transaction }), max_window_days: 366, database: Some(PgConfig { url: "<redacted>", pool_size: 16, connect_timeout: 500ms, wait_timeout: 500ms, statement_timeout: 1s, pooler: Transaction }), cache_ttl: 60s, cache_capacity: 10000, log_format: Text, limits: Limits { request_timeout: 10s, max_query_bytes: 2048, max_connections: 4096, workers: 2, keep_alive: 5s, shutdown_timeout: 30s, client_timeout: 5s, compute_threads: 2, compute_slots: 8, queue_capacity: 128, queue_target: 100ms, light_work: 512 }, api_keys_file: None, metrics_require_key: true, rate_limit: None }"#,
            ),
        );
    }

    #[test]
    fn a_url_in_a_path_setting_is_shown_without_its_credentials() {
        check(
            &[
                (
                    "INSIGHTS_TIMESERIES",
                    "postgres://reader:s3cret@db:5432/samples",
                ),
                (
                    "INSIGHTS_CATALOGUE",
                    "postgresql://admin:hunter2@db/meta?sslmode=disable",
                ),
                ("INSIGHTS_API_KEYS_FILE", "https://token@vault/keys"),
            ],
            Ok(
                r#"Settings { addr: 127.0.0.1:8080, timeseries_path: "postgres://<redacted>@db:5432/samples", catalogue_path: Some("postgresql://<redacted>@db/meta?sslmode=disable"), timeseries_database: None, max_window_days: 366, database: None, cache_ttl: 60s, cache_capacity: 10000, log_format: Text, limits: Limits { request_timeout: 10s, max_query_bytes: 2048, max_connections: 4096, workers: 2, keep_alive: 5s, shutdown_timeout: 30s, client_timeout: 5s, compute_threads: 2, compute_slots: 8, queue_capacity: 128, queue_target: 100ms, light_work: 512 }, api_keys_file: Some("https://<redacted>@vault/keys"), metrics_require_key: true, rate_limit: None }"#,
            ),
        );
    }

    mod redaction {
        use super::super::redact_credentials;

        fn check(text: &str, expected: &str) {
            assert_eq!(redact_credentials(text), expected, "{text}");
        }

        #[test]
        fn removes_the_user_and_password_of_every_url() {
            check("data/mock_timeseries.json", "data/mock_timeseries.json");
            check("", "");
            check("postgres://db/meta", "postgres://db/meta");
            check("file:///etc/insights/keys", "file:///etc/insights/keys");
            check(
                "postgres://reader:s3cret@db/meta",
                "postgres://<redacted>@db/meta",
            );
            check("postgres://reader@db/meta", "postgres://<redacted>@db/meta");
            // A password with an unencoded `@`, `/` or `:` is still all redacted.
            check("postgres://u:p@ss@db/x", "postgres://<redacted>@db/x");
            check("postgres://u:pa/ss:w@db/x", "postgres://<redacted>@db/x");
            // In a message, each URL up to its whitespace, and the text around it kept.
            check(
                "postgres://a:one@h/d: postgres://b:two@h/d: No such file (os error 2)",
                "postgres://<redacted>@h/d: postgres://<redacted>@h/d: No such file (os error 2)",
            );
            check(
                "see postgres://db/x and mail a@b",
                "see postgres://db/x and mail a@b",
            );
        }
    }

    #[test]
    fn names_the_bad_variable() {
        check(
            &[("INSIGHTS_ADDR", "localhost")],
            Err(r#"INSIGHTS_ADDR must be an address such as 127.0.0.1:8080, got "localhost""#),
        );
        check(
            &[("INSIGHTS_DB_POOLER", "pgbouncer")],
            Err(r#"INSIGHTS_DB_POOLER must be none or transaction, got "pgbouncer""#),
        );
        check(
            &[("INSIGHTS_MAX_WINDOW_DAYS", "0")],
            Err(
                r#"INSIGHTS_MAX_WINDOW_DAYS must be a whole number of days from 1 to 36600, got "0""#,
            ),
        );
        check(
            &[
                ("DATABASE_URL", "postgres://db/meta"),
                ("INSIGHTS_DB_WAIT_TIMEOUT_MS", "soon"),
            ],
            Err(
                r#"INSIGHTS_DB_WAIT_TIMEOUT_MS must be a whole number of milliseconds from 1 to 600000, got "soon""#,
            ),
        );
        check(
            &[("INSIGHTS_LOG_FORMAT", "xml")],
            Err(r#"INSIGHTS_LOG_FORMAT must be text or json, got "xml""#),
        );
        check(
            &[("INSIGHTS_MAX_QUERY_BYTES", "10")],
            Err(r#"INSIGHTS_MAX_QUERY_BYTES must be a whole number from 64 to 65536, got "10""#),
        );
        check(
            &[("INSIGHTS_METRICS_REQUIRE_KEY", "yes")],
            Err(r#"INSIGHTS_METRICS_REQUIRE_KEY must be true or false, got "yes""#),
        );
    }
}
