//! Where an invocation came from ([`Provenance`], the audit record's `trigger`) and what the
//! Lambda context says about it ([`Invocation`]).

use std::time::Duration;

use serde::Serialize;

use super::deadline::{Deadline, DeadlineSource};

/// `trigger.source` recorded for direct invocations (no EventBridge envelope).
pub const SOURCE_DIRECT: &str = "direct-invocation";

/// Where an invocation came from: the audit record's `trigger` object.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Provenance {
    pub source: Option<String>,
    pub detail_type: Option<String>,
    pub event_id: Option<String>,
    pub event_account: Option<String>,
    pub event_time: Option<String>,
    pub resources: Vec<String>,
    /// For a continuation invocation: the function request id of the invocation it continues.
    pub continuation_of: Option<String>,
}

impl Provenance {
    /// A direct invocation (no EventBridge envelope).
    pub fn direct() -> Self {
        Provenance {
            source: Some(SOURCE_DIRECT.into()),
            ..Provenance::default()
        }
    }
}

/// What the Lambda context tells about one invocation.
#[derive(Debug, Clone)]
pub struct Invocation {
    pub request_id: String,
    pub xray_trace_id: Option<String>,
    pub invoked_function_arn: String,
    pub deadline: Deadline,
}

impl Invocation {
    /// From the Lambda context. A deadline that is missing, past or implausible (local
    /// emulators) is replaced by `fallback` from now, with one WARN line saying so.
    pub fn from_context(ctx: &lambda_runtime::Context, fallback: Duration) -> Self {
        let (deadline, source) = Deadline::from_lambda(ctx.deadline, fallback);
        if source == DeadlineSource::Fallback {
            tracing::warn!(
                reported_deadline_ms = ctx.deadline,
                fallback_seconds = fallback.as_secs(),
                "the runtime's deadline is missing, past or implausible (a local emulator such as \
                 cargo lambda watch?); using the fallback timeout (MATERIAL_GUARD_FALLBACK_TIMEOUT_SECONDS)"
            );
        }
        Invocation {
            request_id: ctx.request_id.clone(),
            xray_trace_id: ctx.xray_trace_id.clone(),
            invoked_function_arn: ctx.invoked_function_arn.clone(),
            deadline,
        }
    }

    /// An invocation without a Lambda context (tests, the drill).
    pub fn local(request_id: &str) -> Self {
        Invocation {
            request_id: request_id.to_string(),
            xray_trace_id: None,
            invoked_function_arn: String::new(),
            deadline: Deadline::none(),
        }
    }

    /// The account in the invoked function's ARN (`arn:aws:lambda:<region>:<account>:...`).
    pub fn function_account(&self) -> Option<&str> {
        self.invoked_function_arn
            .split(':')
            .nth(4)
            .filter(|a| a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit()))
    }
}
