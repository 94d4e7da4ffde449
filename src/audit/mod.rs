//! Audit records, the product's contract with the SOC: one per key per invocation (and one per
//! rejected request), built from the domain's [`KeyResult`] and the invocation's context.
//!
//! One JSON line per record on stdout, marked `"log_type": "audit"`, schema
//! `kms-material-guard/audit/v1` (`schema/audit-record.v1.json`). Every field is always present
//! (`null` when unknown) so consumers can rely on the shape. Versioning: within v1 fields are
//! only ever added (optional); a rename, removal or change of meaning makes v2.

mod sink;
pub mod summary;

use std::sync::Mutex;

use chrono::Utc;
use serde::Serialize;

use crate::domain::{Action, Invocation, KeyResult, Material, Outcome, Provenance, rfc3339};
use crate::metrics::Sample;
use crate::request::RevocationRequest;

pub use sink::{AuditSink, Flushing, MemorySink, StdoutSink, Tee};

/// The schema identifier stamped on every record.
pub const SCHEMA: &str = "kms-material-guard/audit/v1";
/// The marker separating audit records from diagnostic logs.
pub const LOG_TYPE: &str = "audit";

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
    /// Why `materials` is `null` although the record wanted them: the best-effort listing
    /// failed or timed out (it never changes the outcome). `null` otherwise.
    pub materials_error: Option<String>,
}

/// Writes the records of one invocation: each built from a key's result and the context every
/// record of the invocation shares, and written as soon as the key is done.
pub struct Recorder<'a> {
    sink: &'a dyn AuditSink,
    inv: &'a Invocation,
    scope_mode: &'static str,
    provenance: Provenance,
    dry_run: bool,
    reason: Option<String>,
    incident_id: Option<String>,
    requested_by: Option<String>,
    /// What the metrics need of every record written.
    samples: Mutex<Vec<Sample>>,
}

impl<'a> Recorder<'a> {
    pub fn new(sink: &'a dyn AuditSink, inv: &'a Invocation, scope_mode: &'static str) -> Self {
        Recorder {
            sink,
            inv,
            scope_mode,
            provenance: Provenance::default(),
            dry_run: false,
            reason: None,
            incident_id: None,
            requested_by: None,
            samples: Mutex::new(Vec::new()),
        }
    }

    /// Where the invocation came from.
    pub fn provenance(&mut self, provenance: Provenance) {
        self.provenance = provenance;
    }

    /// Whether the invocation is a dry run.
    pub fn dry_run(&mut self, dry_run: bool) {
        self.dry_run = dry_run;
    }

    /// The request every key's record names (reason, incident, requester).
    pub fn request(&mut self, req: &RevocationRequest) {
        self.reason = Some(req.reason.clone());
        self.incident_id = Some(req.incident_id.clone());
        self.requested_by = req.requested_by.clone();
    }

    pub fn invocation(&self) -> &Invocation {
        self.inv
    }

    pub fn trigger(&self) -> &Provenance {
        &self.provenance
    }

    /// Writes the record of one key (a summary line in the log too).
    pub fn record(&self, result: &KeyResult) {
        tracing::info!(
            key = result.facts.requested.as_deref().unwrap_or_default(),
            key_arn = result.facts.arn.as_deref().unwrap_or_default(),
            outcome = result.outcome.as_str(),
            error_code = result.error_code.as_deref().unwrap_or_default(),
            "key done"
        );
        let record = self.build(result);
        self.sink.emit(&record);
        if let Ok(mut s) = self.samples.lock() {
            s.push(Sample {
                action: record.action,
                outcome: record.outcome,
                duration_ms: record.duration_ms,
            });
        }
    }

    /// Writes a per-invocation summary document.
    pub fn summary(&self, doc: &serde_json::Value) {
        self.sink.emit_summary(doc);
    }

    /// What the metrics need of every record written.
    pub fn into_samples(self) -> Vec<Sample> {
        self.samples.into_inner().unwrap_or_else(|p| p.into_inner())
    }

    fn build(&self, r: &KeyResult) -> AuditRecord {
        let f = &r.facts;
        AuditRecord {
            log_type: LOG_TYPE,
            schema: SCHEMA,
            timestamp: rfc3339(Utc::now()),
            action: f.action,
            outcome: r.outcome,
            dry_run: self.dry_run,
            scope_mode: self.scope_mode,
            key: f.requested.clone(),
            key_arn: f.arn.clone(),
            key_id: f.key_id.clone(),
            account: f.account.clone(),
            region: f.region.clone(),
            key_material_id: f.key_material_id.clone(),
            state_before: f.state_before.clone(),
            state_after: f.state_after.clone(),
            valid_to: f.valid_to.map(rfc3339),
            reason: f.reason.clone().or_else(|| self.reason.clone()),
            incident_id: f.incident_id.clone().or_else(|| self.incident_id.clone()),
            requested_by: self.requested_by.clone(),
            trigger: self.provenance.clone(),
            function_request_id: self.inv.request_id.clone(),
            xray_trace_id: self.inv.xray_trace_id.clone(),
            kms_request_ids: f.trace.request_ids.clone(),
            attempts: f.trace.attempts,
            duration_ms: r.duration.as_millis() as u64,
            error_code: r.error_code.clone(),
            error_message: r.error_message.clone(),
            previous_key_material_id: f.previous_key_material_id.clone(),
            materials: f.materials.clone(),
            materials_error: f.materials_error.clone(),
        }
    }
}
