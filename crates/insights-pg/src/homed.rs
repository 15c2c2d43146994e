//! Pooled connections that remember the runtime their connection task runs on, so that a
//! statement's rows are read there and handed over once.
//!
//! tokio-postgres drives each connection as a task of the runtime that opened it. That task
//! reads the socket about 8 KB at a time and hands each read's messages to the statement's
//! row stream through a bounded channel of a message or two. When the stream is polled on
//! another thread (a heavy request on the compute threads, over a connection an I/O worker
//! opened), every hand-off is a wake-up across threads: the 1.27 MB of an organization's 14
//! days by hour are about 160 of them, and each may wait for the other thread to be
//! scheduled. Draining the stream on the connection's own runtime leaves one hand-off, of
//! the finished rows. The rows are parsed there too, then; for the statements the service
//! sends (a pack's row is a few columns and one byte range) that costs little next to the
//! hand-offs it saves.

use deadpool::managed::{self, Metrics, RecycleResult};
use deadpool_postgres::ClientWrapper;
use futures_util::{TryStream, TryStreamExt};
use tokio::runtime::Handle;
use tokio::task::JoinHandle;
use tokio_postgres::{Error, Row, RowStream};

/// deadpool-postgres's manager, whose connections also record their runtime.
#[derive(Debug)]
pub(crate) struct HomedManager(pub(crate) deadpool_postgres::Manager);

/// The pool of [`Homed`] connections.
pub(crate) type HomedPool = managed::Pool<HomedManager>;

/// A pooled connection and the runtime its connection task runs on.
#[derive(Debug)]
pub(crate) struct Homed {
    client: ClientWrapper,
    home: Handle,
}

impl managed::Manager for HomedManager {
    type Type = Homed;
    type Error = Error;

    async fn create(&self) -> Result<Homed, Error> {
        let client = self.0.create().await?;
        // deadpool-postgres spawns the connection's task with `tokio::spawn`, so on the
        // runtime that runs this.
        Ok(Homed {
            client,
            home: Handle::current(),
        })
    }

    async fn recycle(&self, homed: &mut Homed, metrics: &Metrics) -> RecycleResult<Error> {
        self.0.recycle(&mut homed.client, metrics).await
    }

    fn detach(&self, homed: &mut Homed) {
        self.0.detach(&mut homed.client);
    }
}

/// Why a statement's rows could not be read.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// The driver's error.
    Driver(Error),
    /// The runtime that drives the connection has stopped (the process is shutting down, or
    /// its worker was restarted), and the connection with it.
    HomeStopped,
}

impl From<Error> for ReadError {
    fn from(error: Error) -> ReadError {
        ReadError::Driver(error)
    }
}

impl Homed {
    /// The client, to send statements with.
    pub(crate) fn client(&self) -> &ClientWrapper {
        &self.client
    }

    /// All of a statement's rows, read on the connection's runtime.
    pub(crate) async fn collect(&self, rows: RowStream) -> Result<Vec<Row>, ReadError> {
        match collect_on(&self.home, rows).await {
            Ok(rows) => Ok(rows?),
            Err(HomeStopped) => Err(ReadError::HomeStopped),
        }
    }
}

/// The runtime a stream was to be read on has stopped.
#[derive(Debug, PartialEq, Eq)]
struct HomeStopped;

/// All of `stream`'s items, read on the runtime `home`: in place when this task already runs
/// there, else by a task spawned there, aborted if this future is dropped (as dropping the
/// stream itself would stop reading it). A panic there is resumed here.
async fn collect_on<S>(
    home: &Handle,
    stream: S,
) -> Result<Result<Vec<S::Ok>, S::Error>, HomeStopped>
where
    S: TryStream + Send + 'static,
    S::Ok: Send + 'static,
    S::Error: Send + 'static,
{
    if Handle::current().id() == home.id() {
        return Ok(stream.try_collect().await);
    }
    let mut task = AbortOnDrop(home.spawn(stream.try_collect::<Vec<S::Ok>>()));
    match (&mut task.0).await {
        Ok(items) => Ok(items),
        Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
        Err(_) => Err(HomeStopped),
    }
}

/// A spawned task that stops when its handle is dropped.
struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::future::Future;
    use std::sync::mpsc;
    use std::task::Poll;
    use std::time::Duration;

    use futures_util::{stream, StreamExt};

    use super::*;

    /// A guard against hanging, not a performance bound.
    const HANG_GUARD: Duration = Duration::from_secs(30);

    fn home() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("home")
            .build()
            .unwrap()
    }

    fn away() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
    }

    /// Three items, each the name of the thread that produced it.
    fn thread_names() -> impl TryStream<Ok = String, Error = Infallible> + Send + 'static {
        stream::iter(0..3)
            .map(|_| Ok::<_, Infallible>(std::thread::current().name().unwrap_or("").to_owned()))
    }

    #[test]
    fn reads_on_the_home_runtime_from_another_and_in_place_at_home() {
        let home = home();
        let handle = home.handle().clone();
        let from_away = away().block_on(collect_on(&handle, thread_names()));
        assert_eq!(from_away, Ok(Ok(vec!["home".to_owned(); 3])));
        // At home, nothing is spawned: the stream is read where the caller runs.
        let handle = home.handle().clone();
        let at_home = home.block_on(async move { collect_on(&handle, thread_names()).await });
        let here = std::thread::current().name().map(str::to_owned);
        assert_eq!(at_home, Ok(Ok(vec![here.unwrap_or_default(); 3])));
    }

    #[test]
    fn a_dropped_read_stops_reading() {
        let home = home();
        let (dropped, was_dropped) = mpsc::channel::<()>();
        // A stream that never ends, and tells when it is dropped.
        let endless = stream::pending::<Result<(), Infallible>>().map(move |item| {
            let _keep = &dropped;
            item
        });
        let handle = home.handle().clone();
        away().block_on(async {
            // Polled once, so the task is spawned, then dropped.
            let mut read = Box::pin(collect_on(&handle, endless));
            std::future::poll_fn(|context| {
                assert!(read.as_mut().poll(context).is_pending());
                Poll::Ready(())
            })
            .await;
        });
        assert_eq!(
            was_dropped.recv_timeout(HANG_GUARD),
            Err(mpsc::RecvTimeoutError::Disconnected)
        );
    }

    #[test]
    fn a_stopped_home_is_told_apart() {
        let handle = home().handle().clone();
        let read = away().block_on(collect_on(&handle, thread_names()));
        assert_eq!(read, Err(HomeStopped));
    }
}
