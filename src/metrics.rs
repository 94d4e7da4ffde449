//! CloudWatch metrics in the Embedded Metric Format (EMF): one JSON line per invocation and
//! action on stdout, which CloudWatch Logs turns into metrics without any API call.
//!
//! Namespace `MATERIAL_GUARD_METRICS_NAMESPACE` (default `KmsMaterialGuard`); one dimension,
//! `Action` (`revoke`, `scheduled_revoke`, `observe_expiry`, `sweep`, `rotate`,
//! `observe_rotation`), so cardinality stays low. Metrics (all `Count` except the latency):
//!
//! | metric | counts outcomes |
//! |---|---|
//! | `KeysRevoked` | `revoked`, `revoked_unverified`, `material_deleted` |
//! | `KeysRefused` | `refused_*`, `skipped_*`, `rejected*` |
//! | `KeysFailed` | `failed`, `not_found` |
//! | `KeysFailedRetryable` | `failed_retryable`, `deferred` |
//! | `KeysExpiringSoon` | `expiring_soon` |
//! | `KeysExpired` | `expired` |
//! | `RotationDue` | `rotation_due` |
//! | `RotationsCompleted` | `rotated` |
//! | `RevocationLatency` | milliseconds from a key's first step to its revocation (one value per revoked key, at most 100 per line) |
//!
//! `RecordsNotPublished` (no dimension, its own line, while an audit bus is configured): records
//! and summaries that could not be published before the deadline.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::domain::{Action, Outcome};

/// The metric a given outcome counts towards, if any.
pub fn metric_for(outcome: Outcome) -> Option<&'static str> {
    use Outcome::*;
    Some(match outcome {
        Revoked | RevokedUnverified | MaterialDeleted => "KeysRevoked",
        RefusedOutOfScope
        | RefusedCrossAccount
        | RefusedOtherRegion
        | RefusedBlastRadius
        | SkippedNotExternal
        | SkippedDuplicate
        | Rejected
        | RejectedInvalidIdentifier => "KeysRefused",
        Failed | NotFound => "KeysFailed",
        FailedRetryable | Deferred => "KeysFailedRetryable",
        ExpiringSoon => "KeysExpiringSoon",
        Expired => "KeysExpired",
        RotationDue => "RotationDue",
        Rotated => "RotationsCompleted",
        _ => return None,
    })
}

/// Every metric name, in a stable order (each appears in every line, zero when nothing happened,
/// so alarms see data points rather than missing data).
pub const METRICS: [&str; 8] = [
    "KeysRevoked",
    "KeysRefused",
    "KeysFailed",
    "KeysFailedRetryable",
    "KeysExpiringSoon",
    "KeysExpired",
    "RotationDue",
    "RotationsCompleted",
];

/// What the metrics need of one audit record (kept per invocation instead of whole records).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    pub action: Action,
    pub outcome: Outcome,
    pub duration_ms: u64,
}

/// Builds the EMF document for one invocation's records. `timestamp_ms`: epoch milliseconds.
pub fn emf(namespace: &str, action: Action, records: &[Sample], timestamp_ms: i64) -> Value {
    let mut counts: BTreeMap<&str, u64> = METRICS.iter().map(|m| (*m, 0)).collect();
    let mut latencies = Vec::new();
    for r in records {
        if let Some(m) = metric_for(r.outcome) {
            *counts.entry(m).or_insert(0) += 1;
        }
        if r.outcome == Outcome::Revoked {
            latencies.push(r.duration_ms);
        }
    }
    latencies.truncate(100);
    let mut definitions: Vec<Value> = METRICS
        .iter()
        .map(|m| json!({"Name": m, "Unit": "Count"}))
        .collect();
    let mut doc = json!({
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [],
        },
        "Action": action.as_str(),
    });
    for (m, n) in &counts {
        doc[*m] = json!(n);
    }
    if !latencies.is_empty() {
        definitions.push(json!({"Name": "RevocationLatency", "Unit": "Milliseconds"}));
        doc["RevocationLatency"] = json!(latencies);
    }
    doc["_aws"]["CloudWatchMetrics"] = json!([{
        "Namespace": namespace,
        "Dimensions": [["Action"]],
        "Metrics": definitions,
    }]);
    doc
}

/// Where EMF lines go: stdout in Lambda (CloudWatch Logs extracts the metrics).
pub type MetricsWriter = std::sync::Arc<dyn Fn(&str) + Send + Sync>;

/// Writes each EMF line to stdout.
pub fn stdout_writer() -> MetricsWriter {
    std::sync::Arc::new(|line: &str| {
        use std::io::Write;
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        if let Err(e) = writeln!(out, "{line}").and_then(|_| out.flush()) {
            tracing::error!(error = %e, "could not write metrics to stdout");
        }
    })
}

/// Writes one EMF line per action present in an invocation's records, each naming the
/// invocation (`function_request_id`, a property CloudWatch keeps in the log line, not a
/// dimension) so a metric spike leads to its records.
pub fn publish(namespace: &str, records: &[Sample], writer: &MetricsWriter, request_id: &str) {
    let mut actions: Vec<Action> = records.iter().map(|r| r.action).collect();
    actions.sort_by_key(|a| a.as_str());
    actions.dedup();
    let now = chrono::Utc::now().timestamp_millis();
    for action in actions {
        let of_action: Vec<Sample> = records
            .iter()
            .filter(|r| r.action == action)
            .copied()
            .collect();
        let mut doc = emf(namespace, action, &of_action, now);
        doc["function_request_id"] = json!(request_id);
        writer(&doc.to_string());
    }
}

/// Writes the `RecordsNotPublished` line: records and summaries the EventBridge sink could not
/// deliver before the deadline (a metric without dimensions, one data point per invocation while
/// publishing is configured; the template alarms on it).
pub fn publish_unpublished(
    namespace: &str,
    count: usize,
    writer: &MetricsWriter,
    request_id: &str,
) {
    let doc = json!({
        "_aws": {
            "Timestamp": chrono::Utc::now().timestamp_millis(),
            "CloudWatchMetrics": [{
                "Namespace": namespace,
                "Dimensions": [[]],
                "Metrics": [{"Name": UNPUBLISHED, "Unit": "Count"}],
            }],
        },
        UNPUBLISHED: count,
        "function_request_id": request_id,
    });
    writer(&doc.to_string());
}

/// The metric of records the audit bus did not receive in time.
pub const UNPUBLISHED: &str = "RecordsNotPublished";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_outcome_maps_to_at_most_one_metric_and_revocations_count() {
        assert_eq!(metric_for(Outcome::Revoked), Some("KeysRevoked"));
        assert_eq!(metric_for(Outcome::Deferred), Some("KeysFailedRetryable"));
        assert_eq!(metric_for(Outcome::WouldRevoke), None);
        let doc = emf("NS", Action::Sweep, &[], 1);
        assert_eq!(doc["_aws"]["CloudWatchMetrics"][0]["Namespace"], "NS");
        assert_eq!(
            doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            serde_json::json!([["Action"]])
        );
        for m in METRICS {
            assert_eq!(doc[m], 0, "{m} present with zero");
        }
        assert!(doc.get("RevocationLatency").is_none());
    }
}
