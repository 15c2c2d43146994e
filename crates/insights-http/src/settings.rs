//! `Settings`: every configuration value, read from the environment once, in `main`. Each
//! setting is declared once, in a `settings!` block: its field, variable, default, parser and
//! meaning; the reading, the defaults, `Debug` and the documentation's table all follow from it.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::LazyLock;
use std::time::Duration;

use insights_pg::{PgConfig, Pooler, ReplicaConfig, WhenNoReplica};

use crate::ratelimit::Rate;

/// One environment variable the service reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Variable {
    /// Its name.
    pub name: &'static str,
    /// Its default, as the documentation writes it (Markdown).
    pub default: &'static str,
    /// What it does (Markdown).
    pub meaning: &'static str,
    /// Whether its value is a secret, never printed: not by `Debug`, not in an error.
    pub secret: bool,
}

/// Every variable the service reads, in the order `docs/operations.md` lists them (the order
/// of the declarations): the one list that document's table is generated from (`cargo xtask
/// codegen`), and that a tidy test holds against the names the code reads and against
/// `.env.example`.
pub static VARIABLES: LazyLock<Vec<Variable>> = LazyLock::new(|| {
    let mut variables = Vec::new();
    Settings::push_variables(&mut variables);
    variables
});

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

/// Declares a struct of settings. Each field is `kind(VARIABLE, default, parser)`, its doc
/// comment the variable's meaning in the documentation's table; `kind` is `public`, or
/// `secret` for a value `Debug` and errors never show. The default is the text the variable
/// would hold, parsed as it would be, or `("how the table writes it", value)`. A field
/// `group()` is a struct declared by another `settings!`, its variables listed in its place.
macro_rules! settings {
    (
        $(#[doc = $struct_doc:literal])*
        pub struct $name:ident {
            $(
                $(#[doc = $doc:literal])*
                pub $field:ident: $type:ty = $kind:ident($($spec:tt)*);
            )*
        }
    ) => {
        $(#[doc = $struct_doc])*
        #[derive(Clone, PartialEq, Eq)]
        pub struct $name {
            $(
                $(#[doc = $doc])*
                #[doc = setting!(doc $kind($($spec)*))]
                pub $field: $type,
            )*
        }

        impl Group for $name {
            fn read(lookup: &dyn Fn(&str) -> Option<String>) -> Result<$name, SettingsError> {
                Ok($name { $($field: setting!(read lookup, $type, $kind($($spec)*)),)* })
            }

            fn push_variables(variables: &mut Vec<Variable>) {
                $(setting!(list variables, $type, $kind($($spec)*), $($doc)*);)*
            }
        }

        impl Default for $name {
            fn default() -> $name {
                $name { $($field: setting!(default $kind($($spec)*)),)* }
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name))
                    $(.field(stringify!($field), setting!(show self.$field, $kind)))*
                    .finish()
            }
        }
    };
}

/// One field's part of each item `settings!` writes.
macro_rules! setting {
    (read $lookup:ident, $type:ty, group()) => { <$type as Group>::read($lookup)? };
    (read $lookup:ident, $type:ty, $kind:ident($name:literal, $default:tt, $parse:expr)) => {
        match $lookup($name) {
            None => setting!(default $kind($name, $default, $parse)),
            Some(text) => ($parse)(&text).map_err(|why| SettingsError {
                variable: $name,
                reason: setting!(reason $kind, why, text),
            })?,
        }
    };
    (doc group()) => { "" };
    (doc $kind:ident($name:literal, $($rest:tt)*)) => { concat!("\n\nFrom `", $name, "`.") };
    (reason secret, $why:ident, $text:ident) => { $why };
    (reason public, $why:ident, $text:ident) => { format!("{}, got {:?}", $why, $text) };
    (default group()) => { Default::default() };
    (default $kind:ident($name:literal, $text:literal, $parse:expr)) => {
        ($parse)($text).expect(concat!("the default of ", $name, " parses"))
    };
    (default $kind:ident($name:literal, ($shown:literal, $value:expr), $parse:expr)) => { $value };
    (list $variables:ident, $type:ty, group(), $($doc:literal)*) => {
        <$type as Group>::push_variables($variables)
    };
    (list $variables:ident, $type:ty, $kind:ident($name:literal, $default:tt, $parse:expr),
        $($doc:literal)*) => {
        $variables.push(Variable {
            name: $name,
            default: setting!(shown $default),
            meaning: concat!($($doc),*).trim_ascii(),
            secret: stringify!($kind) == "secret",
        })
    };
    (shown $text:literal) => { concat!("`", $text, "`") };
    (shown ($shown:literal, $value:expr)) => { $shown };
    (show $value:expr, secret) => { &$value.as_ref().map(|_| "<redacted>") };
    (show $value:expr, public) => { &Scrubbed(&$value) };
    (show $value:expr, group) => { &$value };
}

/// What `settings!` writes for a struct of settings, so that one can hold another.
trait Group: Sized {
    /// Reads every variable through `lookup`; an unset one takes its default.
    fn read(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Self, SettingsError>;
    /// Appends the struct's variables, in their order.
    fn push_variables(variables: &mut Vec<Variable>);
}

settings! {
    /// The service's configuration. `.env.example` documents each variable.
    pub struct Settings {
        /// address to listen on (`0.0.0.0:8080` in a container; port 0 picks a free port,
        /// logged on the `serving` line)
        pub addr: SocketAddr = public("INSIGHTS_ADDR", "127.0.0.1:8080", |text: &str| {
            text.trim().parse::<SocketAddr>()
                .map_err(|_| "must be an address such as 127.0.0.1:8080".to_owned())
        });
        /// the sample file (loaded again on SIGHUP), or `postgres` for the `power_samples` table
        pub timeseries_path: PathBuf =
            public("INSIGHTS_TIMESERIES", "data/mock_timeseries.json", verbatim);
        /// with `INSIGHTS_TIMESERIES=postgres`: the database holding the samples
        pub timeseries_url: Option<String> =
            secret("INSIGHTS_TIMESERIES_URL", ("`DATABASE_URL`", None), unless_blank);
        /// with `INSIGHTS_TIMESERIES=postgres`: streaming replicas of the samples' database to
        /// read samples from, as `postgres://` URLs separated by spaces; imports still write to
        /// the primary, and metadata stays where `DATABASE_URL` says
        pub timeseries_replica_urls: Option<Vec<String>> = secret(
            "INSIGHTS_TIMESERIES_REPLICA_URLS", ("unset", None), replica_urls
        );
        /// the most a replica may lag behind the primary and still answer, at least 2 s (lag is
        /// probed every second); a window that ended less than this (plus 3 s) ago is never
        /// called settled while replicas are set
        pub replica_max_lag: Duration =
            public("INSIGHTS_REPLICA_MAX_LAG_MS", "5000", milliseconds(2_000, 3_600_000));
        /// what sample reads do while no replica is up and within that lag: `primary` reads
        /// the primary, `refuse` answers 503 with `Retry-After` (the log says why)
        pub replica_fallback: WhenNoReplica = public("INSIGHTS_REPLICA_FALLBACK", "primary", one_of(&[
            ("primary", WhenNoReplica::Primary),
            ("refuse", WhenNoReplica::Refuse),
        ]));
        /// a catalogue file for the embedded store
        pub catalogue_path: Option<PathBuf> =
            public("INSIGHTS_CATALOGUE", ("unset", None), unless_blank);
        /// the longest window a request may ask for
        pub max_window_days: i64 =
            public("INSIGHTS_MAX_WINDOW_DAYS", "366", whole(1, 36_600, " of days"));
        /// metadata from this PostgreSQL; unset serves the embedded seed catalogue
        pub database_url: Option<String> = secret("DATABASE_URL", ("unset", None), unless_blank);
        /// connections per pool (metadata and samples each have one)
        pub db_pool_size: usize = public("INSIGHTS_DB_POOL_SIZE", "16", whole(1, 1024, ""));
        /// limit on opening one connection
        pub db_connect_timeout: Duration =
            public("INSIGHTS_DB_CONNECT_TIMEOUT_MS", "500", milliseconds(1, 600_000));
        /// limit on waiting for a pooled connection
        pub db_wait_timeout: Duration =
            public("INSIGHTS_DB_WAIT_TIMEOUT_MS", "500", milliseconds(1, 600_000));
        /// limit on one statement, server- and client-side
        pub db_statement_timeout: Duration =
            public("INSIGHTS_DB_STATEMENT_TIMEOUT_MS", "1000", milliseconds(1, 600_000));
        /// `transaction` when the databases are reached through a pooler such as PgBouncer:
        /// statements unnamed, session settings as `SET LOCAL` in each statement's
        /// transaction; `none` prepares statements once per connection
        pub db_pooler: Pooler = public("INSIGHTS_DB_POOLER", "none", one_of(&[
            ("none", Pooler::None),
            ("transaction", Pooler::Transaction),
        ]));
        /// seconds a metadata answer from PostgreSQL is cached (0: none)
        pub cache_ttl: Duration = public("INSIGHTS_CACHE_TTL_S", "60", seconds(0, 86_400));
        /// most metadata answers cached
        pub cache_capacity: usize =
            public("INSIGHTS_CACHE_CAPACITY", "10000", whole(1, 10_000_000, ""));
        /// The limits on requests and connections.
        pub limits: Limits = group();
        /// the API key file; unset turns authentication off
        pub api_keys_file: Option<PathBuf> =
            public("INSIGHTS_API_KEYS_FILE", ("unset", None), unless_blank);
        /// with keys on, whether `/metrics` needs an operator's key
        pub metrics_require_key: bool = public(
            "INSIGHTS_METRICS_REQUIRE_KEY", "true", one_of(&[("true", true), ("false", false)])
        );
        /// `<requests per second>/<burst>` for each API key (a key's own `rate=` in the key
        /// file wins), or for each client address while keys are off; over it, `/v1/` answers 429
        pub rate_limit: Option<Rate> = public("INSIGHTS_RATE_LIMIT", "off", |text: &str| {
            match text.trim() {
                "off" => Ok(None),
                text => Rate::parse(text).map(Some).map_err(|_| {
                    "must be off or <requests per second>/<burst>, such as 20/40".to_owned()
                }),
            }
        });
        /// `text` for people, `json` for log pipelines
        pub log_format: LogFormat = public("INSIGHTS_LOG_FORMAT", "text", one_of(&[
            ("text", LogFormat::Text),
            ("json", LogFormat::Json),
        ]));
        /// log filter, in `tracing-subscriber`'s `EnvFilter` syntax
        pub log_filter: String = public("RUST_LOG", "info", verbatim);
    }
}

settings! {
    /// Per-request and per-connection limits; the server, the middleware and the handlers read
    /// them, and the state sizes the compute pool and admission by them.
    pub struct Limits {
        /// a request's work still unfinished after this is a 503
        pub request_timeout: Duration =
            public("INSIGHTS_REQUEST_TIMEOUT_MS", "10000", milliseconds(1, 600_000));
        /// a longer query string is a 414
        pub max_query_bytes: usize =
            public("INSIGHTS_MAX_QUERY_BYTES", "2048", whole(64, 65_536, ""));
        /// open connections served at once; more wait in the listen backlog
        pub max_connections: usize =
            public("INSIGHTS_MAX_CONNECTIONS", "4096", whole(1, 1_000_000, ""));
        /// worker threads
        pub workers: usize =
            public("INSIGHTS_WORKERS", ("the number of cores", cores()), whole(1, 1024, ""));
        /// time a client has, after connecting and after each answer, to send a whole request
        /// head; a stalled connection is closed
        pub client_timeout: Duration = public("INSIGHTS_CLIENT_TIMEOUT_S", "5", seconds(1, 3600));
        /// low-priority threads that heavy requests run on, off the workers
        pub compute_threads: usize = public(
            "INSIGHTS_COMPUTE_THREADS", ("the number of cores", cores()), whole(1, 1024, "")
        );
        /// heavy requests run at once, each caller at most half of them; more wait in the queue
        pub compute_slots: usize = public(
            "INSIGHTS_COMPUTE_SLOTS", ("4 × the cores", 4 * cores()), whole(1, 65_536, "")
        );
        /// heavy requests that may wait for a slot at once, each caller at most half of them;
        /// past it, 503
        pub queue_capacity: usize = public(
            "INSIGHTS_QUEUE_CAPACITY", ("64 × the cores", 64 * cores()), whole(0, 65_536, "")
        );
        /// the longest a heavy request waits for a slot; one that cannot start by then
        /// (predicted from the drain rate, or by its timer) is 503
        pub queue_target: Duration =
            public("INSIGHTS_QUEUE_TARGET_MS", "100", milliseconds(0, 60_000));
        /// answers over 64 KiB written already and waiting for their clients to take them may
        /// hold this much memory; while they hold it all, heavy requests are 503
        pub answer_budget_mib: usize =
            public("INSIGHTS_ANSWER_BUDGET_MIB", "32", whole(1, 1_048_576, " of MiB"));
        // 512: about a millisecond of work on the file source at most (a circuit in 512
        // buckets), measured in `docs/performance.md`.
        /// figures (circuits × buckets and intervals) up to which a usage request is light:
        /// answered at once, never queued or refused for want of a slot
        pub light_work: usize = public(
            "INSIGHTS_LIGHT_WORK", "512", whole(0, insights_core::MAX_CELLS_PER_REQUEST, "")
        );
        /// how long an idle keep-alive connection stays open (0: none)
        pub keep_alive: Duration = public("INSIGHTS_KEEP_ALIVE_S", "5", seconds(0, 3600));
        /// how long requests in flight get to finish on SIGTERM or SIGINT
        pub shutdown_timeout: Duration =
            public("INSIGHTS_SHUTDOWN_TIMEOUT_S", "30", seconds(0, 3600));
    }
}

impl Settings {
    /// Reads the settings through `lookup`, which is `std::env::var` in `main` and a map in tests.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Settings, SettingsError> {
        let settings = <Settings as Group>::read(&lookup)?;
        settings.timeseries_database()?;
        Ok(settings)
    }

    /// The metadata database, from `DATABASE_URL`; `None` serves the embedded catalogue.
    pub fn database(&self) -> Option<PgConfig> {
        self.database_url.clone().map(|url| self.pool(url))
    }

    /// With `INSIGHTS_TIMESERIES=postgres`, the samples' database: `INSIGHTS_TIMESERIES_URL`,
    /// else `DATABASE_URL`; `None` reads the sample file.
    pub fn timeseries_database(&self) -> Result<Option<PgConfig>, SettingsError> {
        if self.timeseries_path.as_os_str() != "postgres" {
            return Ok(None);
        }
        let url = self.timeseries_url.as_ref().or(self.database_url.as_ref());
        let url = url.ok_or_else(|| SettingsError {
            variable: "INSIGHTS_TIMESERIES",
            reason: "is postgres, which needs INSIGHTS_TIMESERIES_URL or DATABASE_URL".to_owned(),
        })?;
        Ok(Some(self.pool(url.clone())))
    }

    /// The replicas of the samples' database to read from, and when they may answer.
    pub fn timeseries_replicas(&self) -> ReplicaConfig {
        ReplicaConfig {
            replicas: self
                .timeseries_replica_urls
                .iter()
                .flatten()
                .map(|url| self.pool(url.clone()))
                .collect(),
            max_lag: self.replica_max_lag,
            when_none: self.replica_fallback,
        }
    }

    /// One set of pool limits serves every database; each gets its own pool.
    fn pool(&self, url: String) -> PgConfig {
        PgConfig {
            url,
            pool_size: self.db_pool_size,
            connect_timeout: self.db_connect_timeout,
            wait_timeout: self.db_wait_timeout,
            statement_timeout: self.db_statement_timeout,
            pooler: self.db_pooler,
        }
    }
}

impl Limits {
    /// The sizes of the heavy requests' slots and queue.
    pub fn admission(&self) -> crate::admission::AdmissionLimits {
        crate::admission::AdmissionLimits {
            slots: self.compute_slots,
            queue: self.queue_capacity,
            target: self.queue_target,
            answer_budget: self.answer_budget_mib.saturating_mul(1024 * 1024),
            unread_timeout: self.client_timeout,
        }
    }
}

/// The machine's cores: the default for both kinds of thread, and what the default slots and
/// queue are multiples of.
fn cores() -> usize {
    std::thread::available_parallelism().map_or(2, usize::from)
}

/// A whole number from `min` to `max`, counting `unit` (" of days", or "" for a count).
fn whole<T>(min: T, max: T, unit: &'static str) -> impl Fn(&str) -> Result<T, String>
where
    T: FromStr + PartialOrd + fmt::Display,
{
    move |text| match text.trim().parse::<T>() {
        Ok(number) if min <= number && number <= max => Ok(number),
        _ => Err(format!("must be a whole number{unit} from {min} to {max}")),
    }
}

fn seconds(min: u64, max: u64) -> impl Fn(&str) -> Result<Duration, String> {
    let whole = whole(min, max, " of seconds");
    move |text| whole(text).map(Duration::from_secs)
}

fn milliseconds(min: u64, max: u64) -> impl Fn(&str) -> Result<Duration, String> {
    let whole = whole(min, max, " of milliseconds");
    move |text| whole(text).map(Duration::from_millis)
}

/// One of the named values, such as `true` or `false`.
fn one_of<T: Copy>(choices: &'static [(&'static str, T)]) -> impl Fn(&str) -> Result<T, String> {
    move |text| {
        let chosen = choices.iter().find(|(name, _)| *name == text.trim());
        chosen.map(|(_, value)| *value).ok_or_else(|| {
            let names: Vec<&str> = choices.iter().map(|(name, _)| *name).collect();
            format!("must be {}", names.join(" or "))
        })
    }
}

/// The text as it is, untrimmed: a path or a filter.
fn verbatim<T: for<'a> From<&'a str>>(text: &str) -> Result<T, String> {
    Ok(T::from(text))
}

/// The text as it is, or `None` when blank, as a `.env` may leave a variable.
fn unless_blank<T: for<'a> From<&'a str>>(text: &str) -> Result<Option<T>, String> {
    Ok((!text.trim().is_empty()).then(|| T::from(text)))
}

/// Replica URLs separated by whitespace. Each must be a URL: split at its spaces, a key-value
/// string (`host=a password=b`) would read as several servers.
fn replica_urls(text: &str) -> Result<Option<Vec<String>>, String> {
    let urls: Vec<String> = text.split_whitespace().map(str::to_owned).collect();
    if urls
        .iter()
        .any(|url| !url.starts_with("postgres://") && !url.starts_with("postgresql://"))
    {
        return Err("must be postgres:// URLs separated by spaces".to_owned());
    }
    Ok((!urls.is_empty()).then_some(urls))
}

/// A value's `Debug`, with the credentials of any URL in it redacted: a path setting may hold
/// a database URL by mistake, password and all.
struct Scrubbed<'a, T>(&'a T);

impl<T: fmt::Debug> fmt::Debug for Scrubbed<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact_credentials(&format!("{:?}", self.0)))
    }
}

/// A path as its text, with any URL credentials in it redacted ([`redact_credentials`]).
#[derive(Clone, Copy)]
pub struct Redacted<'a>(pub &'a Path);

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

#[cfg(test)]
mod tests {
    use super::*;

    fn check(pairs: &[(&str, &str)], expected: Result<&str, &str>) {
        // The defaults that follow the machine's cores are pinned, so the text is stable.
        let pinned = [
            ("INSIGHTS_WORKERS", "2"),
            ("INSIGHTS_COMPUTE_THREADS", "2"),
            ("INSIGHTS_COMPUTE_SLOTS", "8"),
            ("INSIGHTS_QUEUE_CAPACITY", "128"),
        ];
        let actual = Settings::from_lookup(|key| {
            let value = pairs.iter().chain(&pinned).find(|(name, _)| *name == key);
            value.map(|(_, value)| value.to_string())
        });
        let actual = actual
            .map(|settings| format!("{settings:?}"))
            .map_err(|error| error.to_string());
        assert_eq!(actual, expected.map(str::to_owned).map_err(str::to_owned));
    }

    #[test]
    fn reads_defaults_and_overrides() {
        let defaults = r#"Settings { addr: 127.0.0.1:8080, timeseries_path: "data/mock_timeseries.json", timeseries_url: None, timeseries_replica_urls: None, replica_max_lag: 5s, replica_fallback: Primary, catalogue_path: None, max_window_days: 366, database_url: None, db_pool_size: 16, db_connect_timeout: 500ms, db_wait_timeout: 500ms, db_statement_timeout: 1s, db_pooler: None, cache_ttl: 60s, cache_capacity: 10000, limits: Limits { request_timeout: 10s, max_query_bytes: 2048, max_connections: 4096, workers: 2, client_timeout: 5s, compute_threads: 2, compute_slots: 8, queue_capacity: 128, queue_target: 100ms, answer_budget_mib: 32, light_work: 512, keep_alive: 5s, shutdown_timeout: 30s }, api_keys_file: None, metrics_require_key: true, rate_limit: None, log_format: Text, log_filter: "info" }"#;
        check(&[], Ok(defaults));
        assert_eq!(Settings::from_lookup(|_| None), Ok(Settings::default()));
        check(
            &[
                ("INSIGHTS_ADDR", "0.0.0.0:9000"),
                ("INSIGHTS_TIMESERIES", "/tmp/x.json"),
                ("INSIGHTS_MAX_WINDOW_DAYS", "31"),
            ],
            Ok(
                r#"Settings { addr: 0.0.0.0:9000, timeseries_path: "/tmp/x.json", timeseries_url: None, timeseries_replica_urls: None, replica_max_lag: 5s, replica_fallback: Primary, catalogue_path: None, max_window_days: 31, database_url: None, db_pool_size: 16, db_connect_timeout: 500ms, db_wait_timeout: 500ms, db_statement_timeout: 1s, db_pooler: None, cache_ttl: 60s, cache_capacity: 10000, limits: Limits { request_timeout: 10s, max_query_bytes: 2048, max_connections: 4096, workers: 2, client_timeout: 5s, compute_threads: 2, compute_slots: 8, queue_capacity: 128, queue_target: 100ms, answer_budget_mib: 32, light_work: 512, keep_alive: 5s, shutdown_timeout: 30s }, api_keys_file: None, metrics_require_key: true, rate_limit: None, log_format: Text, log_filter: "info" }"#,
            ),
        );
        // The database URLs may hold passwords, in any form: they are never shown.
        check(
            &[
                ("DATABASE_URL", "postgres://reader:s3cret@db/meta"),
                ("INSIGHTS_TIMESERIES_URL", "host=db password=s3cret"),
                ("INSIGHTS_DB_POOL_SIZE", "4"),
                ("INSIGHTS_DB_STATEMENT_TIMEOUT_MS", "250"),
            ],
            Ok(
                r#"Settings { addr: 127.0.0.1:8080, timeseries_path: "data/mock_timeseries.json", timeseries_url: Some("<redacted>"), timeseries_replica_urls: None, replica_max_lag: 5s, replica_fallback: Primary, catalogue_path: None, max_window_days: 366, database_url: Some("<redacted>"), db_pool_size: 4, db_connect_timeout: 500ms, db_wait_timeout: 500ms, db_statement_timeout: 250ms, db_pooler: None, cache_ttl: 60s, cache_capacity: 10000, limits: Limits { request_timeout: 10s, max_query_bytes: 2048, max_connections: 4096, workers: 2, client_timeout: 5s, compute_threads: 2, compute_slots: 8, queue_capacity: 128, queue_target: 100ms, answer_budget_mib: 32, light_work: 512, keep_alive: 5s, shutdown_timeout: 30s }, api_keys_file: None, metrics_require_key: true, rate_limit: None, log_format: Text, log_filter: "info" }"#,
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
                ("RUST_LOG", "insights_http=debug"),
            ],
            Ok(
                r#"Settings { addr: 127.0.0.1:8080, timeseries_path: "data/mock_timeseries.json", timeseries_url: None, timeseries_replica_urls: None, replica_max_lag: 5s, replica_fallback: Primary, catalogue_path: None, max_window_days: 366, database_url: None, db_pool_size: 16, db_connect_timeout: 500ms, db_wait_timeout: 500ms, db_statement_timeout: 1s, db_pooler: None, cache_ttl: 60s, cache_capacity: 10000, limits: Limits { request_timeout: 250ms, max_query_bytes: 512, max_connections: 100, workers: 8, client_timeout: 5s, compute_threads: 2, compute_slots: 8, queue_capacity: 128, queue_target: 100ms, answer_budget_mib: 32, light_work: 512, keep_alive: 0ns, shutdown_timeout: 3s }, api_keys_file: Some("/etc/insights/keys"), metrics_require_key: false, rate_limit: None, log_format: Json, log_filter: "insights_http=debug" }"#,
            ),
        );
        // A blank DATABASE_URL, as a .env may leave it, means none.
        check(&[("DATABASE_URL", " ")], Ok(defaults));
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
                r#"Settings { addr: 127.0.0.1:8080, timeseries_path: "postgres://<redacted>@db:5432/samples", timeseries_url: None, timeseries_replica_urls: None, replica_max_lag: 5s, replica_fallback: Primary, catalogue_path: Some("postgresql://<redacted>@db/meta?sslmode=disable"), max_window_days: 366, database_url: None, db_pool_size: 16, db_connect_timeout: 500ms, db_wait_timeout: 500ms, db_statement_timeout: 1s, db_pooler: None, cache_ttl: 60s, cache_capacity: 10000, limits: Limits { request_timeout: 10s, max_query_bytes: 2048, max_connections: 4096, workers: 2, client_timeout: 5s, compute_threads: 2, compute_slots: 8, queue_capacity: 128, queue_target: 100ms, answer_budget_mib: 32, light_work: 512, keep_alive: 5s, shutdown_timeout: 30s }, api_keys_file: Some("https://<redacted>@vault/keys"), metrics_require_key: true, rate_limit: None, log_format: Text, log_filter: "info" }"#,
            ),
        );
    }

    #[test]
    fn samples_in_postgres_are_read_from_their_own_url_or_else_the_metadata_one() {
        fn check(pairs: &[(&str, &str)], expected: [Option<&str>; 2]) {
            let settings = Settings::from_lookup(|key| {
                let value = pairs.iter().find(|(name, _)| *name == key);
                value.map(|(_, value)| value.to_string())
            })
            .unwrap();
            let databases = [settings.database(), settings.timeseries_database().unwrap()];
            assert_eq!(
                databases.map(|config| config.map(|config| config.url)),
                expected.map(|url| url.map(str::to_owned)),
                "{pairs:?}"
            );
        }
        let (meta, samples) = ("postgres://db/meta", "postgres://db/samples");
        check(&[], [None, None]);
        check(&[("DATABASE_URL", meta)], [Some(meta), None]);
        // Without INSIGHTS_TIMESERIES=postgres, the samples' URL is not read.
        check(&[("INSIGHTS_TIMESERIES_URL", samples)], [None, None]);
        let postgres = ("INSIGHTS_TIMESERIES", "postgres");
        check(
            &[postgres, ("DATABASE_URL", meta)],
            [Some(meta), Some(meta)],
        );
        check(
            &[postgres, ("INSIGHTS_TIMESERIES_URL", samples)],
            [None, Some(samples)],
        );
        check(
            &[
                postgres,
                ("DATABASE_URL", meta),
                ("INSIGHTS_TIMESERIES_URL", samples),
            ],
            [Some(meta), Some(samples)],
        );
    }

    #[test]
    fn both_databases_have_the_pool_limits() {
        let settings = Settings::from_lookup(|key| match key {
            "INSIGHTS_TIMESERIES" => Some("postgres".to_owned()),
            "DATABASE_URL" => Some("postgres://db/meta".to_owned()),
            "INSIGHTS_DB_POOL_SIZE" => Some("3".to_owned()),
            "INSIGHTS_DB_CONNECT_TIMEOUT_MS" => Some("1".to_owned()),
            "INSIGHTS_DB_WAIT_TIMEOUT_MS" => Some("2".to_owned()),
            _ => None,
        })
        .unwrap();
        let expected = r#"Some(PgConfig { url: "<redacted>", pool_size: 3, connect_timeout: 1ms, wait_timeout: 2ms, statement_timeout: 1s, pooler: None })"#;
        assert_eq!(format!("{:?}", settings.database()), expected);
        assert_eq!(
            format!("{:?}", settings.timeseries_database()),
            format!("Ok({expected})")
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
        check(
            &[("INSIGHTS_KEEP_ALIVE_S", "-1")],
            Err(
                r#"INSIGHTS_KEEP_ALIVE_S must be a whole number of seconds from 0 to 3600, got "-1""#,
            ),
        );
        check(
            &[("INSIGHTS_TIMESERIES", "postgres")],
            Err("INSIGHTS_TIMESERIES is postgres, which needs INSIGHTS_TIMESERIES_URL or DATABASE_URL"),
        );
    }
}
