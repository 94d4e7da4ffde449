//! The report's view of one audit record, one per-invocation summary and one revocation
//! request: the fields it reads, taken leniently from their JSON.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::aws::MemberId;

/// The `targets` of an organization request: the function's own type, so the report decides
/// "is this member targeted" by exactly the rule the members apply.
pub use kms_material_guard::request::Targets;

/// An audit record, as far as the report reads it.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct AuditView {
    pub(super) incident_id: Option<String>,
    pub(super) outcome: String,
    pub(super) dry_run: bool,
    pub(super) key: Option<String>,
    pub(super) key_arn: Option<String>,
    pub(super) account: Option<String>,
    pub(super) region: Option<String>,
    pub(super) timestamp: Option<DateTime<Utc>>,
    pub(super) function_request_id: Option<String>,
    pub(super) error_code: Option<String>,
    pub(super) error_message: Option<String>,
    /// `trigger.event_id`: attributes a `rejected` record (which has no incident id, the request
    /// did not parse) to the request event.
    pub(super) trigger_event_id: Option<String>,
    /// (account, Region) of the EventBridge envelope it came in.
    pub(super) envelope: Option<(String, String)>,
    /// Its place in the input (orders records of the same timestamp).
    pub(super) order: usize,
}

/// A per-invocation summary, as far as the report reads it.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct SummaryView {
    pub(super) member: MemberId,
    pub(super) incident_id: Option<String>,
    pub(super) dry_run: bool,
    pub(super) targeted: Option<bool>,
    pub(super) complete: bool,
    pub(super) error_type: Option<String>,
    pub(super) continued_by: Option<String>,
    pub(super) function_request_id: Option<String>,
    /// The request event the invocation worked on (`trigger.event_id`); Lambda's retries,
    /// EventBridge's redeliveries and continuations share it.
    pub(super) event_id: Option<String>,
    /// `trigger.continuation_of`: the invocation this one continues.
    pub(super) continuation_of: Option<String>,
    pub(super) counts: BTreeMap<String, u64>,
    pub(super) timestamp: Option<DateTime<Utc>>,
    /// Its place in the input.
    pub(super) order: usize,
}

/// A revocation request seen in the input (its targets decide who must act).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct RequestView {
    /// The request event's id (when it came as an envelope).
    pub(super) event_id: Option<String>,
    pub(super) incident_id: Option<String>,
    pub(super) dry_run: bool,
    pub(super) targets: Option<Targets>,
}

impl AuditView {
    /// The record `d`; `None` without an `outcome`. Its `order` is set when it is kept.
    pub(super) fn read(d: &Value, envelope: Option<(String, String)>) -> Option<AuditView> {
        let outcome = d.get("outcome").and_then(Value::as_str)?;
        Some(AuditView {
            incident_id: text(d, "incident_id"),
            outcome: outcome.to_string(),
            dry_run: flag(d, "dry_run"),
            key: text(d, "key"),
            key_arn: text(d, "key_arn"),
            account: text(d, "account"),
            region: text(d, "region"),
            timestamp: time(d, "timestamp"),
            function_request_id: text(d, "function_request_id"),
            error_code: text(d, "error_code"),
            error_message: text(d, "error_message"),
            trigger_event_id: d.get("trigger").and_then(|t| text(t, "event_id")),
            envelope,
            order: 0,
        })
    }
}

impl SummaryView {
    /// The summary `d`; `None` without `account` and `region`. Its `order` is set when it is
    /// kept.
    pub(super) fn read(d: &Value) -> Option<SummaryView> {
        let (account, region) = (text(d, "account")?, text(d, "region")?);
        let counts = d
            .get("counts")
            .and_then(Value::as_object)
            .map(|c| {
                c.iter()
                    .filter_map(|(k, n)| n.as_u64().map(|n| (k.clone(), n)))
                    .collect()
            })
            .unwrap_or_default();
        let trigger = d.get("trigger");
        Some(SummaryView {
            member: MemberId::new(&account, &region),
            incident_id: text(d, "incident_id"),
            dry_run: flag(d, "dry_run"),
            targeted: d.get("targeted").and_then(Value::as_bool),
            complete: flag(d, "complete"),
            error_type: text(d, "error_type"),
            continued_by: text(d, "continued_by"),
            function_request_id: text(d, "function_request_id"),
            event_id: trigger.and_then(|t| text(t, "event_id")),
            continuation_of: trigger.and_then(|t| text(t, "continuation_of")),
            counts,
            timestamp: time(d, "timestamp"),
            order: 0,
        })
    }
}

impl RequestView {
    /// The request's detail `d`, which came in the event `event_id` (if known).
    pub(super) fn read(d: &Value, event_id: Option<String>) -> RequestView {
        RequestView {
            event_id,
            incident_id: text(d, "incidentId"),
            dry_run: flag(d, "dryRun"),
            targets: d.get("targets").and_then(targets_from_json),
        }
    }
}

/// Reads the `targets` of a recorded request leniently (the record was validated when the
/// request was accepted; a report reads what is there).
fn targets_from_json(v: &Value) -> Option<Targets> {
    let list = |name: &str| -> Vec<String> {
        v.get(name)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    };
    v.is_object().then(|| Targets {
        accounts: list("accounts"),
        organizational_units: list("organizationalUnits"),
        regions: list("regions"),
    })
}

/// A string field.
pub(super) fn text(v: &Value, name: &str) -> Option<String> {
    v.get(name).and_then(Value::as_str).map(str::to_string)
}

/// A boolean field; absent or not a boolean: `false`.
fn flag(v: &Value, name: &str) -> bool {
    v.get(name).and_then(Value::as_bool).unwrap_or(false)
}

/// An RFC 3339 timestamp field.
fn time(v: &Value, name: &str) -> Option<DateTime<Utc>> {
    v.get(name)
        .and_then(Value::as_str)
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
}
