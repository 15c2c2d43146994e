//! Admission of heavy requests: a fixed number of slots, a bounded queue in front of them
//! served fairly between callers, and a refusal only when a request cannot start in time.
//!
//! Light requests never come here (`routes` runs them at once, see `docs/operations.md`), so
//! nothing below can refuse ordinary load. A heavy request that finds a slot free, within its
//! caller's share, starts at once. Otherwise it waits in its caller's queue, and the callers'
//! queues are served in turn (round robin), so one caller that floods the service delays its
//! own requests, not another's. A waiting request is refused with a 503 when:
//! - the queue is full (`queue_full`), or the caller's share of it is (`caller_share`);
//! - it would wait longer than the queueing target or past its own deadline
//!   (`queue_deadline`): predicted on arrival from the measured drain rate, so a request that
//!   cannot start in time is told at once, and enforced by a timer while it waits.
//!
//! The drain rate (a moving average of how long admitted work holds its slot) also gives
//! `Retry-After`. Time is tokio's clock, so tests pause it and advance it by hand.
//!
//! Answers written already and waiting for their clients to read them hold memory that no slot
//! accounts for: a client that asks for megabytes and never reads keeps them until the client
//! timeout closes its connection. So each long answer claims its size of a byte budget
//! ([`AnswerClaim`]) until the server has taken its last chunk or dropped it,
//! and while the claims fill the budget, no heavy work starts: it is refused
//! (`answers_waiting`), with the client timeout as `Retry-After`, the longest an answer nobody
//! reads is kept. Light work is never refused: its answers (a few hundred figures at most)
//! claim too when they are long, but always start.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::ratelimit::Subject;

/// Who a request is for fair shares: the subject its rate limit draws from (its API key, or
/// its client address while keys are off), or `None` for a request with neither (a test's, or
/// one over a socket without a peer address), which then share one queue.
pub type CallerId = Option<Subject>;

/// Why a heavy request was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Refusal {
    /// The queue holds as many waiting requests as it may.
    QueueFull,
    /// The caller already has its share of the queue waiting.
    CallerShare,
    /// It could not start within the queueing target or before its own deadline.
    QueueDeadline,
    /// Answers waiting for their clients to read them hold the whole answer budget.
    AnswersWaiting,
}

impl Refusal {
    /// Every reason, in the order `/metrics` lists them.
    pub const ALL: [Refusal; 4] = [
        Refusal::QueueFull,
        Refusal::CallerShare,
        Refusal::QueueDeadline,
        Refusal::AnswersWaiting,
    ];

    /// The reason's label in `/metrics` and the log.
    pub fn label(self) -> &'static str {
        match self {
            Refusal::QueueFull => "queue_full",
            Refusal::CallerShare => "caller_share",
            Refusal::QueueDeadline => "queue_deadline",
            Refusal::AnswersWaiting => "answers_waiting",
        }
    }
}

/// A refusal, and when the client may usefully try again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refused {
    /// Why.
    pub reason: Refusal,
    /// How long the queue ahead of it is expected to take to drain (for `answers_waiting`,
    /// the client timeout), from 1 to 60 seconds.
    pub retry_after: Duration,
}

/// How the slots and the queue are sized.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AdmissionLimits {
    /// Heavy requests running at once.
    pub slots: usize,
    /// Heavy requests waiting at once, over all callers.
    pub queue: usize,
    /// The longest a request may wait for a slot.
    pub target: Duration,
    /// Bytes of answers that may wait for their clients at once before heavy work is refused.
    pub answer_budget: usize,
    /// The longest an answer nobody reads is kept: the client timeout.
    pub unread_timeout: Duration,
}

impl AdmissionLimits {
    /// The slots one caller may hold at once: half of them (at least one), so another
    /// caller finds a slot free however hard the first one sends.
    pub fn caller_slots(&self) -> usize {
        (self.slots / 2).max(1)
    }

    /// The requests one caller may have waiting: half the queue (at least one).
    pub fn caller_queue(&self) -> usize {
        (self.queue / 2).max(1)
    }
}

/// The slots, the queue and the figures `/metrics` reports of them.
#[derive(Debug)]
pub struct Admission {
    limits: AdmissionLimits,
    state: Mutex<State>,
    /// Bytes claimed by answers waiting for their clients; outside the lock, since every long
    /// answer claims and gives back, heavy or not.
    answers_waiting: AtomicUsize,
}

#[derive(Debug, Default)]
struct State {
    busy: usize,
    waiting: usize,
    callers: HashMap<CallerId, Caller>,
    /// Callers with requests waiting, in the order they are next served.
    turns: VecDeque<CallerId>,
    next_ticket: u64,
    /// A moving average of how long admitted work holds a slot, once any has finished.
    hold: Option<Duration>,
    refused: HashMap<Refusal, u64>,
}

#[derive(Debug, Default)]
struct Caller {
    busy: usize,
    waiting: VecDeque<Waiter>,
}

#[derive(Debug)]
struct Waiter {
    ticket: u64,
    grant: oneshot::Sender<Permit>,
}

/// A slot, held until the work that got it has stopped; dropping it serves the next waiter.
#[derive(Debug)]
pub struct Permit {
    admission: Arc<Admission>,
    caller: CallerId,
    since: Instant,
    /// Cleared when a grant could not be delivered and the slot was given back by hand.
    armed: bool,
}

/// A long answer's share of the answer budget, held from when it is written until the server
/// has taken its last chunk into the connection's write buffer, or dropped it.
#[derive(Debug)]
pub struct AnswerClaim {
    admission: Arc<Admission>,
    bytes: usize,
}

impl Drop for AnswerClaim {
    fn drop(&mut self) {
        self.admission
            .answers_waiting
            .fetch_sub(self.bytes, Ordering::Relaxed);
    }
}

/// The admission figures for `/metrics`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AdmissionStatus {
    /// Heavy requests that may run at once.
    pub slots: usize,
    /// Heavy requests running now.
    pub busy: usize,
    /// Heavy requests waiting now.
    pub waiting: usize,
    /// Refusals so far, by reason, in [`Refusal::ALL`]'s order.
    pub refused: Vec<(Refusal, u64)>,
    /// Bytes of answers waiting for their clients now.
    pub answers_waiting: usize,
    /// The most they may hold before heavy work is refused.
    pub answer_budget: usize,
}

/// What an arriving request is told while the lock is held.
enum Arrival {
    Admitted(Permit),
    Queued(u64, oneshot::Receiver<Permit>),
}

impl Admission {
    /// Slots and a queue of these sizes.
    pub fn new(limits: AdmissionLimits) -> Arc<Admission> {
        Arc::new(Admission {
            limits: AdmissionLimits {
                slots: limits.slots.max(1),
                ..limits
            },
            state: Mutex::new(State::default()),
            answers_waiting: AtomicUsize::new(0),
        })
    }

    /// The sizes in force.
    pub fn limits(&self) -> AdmissionLimits {
        self.limits
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while the lock was held left counts that are still whole numbers; serving
        // on is better than refusing every heavy request from then on.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Waits for a slot for `caller`, until `deadline` at the latest; see the module
    /// documentation for when it refuses instead.
    pub async fn admit(
        self: &Arc<Self>,
        caller: CallerId,
        deadline: Instant,
    ) -> Result<Permit, Refused> {
        self.within_answer_budget()?;
        let arrived = Instant::now();
        let give_up = deadline.min(arrived + self.limits.target);
        let (ticket, granted) = match self.arrive(caller, arrived, give_up)? {
            Arrival::Admitted(permit) => return Ok(permit),
            Arrival::Queued(ticket, granted) => (ticket, granted),
        };
        // Dropped before it has its slot (the client went away), the waiter takes its ticket
        // out of the queue, or gives back a slot granted meanwhile, so it counts against no
        // one.
        let mut waiter = Leave {
            admission: self,
            caller,
            ticket: Some(ticket),
            granted,
        };
        let outcome = tokio::time::timeout_at(give_up, &mut waiter.granted).await;
        let permit = match outcome {
            Ok(Ok(permit)) => {
                waiter.ticket = None;
                permit
            }
            // The sender is only dropped after a grant or by `leave`, which this future
            // alone calls: unreachable, but a refusal is the safe reading.
            Ok(Err(_)) | Err(_) => {
                waiter.ticket = None;
                if self.leave(caller, ticket) {
                    return Err(self.refuse(Refusal::QueueDeadline));
                }
                // Granted just as the time ran out: the permit is in the channel.
                waiter
                    .granted
                    .try_recv()
                    .map_err(|_| self.refuse(Refusal::QueueDeadline))?
            }
        };
        // Answers may have filled the budget while it waited.
        match self.within_answer_budget() {
            Ok(()) => Ok(permit),
            Err(refused) => {
                permit.unused();
                Err(refused)
            }
        }
    }

    /// Claims `bytes` of the answer budget for an answer written already; never refused,
    /// since its work is done, but heavy work is while the claims fill the budget.
    pub fn claim(self: &Arc<Self>, bytes: usize) -> AnswerClaim {
        self.answers_waiting.fetch_add(bytes, Ordering::Relaxed);
        AnswerClaim {
            admission: Arc::clone(self),
            bytes,
        }
    }

    /// A refusal (`answers_waiting`) while answers waiting for their clients fill the budget.
    fn within_answer_budget(&self) -> Result<(), Refused> {
        if self.answers_waiting.load(Ordering::Relaxed) < self.limits.answer_budget {
            Ok(())
        } else {
            Err(self.refuse(Refusal::AnswersWaiting))
        }
    }

    /// Admits at once, queues, or refuses an arriving request.
    fn arrive(
        self: &Arc<Self>,
        caller_id: CallerId,
        now: Instant,
        give_up: Instant,
    ) -> Result<Arrival, Refused> {
        let limits = self.limits;
        let mut state = self.lock();
        let (own_busy, own_waiting) = state
            .callers
            .get(&caller_id)
            .map_or((0, 0), |caller| (caller.busy, caller.waiting.len()));
        // Its own earlier requests go first: a caller's queue is first in, first out.
        if own_waiting == 0 && own_busy < limits.caller_slots() && state.busy < limits.slots {
            return Ok(Arrival::Admitted(self.grant(&mut state, caller_id, now)));
        }
        let refusal = if state.waiting >= limits.queue {
            Some(Refusal::QueueFull)
        } else if own_waiting >= limits.caller_queue() {
            Some(Refusal::CallerShare)
        } else if state
            .predicted_wait(caller_id, limits.slots)
            .is_some_and(|wait| now + wait > give_up)
        {
            Some(Refusal::QueueDeadline)
        } else {
            None
        };
        if let Some(reason) = refusal {
            return Err(state.refused(reason, &limits));
        }
        let ticket = state.next_ticket;
        state.next_ticket += 1;
        let (grant, granted) = oneshot::channel();
        let caller = state.callers.entry(caller_id).or_default();
        caller.waiting.push_back(Waiter { ticket, grant });
        if caller.waiting.len() == 1 {
            state.turns.push_back(caller_id);
        }
        state.waiting += 1;
        Ok(Arrival::Queued(ticket, granted))
    }

    /// Takes a slot for `caller`; the lock is held.
    fn grant(self: &Arc<Self>, state: &mut State, caller: CallerId, now: Instant) -> Permit {
        state.busy += 1;
        state.callers.entry(caller).or_default().busy += 1;
        Permit {
            admission: Arc::clone(self),
            caller,
            since: now,
            armed: true,
        }
    }

    /// Takes a waiting request out of the queue; false when it is no longer there (granted).
    fn leave(&self, caller_id: CallerId, ticket: u64) -> bool {
        let mut state = self.lock();
        let Some(caller) = state.callers.get_mut(&caller_id) else {
            return false;
        };
        let Some(position) = caller.waiting.iter().position(|w| w.ticket == ticket) else {
            return false;
        };
        caller.waiting.remove(position);
        let emptied = caller.waiting.is_empty();
        state.waiting -= 1;
        if emptied {
            state.turns.retain(|turn| *turn != caller_id);
            state.forget_if_idle(caller_id);
        }
        true
    }

    /// Counts a refusal and says when to retry.
    fn refuse(&self, reason: Refusal) -> Refused {
        self.lock().refused(reason, &self.limits)
    }

    /// Gives a slot back and serves the waiters it frees; `held` is how long work held it,
    /// `None` for a slot given back unused, which says nothing of the drain rate.
    fn release(self: &Arc<Self>, caller_id: CallerId, held: Option<Duration>) {
        let mut state = self.lock();
        state.busy -= 1;
        if let Some(caller) = state.callers.get_mut(&caller_id) {
            caller.busy -= 1;
        }
        state.forget_if_idle(caller_id);
        if let Some(held) = held {
            // An exponentially weighted average over about the last eight holds.
            state.hold = Some(match state.hold {
                None => held,
                Some(average) => (average * 7 + held) / 8,
            });
        }
        self.serve(&mut state, Instant::now());
    }

    /// Grants free slots to waiters, one caller's turn after another's; the lock is held.
    fn serve(self: &Arc<Self>, state: &mut State, now: Instant) {
        let limits = self.limits;
        let mut passed = 0;
        // Each pass either grants or moves a caller at its share to the back; once every
        // caller in turn was passed over, none can be served.
        while state.busy < limits.slots && passed < state.turns.len() {
            let Some(caller_id) = state.turns.pop_front() else {
                break;
            };
            let caller = state.callers.entry(caller_id).or_default();
            if caller.busy >= limits.caller_slots() {
                state.turns.push_back(caller_id);
                passed += 1;
                continue;
            }
            passed = 0;
            let Some(waiter) = caller.waiting.pop_front() else {
                continue;
            };
            let more = !caller.waiting.is_empty();
            state.waiting -= 1;
            if more {
                state.turns.push_back(caller_id);
            }
            let permit = self.grant(state, caller_id, now);
            if let Err(mut permit) = waiter.grant.send(permit) {
                // Its request went away: the slot is given back here, under the lock, and
                // the permit disarmed, since releasing it would take the lock again.
                permit.armed = false;
                state.busy -= 1;
                if let Some(caller) = state.callers.get_mut(&caller_id) {
                    caller.busy -= 1;
                }
            }
            if !more {
                state.forget_if_idle(caller_id);
            }
        }
    }

    /// The figures for `/metrics`.
    pub fn status(&self) -> AdmissionStatus {
        let state = self.lock();
        AdmissionStatus {
            slots: self.limits.slots,
            busy: state.busy,
            waiting: state.waiting,
            refused: Refusal::ALL
                .into_iter()
                .map(|reason| (reason, state.refused.get(&reason).copied().unwrap_or(0)))
                .collect(),
            answers_waiting: self.answers_waiting.load(Ordering::Relaxed),
            answer_budget: self.limits.answer_budget,
        }
    }
}

impl State {
    /// How long a request of `caller` joining the queue now would wait, from the measured
    /// hold time; `None` until some work has finished. Callers are served in turn, so the
    /// requests ahead of it are, from each caller, at most as many as its own position.
    fn predicted_wait(&self, caller_id: CallerId, slots: usize) -> Option<Duration> {
        let hold = self.hold?;
        let position = self
            .callers
            .get(&caller_id)
            .map_or(0, |caller| caller.waiting.len());
        let ahead: usize = self
            .callers
            .iter()
            .map(|(id, caller)| {
                if *id == caller_id {
                    position
                } else {
                    caller.waiting.len().min(position + 1)
                }
            })
            .sum();
        // A slot frees every hold / slots on average; it needs the (ahead + 1)-th.
        Some(hold * (ahead as u32 + 1) / slots as u32)
    }

    /// Counts a refusal; `Retry-After` is the time the queue takes to drain, or for
    /// `answers_waiting` the client timeout, which bounds how long an unread answer is kept.
    fn refused(&mut self, reason: Refusal, limits: &AdmissionLimits) -> Refused {
        *self.refused.entry(reason).or_default() += 1;
        let drain = match (reason, self.hold) {
            (Refusal::AnswersWaiting, _) => limits.unread_timeout,
            (_, None) => Duration::ZERO,
            (_, Some(hold)) => hold * (self.waiting as u32 + 1) / limits.slots as u32,
        };
        Refused {
            reason,
            retry_after: drain.clamp(Duration::from_secs(1), Duration::from_secs(60)),
        }
    }

    /// Drops a caller's entry once it holds and waits for nothing, so the map stays as small
    /// as the set of active callers.
    fn forget_if_idle(&mut self, caller_id: CallerId) {
        if self
            .callers
            .get(&caller_id)
            .is_some_and(|caller| caller.busy == 0 && caller.waiting.is_empty())
        {
            self.callers.remove(&caller_id);
        }
    }
}

impl Permit {
    /// Gives the slot back without having run work in it.
    fn unused(mut self) {
        self.armed = false;
        self.admission.release(self.caller, None);
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if self.armed {
            self.admission.release(
                self.caller,
                Some(Instant::now().saturating_duration_since(self.since)),
            );
        }
    }
}

/// A request waiting for a slot. Dropped while it waits, it takes its ticket out of the queue;
/// granted a slot it never took (its request went away as the slot came), it gives the slot
/// back unused, so that no hold of nothing lowers the drain rate.
struct Leave<'a> {
    admission: &'a Arc<Admission>,
    caller: CallerId,
    ticket: Option<u64>,
    granted: oneshot::Receiver<Permit>,
}

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        if let Some(ticket) = self.ticket.take() {
            if !self.admission.leave(self.caller, ticket) {
                if let Ok(permit) = self.granted.try_recv() {
                    permit.unused();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use super::*;

    const A: CallerId = Some(Subject::Key(0));
    const B: CallerId = Some(Subject::Key(1));
    const C: CallerId = Some(Subject::Address(IpAddr::V4(Ipv4Addr::LOCALHOST)));

    fn admission(slots: usize, queue: usize, target_ms: u64) -> Arc<Admission> {
        with_budget(slots, queue, target_ms, usize::MAX)
    }

    fn with_budget(slots: usize, queue: usize, target_ms: u64, bytes: usize) -> Arc<Admission> {
        Admission::new(AdmissionLimits {
            slots,
            queue,
            target: Duration::from_millis(target_ms),
            answer_budget: bytes,
            unread_timeout: Duration::from_secs(5),
        })
    }

    fn later(seconds: u64) -> Instant {
        Instant::now() + Duration::from_secs(seconds)
    }

    /// Starts a request of `caller` waiting in the background; its answer arrives on the
    /// returned channel.
    fn wait(
        admission: &Arc<Admission>,
        caller: CallerId,
        deadline: Instant,
    ) -> oneshot::Receiver<Result<Permit, Refused>> {
        let (tell, told) = oneshot::channel();
        let admission = Arc::clone(admission);
        tokio::spawn(async move {
            let _ = tell.send(admission.admit(caller, deadline).await);
        });
        told
    }

    /// Lets spawned tasks run until each waits on something, without moving the clock.
    async fn settle() {
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
    }

    fn refused(admission: &Admission) -> Vec<u64> {
        admission
            .status()
            .refused
            .into_iter()
            .map(|(_, n)| n)
            .collect()
    }

    #[tokio::test(start_paused = true)]
    async fn a_free_slot_admits_at_once_and_a_full_one_makes_the_request_wait() {
        let admission = admission(2, 8, 100);
        let first = admission.admit(A, later(10)).await.unwrap();
        let _second = admission.admit(B, later(10)).await.unwrap();
        let mut third = wait(&admission, C, later(10));
        settle().await;
        assert!(third.try_recv().is_err(), "no slot is free yet");
        assert_eq!(admission.status().waiting, 1);
        drop(first);
        settle().await;
        let _third = third.try_recv().unwrap().unwrap();
        assert_eq!(
            (admission.status().busy, admission.status().waiting),
            (2, 0)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_that_cannot_start_within_the_target_is_refused_then() {
        let admission = admission(1, 8, 100);
        let _held = admission.admit(A, later(10)).await.unwrap();
        let started = Instant::now();
        let answer = admission.admit(B, later(10)).await;
        assert_eq!(answer.unwrap_err().reason, Refusal::QueueDeadline);
        assert_eq!(started.elapsed(), Duration::from_millis(100));
        // Nothing is left waiting, and the refusal is counted by its reason.
        assert_eq!(admission.status().waiting, 0);
        assert_eq!(refused(&admission), [0, 0, 1, 0]);
    }

    #[tokio::test(start_paused = true)]
    async fn the_requests_own_deadline_bounds_its_wait_when_sooner() {
        let admission = admission(1, 8, 5_000);
        let _held = admission.admit(A, later(10)).await.unwrap();
        let started = Instant::now();
        let deadline = started + Duration::from_millis(30);
        let answer = admission.admit(B, deadline).await;
        assert_eq!(answer.unwrap_err().reason, Refusal::QueueDeadline);
        assert_eq!(started.elapsed(), Duration::from_millis(30));
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_queue_and_a_full_caller_share_refuse_at_once() {
        // Two slots: each caller may hold one and have two waiting, four in all.
        let admission = admission(2, 4, 1_000);
        let _a = admission.admit(A, later(10)).await.unwrap();
        let _b = admission.admit(B, later(10)).await.unwrap();
        let _waiting: Vec<_> = (0..2).map(|_| wait(&admission, A, later(10))).collect();
        settle().await;
        let share = admission.admit(A, later(10)).await.unwrap_err();
        assert_eq!(share.reason, Refusal::CallerShare);
        let _more: Vec<_> = (0..2).map(|_| wait(&admission, B, later(10))).collect();
        settle().await;
        let full = admission.admit(C, later(10)).await.unwrap_err();
        assert_eq!(full.reason, Refusal::QueueFull);
        assert_eq!(refused(&admission), [1, 1, 0, 0]);
        assert_eq!(admission.status().waiting, 4);
    }

    #[tokio::test(start_paused = true)]
    async fn a_caller_holds_at_most_half_the_slots_so_another_finds_one_free() {
        let admission = admission(4, 16, 1_000);
        let mut flood = Vec::new();
        for _ in 0..2 {
            flood.push(admission.admit(A, later(10)).await.unwrap());
        }
        // A's third waits though two slots are free: they are B's to take.
        let mut a_third = wait(&admission, A, later(10));
        settle().await;
        assert!(a_third.try_recv().is_err());
        let b = admission.admit(B, later(10)).await;
        assert!(b.is_ok(), "{b:?}");
        // When one of A's finishes, its own waiting request takes the slot.
        flood.pop();
        settle().await;
        assert!(a_third.try_recv().unwrap().is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn waiting_callers_are_served_in_turn() {
        // Four slots, two a caller: C holds two, A and B one each.
        let admission = admission(4, 16, 10_000);
        let mut held = Vec::new();
        for caller in [C, C, A, B] {
            held.push(admission.admit(caller, later(10)).await.unwrap());
        }
        // A queues three, then B one: B's goes second, not fourth.
        let mut order = Vec::new();
        for caller in [A, A, A, B] {
            order.push((caller, wait(&admission, caller, later(100))));
            settle().await;
        }
        let mut served = Vec::new();
        // Each release frees one slot; one release (of B's first) frees one that only A
        // wants while A holds its two, so it waits for the release after.
        for _ in 0..5 {
            held.remove(0);
            settle().await;
            for (caller, told) in &mut order {
                if let Ok(answer) = told.try_recv() {
                    served.push(*caller);
                    held.push(answer.unwrap());
                }
            }
        }
        assert_eq!(served, [A, B, A, A]);
    }

    #[tokio::test(start_paused = true)]
    async fn the_wait_is_predicted_from_the_drain_rate_and_gives_retry_after() {
        let admission = admission(1, 8, 500);
        // One request held its slot for 2 s: the queue drains one every 2 s.
        let held = admission.admit(A, later(10)).await.unwrap();
        tokio::time::advance(Duration::from_secs(2)).await;
        drop(held);
        let _held = admission.admit(A, later(10)).await.unwrap();
        // A newcomer would wait about 2 s, past the 500 ms target: refused at once, and
        // told to come back when the queue has drained.
        let started = Instant::now();
        let refusal = admission.admit(B, later(10)).await.unwrap_err();
        assert_eq!(started.elapsed(), Duration::ZERO);
        assert_eq!(
            refusal,
            Refused {
                reason: Refusal::QueueDeadline,
                retry_after: Duration::from_secs(2),
            }
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_waiter_that_goes_away_leaves_the_queue_and_its_grant_is_not_lost() {
        let admission = admission(1, 8, 10_000);
        let held = admission.admit(A, later(10)).await.unwrap();
        let gone = tokio::spawn({
            let admission = Arc::clone(&admission);
            async move { admission.admit(B, later(100)).await.map(drop) }
        });
        settle().await;
        assert_eq!(admission.status().waiting, 1);
        gone.abort();
        settle().await;
        assert_eq!(admission.status().waiting, 0);
        drop(held);
        // The slot is free for the next request, not held by the request that left.
        let _next = admission.admit(C, later(10)).await.unwrap();
        assert_eq!(admission.status().busy, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn answers_filling_the_budget_refuse_heavy_work_until_a_claim_is_given_back() {
        let admission = with_budget(8, 8, 100, 100);
        let first = admission.claim(60);
        let _second = admission.claim(39);
        // A byte under the budget, heavy work still starts.
        drop(admission.admit(A, later(10)).await.unwrap());
        let _third = admission.claim(1);
        let refusal = admission.admit(A, later(10)).await.unwrap_err();
        assert_eq!(
            refusal,
            Refused {
                reason: Refusal::AnswersWaiting,
                retry_after: Duration::from_secs(5),
            }
        );
        assert_eq!(admission.status().answers_waiting, 100);
        drop(first);
        assert_eq!(admission.status().answers_waiting, 40);
        assert!(admission.admit(A, later(10)).await.is_ok());
        assert_eq!(refused(&admission), [0, 0, 0, 1]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_waiting_when_the_budget_fills_is_refused_when_its_slot_comes() {
        let admission = with_budget(1, 8, 5_000, 100);
        let held = admission.admit(A, later(10)).await.unwrap();
        let mut waiting = wait(&admission, B, later(10));
        settle().await;
        tokio::time::advance(Duration::from_secs(2)).await;
        let claim = admission.claim(100);
        drop(held);
        settle().await;
        let refusal = waiting.try_recv().unwrap().unwrap_err();
        assert_eq!(refusal.reason, Refusal::AnswersWaiting);
        let status = admission.status();
        assert_eq!((status.busy, status.waiting), (0, 0));
        // The slot it gave back unused says nothing of the drain rate.
        drop(claim);
        the_measured_hold_is(&admission, 2).await;
    }

    /// Holds the one slot and asks for another within a second: a request refused at once
    /// for the measured hold, which `Retry-After` then tells.
    async fn the_measured_hold_is(admission: &Arc<Admission>, seconds: u64) {
        let _held = admission.admit(A, later(10)).await.unwrap();
        let within_a_second = Instant::now() + Duration::from_secs(1);
        let refusal = admission.admit(B, within_a_second).await.unwrap_err();
        let expected = Duration::from_secs(seconds);
        assert_eq!(
            (refusal.reason, refusal.retry_after),
            (Refusal::QueueDeadline, expected)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_slot_granted_as_its_request_goes_away_is_given_back_without_a_hold() {
        let admission = admission(1, 8, 5_000);
        let held = admission.admit(A, later(10)).await.unwrap();
        let mut waiting = Box::pin(admission.admit(B, later(10)));
        let mut context = std::task::Context::from_waker(std::task::Waker::noop());
        assert!(std::future::Future::poll(waiting.as_mut(), &mut context).is_pending());
        tokio::time::advance(Duration::from_secs(2)).await;
        // The slot goes to the waiting request, whose client leaves before it runs again.
        drop(held);
        drop(waiting);
        let status = admission.status();
        assert_eq!((status.busy, status.waiting), (0, 0));
        // The hold measured is still the one of 2 s.
        the_measured_hold_is(&admission, 2).await;
    }
}
