//! Sample reads spread over streaming replicas of the samples' database. A replica answers only
//! while a probe, run every [`PROBE_EVERY`], finds that it has replayed the primary's commits
//! to within the allowed lag; otherwise reads go to the primary or are refused, as configured.
//!
//! A replica's lag is the time since the latest instant before which it has replayed every
//! commit, on the primary's clock. That instant is the later of two facts: the commit time of
//! the last transaction it replayed (`pg_last_xact_replay_timestamp`), and the time at which
//! the primary stood at the newest WAL position the replica has replayed past. The second
//! keeps the lag true when the primary is idle, where the first alone would grow without end.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use insights_core::TimeSeriesError;
use tokio_postgres::Row;

use crate::{Database, DbError, PgConfig, PgSetupError};

/// How often each replica's replay position is read.
pub const PROBE_EVERY: Duration = Duration::from_secs(1);

/// A replica whose last good probe is older than this leaves rotation: where it stands is no
/// longer known.
pub const PROBE_STALE_AFTER: Duration = Duration::from_secs(3);

/// How many of the primary's recent WAL positions are kept, each with the primary's clock when
/// it was read: ten minutes of probes.
const POSITIONS_KEPT: usize = 600;

/// The primary's WAL position and clock, in bytes and µs since the epoch.
const PRIMARY_POSITION: &str = "
    SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::int8 AS lsn,
           (extract(epoch FROM clock_timestamp()) * 1000000)::int8 AS now_us";

/// A replica's replay position, the commit time of the last transaction it replayed, and its
/// clock. `pg_is_in_recovery` is false on a server that is no replica (or was promoted).
const REPLAY_POSITION: &str = "
    SELECT pg_is_in_recovery() AS recovering,
           pg_wal_lsn_diff(pg_last_wal_replay_lsn(), '0/0')::int8 AS replayed_lsn,
           (extract(epoch FROM pg_last_xact_replay_timestamp()) * 1000000)::int8 AS replayed_at_us,
           (extract(epoch FROM clock_timestamp()) * 1000000)::int8 AS now_us";

/// What to do when no replica is in rotation: down, or further behind than allowed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum WhenNoReplica {
    /// Read from the primary: every answer, at the cost of the primary's load.
    #[default]
    Primary,
    /// Refuse the read as unavailable (a 503 with a reason): the primary serves imports only.
    Refuse,
}

/// Replicas to read samples from, and when one may answer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReplicaConfig {
    /// Each replica's connection settings; empty: every read goes to the primary.
    pub replicas: Vec<PgConfig>,
    /// The most a replica may lag behind the primary and still answer.
    pub max_lag: Duration,
    /// What reads do when no replica may answer.
    pub when_none: WhenNoReplica,
}

/// Where one replica stands, for `/readyz` and `/metrics`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplicaStatus {
    /// Host, port, database and user, never the password.
    pub replica: String,
    /// How far behind the primary it was at the last probe; `None` when not known.
    pub lag: Option<Duration>,
    /// Whether reads go to it now.
    pub in_rotation: bool,
    /// Why not, when it is out of rotation.
    pub reason: Option<String>,
}

/// The primary's WAL position at an instant of its clock, in bytes and µs since the epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct PrimaryPosition {
    lsn: i64,
    at_us: i64,
}

/// What a probe read off a replica.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct ReplayPosition {
    recovering: bool,
    replayed_lsn: Option<i64>,
    replayed_at_us: Option<i64>,
    now_us: i64,
}

/// How far behind a replica is at `now_us` on the primary's clock, in µs: the time since the
/// latest instant before which it has replayed every commit, from the commit time of the last
/// transaction it replayed and from the newest of the primary's `positions` (oldest first)
/// that it has replayed past. `None` when neither tells.
fn lag_us(
    replica: &ReplayPosition,
    positions: &VecDeque<PrimaryPosition>,
    now_us: i64,
) -> Option<i64> {
    let passed = replica.replayed_lsn.and_then(|replayed| {
        positions
            .iter()
            .rev()
            .find(|position| position.lsn <= replayed)
            .map(|position| position.at_us)
    });
    let replayed_until = passed.max(replica.replayed_at_us)?;
    Some(now_us.saturating_sub(replayed_until).max(0))
}

/// One replica: its pool, a connection of its own for probes (so a busy pool does not make
/// it look unreachable), and what the last probe and reads found.
struct Replica {
    db: Database,
    probe_db: Database,
    state: Mutex<ReplicaState>,
}

#[derive(Default)]
struct ReplicaState {
    /// When the last probe started (before it read the primary's position, so its lag is
    /// never younger than the stamp), and the lag it found or why it found none.
    probed: Option<(Instant, Result<Duration, String>)>,
    /// When and why a read failed there: out of rotation until a probe that started later.
    failed: Option<(Instant, String)>,
}

impl Replica {
    /// Whether reads may go here now, or why not.
    fn rotation(&self, max_lag: Duration, now: Instant) -> Result<Duration, String> {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((_, reason)) = &state.failed {
            return Err(reason.clone());
        }
        match &state.probed {
            None => Err("not probed yet".to_owned()),
            Some((at, _)) if now.saturating_duration_since(*at) > PROBE_STALE_AFTER => {
                Err(format!(
                    "no probe answered in the last {} ms",
                    PROBE_STALE_AFTER.as_millis()
                ))
            }
            Some((_, Err(reason))) => Err(reason.clone()),
            Some((_, Ok(lag))) if *lag > max_lag => Err(format!(
                "{} ms behind the primary, more than the {} ms allowed",
                lag.as_millis(),
                max_lag.as_millis()
            )),
            Some((_, Ok(lag))) => Ok(*lag),
        }
    }

    /// Records what a probe that started at `started` found. A read failure after that start
    /// stands until a later probe.
    fn record_probe(&self, started: Instant, lag: Result<Duration, String>) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.probed = Some((started, lag));
        if state.failed.as_ref().is_some_and(|(at, _)| *at < started) {
            state.failed = None;
        }
    }

    fn record_failure(&self, reason: String) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.failed = Some((Instant::now(), format!("a read failed: {reason}")));
    }

    /// The lag the last probe found, if it found one.
    fn last_lag(&self) -> Option<Duration> {
        match &self
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .probed
        {
            Some((_, Ok(lag))) => Some(*lag),
            _ => None,
        }
    }

    fn status(&self, max_lag: Duration) -> ReplicaStatus {
        let rotation = self.rotation(max_lag, Instant::now());
        ReplicaStatus {
            replica: self.db.describe().to_owned(),
            lag: self.last_lag(),
            in_rotation: rotation.is_ok(),
            reason: rotation.err(),
        }
    }
}

/// The primary and its replicas, and which of them a read goes to.
pub(crate) struct Sources {
    primary: Database,
    replicas: Vec<Replica>,
    max_lag: Duration,
    when_none: WhenNoReplica,
    /// The primary's recent positions, oldest first.
    positions: Mutex<VecDeque<PrimaryPosition>>,
}

impl fmt::Debug for Sources {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sources")
            .field("primary", &self.primary.describe())
            .field("replicas", &self.replicas.len())
            .field("max_lag", &self.max_lag)
            .field("when_none", &self.when_none)
            .finish()
    }
}

impl Sources {
    /// The primary and the replicas of `config`. With replicas, probes each at once, and then
    /// every [`PROBE_EVERY`] on a task of the current runtime that ends when the sources are
    /// dropped. A replica that is down does not stop the start: it is out of rotation.
    pub(crate) async fn new(
        primary: Database,
        config: &ReplicaConfig,
    ) -> Result<Arc<Sources>, PgSetupError> {
        let replicas = config
            .replicas
            .iter()
            .map(|replica| {
                Ok(Replica {
                    db: Database::new(replica)?,
                    probe_db: Database::new(&PgConfig {
                        pool_size: 1,
                        ..replica.clone()
                    })?,
                    state: Mutex::default(),
                })
            })
            .collect::<Result<Vec<_>, PgSetupError>>()?;
        let sources = Arc::new(Sources {
            primary,
            replicas,
            max_lag: config.max_lag,
            when_none: config.when_none,
            positions: Mutex::default(),
        });
        if !sources.replicas.is_empty() {
            sources.probe().await;
            tokio::spawn(keep_probing(Arc::downgrade(&sources)));
        }
        Ok(sources)
    }

    pub(crate) fn primary(&self) -> &Database {
        &self.primary
    }

    /// Whether reads may go to replicas, which may be behind the primary by up to the allowed
    /// lag plus [`PROBE_STALE_AFTER`].
    pub(crate) fn staleness_bound(&self) -> Option<Duration> {
        (!self.replicas.is_empty()).then_some(self.max_lag + PROBE_STALE_AFTER)
    }

    pub(crate) fn statuses(&self) -> Vec<ReplicaStatus> {
        self.replicas
            .iter()
            .map(|replica| replica.status(self.max_lag))
            .collect()
    }

    /// Runs `read` on the first replica in rotation, in the order configured, or when there
    /// is none on the primary or not at all ([`WhenNoReplica`]). A read that finds a replica
    /// unavailable runs again on the next one in rotation, then on the primary or not at all;
    /// the replica leaves rotation until a later probe only when the read found it out of
    /// reach, not merely busy (a full pool, a statement cut off), so a burst of load does not
    /// empty the rotation. `read` must have no effect before it returns `Ok`: it may run more
    /// than once.
    ///
    /// Reads stay on one replica while it is in rotation, rather than taking turns, so that
    /// the reads of one answer see one server, whose later reads see at least what its earlier
    /// ones did (the use case asks whether a window is settled just before its figures). To
    /// spread instances over replicas, list them in another order on each.
    pub(crate) async fn read<T, Read, Fut>(&self, read: Read) -> Result<T, TimeSeriesError>
    where
        Read: Fn(Database) -> Fut,
        Fut: std::future::Future<Output = Result<T, TimeSeriesError>>,
    {
        let now = Instant::now();
        let in_rotation = self
            .replicas
            .iter()
            .filter(|replica| replica.rotation(self.max_lag, now).is_ok());
        for replica in in_rotation {
            let unreachable = replica.db.unreachable_count();
            match read(replica.db.clone()).await {
                Err(TimeSeriesError::Unavailable { reason }) => {
                    if replica.db.unreachable_count() != unreachable {
                        replica.record_failure(reason);
                    }
                }
                answer => return answer,
            }
        }
        match self.when_none {
            WhenNoReplica::Primary => read(self.primary.clone()).await,
            WhenNoReplica::Refuse => Err(self.refusal()),
        }
    }

    fn refusal(&self) -> TimeSeriesError {
        let now = Instant::now();
        let reasons: Vec<String> = self
            .replicas
            .iter()
            .map(|replica| {
                let why = replica
                    .rotation(self.max_lag, now)
                    .err()
                    .unwrap_or_else(|| {
                        "in rotation, but busy or answering with a conflict for this read"
                            .to_owned()
                    });
                format!("{}: {why}", replica.db.describe())
            })
            .collect();
        TimeSeriesError::Unavailable {
            reason: format!(
                "no replica of the samples' database may answer, and reads are not sent to the primary: {}",
                reasons.join("; ")
            ),
        }
    }

    /// Reads the primary's position and then every replica's at once, and records each
    /// replica's lag.
    async fn probe(&self) {
        let started = Instant::now();
        let primary = match self.primary.query(PRIMARY_POSITION, &[]).await {
            Ok(rows) => rows.first().and_then(|row| {
                Some(PrimaryPosition {
                    lsn: row.try_get("lsn").ok()?,
                    at_us: row.try_get("now_us").ok()?,
                })
            }),
            Err(_) => None,
        };
        let positions = {
            let mut positions = self
                .positions
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if let Some(position) = primary {
                if positions.len() == POSITIONS_KEPT {
                    positions.pop_front();
                }
                positions.push_back(position);
            }
            positions.clone()
        };
        let probes = self.replicas.iter().map(|replica| async {
            let lag = match replica.probe_db.query(REPLAY_POSITION, &[]).await {
                Ok(rows) => match rows.first().map(replay_position) {
                    Some(Ok(position)) if !position.recovering => Err(
                        "not a replica: the server is not in recovery (a primary, or a promoted replica)".to_owned(),
                    ),
                    // While the primary does not answer, nothing new is committed to replay:
                    // a replica keeps the lag it had rather than ageing by its own clock.
                    Some(Ok(_)) if primary.is_none() && replica.last_lag().is_some() => {
                        Ok(replica.last_lag().unwrap_or_default())
                    }
                    Some(Ok(position)) => {
                        // The primary's clock when it answered this round, else the
                        // replica's own.
                        let now_us = primary.map_or(position.now_us, |primary| primary.at_us);
                        lag_us(&position, &positions, now_us)
                            .map(|lag| Duration::from_micros(lag.unsigned_abs()))
                            .ok_or_else(|| {
                                "has replayed no transaction, and no position of the primary it has passed is known".to_owned()
                            })
                    }
                    Some(Err(reason)) => Err(reason),
                    None => Err("the probe returned no row".to_owned()),
                },
                Err(DbError::Unavailable(reason) | DbError::Broken(reason) | DbError::Denied(reason)) => {
                    Err(format!("unreachable: {reason}"))
                }
            };
            replica.record_probe(started, lag);
        });
        futures_util::future::join_all(probes).await;
    }
}

fn replay_position(row: &Row) -> Result<ReplayPosition, String> {
    let shape = |error: tokio_postgres::Error| format!("unexpected probe row: {error}");
    Ok(ReplayPosition {
        recovering: row.try_get("recovering").map_err(shape)?,
        replayed_lsn: row.try_get("replayed_lsn").map_err(shape)?,
        replayed_at_us: row.try_get("replayed_at_us").map_err(shape)?,
        now_us: row.try_get("now_us").map_err(shape)?,
    })
}

/// Probes every [`PROBE_EVERY`] while the sources live.
async fn keep_probing(sources: Weak<Sources>) {
    loop {
        tokio::time::sleep(PROBE_EVERY).await;
        let Some(sources) = sources.upgrade() else {
            return;
        };
        sources.probe().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn position(lsn: i64, at_us: i64) -> PrimaryPosition {
        PrimaryPosition { lsn, at_us }
    }

    fn check(
        (recovering, replayed_lsn, replayed_at_us): (bool, Option<i64>, Option<i64>),
        positions: &[PrimaryPosition],
        now_us: i64,
        expected: Option<i64>,
    ) {
        let replica = ReplayPosition {
            recovering,
            replayed_lsn,
            replayed_at_us,
            now_us: -1,
        };
        let positions: VecDeque<PrimaryPosition> = positions.iter().copied().collect();
        assert_eq!(
            lag_us(&replica, &positions, now_us),
            expected,
            "{replica:?} {positions:?} at {now_us}"
        );
    }

    fn replica() -> Replica {
        // No connection is opened until a statement runs.
        let config = PgConfig {
            url: "postgres://nobody@127.0.0.1:1/none".to_owned(),
            pool_size: 1,
            connect_timeout: Duration::from_millis(1),
            wait_timeout: Duration::from_millis(1),
            statement_timeout: Duration::from_millis(1),
            pooler: crate::Pooler::None,
        };
        Replica {
            db: Database::new(&config).unwrap(),
            probe_db: Database::new(&config).unwrap(),
            state: Mutex::default(),
        }
    }

    #[test]
    fn a_replica_is_in_rotation_while_a_fresh_probe_finds_it_within_the_lag() {
        let max_lag = Duration::from_secs(5);
        let replica = replica();
        let t0 = Instant::now();
        let rotation = |at: Instant| {
            replica
                .rotation(max_lag, at)
                .map_err(|why| why[..12].to_owned())
        };
        assert_eq!(rotation(t0), Err("not probed y".to_owned()));
        replica.record_probe(t0, Ok(Duration::from_millis(100)));
        assert_eq!(rotation(t0), Ok(Duration::from_millis(100)));
        // A probe older than PROBE_STALE_AFTER no longer tells.
        assert_eq!(
            rotation(t0 + PROBE_STALE_AFTER + Duration::from_millis(1)),
            Err("no probe ans".to_owned())
        );
        replica.record_probe(t0, Ok(Duration::from_secs(6)));
        assert_eq!(rotation(t0), Err("6000 ms behi".to_owned()));
        replica.record_probe(t0, Err("unreachable: refused".to_owned()));
        assert_eq!(rotation(t0), Err("unreachable:".to_owned()));
        // A failed read stands against a probe that started before it, not after.
        replica.record_probe(t0, Ok(Duration::ZERO));
        replica.record_failure("connection reset".to_owned());
        replica.record_probe(t0, Ok(Duration::ZERO));
        assert_eq!(rotation(t0), Err("a read faile".to_owned()));
        replica.record_probe(
            Instant::now() + Duration::from_millis(1),
            Ok(Duration::ZERO),
        );
        assert_eq!(rotation(t0), Ok(Duration::ZERO));
    }

    #[test]
    fn lag_is_the_time_since_the_replica_last_had_everything() {
        let history = [
            position(100, 1_000),
            position(200, 2_000),
            position(300, 3_000),
        ];
        // Replayed past the newest position: behind by the time since it was read.
        check((true, Some(300), None), &history, 3_500, Some(500));
        check((true, Some(350), None), &history, 3_500, Some(500));
        // Between two positions: the older one is the instant it has everything before.
        check((true, Some(250), None), &history, 3_500, Some(1_500));
        // A commit replayed later than any position passed counts.
        check((true, Some(250), Some(2_900)), &history, 3_500, Some(600));
        // An old commit time does not hide a passed position: an idle primary.
        check((true, Some(300), Some(10)), &history, 3_500, Some(500));
        // Before every known position, only the commit time tells.
        check((true, Some(50), Some(400)), &history, 3_500, Some(3_100));
        check((true, Some(50), None), &history, 3_500, None);
        check((true, None, None), &[], 3_500, None);
        // Clocks that disagree never make a negative lag.
        check((true, Some(300), Some(4_000)), &history, 3_500, Some(0));
    }
}
