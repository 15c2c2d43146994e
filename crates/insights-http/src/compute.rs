//! The bounded pool that heavy work runs on, off the I/O workers.
//!
//! Usage answers can take a lot of CPU (a brand over a year in 5-minute demand intervals). Run
//! on actix's workers, such work stalls every connection those workers serve, `/healthz`
//! included, and no timer can fire until it ends. So usage use cases run on a runtime of their
//! own, a fixed number of threads, and at most `slots` requests may be admitted to it at
//! once; one more is refused at once with a 503, never queued without bound. The request
//! timeout is a real deadline: when it passes, the answer is a 503 at once and the work is
//! aborted at its next yield (the core yields between blocks of work).

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::runtime::Runtime;
use tokio::sync::Semaphore;

use crate::error::ApiError;

/// A fixed set of threads for heavy work, and the slots that admit requests to it.
pub struct ComputePool {
    runtime: Option<Runtime>,
    slots: Arc<Semaphore>,
    capacity: usize,
    refused: AtomicU64,
    timed_out: AtomicU64,
}

impl std::fmt::Debug for ComputePool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ComputePool")
            .field("capacity", &self.capacity)
            .field("busy", &self.busy())
            .finish()
    }
}

/// Counters and gauges of the pool, for `/metrics`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ComputeStatus {
    /// Requests that may be admitted at once.
    pub capacity: usize,
    /// Requests admitted now.
    pub busy: usize,
    /// Requests refused because every slot was taken.
    pub refused: u64,
    /// Requests whose deadline passed while their work ran.
    pub timed_out: u64,
}

impl ComputePool {
    /// A pool of `threads` threads admitting at most `slots` requests at once.
    pub fn new(threads: usize, slots: usize) -> std::io::Result<ComputePool> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .thread_name("insights-compute")
            .on_thread_start(yield_to_io_threads)
            .enable_all()
            .build()?;
        Ok(ComputePool {
            runtime: Some(runtime),
            slots: Arc::new(Semaphore::new(slots.max(1))),
            capacity: slots.max(1),
            refused: AtomicU64::new(0),
            timed_out: AtomicU64::new(0),
        })
    }

    /// Requests admitted now.
    pub fn busy(&self) -> usize {
        self.capacity - self.slots.available_permits()
    }

    /// The pool's figures for `/metrics`.
    pub fn status(&self) -> ComputeStatus {
        ComputeStatus {
            capacity: self.capacity,
            busy: self.busy(),
            refused: self.refused.load(Ordering::Relaxed),
            timed_out: self.timed_out.load(Ordering::Relaxed),
        }
    }

    /// Runs `work` on the pool within `deadline`.
    ///
    /// Refused with [`ApiError::Overloaded`] when every slot is taken; answered with
    /// [`ApiError::TimedOut`] when the deadline passes first, and the work is then aborted.
    /// The slot is held until the work has really stopped, so aborted work still counts.
    pub async fn run<T, F>(&self, deadline: Duration, work: F) -> Result<T, ApiError>
    where
        F: Future<Output = Result<T, ApiError>> + Send + 'static,
        T: Send + 'static,
    {
        let Ok(slot) = Arc::clone(&self.slots).try_acquire_owned() else {
            self.refused.fetch_add(1, Ordering::Relaxed);
            return Err(ApiError::Overloaded {
                capacity: self.capacity,
            });
        };
        let runtime = self.runtime.as_ref().ok_or_else(|| ApiError::Internal {
            cause: "the compute pool has shut down".to_owned(),
        })?;
        let task = runtime.spawn(async move {
            let answer = work.await;
            drop(slot);
            answer
        });
        let abort = task.abort_handle();
        match tokio::time::timeout(deadline, task).await {
            Ok(Ok(answer)) => answer,
            // The panic hook logged the panic itself.
            Ok(Err(join_error)) if join_error.is_panic() => Err(ApiError::Panicked),
            Ok(Err(join_error)) => Err(ApiError::Internal {
                cause: format!("a heavy request's work stopped: {join_error}"),
            }),
            Err(_) => {
                abort.abort();
                self.timed_out.fetch_add(1, Ordering::Relaxed);
                Err(ApiError::TimedOut { limit: deadline })
            }
        }
    }
}

/// Lowers the calling thread's scheduling priority (SCHED_BATCH at the lowest nice level on
/// Linux), so that when heavy work takes every core, the workers that serve connections are
/// still scheduled at once and `/healthz` keeps its latency. Where the platform refuses, the
/// thread keeps its priority: slower health checks under load, not a failure.
fn yield_to_io_threads() {
    use thread_priority::{
        set_thread_priority_and_policy, thread_native_id, NormalThreadSchedulePolicy,
        ThreadPriority, ThreadSchedulePolicy,
    };
    let lowered = set_thread_priority_and_policy(
        thread_native_id(),
        ThreadPriority::Min,
        ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Batch),
    );
    if let Err(error) = lowered {
        tracing::debug!(?error, "could not lower the compute thread's priority");
    }
}

impl Drop for ComputePool {
    fn drop(&mut self) {
        // Dropping a runtime blocks, which is not allowed inside another runtime, where the
        // last handle to the state may well be dropped.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block_on<F: Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(future)
    }

    #[test]
    fn answers_within_the_deadline() {
        let pool = ComputePool::new(1, 2).unwrap();
        let answer = block_on(pool.run(Duration::from_secs(5), async { Ok(42) }));
        assert_eq!(answer.unwrap(), 42);
        assert_eq!(pool.busy(), 0);
    }

    #[test]
    fn a_panic_in_the_work_is_an_answer_and_frees_the_slot() {
        let pool = ComputePool::new(1, 1).unwrap();
        let answer: Result<(), ApiError> = block_on(pool.run(Duration::from_secs(5), async {
            panic!("deliberately, in a test");
        }));
        assert!(matches!(answer, Err(ApiError::Panicked)), "{answer:?}");
        assert_eq!(pool.busy(), 0);
        let answer = block_on(pool.run(Duration::from_secs(5), async { Ok(7) }));
        assert_eq!(answer.unwrap(), 7);
    }

    #[test]
    fn a_full_pool_refuses_at_once_and_frees_its_slots_after_a_deadline() {
        let pool = ComputePool::new(1, 1).unwrap();
        let status = block_on(async {
            let slow = pool.run(Duration::from_millis(100), async {
                // Yields often, as the core does, so an abort takes effect.
                loop {
                    tokio::task::yield_now().await;
                }
                #[allow(unreachable_code)]
                Ok(())
            });
            let refused = async {
                tokio::time::sleep(Duration::from_millis(20)).await;
                pool.run(Duration::from_secs(1), async { Ok(()) }).await
            };
            let (slow, refused) = tokio::join!(slow, refused);
            assert!(matches!(slow, Err(ApiError::TimedOut { .. })), "{slow:?}");
            assert!(
                matches!(refused, Err(ApiError::Overloaded { capacity: 1 })),
                "{refused:?}"
            );
            // The aborted work gives its slot back once it has stopped.
            for _ in 0..100 {
                if pool.busy() == 0 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            pool.status()
        });
        assert_eq!(
            status,
            ComputeStatus {
                capacity: 1,
                busy: 0,
                refused: 1,
                timed_out: 1
            }
        );
    }
}
