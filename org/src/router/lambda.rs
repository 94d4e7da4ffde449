//! Lambda's asynchronous invocation: Invoke (`InvocationType=Event`), a run with its context,
//! the retries of a function error with the same request id, the requeue of an event the
//! function cannot take, and the on-failure destination's record.

use std::collections::BTreeMap;
use std::time::Instant;

use chrono::{SecondsFormat, Utc};
use serde_json::{Value, json};

use super::function::{AsyncInvokeConfig, InvokeError, LambdaContext};
use super::journal::{InvocationRecord, QueueMessage, ms};
use super::state::{Invocation, Router, State, Work};
use crate::aws::uuid_v4;

impl Router {
    /// Starts an asynchronous invocation of a registered function (Lambda `Invoke`,
    /// `InvocationType=Event`); returns its request id.
    pub fn invoke_async(&self, function_arn: &str, payload: Value) -> Result<String, InvokeError> {
        let mut s = self.state();
        let Some((f, _)) = s.functions.get(function_arn) else {
            return Err(InvokeError::NotAccepted {
                code: "ResourceNotFoundException".into(),
                message: format!("Function not found: {function_arn}"),
            });
        };
        f.accepting()?;
        let request_id = uuid_v4();
        let now = s.now;
        let run = Invocation::first(function_arn, payload, request_id.clone(), now);
        s.schedule(now, Work::Invoke(run));
        Ok(request_id)
    }

    /// Runs the function once (in real time), then schedules Lambda's retry or sends the event
    /// to the on-failure destination; records the run in the journal.
    pub(super) async fn run_invocation(&self, inv: Invocation) {
        let entry = self.state().functions.get(&inv.function).cloned();
        let Some((f, config)) = entry else {
            return;
        };
        let ctx = LambdaContext {
            request_id: inv.request_id.clone(),
            invoked_function_arn: inv.function.clone(),
            deadline: Instant::now() + f.timeout(),
            attempt: inv.attempt,
        };
        let result = f.invoke(inv.payload.clone(), ctx).await;
        let mut s = self.state();
        if let Err(e) = &result {
            self.after_error(&mut s, &config, &inv, e);
        }
        let (error, response) = match result {
            Ok(v) => (None, Some(v)),
            Err(e) => (Some(e), None),
        };
        let at_ms = ms(s.now);
        s.invocations.push(InvocationRecord {
            at_ms,
            function: inv.function,
            request_id: inv.request_id,
            attempt: inv.attempt,
            error,
            response,
        });
    }

    /// A function error is retried within `MaximumRetryAttempts`; an event the function could
    /// not take stays in Lambda's queue (without counting an attempt); both within the maximum
    /// event age. Otherwise the on-failure destination gets it.
    fn after_error(
        &self,
        s: &mut State,
        config: &AsyncInvokeConfig,
        inv: &Invocation,
        error: &InvokeError,
    ) {
        let (next, attempt, retries_left) = match error {
            InvokeError::NotAccepted { .. } => (
                s.now + self.config().lambda_requeue_delay,
                inv.attempt,
                true,
            ),
            InvokeError::Function { .. } => (
                s.now + self.config().lambda_retry_delay(inv.attempt),
                inv.attempt + 1,
                inv.attempt <= config.maximum_retry_attempts,
            ),
        };
        let young = next.saturating_sub(inv.since) < config.maximum_event_age;
        if retries_left && young {
            let again = Invocation {
                attempt,
                ..inv.clone()
            };
            s.schedule(next, Work::Invoke(again));
        } else {
            let condition = if retries_left {
                "EventAgeExceeded"
            } else {
                "RetriesExhausted"
            };
            on_failure(s, config, inv, error, condition);
        }
    }
}

/// Lambda's on-failure destination record.
fn on_failure(
    s: &mut State,
    config: &AsyncInvokeConfig,
    inv: &Invocation,
    error: &InvokeError,
    condition: &str,
) {
    let Some(q) = config.on_failure.as_ref() else {
        return;
    };
    let (error_type, error_message) = error.parts();
    let body = json!({
        "version": "1.0",
        "timestamp": Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true),
        "requestContext": {"requestId": inv.request_id, "functionArn": inv.function,
                           "condition": condition, "approximateInvokeCount": inv.attempt},
        "requestPayload": inv.payload,
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST",
                            "functionError": "Unhandled"},
        "responsePayload": {"errorType": error_type, "errorMessage": error_message},
    });
    if let Some(msgs) = s.queues.get_mut(q) {
        msgs.push(QueueMessage {
            body,
            attributes: BTreeMap::new(),
        });
    }
}
