//! What the router records: delivery attempts and their outcomes, function runs, PutEvents
//! calls it refused, and the messages queues hold.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use super::function::InvokeError;
use crate::aws::MemberId;

/// Virtual time as the journal's milliseconds.
pub(super) fn ms(d: Duration) -> u64 {
    d.as_millis().min(u128::from(u64::MAX)) as u64
}

/// A PutEvents entry the router refused (the error EventBridge would answer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PutError {
    pub code: String,
    pub message: String,
}

impl PutError {
    pub(super) fn new(code: &str, message: impl Into<String>) -> Self {
        PutError {
            code: code.to_string(),
            message: message.into(),
        }
    }
}

/// A PutEvents call (made to the local KMS's recorder) the router did not accept.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RefusedPut {
    pub caller: MemberId,
    pub event_bus_name: Option<String>,
    pub source: String,
    pub detail_type: String,
    pub error: PutError,
}

/// A message in a queue target or dead-letter queue.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueueMessage {
    pub body: Value,
    /// For EventBridge dead letters: `ERROR_CODE`, `ERROR_MESSAGE`, `RULE_ARN`, `TARGET_ARN`.
    pub attributes: BTreeMap<String, String>,
}

/// What happened to one delivery attempt.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum DeliveryOutcome {
    Delivered,
    /// Failed; EventBridge tries again at `next_at` (virtual time).
    Retrying {
        error: String,
        next_at_ms: u64,
    },
    /// Failed for good; sent to the target's dead-letter queue.
    DeadLettered {
        error: String,
        queue: String,
    },
    /// Failed for good and no dead-letter queue (or not deliverable by design).
    Dropped {
        error: String,
    },
}

/// One delivery attempt of an event to a rule target.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Delivery {
    pub at_ms: u64,
    pub event_id: String,
    pub detail_type: String,
    pub rule: String,
    pub target: String,
    pub attempt: u32,
    pub outcome: DeliveryOutcome,
}

/// One run of a function.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InvocationRecord {
    pub at_ms: u64,
    pub function: String,
    pub request_id: String,
    pub attempt: u32,
    /// `None` on success.
    pub error: Option<InvokeError>,
    /// The function's answer on success.
    pub response: Option<Value>,
}
