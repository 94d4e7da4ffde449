//! The sandbox's data: the queue, the invocation in flight, what the runtime and the processes
//! did so far, behind one lock, and the change counter its waiters watch.

use std::collections::{HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::AbortHandle;

use crate::changes::Changes;
use crate::invocation::{
    AsyncInvocation, FunctionError, Invocation, InvocationSource, Progress, error_types,
};
use crate::options::RuntimeApiOptions;

pub(crate) struct Shared {
    pub(crate) options: RuntimeApiOptions,
    pub(crate) addr: SocketAddr,
    state: Mutex<State>,
    /// Bumped on every state change; `/next` long polls and waiters watch it.
    pub(crate) changes: Changes,
    pub(super) rt: tokio::runtime::Handle,
}

#[derive(Default)]
pub(crate) struct State {
    pub(super) queue: VecDeque<Pending>,
    pub(super) in_flight: Option<InFlight>,
    pub(crate) next_polls: Vec<Instant>,
    /// A runtime has called `/next` since the last process attach (init is over).
    pub(super) ready: bool,
    pub(crate) init_error: Option<FunctionError>,
    pub(super) timed_out: HashSet<String>,
    pub(crate) async_invocations: Vec<AsyncInvocation>,
    pub(super) processes_attached: u64,
    pub(super) processes_alive: u64,
    /// Serials of the processes launched by `FunctionProcess` that have not exited (a process
    /// leaves this set as soon as the reaper sees it exit, before anyone can observe the exit).
    pub(super) live_processes: HashSet<u64>,
    pub(super) last_exit: Option<String>,
}

impl State {
    /// Number of invocations waiting in the queue (not yet delivered).
    pub(crate) fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Request id of the invocation in flight, if any.
    pub(crate) fn in_flight(&self) -> Option<&str> {
        self.in_flight.as_ref().map(|f| f.request_id.as_str())
    }
}

/// An invocation waiting for a runtime's `/next`.
pub(super) struct Pending {
    pub(super) request_id: String,
    pub(super) source: InvocationSource,
    pub(super) body: Bytes,
    pub(super) timeout: Duration,
    pub(super) invoked_arn: String,
    pub(super) trace_id: String,
    pub(super) enqueued_at: Instant,
    pub(super) done: oneshot::Sender<Invocation>,
    pub(super) queue_timer: Option<AbortHandle>,
}

impl Pending {
    /// Sends its result: it was never delivered (no duration, no deadline).
    pub(super) fn finish(mut self, outcome: Result<Value, FunctionError>, body: Vec<u8>) {
        if let Some(timer) = self.queue_timer.take() {
            timer.abort();
        }
        let _ = self.done.send(Invocation {
            request_id: self.request_id,
            source: self.source,
            outcome,
            body,
            queued: self.enqueued_at.elapsed(),
            duration: Duration::ZERO,
            deadline_ms: None,
        });
    }

    /// Fails it with an error of the harness (`error_type`, see [`error_types`]).
    pub(super) fn fail(self, error_type: &str, message: String) {
        let error = FunctionError::harness(error_type, message);
        let body = error.body.to_string().into_bytes();
        self.finish(Err(error), body);
    }
}

/// The invocation delivered to the runtime, until it answers, times out or the runtime exits.
pub(super) struct InFlight {
    pub(super) request_id: String,
    pub(super) source: InvocationSource,
    pub(super) timeout: Duration,
    pub(super) queued: Duration,
    pub(super) delivered_at: Instant,
    pub(super) deadline_ms: u64,
    pub(super) done: oneshot::Sender<Invocation>,
    pub(super) deadline_timer: Option<AbortHandle>,
}

impl InFlight {
    /// Its times so far.
    pub(super) fn progress(&self) -> Progress {
        Progress {
            queued: self.queued,
            duration: self.delivered_at.elapsed(),
            deadline_ms: Some(self.deadline_ms),
        }
    }
}

impl Shared {
    pub(crate) fn new(
        options: RuntimeApiOptions,
        addr: SocketAddr,
        rt: tokio::runtime::Handle,
    ) -> Self {
        Shared {
            options,
            addr,
            state: Mutex::new(State::default()),
            changes: Changes::new(),
            rt,
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn bump(&self) {
        self.changes.bump();
    }

    /// Waits up to `timeout` until `cond` holds for the state; whether it does.
    pub(crate) async fn wait_until(
        &self,
        timeout: Duration,
        cond: impl Fn(&State) -> bool,
    ) -> bool {
        self.changes
            .wait_for(timeout, || cond(&self.lock()).then_some(()))
            .await
            .is_some()
    }
}

/// The result sent on `rx`, or [`error_types::SHUTDOWN`] if the server stopped first.
pub(crate) async fn await_invocation(
    rx: oneshot::Receiver<Invocation>,
    request_id: &str,
    source: InvocationSource,
) -> Invocation {
    match rx.await {
        Ok(invocation) => invocation,
        Err(_) => Invocation::harness_failure(
            request_id,
            source,
            error_types::SHUTDOWN,
            "the harness server stopped before the invocation finished".to_owned(),
            Progress::NONE,
        ),
    }
}

pub(super) fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// An X-Ray trace header like Lambda sends: `Root=1-{epoch hex}-{96 bit};Parent={64 bit};Sampled=0`.
pub(super) fn new_trace_id() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let root = uuid::Uuid::new_v4().simple().to_string();
    let root = root.get(..24).unwrap_or(&root);
    let parent = uuid::Uuid::new_v4().simple().to_string();
    let parent = parent.get(..16).unwrap_or(&parent);
    format!(
        "Root=1-{:08x}-{root};Parent={parent};Sampled=0",
        secs & 0xffff_ffff
    )
}
