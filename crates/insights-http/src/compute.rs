//! The threads that heavy work runs on, off the I/O workers.
//!
//! Usage answers can take a lot of CPU (a brand over a year in 5-minute demand intervals). Run
//! on actix's workers, such work stalls every connection those workers serve, `/healthz`
//! included, and no timer can fire until it ends. So heavy usage requests run on a runtime of
//! their own, a fixed number of low-priority threads, each holding a slot of `admission`
//! until its work has really stopped. The request timeout is a real deadline: when it
//! passes, the answer is a 503 at once and the work is aborted at its next yield (the core
//! yields between blocks of work).

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::runtime::Runtime;
use tokio::time::Instant;

use crate::admission::Permit;
use crate::error::ApiError;

/// A fixed set of threads for heavy work.
pub struct ComputePool {
    runtime: Option<Runtime>,
    timed_out: AtomicU64,
}

impl std::fmt::Debug for ComputePool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ComputePool")
            .field("timed_out", &self.timed_out())
            .finish()
    }
}

impl ComputePool {
    /// A pool of `threads` threads.
    pub fn new(threads: usize) -> std::io::Result<ComputePool> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .thread_name("insights-compute")
            .on_thread_start(yield_to_io_threads)
            .enable_all()
            .build()?;
        Ok(ComputePool {
            runtime: Some(runtime),
            timed_out: AtomicU64::new(0),
        })
    }

    /// How many threads it runs.
    pub fn threads(&self) -> usize {
        self.runtime
            .as_ref()
            .map_or(0, |runtime| runtime.metrics().num_workers())
    }

    /// Heavy requests whose deadline passed while their work ran.
    pub fn timed_out(&self) -> u64 {
        self.timed_out.load(Ordering::Relaxed)
    }

    /// Runs `work` on the pool, holding `slot`, until `deadline`.
    ///
    /// Answered with [`ApiError::TimedOut`] (naming `limit`, the request timeout) when the
    /// deadline passes first, and the work is then aborted. The slot is held until the work
    /// has really stopped, so aborted work still counts.
    pub async fn run<T, F>(
        &self,
        slot: Permit,
        deadline: Instant,
        limit: std::time::Duration,
        work: F,
    ) -> Result<T, ApiError>
    where
        F: Future<Output = Result<T, ApiError>> + Send + 'static,
        T: Send + 'static,
    {
        let runtime = self.runtime.as_ref().ok_or_else(|| ApiError::Internal {
            cause: "the compute pool has shut down".to_owned(),
        })?;
        let task = runtime.spawn(async move {
            let answer = work.await;
            drop(slot);
            answer
        });
        let abort = task.abort_handle();
        match tokio::time::timeout_at(deadline, task).await {
            Ok(Ok(answer)) => answer,
            // The panic hook logged the panic itself.
            Ok(Err(join_error)) if join_error.is_panic() => Err(ApiError::Panicked),
            Ok(Err(join_error)) => Err(ApiError::Internal {
                cause: format!("a heavy request's work stopped: {join_error}"),
            }),
            Err(_) => {
                abort.abort();
                self.timed_out.fetch_add(1, Ordering::Relaxed);
                Err(ApiError::TimedOut { limit })
            }
        }
    }
}

/// Where the compute threads' priority sits on thread-priority's 0–99 scale for Linux's
/// normal policies, which maps 22 to nice 10: CFS then gives a busy compute thread about a
/// tenth of a core against a busy worker (weights 110 and 1024). At the lowest priority
/// (nice 19, weight 15) a flood of light requests left heavy work almost nothing, and heavy
/// answers fewer than when light ones were refused (`docs/performance.md`).
const COMPUTE_PRIORITY: u8 = 22;

/// Lowers the calling thread's scheduling priority (SCHED_BATCH at nice 10 on Linux), so that
/// when heavy work takes every core, the workers that serve connections are still scheduled
/// at once and `/healthz` keeps its latency, while heavy work still gets a share. Where the
/// platform refuses, the thread keeps its priority: slower health checks under load, not a
/// failure.
fn yield_to_io_threads() {
    use thread_priority::{
        set_thread_priority_and_policy, thread_native_id, NormalThreadSchedulePolicy,
        ThreadPriority, ThreadPriorityValue, ThreadSchedulePolicy,
    };
    let priority = ThreadPriorityValue::try_from(COMPUTE_PRIORITY)
        .map_or(ThreadPriority::Min, ThreadPriority::Crossplatform);
    let lowered = set_thread_priority_and_policy(
        thread_native_id(),
        priority,
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
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::admission::{Admission, AdmissionLimits};

    fn block_on<F: Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(future)
    }

    fn one_slot() -> Arc<Admission> {
        Admission::new(AdmissionLimits {
            slots: 1,
            queue: 0,
            target: Duration::from_millis(100),
            answer_budget: usize::MAX,
            unread_timeout: Duration::from_secs(5),
        })
    }

    async fn slot(admission: &Arc<Admission>) -> Permit {
        let deadline = Instant::now() + Duration::from_secs(5);
        admission.admit(None, deadline).await.unwrap()
    }

    fn within(duration: Duration) -> Instant {
        Instant::now() + duration
    }

    #[test]
    fn answers_within_the_deadline_and_gives_the_slot_back() {
        let (pool, admission) = (ComputePool::new(1).unwrap(), one_slot());
        let answer = block_on(async {
            let slot = slot(&admission).await;
            let limit = Duration::from_secs(5);
            pool.run(slot, within(limit), limit, async { Ok(42) }).await
        });
        assert_eq!(answer.unwrap(), 42);
        assert_eq!(admission.status().busy, 0);
    }

    #[test]
    fn a_panic_in_the_work_is_an_answer_and_frees_the_slot() {
        let (pool, admission) = (ComputePool::new(1).unwrap(), one_slot());
        let limit = Duration::from_secs(5);
        let answer: Result<(), ApiError> = block_on(async {
            let slot = slot(&admission).await;
            pool.run(slot, within(limit), limit, async {
                panic!("deliberately, in a test");
            })
            .await
        });
        assert!(matches!(answer, Err(ApiError::Panicked)), "{answer:?}");
        assert_eq!(admission.status().busy, 0);
    }

    #[test]
    fn a_deadline_aborts_the_work_and_its_slot_comes_back_once_it_stopped() {
        let (pool, admission) = (ComputePool::new(1).unwrap(), one_slot());
        let limit = Duration::from_millis(50);
        let answer: Result<(), ApiError> = block_on(async {
            let slot = slot(&admission).await;
            pool.run(slot, within(limit), limit, async {
                // Yields often, as the core does, so an abort takes effect.
                loop {
                    tokio::task::yield_now().await;
                }
            })
            .await
        });
        assert!(
            matches!(answer, Err(ApiError::TimedOut { .. })),
            "{answer:?}"
        );
        assert_eq!(pool.timed_out(), 1);
        // The aborted task drops its slot on its own thread; wait for that, boundedly.
        for _ in 0..500 {
            if admission.status().busy == 0 {
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        assert_eq!(admission.status().busy, 0);
    }
}
