//! The Runtime API state: one FIFO invocation queue served to one runtime (one sandbox), with at
//! most one invocation in flight, deadlines, async (Event) invocation records and init errors.
//! The HTTP side lives in `server.rs`.

use std::collections::{HashSet, VecDeque};
use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use serde_json::{Value, json};
use tokio::sync::{oneshot, watch};
use tokio::task::{AbortHandle, JoinHandle};

/// Error types the harness itself produces (the others come from the function).
pub mod error_types {
    /// The invocation was not finished before its deadline (Lambda's own error type).
    pub const TIMEOUT: &str = "Sandbox.Timedout";
    /// The runtime process exited while the invocation was queued or in flight (Lambda's own).
    pub const EXIT_ERROR: &str = "Runtime.ExitError";
    /// The posted response exceeded the payload limit (Lambda's own).
    pub const RESPONSE_TOO_LARGE: &str = "Function.ResponseSizeTooLarge";
    /// Harness only: no runtime asked for the invocation within `queue_timeout`.
    pub const QUEUE_TIMEOUT: &str = "Harness.QueueTimeout";
    /// Harness only: the response body is not JSON, so it cannot be an `Ok(Value)`
    /// (the raw bytes are still in [`Invocation::body`](crate::Invocation::body)).
    pub const RESPONSE_NOT_JSON: &str = "Harness.ResponseNotJson";
    /// Harness only: the server was dropped while the invocation was pending.
    pub const SHUTDOWN: &str = "Harness.Shutdown";
}

/// Configuration of a [`RuntimeApi`]. Every field has a default (see [`Default`]); override with
/// struct update syntax: `RuntimeApiOptions { function_timeout: Duration::from_secs(5), ..Default::default() }`.
#[derive(Clone, Debug)]
pub struct RuntimeApiOptions {
    /// Function name (`kms-material-guard`): the Invoke API accepts it, its ARN or partial ARN.
    pub function_name: String,
    /// Region in the function ARN and in `AWS_REGION` (`us-east-1`).
    pub region: String,
    /// Account in the function ARN (`111111111111`).
    pub account_id: String,
    /// `AWS_LAMBDA_FUNCTION_VERSION` and `X-Amz-Executed-Version` (`$LATEST`).
    pub function_version: String,
    /// Function timeout used for invocations made through the Invoke API (60 s).
    /// [`RuntimeApi::invoke`] takes its own timeout.
    pub function_timeout: Duration,
    /// How long an invocation may wait in the queue for a runtime to take it (60 s); then it
    /// fails with [`error_types::QUEUE_TIMEOUT`].
    pub queue_timeout: Duration,
    /// Deliver `Event` (async) Invoke API calls to the runtime (true). When false they are
    /// only recorded (see [`RuntimeApi::async_invocations`]).
    pub auto_deliver_async: bool,
    /// Largest response/error body a runtime may post (6,291,556 bytes, Lambda's value); above
    /// it the runtime gets 413 and the invocation fails with `Function.ResponseSizeTooLarge`.
    pub max_response_bytes: usize,
    /// Largest `RequestResponse` payload the Invoke API accepts (6 MiB).
    pub max_sync_payload_bytes: usize,
    /// Largest `Event` payload the Invoke API accepts (1 MiB; it was 256 KiB before late 2025).
    pub max_async_payload_bytes: usize,
    /// Address to listen on (`127.0.0.1:0`, an ephemeral loopback port).
    pub bind: SocketAddr,
}

impl Default for RuntimeApiOptions {
    fn default() -> Self {
        Self {
            function_name: "kms-material-guard".to_owned(),
            region: "us-east-1".to_owned(),
            account_id: "111111111111".to_owned(),
            function_version: "$LATEST".to_owned(),
            function_timeout: Duration::from_secs(60),
            queue_timeout: Duration::from_secs(60),
            auto_deliver_async: true,
            max_response_bytes: 6_291_556,
            max_sync_payload_bytes: 6 * 1024 * 1024,
            max_async_payload_bytes: 1024 * 1024,
            bind: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        }
    }
}

impl RuntimeApiOptions {
    /// Defaults with another function name.
    pub fn new(function_name: impl Into<String>) -> Self {
        Self {
            function_name: function_name.into(),
            ..Self::default()
        }
    }

    /// `arn:aws:lambda:{region}:{account_id}:function:{function_name}` (unqualified).
    pub fn function_arn(&self) -> String {
        format!(
            "arn:aws:lambda:{}:{}:function:{}",
            self.region, self.account_id, self.function_name
        )
    }
}

/// Who asked for an invocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InvocationSource {
    /// [`RuntimeApi::invoke`].
    Direct,
    /// Invoke API, `X-Amz-Invocation-Type: RequestResponse` (the default).
    RequestResponse,
    /// Invoke API, `X-Amz-Invocation-Type: Event`.
    Event,
}

/// A failed invocation (or an init error), as Lambda would report it.
#[derive(Clone, Debug, PartialEq)]
pub struct FunctionError {
    /// `errorType` of the posted body, else the `Lambda-Runtime-Function-Error-Type` header,
    /// else `Unhandled`; or one of [`error_types`] for failures the harness detects.
    pub error_type: String,
    /// `errorMessage` of the posted body (the body as text if it has none).
    pub error_message: String,
    /// The `Lambda-Runtime-Function-Error-Type` header the runtime sent, if any (the Rust
    /// runtime always sends `unhandled`; awslambdaric sends the exception type).
    pub header_error_type: Option<String>,
    /// The posted body as JSON (`Null` if it is not JSON); for harness errors the
    /// `{"errorType","errorMessage"}` document the Invoke API returns.
    pub body: Value,
}

/// The result of one invocation.
#[derive(Clone, Debug)]
pub struct Invocation {
    /// `Lambda-Runtime-Aws-Request-Id` given to the runtime.
    pub request_id: String,
    /// Who asked for it.
    pub source: InvocationSource,
    /// The function's response (JSON; an empty body is `Null`) or its error.
    pub outcome: Result<Value, FunctionError>,
    /// The body as the runtime posted it (or as the harness made it for its own errors): what
    /// the Invoke API returns as the payload.
    pub body: Vec<u8>,
    /// Time in the queue: from the request to delivery on `/next` (or to the failure if never
    /// delivered).
    pub queued: Duration,
    /// Lambda's `Duration`: from delivery on `/next` to the posted response or error (or the
    /// timeout / exit). Zero if never delivered.
    pub duration: Duration,
    /// `Lambda-Runtime-Deadline-Ms` given to the runtime (`None` if never delivered).
    pub deadline_ms: Option<u64>,
}

impl Invocation {
    /// `outcome.is_ok()`.
    pub fn is_ok(&self) -> bool {
        self.outcome.is_ok()
    }

    /// `queued + duration`: what a synchronous caller waited.
    pub fn total(&self) -> Duration {
        self.queued + self.duration
    }

    /// The error type, if the invocation failed.
    pub fn error_type(&self) -> Option<&str> {
        self.outcome.as_ref().err().map(|e| e.error_type.as_str())
    }
}

/// An `Event` (asynchronous) call received by the Invoke API.
#[derive(Clone, Debug)]
pub struct AsyncInvocation {
    /// Request id returned to the caller (`X-Amzn-RequestId`) and given to the runtime.
    pub request_id: String,
    /// The function name as the caller addressed it (name, ARN or partial ARN, decoded).
    pub function_name: String,
    /// `Qualifier` query parameter or ARN suffix.
    pub qualifier: Option<String>,
    /// The event payload.
    pub payload: Value,
    /// When the call was received.
    pub received_at: Instant,
    /// The invocation result, once the runtime finished it (`None` while queued or running, and
    /// always `None` when `auto_deliver_async` is off).
    pub result: Option<Invocation>,
}

/// Handle to a running Runtime API + Invoke API server. Cheap to clone; the server stops when
/// the last clone (including those held by [`FunctionProcess`](crate::FunctionProcess) and
/// pending [`invoke`](Self::invoke) futures) is dropped.
#[derive(Clone)]
pub struct RuntimeApi {
    pub(crate) shared: Arc<Shared>,
    _server: Arc<ServerGuard>,
}

impl std::fmt::Debug for RuntimeApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuntimeApi")
            .field("addr", &self.shared.addr)
            .field("function", &self.shared.options.function_name)
            .finish()
    }
}

struct ServerGuard(JoinHandle<()>);

impl Drop for ServerGuard {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl RuntimeApi {
    /// Binds `options.bind` (an ephemeral loopback port by default) and serves the Runtime API
    /// and the Invoke API on the current Tokio runtime.
    pub async fn start(options: RuntimeApiOptions) -> std::io::Result<RuntimeApi> {
        let listener = tokio::net::TcpListener::bind(options.bind).await?;
        let addr = listener.local_addr()?;
        let (changed, _) = watch::channel(0u64);
        let shared = Arc::new(Shared {
            options,
            addr,
            state: Mutex::new(State::default()),
            changed,
            rt: tokio::runtime::Handle::current(),
        });
        let task = tokio::spawn(crate::server::serve(listener, shared.clone()));
        Ok(RuntimeApi {
            shared,
            _server: Arc::new(ServerGuard(task)),
        })
    }

    /// `host:port` of the server: the value for `AWS_LAMBDA_RUNTIME_API`.
    pub fn addr(&self) -> SocketAddr {
        self.shared.addr
    }

    /// `http://host:port`: the `endpoint_url` for an `aws-sdk-lambda` client (Invoke API).
    pub fn endpoint_url(&self) -> String {
        format!("http://{}", self.shared.addr)
    }

    /// The options the server runs with.
    pub fn options(&self) -> &RuntimeApiOptions {
        &self.shared.options
    }

    /// The unqualified function ARN sent in `Lambda-Runtime-Invoked-Function-Arn`.
    pub fn function_arn(&self) -> String {
        self.shared.options.function_arn()
    }

    /// Queues `payload` for the runtime and resolves when the runtime has answered, the deadline
    /// (`timeout` after delivery on `/next`) has passed, the runtime process exited, or nobody took
    /// it within `queue_timeout`. The invocation is queued when `invoke` is *called* (not when the
    /// future is first polled), so concurrent calls are served in call order, one at a time.
    /// Dropping the future does not cancel the invocation.
    pub fn invoke(
        &self,
        payload: Value,
        timeout: Duration,
    ) -> impl Future<Output = Invocation> + Send + 'static {
        let body = Bytes::from(payload.to_string());
        let arn = self.function_arn();
        let (request_id, rx) =
            self.shared
                .enqueue(body, timeout, arn, None, InvocationSource::Direct);
        let api = self.clone();
        async move {
            let invocation = await_invocation(rx, &request_id, InvocationSource::Direct).await;
            drop(api);
            invocation
        }
    }

    /// When the first `/next` long poll arrived (ever): the end of the cold start.
    pub fn first_next_at(&self) -> Option<Instant> {
        self.shared.lock().next_polls.first().copied()
    }

    /// The first `/next` that arrived at or after `t` (used for the cold start of a process
    /// spawned at `t`).
    pub fn first_next_after(&self, t: Instant) -> Option<Instant> {
        self.shared
            .lock()
            .next_polls
            .iter()
            .copied()
            .find(|at| *at >= t)
    }

    /// How many `/next` requests have arrived.
    pub fn next_poll_count(&self) -> usize {
        self.shared.lock().next_polls.len()
    }

    /// The error posted to `/runtime/init/error` (since the last
    /// [`FunctionProcess::spawn`](crate::FunctionProcess::spawn)), if any.
    pub fn init_error(&self) -> Option<FunctionError> {
        self.shared.lock().init_error.clone()
    }

    /// Every `Event` call received by the Invoke API, in arrival order.
    pub fn async_invocations(&self) -> Vec<AsyncInvocation> {
        self.shared.lock().async_invocations.clone()
    }

    /// Waits until at least `count` `Event` calls have a result (or `timeout` passes) and returns
    /// [`async_invocations`](Self::async_invocations).
    pub async fn wait_for_async_results(
        &self,
        count: usize,
        timeout: Duration,
    ) -> Vec<AsyncInvocation> {
        let done = |s: &State| {
            s.async_invocations
                .iter()
                .filter(|a| a.result.is_some())
                .count()
                >= count
        };
        self.wait_until(timeout, done).await;
        self.async_invocations()
    }

    /// Waits until at least `count` `Event` calls were received (or `timeout` passes).
    pub async fn wait_for_async_calls(
        &self,
        count: usize,
        timeout: Duration,
    ) -> Vec<AsyncInvocation> {
        self.wait_until(timeout, |s| s.async_invocations.len() >= count)
            .await;
        self.async_invocations()
    }

    /// Number of invocations waiting in the queue (not yet delivered).
    pub fn queued(&self) -> usize {
        self.shared.lock().queue.len()
    }

    /// Request id of the invocation the runtime is working on, if any.
    pub fn in_flight(&self) -> Option<String> {
        self.shared
            .lock()
            .in_flight
            .as_ref()
            .map(|f| f.request_id.clone())
    }

    pub(crate) async fn wait_until(
        &self,
        timeout: Duration,
        cond: impl Fn(&State) -> bool,
    ) -> bool {
        let mut rx = self.shared.changed.subscribe();
        let wait = async {
            loop {
                if cond(&self.shared.lock()) {
                    return;
                }
                if rx.changed().await.is_err() {
                    return;
                }
            }
        };
        tokio::time::timeout(timeout, wait).await.is_ok() && cond(&self.shared.lock())
    }
}

pub(crate) async fn await_invocation(
    rx: oneshot::Receiver<Invocation>,
    request_id: &str,
    source: InvocationSource,
) -> Invocation {
    match rx.await {
        Ok(invocation) => invocation,
        Err(_) => harness_failure(
            request_id,
            source,
            error_types::SHUTDOWN,
            "the harness server stopped before the invocation finished".to_owned(),
            Duration::ZERO,
            Duration::ZERO,
            None,
        ),
    }
}

// ------------------------------------------------------------------------------------------
// Shared state
// ------------------------------------------------------------------------------------------

pub(crate) struct Shared {
    pub(crate) options: RuntimeApiOptions,
    pub(crate) addr: SocketAddr,
    state: Mutex<State>,
    /// Bumped on every state change; `/next` long polls and waiters watch it.
    pub(crate) changed: watch::Sender<u64>,
    rt: tokio::runtime::Handle,
}

#[derive(Default)]
pub(crate) struct State {
    queue: VecDeque<Pending>,
    in_flight: Option<InFlight>,
    pub(crate) next_polls: Vec<Instant>,
    /// A runtime has called `/next` since the last process attach (init is over).
    ready: bool,
    init_error: Option<FunctionError>,
    timed_out: HashSet<String>,
    async_invocations: Vec<AsyncInvocation>,
    processes_attached: u64,
    processes_alive: u64,
    /// Serials of the processes launched by `FunctionProcess` that have not exited (a process
    /// leaves this set as soon as the reaper sees it exit, before anyone can observe the exit).
    live_processes: HashSet<u64>,
    last_exit: Option<String>,
}

struct Pending {
    request_id: String,
    source: InvocationSource,
    body: Bytes,
    timeout: Duration,
    invoked_arn: String,
    trace_id: String,
    enqueued_at: Instant,
    done: oneshot::Sender<Invocation>,
    queue_timer: Option<AbortHandle>,
}

struct InFlight {
    request_id: String,
    source: InvocationSource,
    timeout: Duration,
    queued: Duration,
    delivered_at: Instant,
    deadline_ms: u64,
    done: oneshot::Sender<Invocation>,
    deadline_timer: Option<AbortHandle>,
}

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

pub(crate) struct Delivery {
    pub(crate) request_id: String,
    pub(crate) deadline_ms: u64,
    pub(crate) invoked_arn: String,
    pub(crate) trace_id: String,
    pub(crate) body: Bytes,
}

/// Why a runtime's `/response` or `/error` post is refused.
pub(crate) enum Reject {
    /// No invocation in flight (403 InvalidStateTransition).
    NotInvoking,
    /// Another invocation is in flight (400 InvalidRequestID).
    WrongId,
    /// The invocation already timed out (410 Gone, as Lambda answers stale responses).
    TimedOut,
}

/// What the runtime posted for an invocation.
pub(crate) enum Posted {
    Response(Bytes),
    Error {
        body: Bytes,
        header_error_type: Option<String>,
    },
    TooLarge,
}

impl Shared {
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn bump(&self) {
        self.changed.send_modify(|v| *v = v.wrapping_add(1));
    }

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
            let message =
                format!("RequestId: {request_id} Error: Runtime exited with error: {exit}");
            let _ = tx.send(harness_failure(
                &request_id,
                source,
                error_types::EXIT_ERROR,
                message,
                Duration::ZERO,
                Duration::ZERO,
                None,
            ));
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
        let queued = pending.enqueued_at.elapsed();
        let message = format!(
            "RequestId: {} Error: no runtime took the invocation within {:.2} seconds (queue_timeout)",
            pending.request_id,
            self.options.queue_timeout.as_secs_f64()
        );
        let _ = pending.done.send(harness_failure(
            &pending.request_id,
            pending.source,
            error_types::QUEUE_TIMEOUT,
            message,
            queued,
            Duration::ZERO,
            None,
        ));
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
        if state.in_flight.is_none() && !state.queue.is_empty() {
            let orphaned = !poller.owners.is_empty()
                && poller
                    .owners
                    .iter()
                    .all(|serial| !state.live_processes.contains(serial));
            if orphaned || !(poller.peer_alive)() {
                // Leave the invocation queued for a live runtime.
                return NextPoll::Gone;
            }
        }
        let pending = if state.in_flight.is_some() {
            None
        } else {
            state.queue.pop_front()
        };
        let Some(mut pending) = pending else {
            drop(state);
            if first_check {
                // Waiters for the first /next (cold start, `wait_ready`) must see it.
                self.bump();
            }
            return NextPoll::Wait;
        };
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
        drop(state);
        self.bump();
        NextPoll::Deliver(Delivery {
            request_id: pending.request_id,
            deadline_ms,
            invoked_arn: pending.invoked_arn,
            trace_id: pending.trace_id,
            body: pending.body,
        })
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
        let _ = flight.done.send(harness_failure(
            &flight.request_id,
            flight.source,
            error_types::TIMEOUT,
            message,
            flight.queued,
            flight.delivered_at.elapsed(),
            Some(flight.deadline_ms),
        ));
        self.bump();
    }

    /// Checks that `request_id` may be answered now (before reading the body).
    pub(crate) fn check_answer(&self, request_id: &str) -> Result<(), Reject> {
        let state = self.lock();
        match &state.in_flight {
            Some(f) if f.request_id == request_id => Ok(()),
            _ if state.timed_out.contains(request_id) => Err(Reject::TimedOut),
            Some(_) => Err(Reject::WrongId),
            None => Err(Reject::NotInvoking),
        }
    }

    /// Completes the in-flight invocation `request_id` with what the runtime posted.
    pub(crate) fn answer(&self, request_id: &str, posted: Posted) -> Result<(), Reject> {
        let mut state = self.lock();
        match &state.in_flight {
            Some(f) if f.request_id == request_id => {}
            _ if state.timed_out.contains(request_id) => return Err(Reject::TimedOut),
            Some(_) => return Err(Reject::WrongId),
            None => return Err(Reject::NotInvoking),
        }
        let Some(mut flight) = state.in_flight.take() else {
            return Err(Reject::NotInvoking);
        };
        drop(state);
        if let Some(timer) = flight.deadline_timer.take() {
            timer.abort();
        }
        let duration = flight.delivered_at.elapsed();
        let (outcome, body) = match posted {
            Posted::Response(body) => {
                let outcome = if body.is_empty() {
                    Ok(Value::Null)
                } else {
                    match serde_json::from_slice::<Value>(&body) {
                        Ok(v) => Ok(v),
                        Err(e) => Err(harness_error(
                            error_types::RESPONSE_NOT_JSON,
                            format!("the function's response is not JSON: {e}"),
                        )),
                    }
                };
                (outcome, body.to_vec())
            }
            Posted::Error {
                body,
                header_error_type,
            } => (
                Err(parse_error_body(&body, header_error_type)),
                body.to_vec(),
            ),
            Posted::TooLarge => {
                let err = harness_error(
                    error_types::RESPONSE_TOO_LARGE,
                    format!(
                        "Response payload size exceeded maximum allowed payload size ({} bytes).",
                        self.options.max_response_bytes
                    ),
                );
                let body = err.body.to_string().into_bytes();
                (Err(err), body)
            }
        };
        let _ = flight.done.send(Invocation {
            request_id: flight.request_id,
            source: flight.source,
            outcome,
            body,
            queued: flight.queued,
            duration,
            deadline_ms: Some(flight.deadline_ms),
        });
        self.bump();
        Ok(())
    }

    /// `/runtime/init/error`: refused once the runtime called `/next` (403 in RIE). Otherwise
    /// records the error and fails every queued invocation with it (Lambda returns the init
    /// error to the invocation that triggered the init).
    pub(crate) fn init_error(
        &self,
        body: &[u8],
        header_error_type: Option<String>,
    ) -> Result<(), Reject> {
        let mut state = self.lock();
        if state.ready {
            return Err(Reject::NotInvoking);
        }
        let error = parse_error_body(body, header_error_type);
        state.init_error = Some(error.clone());
        let failed: Vec<Pending> = state.queue.drain(..).collect();
        drop(state);
        for mut pending in failed {
            if let Some(timer) = pending.queue_timer.take() {
                timer.abort();
            }
            let _ = pending.done.send(Invocation {
                request_id: pending.request_id,
                source: pending.source,
                outcome: Err(error.clone()),
                body: body.to_vec(),
                queued: pending.enqueued_at.elapsed(),
                duration: Duration::ZERO,
                deadline_ms: None,
            });
        }
        self.bump();
        Ok(())
    }

    /// Records an `Event` call and, with `auto_deliver_async`, queues it.
    pub(crate) fn record_async(
        self: &Arc<Self>,
        function_name: String,
        qualifier: Option<String>,
        invoked_arn: String,
        trace_id: Option<String>,
        body: Bytes,
        payload: Value,
    ) -> String {
        if !self.options.auto_deliver_async {
            let request_id = uuid::Uuid::new_v4().to_string();
            self.push_async_record(&request_id, function_name, qualifier, payload);
            return request_id;
        }
        let (request_id, rx) = self.enqueue(
            body,
            self.options.function_timeout,
            invoked_arn,
            trace_id,
            InvocationSource::Event,
        );
        self.push_async_record(&request_id, function_name, qualifier, payload);
        let weak: Weak<Shared> = Arc::downgrade(self);
        let id = request_id.clone();
        self.rt.spawn(async move {
            let invocation = await_invocation(rx, &id, InvocationSource::Event).await;
            if let Some(shared) = weak.upgrade() {
                let mut state = shared.lock();
                if let Some(record) = state
                    .async_invocations
                    .iter_mut()
                    .find(|a| a.request_id == id)
                {
                    record.result = Some(invocation);
                }
                drop(state);
                shared.bump();
            }
        });
        request_id
    }

    fn push_async_record(
        &self,
        request_id: &str,
        function_name: String,
        qualifier: Option<String>,
        payload: Value,
    ) {
        let mut state = self.lock();
        // Pushed before the completion task is spawned, so the task always finds the record.
        state.async_invocations.push(AsyncInvocation {
            request_id: request_id.to_owned(),
            function_name,
            qualifier,
            payload,
            received_at: Instant::now(),
            result: None,
        });
        drop(state);
        self.bump();
    }

    /// A process launched by `FunctionProcess` starts: a new init phase. Returns its serial.
    pub(crate) fn process_attached(&self) -> u64 {
        let mut state = self.lock();
        state.processes_attached += 1;
        state.processes_alive += 1;
        let serial = state.processes_attached;
        state.live_processes.insert(serial);
        state.ready = false;
        state.init_error = None;
        drop(state);
        self.bump();
        serial
    }

    /// The process `serial` has exited (seen by its reaper, before it is reaped and before its
    /// exit is observable): its pending `/next` polls are orphans from now on.
    pub(crate) fn process_gone(&self, serial: u64) {
        self.lock().live_processes.remove(&serial);
    }

    /// A process launched by `FunctionProcess` exited: what was in flight or queued fails with
    /// `Runtime.ExitError`, like Lambda reports a runtime that dies.
    pub(crate) fn process_exited(&self, serial: u64, exit: String) {
        let mut state = self.lock();
        state.live_processes.remove(&serial);
        state.processes_alive = state.processes_alive.saturating_sub(1);
        state.last_exit = Some(exit.clone());
        if state.processes_alive > 0 {
            drop(state);
            self.bump();
            return;
        }
        let flight = state.in_flight.take();
        let queued: Vec<Pending> = state.queue.drain(..).collect();
        drop(state);
        if let Some(mut flight) = flight {
            if let Some(timer) = flight.deadline_timer.take() {
                timer.abort();
            }
            let message = format!(
                "RequestId: {} Error: Runtime exited with error: {exit}",
                flight.request_id
            );
            let _ = flight.done.send(harness_failure(
                &flight.request_id,
                flight.source,
                error_types::EXIT_ERROR,
                message,
                flight.queued,
                flight.delivered_at.elapsed(),
                Some(flight.deadline_ms),
            ));
        }
        for mut pending in queued {
            if let Some(timer) = pending.queue_timer.take() {
                timer.abort();
            }
            let message = format!(
                "RequestId: {} Error: Runtime exited with error: {exit}",
                pending.request_id
            );
            let _ = pending.done.send(harness_failure(
                &pending.request_id,
                pending.source,
                error_types::EXIT_ERROR,
                message,
                pending.enqueued_at.elapsed(),
                Duration::ZERO,
                None,
            ));
        }
        self.bump();
    }
}

fn harness_error(error_type: &str, message: String) -> FunctionError {
    FunctionError {
        error_type: error_type.to_owned(),
        body: json!({"errorType": error_type, "errorMessage": message}),
        error_message: message,
        header_error_type: None,
    }
}

fn harness_failure(
    request_id: &str,
    source: InvocationSource,
    error_type: &str,
    message: String,
    queued: Duration,
    duration: Duration,
    deadline_ms: Option<u64>,
) -> Invocation {
    let error = harness_error(error_type, message);
    Invocation {
        request_id: request_id.to_owned(),
        source,
        body: error.body.to_string().into_bytes(),
        outcome: Err(error),
        queued,
        duration,
        deadline_ms,
    }
}

/// `{"errorType","errorMessage",...}` as posted to `/error` or `/init/error`.
fn parse_error_body(body: &[u8], header_error_type: Option<String>) -> FunctionError {
    let json: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let error_type = json
        .get("errorType")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .or_else(|| header_error_type.clone())
        .unwrap_or_else(|| "Unhandled".to_owned());
    let error_message = json
        .get("errorMessage")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
    FunctionError {
        error_type,
        error_message,
        header_error_type,
        body: json,
    }
}

fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// An X-Ray trace header like Lambda sends: `Root=1-{epoch hex}-{96 bit};Parent={64 bit};Sampled=0`.
pub(crate) fn new_trace_id() -> String {
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
