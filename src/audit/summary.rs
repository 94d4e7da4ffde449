//! The per-invocation summary record of a revocation request (schema
//! `kms-material-guard/summary/v1`, `schema/revocation-summary.v1.json`): how a central account
//! sees when every member is done with an incident.

use chrono::Utc;
use serde_json::{Value, json};

use crate::domain::{Outcome, Provenance, rfc3339};
use crate::response::{GuardError, SUMMARY_SCHEMA, Summary};

/// Where the summary comes from: the member (account and Region) and the trigger.
pub struct Member<'a> {
    pub account: &'a str,
    pub region: &'a str,
    pub trigger: &'a Provenance,
}

/// The summary document of an invocation's result; `None` for errors without a summary.
/// `complete`: no key is left for a retry or a continuation.
pub fn of_result(member: &Member<'_>, result: &Result<Summary, GuardError>) -> Option<Value> {
    let (summary, error_type) = match result {
        Ok(s) => (s, None),
        Err(e) => (e.summary()?, Some(e.error_type())),
    };
    let complete = summary.retryable() == 0
        && summary.continued_by.is_none()
        && !matches!(result, Err(GuardError::Retryable { .. }));
    Some(document(member, summary, error_type, complete))
}

/// The summary document.
pub fn document(
    member: &Member<'_>,
    summary: &Summary,
    error_type: Option<&str>,
    complete: bool,
) -> Value {
    json!({
        "log_type": "summary",
        "schema": SUMMARY_SCHEMA,
        "timestamp": rfc3339(Utc::now()),
        "account": member.account,
        "region": member.region,
        "function_request_id": summary.request_id,
        "incident_id": summary.incident_id,
        "action": summary.action,
        "dry_run": summary.dry_run,
        "targeted": summary.targeted.unwrap_or(true),
        "trigger": member.trigger,
        "counts": summary.counts,
        "keys": summary.results.iter().filter(|r| r.outcome != Outcome::Rejected).count(),
        "skipped_other_members": summary.skipped_other_members,
        "continued_by": summary.continued_by,
        "complete": complete,
        "error_type": error_type,
    })
}
