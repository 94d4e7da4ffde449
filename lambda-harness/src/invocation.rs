//! What an invocation is and how it ends: who asked for it, its result, and the errors the
//! function or the harness report. The vocabulary every other module shares.
//!
//! Imports nothing of the crate.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

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

impl FunctionError {
    /// An error the harness detects itself (timeout, exit, queue timeout...), with the
    /// `{"errorType","errorMessage"}` document the Invoke API returns as its body.
    pub(crate) fn harness(error_type: &str, message: String) -> Self {
        FunctionError {
            error_type: error_type.to_owned(),
            body: json!({"errorType": error_type, "errorMessage": message}),
            error_message: message,
            header_error_type: None,
        }
    }

    /// `{"errorType","errorMessage",...}` as a runtime posts it to `/error` or `/init/error`.
    pub(crate) fn posted(body: &[u8], header_error_type: Option<String>) -> Self {
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
}

/// Where an invocation was when the harness failed it: its times and deadline so far.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Progress {
    pub(crate) queued: Duration,
    pub(crate) duration: Duration,
    pub(crate) deadline_ms: Option<u64>,
}

impl Progress {
    /// Failed before anything happened.
    pub(crate) const NONE: Progress = Progress {
        queued: Duration::ZERO,
        duration: Duration::ZERO,
        deadline_ms: None,
    };
}

impl Invocation {
    /// An invocation the harness failed itself with `error_type` (see [`error_types`]).
    pub(crate) fn harness_failure(
        request_id: &str,
        source: InvocationSource,
        error_type: &str,
        message: String,
        progress: Progress,
    ) -> Invocation {
        let error = FunctionError::harness(error_type, message);
        Invocation {
            request_id: request_id.to_owned(),
            source,
            body: error.body.to_string().into_bytes(),
            outcome: Err(error),
            queued: progress.queued,
            duration: progress.duration,
            deadline_ms: progress.deadline_ms,
        }
    }

    /// `Runtime.ExitError`: the runtime process exited (`exit` says how) before answering.
    pub(crate) fn runtime_exited(
        request_id: &str,
        source: InvocationSource,
        exit: &str,
        progress: Progress,
    ) -> Invocation {
        let message = exit_message(request_id, exit);
        Self::harness_failure(
            request_id,
            source,
            error_types::EXIT_ERROR,
            message,
            progress,
        )
    }
}

/// Lambda's message for a runtime that exited (`exit` says how) during `request_id`.
pub(crate) fn exit_message(request_id: &str, exit: &str) -> String {
    format!("RequestId: {request_id} Error: Runtime exited with error: {exit}")
}
