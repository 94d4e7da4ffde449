//! The KMS call layer: one place that makes a call, records its request id and attempt, turns
//! the SDK error into a [`KmsError`] with a retry class, and retries with backoff inside the
//! invocation's deadline.
//!
//! The SDK's own retries are disabled ([`client_config`]): the function retries itself so that
//! every attempt's request id lands in the audit record, throttling feeds the delete pacer, and
//! no retry outlives the Lambda deadline.

use std::error::Error as StdError;
use std::future::Future;
use std::time::Duration;

use aws_sdk_kms::config::http::HttpResponse;
use aws_sdk_kms::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_kms::operation::RequestId;

use crate::config::Config;
use crate::domain::text::short_n;
use crate::domain::{Deadline, Outcome, Trace};

/// The KMS error codes this function treats specially.
pub mod codes {
    pub const THROTTLING: &str = "ThrottlingException";
    pub const DEPENDENCY_TIMEOUT: &str = "DependencyTimeoutException";
    pub const INTERNAL: &str = "KMSInternalException";
    pub const INVALID_STATE: &str = "KMSInvalidStateException";
    pub const NOT_FOUND: &str = "NotFoundException";
    pub const INVALID_ARN: &str = "InvalidArnException";
    pub const UNSUPPORTED: &str = "UnsupportedOperationException";
    pub const ACCESS_DENIED: &str = "AccessDeniedException";
    /// A call attempt exceeded `MATERIAL_GUARD_CALL_TIMEOUT_MS`.
    pub const TIMEOUT: &str = "Timeout";
    /// The request could not be sent or the connection broke.
    pub const CONNECTION: &str = "ConnectionError";
    /// The response could not be read or parsed.
    pub const RESPONSE: &str = "ResponseError";
    /// An HTTP 5xx without a KMS error body.
    pub const HTTP_5XX: &str = "HttpServerError";
}

/// How an error should be handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// `ThrottlingException`: not applied; slow down and retry.
    Throttled,
    /// Retryable and possibly applied (timeouts, 5xx, dropped connections): check state before
    /// repeating a write.
    Transient,
    /// Retrying cannot help.
    Final,
}

/// A failed KMS call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct KmsError {
    /// The KMS error code (`__type`) or one of the transport codes in [`codes`].
    pub code: String,
    /// The KMS message (bounded), or a description of the transport failure.
    pub message: String,
    pub class: ErrorClass,
}

impl KmsError {
    pub fn is_retryable(&self) -> bool {
        self.class != ErrorClass::Final
    }

    /// How a key ends after this error: not found, retryable or final.
    pub fn outcome(&self) -> Outcome {
        if self.code == codes::NOT_FOUND {
            Outcome::NotFound
        } else if self.is_retryable() {
            Outcome::FailedRetryable
        } else {
            Outcome::Failed
        }
    }

    /// Classifies an SDK error.
    pub fn from_sdk<E>(err: &SdkError<E, HttpResponse>) -> KmsError
    where
        E: ProvideErrorMetadata + StdError + 'static,
    {
        match err {
            SdkError::ServiceError(se) => {
                let e = se.err();
                let status = se.raw().status().as_u16();
                let code = e.code().map(str::to_string).unwrap_or_else(|| {
                    if status >= 500 {
                        codes::HTTP_5XX.to_string()
                    } else {
                        format!("Http{status}")
                    }
                });
                let message = bounded(e.message().unwrap_or_default());
                let class = match code.as_str() {
                    codes::THROTTLING => ErrorClass::Throttled,
                    codes::DEPENDENCY_TIMEOUT | codes::INTERNAL => ErrorClass::Transient,
                    _ if status >= 500 => ErrorClass::Transient,
                    _ => ErrorClass::Final,
                };
                KmsError {
                    code,
                    message,
                    class,
                }
            }
            SdkError::TimeoutError(_) => KmsError {
                code: codes::TIMEOUT.into(),
                message: "the KMS call did not complete within the call timeout".into(),
                class: ErrorClass::Transient,
            },
            SdkError::DispatchFailure(_) => KmsError {
                code: codes::CONNECTION.into(),
                message: bounded(&DisplayErrorContext(err).to_string()),
                class: ErrorClass::Transient,
            },
            SdkError::ResponseError(_) => KmsError {
                code: codes::RESPONSE.into(),
                message: bounded(&DisplayErrorContext(err).to_string()),
                class: ErrorClass::Transient,
            },
            _ => KmsError {
                code: "ClientError".into(),
                message: bounded(&DisplayErrorContext(err).to_string()),
                class: ErrorClass::Final,
            },
        }
    }
}

/// KMS messages and transport errors, bounded for the record.
fn bounded(s: &str) -> String {
    short_n(s, 1024)
}

/// Retry settings for one invocation.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    /// Time that must remain after a backoff for another attempt to be worth starting.
    pub margin: Duration,
}

impl RetryPolicy {
    pub fn from_config(config: &Config) -> Self {
        RetryPolicy {
            max_attempts: config.max_attempts,
            margin: config.deadline_margin,
        }
    }

    /// Exponential backoff with equal jitter (a random delay between half and all of the step):
    /// throttling starts at 250 ms, other errors at
    /// 100 ms, doubling per attempt, capped at 5 s.
    pub fn backoff(&self, attempt: u32, class: ErrorClass) -> Duration {
        let base_ms: u64 = if class == ErrorClass::Throttled {
            250
        } else {
            100
        };
        let ceiling = base_ms
            .saturating_mul(1 << attempt.saturating_sub(1).min(10))
            .min(5_000);
        Duration::from_millis(fastrand::u64(ceiling / 2..=ceiling))
    }
}

/// Makes one call attempt, recording it in `trace`.
pub async fn once<O, E, Fut>(trace: &mut Trace, call: Fut) -> Result<O, KmsError>
where
    Fut: Future<Output = Result<O, SdkError<E, HttpResponse>>>,
    O: RequestId,
    E: ProvideErrorMetadata + StdError + 'static,
{
    match call.await {
        Ok(out) => {
            trace.note(out.request_id());
            Ok(out)
        }
        Err(err) => {
            trace.note(err.request_id());
            let e = KmsError::from_sdk(&err);
            tracing::debug!(code = %e.code, message = %e.message, "KMS call failed");
            Err(e)
        }
    }
}

/// Calls until success, a final error, `max_attempts`, or the deadline. Only for reads: writes
/// that may have been applied need a state check between attempts (see `execute`).
pub async fn with_retry<O, E, F, Fut>(
    policy: &RetryPolicy,
    deadline: &Deadline,
    trace: &mut Trace,
    mut call: F,
) -> Result<O, KmsError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<O, SdkError<E, HttpResponse>>>,
    O: RequestId,
    E: ProvideErrorMetadata + StdError + 'static,
{
    let mut attempt = 1;
    loop {
        match once(trace, call()).await {
            Ok(out) => return Ok(out),
            Err(e) if e.is_retryable() && attempt < policy.max_attempts => {
                let delay = policy.backoff(attempt, e.class);
                if !deadline.allows(delay + policy.margin) {
                    return Err(e);
                }
                tokio::time::sleep(delay).await;
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

/// The KMS client configuration the function uses: SDK retries off (the function retries
/// itself), a per-attempt timeout, and a short connect timeout.
pub fn client_config(sdk: &aws_types::SdkConfig, config: &Config) -> aws_sdk_kms::Config {
    aws_sdk_kms::config::Builder::from(sdk)
        .retry_config(aws_sdk_kms::config::retry::RetryConfig::disabled())
        .timeout_config(
            aws_sdk_kms::config::timeout::TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(2))
                .operation_attempt_timeout(config.call_timeout)
                .build(),
        )
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = RetryPolicy {
            max_attempts: 5,
            margin: Duration::ZERO,
        };
        for _ in 0..50 {
            let first = p.backoff(1, ErrorClass::Transient);
            assert!((50..=100).contains(&(first.as_millis() as u64)));
            let throttled = p.backoff(3, ErrorClass::Throttled);
            assert!((500..=1000).contains(&(throttled.as_millis() as u64)));
            assert!(p.backoff(30, ErrorClass::Transient) <= Duration::from_secs(5));
        }
    }
}
