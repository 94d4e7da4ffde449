//! The invocation queue: invocations wait FIFO for a runtime's `/next`, are delivered one at a
//! time with a deadline, and fail when nobody takes them in time or the deadline passes.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use tokio::sync::oneshot;

use super::state::{InFlight, Pending, Shared, State, new_trace_id, unix_ms};
use crate::invocation::{Invocation, InvocationSource, Progress, error_types};

/// What `/next` gets.
pub(crate) enum NextPoll {
    Deliver(Delivery),
    /// An invocation is in flight: `/next` is not a valid transition (RIE answers 403).
    Forbidden,
    Wait,
    /// The runtime that made this long poll is gone (its process exited, or it closed the
    /// connection): it must not be handed an invocation, which would be lost in flight.
    Gone,
}

/// What a pending `/next` long poll knows about who made it.
pub(crate) struct Poller<'a> {
    /// Serials of the `FunctionProcess`es alive when the poll arrived (filled by the first
    /// check). A poll can only come from a live process, so once all of them have exited the
    /// poll is an orphan, even if the harness has not yet seen its connection close: the kernel
    /// may deliver the FIN of a killed process after its exit is reported (loopback packets are
    /// processed in softirq context, which a loaded machine defers to ksoftirqd).
    pub(crate) owners: Vec<u64>,
    /// Whether the connection's peer can still read the answer (false once it closed or reset
    /// the connection).
    pub(crate) peer_alive: &'a (dyn Fn() -> bool + Sync),
}

/// An invocation handed to the runtime: the body and headers of the `/next` answer.
pub(crate) struct Delivery {
    pub(crate) request_id: String,
    pub(crate) deadline_ms: u64,
    pub(crate) invoked_arn: String,
    pub(crate) trace_id: String,
    pub(crate) body: Bytes,
}

impl Shared {
    /// Queues an invocation; returns its request id and the receiver of its result.
    pub(crate) fn enqueue(
        self: &Arc<Self>,
        body: Bytes,
        timeout: Duration,
        invoked_arn: String,
        trace_id: Option<String>,
        source: InvocationSource,
    ) -> (String, oneshot::Receiver<Invocation>) {
        let request_id = uuid::Uuid::new_v4().to_string();
        let (tx, rx) = oneshot::channel();
        let mut state = self.lock();
        // A process launched by FunctionProcess died and none replaced it: fail fast like Lambda
        // would report the crash, instead of waiting `queue_timeout` for nobody.
        if state.processes_attached > 0 && state.processes_alive == 0 {
            let exit = state
                .last_exit
                .clone()
                .unwrap_or_else(|| "exit status unknown".to_owned());
            drop(state);
            let failed = Invocation::runtime_exited(&request_id, source, &exit, Progress::NONE);
            let _ = tx.send(failed);
            return (request_id, rx);
        }
        let weak = Arc::downgrade(self);
        let id = request_id.clone();
        let queue_timeout = self.options.queue_timeout;
        let timer = self.rt.spawn(async move {
            tokio::time::sleep(queue_timeout).await;
            if let Some(shared) = weak.upgrade() {
                shared.queue_timed_out(&id);
            }
        });
        state.queue.push_back(Pending {
            request_id: request_id.clone(),
            source,
            body,
            timeout,
            invoked_arn,
            trace_id: trace_id.unwrap_or_else(new_trace_id),
            enqueued_at: Instant::now(),
            done: tx,
            queue_timer: Some(timer.abort_handle()),
        });
        drop(state);
        self.bump();
        (request_id, rx)
    }

    fn queue_timed_out(&self, request_id: &str) {
        let mut state = self.lock();
        let Some(pos) = state.queue.iter().position(|p| p.request_id == request_id) else {
            return;
        };
        let Some(pending) = state.queue.remove(pos) else {
            return;
        };
        drop(state);
        let message = format!(
            "RequestId: {} Error: no runtime took the invocation within {:.2} seconds (queue_timeout)",
            pending.request_id,
            self.options.queue_timeout.as_secs_f64()
        );
        pending.fail(error_types::QUEUE_TIMEOUT, message);
        self.bump();
    }

    /// A `/next` long poll (or its re-check after a state change).
    pub(crate) fn poll_next(
        self: &Arc<Self>,
        first_check: bool,
        poller: &mut Poller<'_>,
    ) -> NextPoll {
        let mut state = self.lock();
        if first_check {
            poller.owners = state.live_processes.iter().copied().collect();
            state.next_polls.push(Instant::now());
            state.ready = true;
            if state.in_flight.is_some() {
                drop(state);
                self.bump();
                return NextPoll::Forbidden;
            }
        }
        if state.in_flight.is_none() && !state.queue.is_empty() && !poller.can_take(&state) {
            // Leave the invocation queued for a live runtime.
            return NextPoll::Gone;
        }
        let pending = if state.in_flight.is_some() {
            None
        } else {
            state.queue.pop_front()
        };
        let Some(pending) = pending else {
            drop(state);
            if first_check {
                // Waiters for the first /next (cold start, `wait_ready`) must see it.
                self.bump();
            }
            return NextPoll::Wait;
        };
        let delivery = self.deliver(&mut state, pending);
        drop(state);
        self.bump();
        NextPoll::Deliver(delivery)
    }

    /// Puts `pending` in flight and starts its deadline.
    fn deliver(self: &Arc<Self>, state: &mut State, mut pending: Pending) -> Delivery {
        if let Some(timer) = pending.queue_timer.take() {
            timer.abort();
        }
        let delivered_at = Instant::now();
        let deadline_ms = unix_ms(SystemTime::now() + pending.timeout);
        let weak = Arc::downgrade(self);
        let id = pending.request_id.clone();
        let timeout = pending.timeout;
        let timer = self.rt.spawn(async move {
            tokio::time::sleep(timeout).await;
            if let Some(shared) = weak.upgrade() {
                shared.deadline_passed(&id);
            }
        });
        state.in_flight = Some(InFlight {
            request_id: pending.request_id.clone(),
            source: pending.source,
            timeout: pending.timeout,
            queued: delivered_at.saturating_duration_since(pending.enqueued_at),
            delivered_at,
            deadline_ms,
            done: pending.done,
            deadline_timer: Some(timer.abort_handle()),
        });
        Delivery {
            request_id: pending.request_id,
            deadline_ms,
            invoked_arn: pending.invoked_arn,
            trace_id: pending.trace_id,
            body: pending.body,
        }
    }

    fn deadline_passed(&self, request_id: &str) {
        let mut state = self.lock();
        if state
            .in_flight
            .as_ref()
            .is_none_or(|f| f.request_id != request_id)
        {
            return;
        }
        let Some(flight) = state.in_flight.take() else {
            return;
        };
        state.timed_out.insert(flight.request_id.clone());
        drop(state);
        let message = format!(
            "RequestId: {} Error: Task timed out after {:.2} seconds",
            flight.request_id,
            flight.timeout.as_secs_f64()
        );
        let progress = flight.progress();
        let _ = flight.done.send(Invocation::harness_failure(
            &flight.request_id,
            flight.source,
            error_types::TIMEOUT,
            message,
            progress,
        ));
        self.bump();
    }
}

impl Poller<'_> {
    /// Whether the runtime behind this poll can still take an invocation: not when every
    /// process alive at its arrival has exited, nor when it closed its connection.
    fn can_take(&self, state: &State) -> bool {
        let orphaned = !self.owners.is_empty()
            && self
                .owners
                .iter()
                .all(|serial| !state.live_processes.contains(serial));
        !orphaned && (self.peer_alive)()
    }
}
