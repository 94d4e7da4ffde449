//! What the router knows of a Lambda function: the trait it invokes, the context of a run, why
//! a run failed, and the function's asynchronous invocation configuration.

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;

/// A boxed future (the [`Function`] trait is object safe).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a function is told about one invocation (the Lambda context).
#[derive(Debug, Clone)]
pub struct LambdaContext {
    /// The invocation's request id; Lambda keeps it for the retries of an asynchronous event.
    pub request_id: String,
    pub invoked_function_arn: String,
    /// When the function times out.
    pub deadline: Instant,
    /// 1 for the first run of an asynchronous event, 2 and 3 for Lambda's retries.
    pub attempt: u32,
}

/// Why an invocation did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum InvokeError {
    /// The Invoke API did not take the event (function not deployed or being updated, Lambda
    /// throttling the account, the Region impaired). EventBridge retries the delivery.
    NotAccepted { code: String, message: String },
    /// The function ran and returned an error (or crashed, or timed out). Lambda retries the
    /// asynchronous event up to its `MaximumRetryAttempts`.
    Function {
        error_type: String,
        error_message: String,
    },
}

impl InvokeError {
    /// The error's code (or type) and message.
    pub fn parts(&self) -> (&str, &str) {
        match self {
            InvokeError::NotAccepted { code, message } => (code, message),
            InvokeError::Function {
                error_type,
                error_message,
            } => (error_type, error_message),
        }
    }
}

impl std::fmt::Display for InvokeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (code, message) = self.parts();
        write!(f, "{code}: {message}")
    }
}

/// A Lambda function as the router invokes it.
pub trait Function: Send + Sync {
    fn arn(&self) -> &str;
    /// Whether the Invoke API takes an asynchronous invocation now.
    fn accepting(&self) -> Result<(), InvokeError>;
    /// The function's timeout (the context's deadline is now + timeout).
    fn timeout(&self) -> Duration;
    /// Runs one invocation.
    fn invoke(
        &self,
        payload: Value,
        ctx: LambdaContext,
    ) -> BoxFuture<'_, Result<Value, InvokeError>>;
}

/// A function's asynchronous invocation configuration (`EventInvokeConfig`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AsyncInvokeConfig {
    /// 0-2 retries of a function error.
    pub maximum_retry_attempts: u32,
    /// 60 s - 6 h.
    pub maximum_event_age: Duration,
    /// The on-failure destination (a queue ARN); `None` drops the event.
    pub on_failure: Option<String>,
}

impl Default for AsyncInvokeConfig {
    fn default() -> Self {
        AsyncInvokeConfig {
            maximum_retry_attempts: 2,
            maximum_event_age: Duration::from_secs(21_600),
            on_failure: None,
        }
    }
}
