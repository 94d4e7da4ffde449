//! The handle a test holds: starts the server on a loopback port, queues invocations and reads
//! what the sandbox recorded (polls, init errors, async calls).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::Value;
use tokio::task::JoinHandle;

use crate::invocation::{AsyncInvocation, FunctionError, Invocation, InvocationSource};
use crate::options::RuntimeApiOptions;
use crate::sandbox::{Shared, State, await_invocation};

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
        let shared = Arc::new(Shared::new(
            options,
            addr,
            tokio::runtime::Handle::current(),
        ));
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
        self.shared.wait_until(timeout, done).await;
        self.async_invocations()
    }

    /// Waits until at least `count` `Event` calls were received (or `timeout` passes).
    pub async fn wait_for_async_calls(
        &self,
        count: usize,
        timeout: Duration,
    ) -> Vec<AsyncInvocation> {
        self.shared
            .wait_until(timeout, |s| s.async_invocations.len() >= count)
            .await;
        self.async_invocations()
    }

    /// Number of invocations waiting in the queue (not yet delivered).
    pub fn queued(&self) -> usize {
        self.shared.lock().queued()
    }

    /// Request id of the invocation the runtime is working on, if any.
    pub fn in_flight(&self) -> Option<String> {
        self.shared.lock().in_flight().map(str::to_owned)
    }
}
