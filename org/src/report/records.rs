//! The report's view of one audit record, one per-invocation summary and one revocation
//! request: the fields it reads, taken leniently from their JSON, and who vouches for their
//! origin (the EventBridge envelope they came in, when they came in one).

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
    /// The account and Region of the EventBridge envelope it came in: where the member
    /// published it, set by EventBridge (`None`: a bare record, which nothing vouches for).
    pub(super) envelope: Option<MemberId>,
    /// Its place in the input (orders records of the same timestamp).
    pub(super) order: usize,
}

/// A per-invocation summary, as far as the report reads it.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct SummaryView {
    /// The member it counts for: the envelope's account and Region when it came in one (set by
    /// EventBridge), else the ones it names itself.
    pub(super) member: MemberId,
    /// The account and Region it names itself (`account`, `region` of the detail).
    pub(super) claimed: MemberId,
    /// The envelope's account and Region (see [`AuditView::envelope`]).
    pub(super) envelope: Option<MemberId>,
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
    /// The record `d`, which came in `envelope` (if any); `None` without an `outcome`. Its
    /// `order` is set when it is kept.
    pub(super) fn read(d: &Value, envelope: Option<MemberId>) -> Option<AuditView> {
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

    /// Whether the record claims an action on a key of another account or Region than the
    /// envelope it came in: a member can only act on its own keys, so that is a forgery (or a
    /// misconfiguration), never that other member's work. Refusals and rejections name foreign
    /// keys legitimately (`refused_cross_account`: the key belongs to someone else).
    pub(super) fn disowned(&self) -> bool {
        let Some(env) = &self.envelope else {
            return false;
        };
        let refusal = self.outcome.starts_with("refused_") || self.outcome.starts_with("rejected");
        let differs = self.account.as_ref().is_some_and(|a| *a != env.account)
            || self.region.as_ref().is_some_and(|r| *r != env.region);
        differs && !refusal
    }
}

impl SummaryView {
    /// The summary `d`, which came in `envelope` (if any); `None` without `account` and
    /// `region`. Its `order` is set when it is kept.
    pub(super) fn read(d: &Value, envelope: Option<MemberId>) -> Option<SummaryView> {
        let (account, region) = (text(d, "account")?, text(d, "region")?);
        let claimed = MemberId::new(&account, &region);
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
            member: envelope.clone().unwrap_or_else(|| claimed.clone()),
            claimed,
            envelope,
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

    /// Whether the summary names another account or Region than the envelope it came in (a
    /// forgery or a misconfiguration: it counts for nobody).
    pub(super) fn disowned(&self) -> bool {
        self.envelope.as_ref().is_some_and(|e| *e != self.claimed)
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
