//! How a harness server is configured: the function it plays, its limits and timeouts.
//!
//! Imports nothing of the crate.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

/// Configuration of a [`RuntimeApi`](crate::RuntimeApi). Every field has a default (see
/// [`Default`]); override with struct update syntax: `RuntimeApiOptions { function_timeout: Duration::from_secs(5), ..Default::default() }`.
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
    /// [`RuntimeApi::invoke`](crate::RuntimeApi::invoke) takes its own timeout.
    pub function_timeout: Duration,
    /// How long an invocation may wait in the queue for a runtime to take it (60 s); then it
    /// fails with [`error_types::QUEUE_TIMEOUT`](crate::error_types::QUEUE_TIMEOUT).
    pub queue_timeout: Duration,
    /// Deliver `Event` (async) Invoke API calls to the runtime (true). When false they are
    /// only recorded (see [`RuntimeApi::async_invocations`](crate::RuntimeApi::async_invocations)).
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
