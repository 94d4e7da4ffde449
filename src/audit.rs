//! Step 6: audit records, the product's contract with the SOC.
//!
//! One JSON line per key per invocation (and one per rejected request) on stdout, marked
//! `"log_type": "audit"`, schema `kms-material-guard/audit/v1` (`schema/audit-record.v1.json`).
//! Every field is always present (`null` when unknown) so consumers can rely on the shape.
//! Versioning: within v1 fields are only ever added (optional); a rename, removal or change of
//! meaning makes v2.

use std::io::Write;
use std::sync::Mutex;

use serde::Serialize;

use crate::event::Provenance;

/// The schema identifier stamped on every record.
pub const SCHEMA: &str = "kms-material-guard/audit/v1";
/// The marker separating audit records from diagnostic logs.
pub const LOG_TYPE: &str = "audit";

/// What the function was doing for the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// An incident or direct revocation request.
    Revoke,
    /// The sweep revoking a key whose `kms-material-guard:revoke-at` time has passed.
    ScheduledRevoke,
    /// A KMS expiry event: KMS deleted the material itself.
    ObserveExpiry,
    /// The sweep reporting on a key (expiring material, malformed tags, crypto-periods).
    Sweep,
    /// Completing a staged rotation (RotateKeyOnDemand) of imported material.
    Rotate,
    /// A `KMS CMK Rotation` event for an in-scope EXTERNAL key.
    ObserveRotation,
}

impl Action {
    /// The snake_case name used in records, responses and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Revoke => "revoke",
            Action::ScheduledRevoke => "scheduled_revoke",
            Action::ObserveExpiry => "observe_expiry",
            Action::Sweep => "sweep",
            Action::Rotate => "rotate",
            Action::ObserveRotation => "observe_rotation",
        }
    }
}

/// The result for one key (or a rejected request). Stable names: part of the schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Material deleted; DescribeKey confirmed `PendingImport`.
    Revoked,
    /// Material deleted (the delete call succeeded) but the verification DescribeKey failed.
    RevokedUnverified,
    /// A material that was only pending rotation was deleted; the key stays usable.
    MaterialDeleted,
    /// Dry run: everything up to the delete call passed.
    WouldRevoke,
    /// The key was already `PendingImport`; nothing to delete.
    AlreadyRevoked,
    /// The key is pending deletion; deleting material would not change its state.
    UnchangedPendingDeletion,
    /// The key's origin is not EXTERNAL (no imported material to delete).
    SkippedNotExternal,
    /// Another identifier in the same request already named this key.
    SkippedDuplicate,
    /// The key is not in the configured scope.
    RefusedOutOfScope,
    /// The key ARN belongs to another account.
    RefusedCrossAccount,
    /// The key ARN belongs to another Region.
    RefusedOtherRegion,
    /// The request selected more keys than the blast-radius limit; nothing was deleted.
    RefusedBlastRadius,
    /// The event or request was invalid; no KMS call was made.
    Rejected,
    /// The key identifier is malformed; no KMS call was made.
    RejectedInvalidIdentifier,
    /// KMS does not know the key.
    NotFound,
    /// A final KMS error (retrying would not help).
    Failed,
    /// A retryable error persisted within the invocation; the invocation fails so it is retried.
    FailedRetryable,
    /// Not attempted: the invocation's deadline was too close. A retry completes it.
    Deferred,
    /// Not attempted before the deadline; a new invocation of the function continues with it
    /// (`error_message` names it).
    Continued,
    /// KMS deleted expired material (expiry event).
    Expired,
    /// The sweep found material expiring within the warning window.
    ExpiringSoon,
    /// The sweep found a malformed `kms-material-guard:revoke-at` tag; nothing was done.
    InvalidRevokeAt,
    /// A staged (`PENDING_ROTATION`) material was made current with RotateKeyOnDemand.
    Rotated,
    /// Dry run: a staged material would have been made current.
    WouldRotate,
    /// Nothing was pending rotation (already completed, or never staged); nothing was done.
    NothingToRotate,
    /// The current material is older than its crypto-period: new material is needed.
    RotationDue,
    /// KMS reported a rotation of an in-scope EXTERNAL key (`KMS CMK Rotation`).
    RotationObserved,
    /// A tag the function reads (crypto-period, rotation opt-in) is malformed; nothing was done.
    InvalidTag,
}

impl Outcome {
    /// The snake_case name used in records and responses.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Revoked => "revoked",
            Outcome::RevokedUnverified => "revoked_unverified",
            Outcome::MaterialDeleted => "material_deleted",
            Outcome::WouldRevoke => "would_revoke",
            Outcome::AlreadyRevoked => "already_revoked",
            Outcome::UnchangedPendingDeletion => "unchanged_pending_deletion",
            Outcome::SkippedNotExternal => "skipped_not_external",
            Outcome::SkippedDuplicate => "skipped_duplicate",
            Outcome::RefusedOutOfScope => "refused_out_of_scope",
            Outcome::RefusedCrossAccount => "refused_cross_account",
            Outcome::RefusedOtherRegion => "refused_other_region",
            Outcome::RefusedBlastRadius => "refused_blast_radius",
            Outcome::Rejected => "rejected",
            Outcome::RejectedInvalidIdentifier => "rejected_invalid_identifier",
            Outcome::NotFound => "not_found",
            Outcome::Failed => "failed",
            Outcome::FailedRetryable => "failed_retryable",
            Outcome::Deferred => "deferred",
            Outcome::Continued => "continued",
            Outcome::Expired => "expired",
            Outcome::ExpiringSoon => "expiring_soon",
            Outcome::InvalidRevokeAt => "invalid_revoke_at",
            Outcome::Rotated => "rotated",
            Outcome::WouldRotate => "would_rotate",
            Outcome::NothingToRotate => "nothing_to_rotate",
            Outcome::RotationDue => "rotation_due",
            Outcome::RotationObserved => "rotation_observed",
            Outcome::InvalidTag => "invalid_tag",
        }
    }

    /// Whether this outcome makes the invocation fail so that it is retried.
    pub fn is_retryable(self) -> bool {
        matches!(self, Outcome::FailedRetryable | Outcome::Deferred)
    }
}

/// One audit record. Field order is the documented order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditRecord {
    pub log_type: &'static str,
    pub schema: &'static str,
    /// RFC 3339 UTC with milliseconds.
    pub timestamp: String,
    pub action: Action,
    pub outcome: Outcome,
    pub dry_run: bool,
    /// `tagged` or `all-external`: the scope the decision was made under.
    pub scope_mode: &'static str,
    /// The key as the requester or event named it.
    pub key: Option<String>,
    pub key_arn: Option<String>,
    pub key_id: Option<String>,
    pub account: Option<String>,
    pub region: Option<String>,
    pub key_material_id: Option<String>,
    pub state_before: Option<String>,
    pub state_after: Option<String>,
    /// Earliest `ValidTo` of the key's material, when it expires (RFC 3339).
    pub valid_to: Option<String>,
    pub reason: Option<String>,
    pub incident_id: Option<String>,
    pub requested_by: Option<String>,
    pub trigger: Provenance,
    pub function_request_id: String,
    pub xray_trace_id: Option<String>,
    /// The request id of every KMS call made for this key (joins CloudTrail's `requestID`).
    pub kms_request_ids: Vec<String>,
    /// KMS call attempts made for this key.
    pub attempts: u32,
    pub duration_ms: u64,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    /// The material that was current before a rotation (`rotated`, `rotation_observed`).
    pub previous_key_material_id: Option<String>,
    /// Every material of the key after the action (ListKeyRotations with ALL_KEY_MATERIAL), for
    /// EXTERNAL keys that were revoked, rotated or checked for a crypto-period; `null` when not
    /// listed.
    pub materials: Option<Vec<Material>>,
}

/// One key material as ListKeyRotations shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Material {
    pub key_material_id: Option<String>,
    /// `CURRENT`, `NON_CURRENT`, `PENDING_ROTATION`, `PENDING_MULTI_REGION_IMPORT_AND_ROTATION`.
    pub key_material_state: Option<String>,
    /// `IMPORTED` or `PENDING_IMPORT` (deleted or expired).
    pub import_state: Option<String>,
    pub expiration_model: Option<String>,
    pub valid_to: Option<String>,
    pub rotation_date: Option<String>,
    pub description: Option<String>,
}

/// Where audit records go. The function writes them to stdout; tests collect them.
pub trait AuditSink: Send + Sync {
    /// Records one audit record. Must not fail the revocation.
    fn emit(&self, record: &AuditRecord);

    /// Records the per-invocation summary of a revocation request (schema
    /// `kms-material-guard/summary/v1`, `schema/revocation-summary.v1.json`).
    fn emit_summary(&self, _summary: &serde_json::Value) {}

    /// Delivers anything buffered (called before each invocation returns). Never fails: a sink
    /// reports its own delivery problems.
    fn flush(&self) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>> {
        Box::pin(async {})
    }
}

/// Writes each record as one JSON line on stdout, flushed immediately so a record is never lost
/// when the invocation later fails or times out.
#[derive(Debug, Default)]
pub struct StdoutSink;

impl AuditSink for StdoutSink {
    fn emit(&self, record: &AuditRecord) {
        match serde_json::to_string(record) {
            Ok(line) => write_line(&line),
            Err(e) => tracing::error!(error = %e, "could not serialise audit record"),
        }
    }

    fn emit_summary(&self, summary: &serde_json::Value) {
        write_line(&summary.to_string());
    }
}

fn write_line(line: &str) {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    // A closed stdout cannot be reported anywhere better than tracing.
    if let Err(e) = writeln!(out, "{line}").and_then(|_| out.flush()) {
        tracing::error!(error = %e, "could not write to stdout");
    }
}

/// Collects records in memory (tests, the drill, benchmarks).
#[derive(Debug, Default)]
pub struct MemorySink {
    records: Mutex<Vec<AuditRecord>>,
    summaries: Mutex<Vec<serde_json::Value>>,
}

impl MemorySink {
    pub fn new() -> Self {
        Self::default()
    }
    /// A copy of every record emitted so far.
    pub fn records(&self) -> Vec<AuditRecord> {
        self.records.lock().map(|r| r.clone()).unwrap_or_default()
    }
    /// Every summary emitted so far.
    pub fn summaries(&self) -> Vec<serde_json::Value> {
        self.summaries.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// Removes and returns every record emitted so far.
    pub fn take(&self) -> Vec<AuditRecord> {
        self.records
            .lock()
            .map(|mut r| std::mem::take(&mut *r))
            .unwrap_or_default()
    }
}

impl AuditSink for MemorySink {
    fn emit(&self, record: &AuditRecord) {
        if let Ok(mut r) = self.records.lock() {
            r.push(record.clone());
        }
    }

    fn emit_summary(&self, summary: &serde_json::Value) {
        if let Ok(mut s) = self.summaries.lock() {
            s.push(summary.clone());
        }
    }
}

/// Sends every record to several sinks.
pub struct Tee(pub Vec<std::sync::Arc<dyn AuditSink>>);

impl AuditSink for Tee {
    fn emit(&self, record: &AuditRecord) {
        for sink in &self.0 {
            sink.emit(record);
        }
    }

    fn emit_summary(&self, summary: &serde_json::Value) {
        for sink in &self.0 {
            sink.emit_summary(summary);
        }
    }

    fn flush(&self) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>> {
        Box::pin(async move {
            for sink in &self.0 {
                sink.flush().await;
            }
        })
    }
}

/// RFC 3339 UTC with milliseconds.
pub fn rfc3339(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
