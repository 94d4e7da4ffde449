//! What the runtime posts: the response or error of the invocation in flight, and the init error
//! that ends an init phase.

use serde_json::Value;

use super::state::{Pending, Shared, State};
use crate::invocation::{FunctionError, Invocation, error_types};

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
    Response(bytes::Bytes),
    Error {
        body: bytes::Bytes,
        header_error_type: Option<String>,
    },
    TooLarge,
}

/// Whether `request_id` is the invocation in flight.
fn answerable(state: &State, request_id: &str) -> Result<(), Reject> {
    match &state.in_flight {
        Some(f) if f.request_id == request_id => Ok(()),
        _ if state.timed_out.contains(request_id) => Err(Reject::TimedOut),
        Some(_) => Err(Reject::WrongId),
        None => Err(Reject::NotInvoking),
    }
}

impl Shared {
    /// Checks that `request_id` may be answered now (before reading the body).
    pub(crate) fn check_answer(&self, request_id: &str) -> Result<(), Reject> {
        answerable(&self.lock(), request_id)
    }

    /// Completes the in-flight invocation `request_id` with what the runtime posted.
    pub(crate) fn answer(&self, request_id: &str, posted: Posted) -> Result<(), Reject> {
        let mut state = self.lock();
        answerable(&state, request_id)?;
        let Some(mut flight) = state.in_flight.take() else {
            return Err(Reject::NotInvoking);
        };
        drop(state);
        if let Some(timer) = flight.deadline_timer.take() {
            timer.abort();
        }
        let duration = flight.delivered_at.elapsed();
        let (outcome, body) = self.outcome_of(posted);
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

    /// The invocation's outcome and body for what the runtime posted.
    fn outcome_of(&self, posted: Posted) -> (Result<Value, FunctionError>, Vec<u8>) {
        match posted {
            Posted::Response(body) if body.is_empty() => (Ok(Value::Null), Vec::new()),
            Posted::Response(body) => {
                let outcome = serde_json::from_slice::<Value>(&body).map_err(|e| {
                    FunctionError::harness(
                        error_types::RESPONSE_NOT_JSON,
                        format!("the function's response is not JSON: {e}"),
                    )
                });
                (outcome, body.to_vec())
            }
            Posted::Error {
                body,
                header_error_type,
            } => (
                Err(FunctionError::posted(&body, header_error_type)),
                body.to_vec(),
            ),
            Posted::TooLarge => {
                let err = FunctionError::harness(
                    error_types::RESPONSE_TOO_LARGE,
                    format!(
                        "Response payload size exceeded maximum allowed payload size ({} bytes).",
                        self.options.max_response_bytes
                    ),
                );
                let body = err.body.to_string().into_bytes();
                (Err(err), body)
            }
        }
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
        let error = FunctionError::posted(body, header_error_type);
        state.init_error = Some(error.clone());
        let failed: Vec<Pending> = state.queue.drain(..).collect();
        drop(state);
        for pending in failed {
            pending.finish(Err(error.clone()), body.to_vec());
        }
        self.bump();
        Ok(())
    }
}
