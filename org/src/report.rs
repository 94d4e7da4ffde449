//! The consolidated report of one incident across the organization.
//!
//! Input: the members' audit records (`kms-material-guard/audit/v1`) and per-invocation
//! summaries (`kms-material-guard/summary/v1`), as JSON, in any of these shapes (mixed freely):
//! - bare records, one per line (a log group's messages, the function's stdout);
//! - EventBridge envelopes whose `detail` is the record (an archive, a log group target of the
//!   central bus): `detail-type` `Key Material Audit Record` / `Key Material Revocation Summary`;
//!   `Key Material Revocation Requested` envelopes (the request itself) tell the report which
//!   members the request targets;
//! - several JSON values on one line separated by tabs (`aws logs filter-log-events --query
//!   'events[].message' --output text`), a JSON array of records or of message strings, or the
//!   whole `filter-log-events` answer (`{"events": [{"message": "..."}]}`);
//! - a line that is a JSON string holding a record.
//!
//! Lines that are not JSON objects of these kinds (other log lines, EMF metrics) are counted as
//! ignored. Records are deduplicated (the same record from two sources counts once).
//!
//! The inventory lists the member deployments expected to answer: `{"members": [{"account",
//! "region", "organizationalUnits": [...]}]}`, a bare array of those, or the JSON answer of
//! `aws cloudformation list-stack-instances` (`{"Summaries": [{"Account", "Region",
//! "OrganizationalUnitId", "Status"}]}`).

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::aws::{MemberId, is_account, is_region};

/// `detail-type` of audit records on EventBridge.
pub const AUDIT_DETAIL_TYPE: &str = "Key Material Audit Record";
/// `detail-type` of per-invocation summaries on EventBridge.
pub const SUMMARY_DETAIL_TYPE: &str = "Key Material Revocation Summary";
/// `detail-type` of revocation requests.
pub const REQUEST_DETAIL_TYPE: &str = "Key Material Revocation Requested";

/// Outcomes that leave a key waiting for another invocation.
pub const PENDING_OUTCOMES: [&str; 3] = ["failed_retryable", "deferred", "continued"];
/// Outcomes a later `already_revoked` does not replace (the same revocation seen again).
const REVOKING_OUTCOMES: [&str; 3] = ["revoked", "revoked_unverified", "material_deleted"];
/// Outcomes that need a human (final errors).
pub const FAILED_OUTCOMES: [&str; 3] = ["failed", "not_found", "refused_blast_radius"];

/// The report's input problems.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("inventory: {0}")]
    Inventory(String),
}

// ------------------------------------------------------------------------------------------
// Inventory
// ------------------------------------------------------------------------------------------

/// One expected member deployment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InventoryMember {
    pub account: String,
    pub region: String,
    #[serde(rename = "organizationalUnits")]
    pub organizational_units: Vec<String>,
    /// The stack instance status, when the inventory came from `list-stack-instances`.
    #[serde(rename = "stackStatus", skip_serializing_if = "Option::is_none")]
    pub stack_status: Option<String>,
}

/// The member deployments expected to answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Inventory {
    pub members: Vec<InventoryMember>,
}

impl Inventory {
    /// Parses one of the accepted inventory shapes (module documentation).
    pub fn parse(text: &str) -> Result<Inventory, ReportError> {
        let v: Value = serde_json::from_str(text)
            .map_err(|e| ReportError::Inventory(format!("not JSON: {e}")))?;
        let (items, style) = match &v {
            Value::Array(a) => (a.as_slice(), Style::Ours),
            Value::Object(o) => match (o.get("members"), o.get("Summaries")) {
                (Some(Value::Array(a)), _) => (a.as_slice(), Style::Ours),
                (_, Some(Value::Array(a))) => (a.as_slice(), Style::StackInstances),
                _ => {
                    return Err(ReportError::Inventory(
                        "expected {\"members\": [...]}, an array, or the answer of aws cloudformation list-stack-instances ({\"Summaries\": [...]})".into(),
                    ));
                }
            },
            _ => {
                return Err(ReportError::Inventory(
                    "expected a JSON object or array".into(),
                ));
            }
        };
        let mut by_member: BTreeMap<MemberId, InventoryMember> = BTreeMap::new();
        for (i, item) in items.iter().enumerate() {
            let (ka, kr) = match style {
                Style::Ours => ("account", "region"),
                Style::StackInstances => ("Account", "Region"),
            };
            let account = item.get(ka).and_then(Value::as_str).unwrap_or_default();
            let region = item.get(kr).and_then(Value::as_str).unwrap_or_default();
            if !is_account(account) || !is_region(region) {
                return Err(ReportError::Inventory(format!(
                    "entry {i}: needs a 12-digit \"{ka}\" and a Region \"{kr}\", got {:?} / {:?}",
                    short(account),
                    short(region)
                )));
            }
            let ous: Vec<String> = match style {
                Style::Ours => match item.get("organizationalUnits") {
                    None | Some(Value::Null) => Vec::new(),
                    Some(Value::Array(a)) => a
                        .iter()
                        .map(|u| {
                            u.as_str().map(str::to_string).ok_or_else(|| {
                                ReportError::Inventory(format!(
                                    "entry {i}: organizationalUnits must be strings"
                                ))
                            })
                        })
                        .collect::<Result<_, _>>()?,
                    Some(_) => {
                        return Err(ReportError::Inventory(format!(
                            "entry {i}: organizationalUnits must be an array"
                        )));
                    }
                },
                Style::StackInstances => item
                    .get("OrganizationalUnitId")
                    .and_then(Value::as_str)
                    .map(|s| vec![s.to_string()])
                    .unwrap_or_default(),
            };
            let status = match style {
                Style::Ours => None,
                Style::StackInstances => item
                    .get("StackInstanceStatus")
                    .and_then(|s| s.get("DetailedStatus"))
                    .or_else(|| item.get("Status"))
                    .and_then(Value::as_str)
                    .map(str::to_string),
            };
            let entry = by_member
                .entry(MemberId::new(account, region))
                .or_insert_with(|| InventoryMember {
                    account: account.to_string(),
                    region: region.to_string(),
                    organizational_units: Vec::new(),
                    stack_status: status.clone(),
                });
            for u in ous {
                if !entry.organizational_units.contains(&u) {
                    entry.organizational_units.push(u);
                }
            }
        }
        Ok(Inventory {
            members: by_member.into_values().collect(),
        })
    }

    fn get(&self, m: &MemberId) -> Option<&InventoryMember> {
        self.members
            .iter()
            .find(|x| x.account == m.account && x.region == m.region)
    }
}

enum Style {
    Ours,
    StackInstances,
}

// ------------------------------------------------------------------------------------------
// Input
// ------------------------------------------------------------------------------------------

/// An audit record, as far as the report reads it.
#[derive(Debug, Clone, PartialEq)]
struct AuditView {
    incident_id: Option<String>,
    outcome: String,
    dry_run: bool,
    key: Option<String>,
    key_arn: Option<String>,
    account: Option<String>,
    region: Option<String>,
    timestamp: Option<DateTime<Utc>>,
    function_request_id: Option<String>,
    error_code: Option<String>,
    error_message: Option<String>,
    /// `trigger.event_id`: attributes a `rejected` record (which has no incident id, the request
    /// did not parse) to the request event.
    trigger_event_id: Option<String>,
    /// (account, Region) of the EventBridge envelope it came in.
    envelope: Option<(String, String)>,
    order: usize,
}

/// A per-invocation summary, as far as the report reads it.
#[derive(Debug, Clone, PartialEq)]
struct SummaryView {
    member: MemberId,
    incident_id: Option<String>,
    dry_run: bool,
    targeted: Option<bool>,
    complete: bool,
    error_type: Option<String>,
    continued_by: Option<String>,
    function_request_id: Option<String>,
    /// The request event the invocation worked on (`trigger.event_id`); Lambda's retries,
    /// EventBridge's redeliveries and continuations share it.
    event_id: Option<String>,
    /// `trigger.continuation_of`: the invocation this one continues.
    continuation_of: Option<String>,
    counts: BTreeMap<String, u64>,
    timestamp: Option<DateTime<Utc>>,
    order: usize,
}

/// A revocation request seen in the input (its targets decide who must act).
#[derive(Debug, Clone, PartialEq)]
struct RequestView {
    /// The request event's id (when it came as an envelope).
    event_id: Option<String>,
    incident_id: Option<String>,
    dry_run: bool,
    targets: Option<Targets>,
}

/// The `targets` of an organization request: the function's own type, so the report decides
/// "is this member targeted" by exactly the rule the members apply.
pub use kms_material_guard::request::Targets;

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

/// What the input held.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct InputStats {
    pub lines: usize,
    pub audit_records: usize,
    pub summaries: usize,
    pub requests: usize,
    pub duplicates: usize,
    /// JSON values that are neither records, summaries nor requests (other log lines, metrics).
    pub ignored: usize,
    /// Text that looked like JSON but did not parse.
    pub unreadable: usize,
}

/// Parsed report input (any number of sources added one after the other).
#[derive(Debug, Default)]
pub struct Input {
    audits: Vec<AuditView>,
    summaries: Vec<SummaryView>,
    requests: Vec<RequestView>,
    seen: HashSet<String>,
    order: usize,
    pub stats: InputStats,
}

impl Input {
    pub fn new() -> Self {
        Input::default()
    }

    /// Parses one source's text.
    pub fn from_text(text: &str) -> Self {
        let mut input = Input::new();
        input.add_text(text);
        input
    }

    /// Adds one source's text (module documentation: accepted shapes).
    pub fn add_text(&mut self, text: &str) {
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return;
        }
        // The whole text as one JSON document (an array, filter-log-events' answer), when it
        // is not simply one record per line.
        if (trimmed.starts_with('[') || trimmed.starts_with('{'))
            && let Ok(v) = serde_json::from_str::<Value>(trimmed)
        {
            self.stats.lines += trimmed.lines().count();
            self.add_value(&v, 0);
            return;
        }
        for line in trimmed.lines() {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            self.stats.lines += 1;
            match serde_json::from_str::<Value>(line) {
                Ok(v) => self.add_value(&v, 0),
                Err(_) => {
                    for piece in line.split('\t').map(str::trim).filter(|p| !p.is_empty()) {
                        match serde_json::from_str::<Value>(piece) {
                            Ok(v) => self.add_value(&v, 0),
                            Err(_) if piece.starts_with('{') || piece.starts_with('[') => {
                                self.stats.unreadable += 1
                            }
                            Err(_) => self.stats.ignored += 1,
                        }
                    }
                }
            }
        }
    }

    fn add_value(&mut self, v: &Value, depth: usize) {
        if depth > 4 {
            self.stats.ignored += 1;
            return;
        }
        match v {
            Value::Array(items) => {
                for item in items {
                    self.add_value(item, depth + 1);
                }
            }
            Value::String(s) => match serde_json::from_str::<Value>(s) {
                Ok(inner @ (Value::Object(_) | Value::Array(_))) => {
                    self.add_value(&inner, depth + 1)
                }
                Ok(_) => self.stats.ignored += 1,
                Err(_) if s.trim_start().starts_with('{') => self.stats.unreadable += 1,
                Err(_) => self.stats.ignored += 1,
            },
            Value::Object(o) => self.add_object(o, depth),
            _ => self.stats.ignored += 1,
        }
    }

    fn add_object(&mut self, o: &Map<String, Value>, depth: usize) {
        // filter-log-events' answer, or a log event.
        if let Some(Value::Array(events)) = o.get("events") {
            for e in events {
                match e.get("message") {
                    Some(m) => self.add_value(m, depth + 1),
                    None => self.stats.ignored += 1,
                }
            }
            return;
        }
        if let (Some(Value::String(dt)), Some(detail @ Value::Object(_))) =
            (o.get("detail-type"), o.get("detail"))
        {
            let envelope = match (o.get("account"), o.get("region")) {
                (Some(Value::String(a)), Some(Value::String(r))) => Some((a.clone(), r.clone())),
                _ => None,
            };
            match dt.as_str() {
                AUDIT_DETAIL_TYPE => self.add_audit(detail, envelope),
                SUMMARY_DETAIL_TYPE => self.add_summary(detail),
                REQUEST_DETAIL_TYPE => {
                    self.add_request(detail, text(&Value::Object(o.clone()), "id"))
                }
                _ => self.stats.ignored += 1,
            }
            return;
        }
        // A PutEvents entry (`aws events put-events --entries file://entries.json`): the
        // responder's own request file.
        if let (Some(Value::String(dt)), Some(Value::String(detail))) =
            (o.get("DetailType"), o.get("Detail"))
        {
            match (dt.as_str(), serde_json::from_str::<Value>(detail)) {
                (REQUEST_DETAIL_TYPE, Ok(d @ Value::Object(_))) => self.add_request(&d, None),
                (AUDIT_DETAIL_TYPE, Ok(d @ Value::Object(_))) => self.add_audit(&d, None),
                (SUMMARY_DETAIL_TYPE, Ok(d @ Value::Object(_))) => self.add_summary(&d),
                (_, Err(_)) => self.stats.unreadable += 1,
                _ => self.stats.ignored += 1,
            }
            return;
        }
        match o.get("log_type").and_then(Value::as_str) {
            Some("audit") => self.add_audit(&Value::Object(o.clone()), None),
            Some("summary") => self.add_summary(&Value::Object(o.clone())),
            _ => match o.get("message") {
                // A structured log line wrapping the record.
                Some(m @ (Value::Object(_) | Value::String(_))) => self.add_value(m, depth + 1),
                _ => self.stats.ignored += 1,
            },
        }
    }

    fn first_time(&mut self, v: &Value, kind: &str) -> bool {
        let key = format!("{kind}:{v}");
        if self.seen.insert(key) {
            true
        } else {
            self.stats.duplicates += 1;
            false
        }
    }

    fn add_audit(&mut self, d: &Value, envelope: Option<(String, String)>) {
        let Some(outcome) = d.get("outcome").and_then(Value::as_str) else {
            self.stats.ignored += 1;
            return;
        };
        if !self.first_time(d, "audit") {
            return;
        }
        self.order += 1;
        self.stats.audit_records += 1;
        self.audits.push(AuditView {
            incident_id: text(d, "incident_id"),
            outcome: outcome.to_string(),
            dry_run: d.get("dry_run").and_then(Value::as_bool).unwrap_or(false),
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
            order: self.order,
        });
    }

    fn add_summary(&mut self, d: &Value) {
        let (Some(account), Some(region)) = (text(d, "account"), text(d, "region")) else {
            self.stats.ignored += 1;
            return;
        };
        if !self.first_time(d, "summary") {
            return;
        }
        self.order += 1;
        self.stats.summaries += 1;
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
        self.summaries.push(SummaryView {
            member: MemberId::new(&account, &region),
            incident_id: text(d, "incident_id"),
            dry_run: d.get("dry_run").and_then(Value::as_bool).unwrap_or(false),
            targeted: d.get("targeted").and_then(Value::as_bool),
            complete: d.get("complete").and_then(Value::as_bool).unwrap_or(false),
            error_type: text(d, "error_type"),
            continued_by: text(d, "continued_by"),
            function_request_id: text(d, "function_request_id"),
            event_id: trigger.and_then(|t| text(t, "event_id")),
            continuation_of: trigger.and_then(|t| text(t, "continuation_of")),
            counts,
            timestamp: time(d, "timestamp"),
            order: self.order,
        });
    }

    fn add_request(&mut self, d: &Value, event_id: Option<String>) {
        if !self.first_time(d, "request") {
            return;
        }
        self.stats.requests += 1;
        self.requests.push(RequestView {
            event_id,
            incident_id: text(d, "incidentId"),
            dry_run: d.get("dryRun").and_then(Value::as_bool).unwrap_or(false),
            targets: d.get("targets").and_then(targets_from_json),
        });
    }

    /// Incident ids present in the input.
    pub fn incidents(&self) -> BTreeSet<String> {
        self.audits
            .iter()
            .filter_map(|a| a.incident_id.clone())
            .chain(self.summaries.iter().filter_map(|s| s.incident_id.clone()))
            .collect()
    }
}

fn text(v: &Value, name: &str) -> Option<String> {
    v.get(name).and_then(Value::as_str).map(str::to_string)
}

fn time(v: &Value, name: &str) -> Option<DateTime<Utc>> {
    v.get(name)
        .and_then(Value::as_str)
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
}

fn short(s: &str) -> String {
    s.chars().take(80).collect()
}

// ------------------------------------------------------------------------------------------
// Report
// ------------------------------------------------------------------------------------------

/// Dry run or the real revocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    DryRun,
    Live,
}

impl Phase {
    fn matches(self, dry_run: bool) -> bool {
        dry_run == (self == Phase::DryRun)
    }

    pub fn parse(s: &str) -> Option<Phase> {
        match s {
            "dry-run" | "dry_run" | "dryrun" => Some(Phase::DryRun),
            "live" => Some(Phase::Live),
            _ => None,
        }
    }
}

/// A member's state for the incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MemberStatus {
    /// Every invocation's work is done; no key waits.
    Complete,
    /// The member was not targeted (it said so, or the request's targets exclude it).
    NotTargeted,
    /// Keys or invocations still wait for a retry, a redelivery or a continuation.
    Pending,
    /// A final error (request rejected, blast radius, configuration): needs a human.
    Failed,
    /// Nothing heard from this member yet.
    NoAnswer,
}

impl MemberStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            MemberStatus::Complete => "complete",
            MemberStatus::NotTargeted => "not_targeted",
            MemberStatus::Pending => "pending",
            MemberStatus::Failed => "failed",
            MemberStatus::NoAnswer => "no_answer",
        }
    }
}

/// A key that still waits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PendingKey {
    pub key: String,
    pub outcome: String,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub timestamp: Option<String>,
}

/// The latest summary a member published.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LatestSummary {
    /// `complete`, `pending`, `failed` or `not_targeted`.
    pub state: String,
    pub function_request_id: Option<String>,
    pub timestamp: Option<String>,
    pub targeted: Option<bool>,
    pub error_type: Option<String>,
    pub continued_by: Option<String>,
    pub counts: BTreeMap<String, u64>,
}

/// One member's part of the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MemberReport {
    pub account: String,
    pub region: String,
    /// Listed in the inventory.
    pub expected: bool,
    /// Whether the request's targets include it (`null`: unknown).
    pub targeted: Option<bool>,
    pub status: MemberStatus,
    /// Keys per outcome, each key counted once with its resolved outcome.
    pub counts: BTreeMap<String, u64>,
    pub keys: u64,
    pub pending_keys: Vec<PendingKey>,
    pub latest_summary: Option<LatestSummary>,
    /// Distinct function request ids that answered.
    pub invocations: u64,
    pub records: u64,
}

/// The organization's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrganizationStatus {
    /// `done`, `pending` or `failed` (nothing pending, but a member needs a human).
    pub status: String,
    pub done: bool,
    pub members_expected: u64,
    pub complete: u64,
    pub not_targeted: u64,
    pub pending: u64,
    pub failed: u64,
    pub no_answer: u64,
    /// Members that answered but are not in the inventory.
    pub unexpected: u64,
    pub keys: u64,
    pub keys_pending: u64,
    /// Keys with a final error (`failed`, `not_found`, `refused_blast_radius`).
    pub keys_failed: u64,
    pub counts: BTreeMap<String, u64>,
}

/// The consolidated report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    pub incident_id: String,
    pub phase: Phase,
    pub organization: OrganizationStatus,
    pub members: Vec<MemberReport>,
    /// The request's targets, when the request itself was in the input.
    pub targets: Option<Targets>,
    pub input: InputStats,
    pub warnings: Vec<String>,
}

/// What to report.
#[derive(Debug, Clone)]
pub struct ReportOptions {
    pub incident_id: String,
    /// `None`: the live revocation if any of it is in the input, else the dry run.
    pub phase: Option<Phase>,
}

#[derive(Default)]
struct KeyTrack {
    latest: Option<AuditView>,
    terminal: Option<AuditView>,
}

impl KeyTrack {
    fn add(&mut self, r: &AuditView) {
        if !PENDING_OUTCOMES.contains(&r.outcome.as_str()) {
            let keep = self.terminal.as_ref().is_some_and(|t| {
                REVOKING_OUTCOMES.contains(&t.outcome.as_str()) && r.outcome == "already_revoked"
            });
            if !keep {
                self.terminal = Some(r.clone());
            }
        }
        self.latest = Some(r.clone());
    }

    fn resolved(&self) -> Option<&AuditView> {
        self.terminal.as_ref().or(self.latest.as_ref())
    }

    fn pending(&self) -> Option<&AuditView> {
        match (&self.terminal, &self.latest) {
            (None, Some(l)) if PENDING_OUTCOMES.contains(&l.outcome.as_str()) => Some(l),
            _ => None,
        }
    }
}

fn sort_key(t: &Option<DateTime<Utc>>, order: usize) -> (i64, u32, usize) {
    match t {
        Some(t) => (t.timestamp(), t.timestamp_subsec_nanos(), order),
        None => (i64::MIN, 0, order),
    }
}

fn rfc3339(t: &Option<DateTime<Utc>>) -> Option<String> {
    t.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}

const FINAL_ERROR_TYPES: [&str; 3] = [
    "KmsMaterialGuard.Rejected",
    "KmsMaterialGuard.RefusedBlastRadius",
    "KmsMaterialGuard.Configuration",
];

fn summary_state(s: &SummaryView) -> &'static str {
    if s.targeted == Some(false) {
        "not_targeted"
    } else if s
        .error_type
        .as_deref()
        .is_some_and(|e| FINAL_ERROR_TYPES.contains(&e))
    {
        // A blast-radius refusal has nothing pending (`complete`) but revoked nothing.
        "failed"
    } else if s.complete {
        "complete"
    } else {
        "pending"
    }
}

/// Builds the report of one incident.
pub fn build(input: &Input, inventory: Option<&Inventory>, opts: &ReportOptions) -> Report {
    let inc = opts.incident_id.as_str();
    let mut warnings = Vec::new();
    let of_incident = |i: &Option<String>| i.as_deref() == Some(inc);
    let phase = opts.phase.unwrap_or_else(|| {
        let live = input
            .audits
            .iter()
            .filter(|a| of_incident(&a.incident_id))
            .map(|a| a.dry_run)
            .chain(
                input
                    .summaries
                    .iter()
                    .filter(|s| of_incident(&s.incident_id))
                    .map(|s| s.dry_run),
            )
            .any(|d| !d);
        if live { Phase::Live } else { Phase::DryRun }
    });
    let mut summaries: Vec<&SummaryView> = input
        .summaries
        .iter()
        .filter(|s| of_incident(&s.incident_id) && phase.matches(s.dry_run))
        .collect();
    summaries.sort_by_key(|s| sort_key(&s.timestamp, s.order));
    // Request events of the incident: a member that rejected one wrote a `rejected` record
    // without incident id, naming the event in its trigger.
    let request_events: BTreeSet<&str> = input
        .requests
        .iter()
        .filter(|r| of_incident(&r.incident_id))
        .filter_map(|r| r.event_id.as_deref())
        .collect();
    let mut audits: Vec<&AuditView> = input
        .audits
        .iter()
        .filter(|a| {
            (of_incident(&a.incident_id) && phase.matches(a.dry_run))
                || (a.incident_id.is_none()
                    && a.outcome == "rejected"
                    && a.trigger_event_id
                        .as_deref()
                        .is_some_and(|e| request_events.contains(e)))
        })
        .collect();
    audits.sort_by_key(|a| sort_key(&a.timestamp, a.order));

    // Which member wrote a record: the summary of its invocation, else the record's own
    // account and Region (except for refusals naming another member's key), else the envelope.
    let by_request: BTreeMap<&str, &MemberId> = summaries
        .iter()
        .filter_map(|s| s.function_request_id.as_deref().map(|r| (r, &s.member)))
        .collect();
    let member_of = |a: &AuditView| -> Option<MemberId> {
        if let Some(m) = a
            .function_request_id
            .as_deref()
            .and_then(|r| by_request.get(r))
        {
            return Some((*m).clone());
        }
        let refusal = matches!(
            a.outcome.as_str(),
            "refused_cross_account" | "refused_other_region"
        );
        match (&a.account, &a.region) {
            (Some(acc), Some(reg)) if !refusal => Some(MemberId::new(acc, reg)),
            _ => a
                .envelope
                .as_ref()
                .map(|(acc, reg)| MemberId::new(acc, reg)),
        }
    };

    #[derive(Default)]
    struct Acc<'a> {
        keys: BTreeMap<String, KeyTrack>,
        summaries: Vec<&'a SummaryView>,
        requests: BTreeSet<String>,
        records: u64,
    }
    let mut members: BTreeMap<MemberId, Acc> = BTreeMap::new();
    let mut unattributed = 0;
    for a in &audits {
        let Some(m) = member_of(a) else {
            unattributed += 1;
            continue;
        };
        let acc = members.entry(m).or_default();
        acc.records += 1;
        if let Some(r) = &a.function_request_id {
            acc.requests.insert(r.clone());
        }
        let key = a
            .key_arn
            .clone()
            .or_else(|| a.key.clone())
            .unwrap_or_else(|| {
                format!(
                    "(request {})",
                    a.function_request_id.as_deref().unwrap_or("?")
                )
            });
        acc.keys.entry(key).or_default().add(a);
    }
    if unattributed > 0 {
        warnings.push(format!(
            "{unattributed} audit records name no member (no account, Region or envelope) and are left out"
        ));
    }
    for s in &summaries {
        let acc = members.entry(s.member.clone()).or_default();
        if let Some(r) = &s.function_request_id {
            acc.requests.insert(r.clone());
        }
        acc.summaries.push(s);
    }

    let targets: Option<Targets> = input
        .requests
        .iter()
        .filter(|r| of_incident(&r.incident_id) && phase.matches(r.dry_run))
        .filter_map(|r| r.targets.clone())
        .next_back();

    let expected: BTreeSet<MemberId> = match inventory {
        Some(inv) => inv
            .members
            .iter()
            .map(|m| MemberId::new(&m.account, &m.region))
            .collect(),
        None => {
            warnings.push(
                "no inventory: members that never answered cannot be seen; pass --inventory".into(),
            );
            members.keys().cloned().collect()
        }
    };
    if let Some(inv) = inventory {
        for m in &inv.members {
            if let Some(st) = &m.stack_status
                && !matches!(st.as_str(), "CURRENT" | "SUCCEEDED")
            {
                warnings.push(format!(
                    "stack instance {}/{} is {st}: the member may run an older version or none",
                    m.account, m.region
                ));
            }
        }
    }

    let all: BTreeSet<MemberId> = expected
        .iter()
        .cloned()
        .chain(members.keys().cloned())
        .collect();
    let mut reports = Vec::new();
    for m in all {
        let acc = members.remove(&m).unwrap_or_default();
        let units: Vec<String> = inventory
            .and_then(|i| i.get(&m))
            .map(|i| i.organizational_units.clone())
            .unwrap_or_default();
        let answered_targeted = acc.summaries.iter().filter_map(|s| s.targeted).next_back();
        let targeted = answered_targeted.or_else(|| {
            targets
                .as_ref()
                .map(|t| t.includes(&m.account, &units, &m.region))
        });
        let mut counts: BTreeMap<String, u64> = BTreeMap::new();
        let mut pending_keys = Vec::new();
        for (key, track) in &acc.keys {
            if let Some(r) = track.resolved() {
                *counts.entry(r.outcome.clone()).or_insert(0) += 1;
            }
            if let Some(p) = track.pending() {
                pending_keys.push(PendingKey {
                    key: key.clone(),
                    outcome: p.outcome.clone(),
                    error_code: p.error_code.clone(),
                    error_message: p.error_message.clone(),
                    timestamp: rfc3339(&p.timestamp),
                });
            }
        }
        // Invocations of the same request (retries, redeliveries, continuations) share its
        // trigger: the request is done when one of them completed it. Without an event id (a
        // direct invocation), a continuation chain is one request.
        let parent: BTreeMap<&str, &str> = acc
            .summaries
            .iter()
            .filter_map(|s| {
                Some((
                    s.function_request_id.as_deref()?,
                    s.continuation_of.as_deref()?,
                ))
            })
            .collect();
        let root = |s: &SummaryView| -> String {
            if let Some(e) = &s.event_id {
                return e.clone();
            }
            let mut id = s
                .continuation_of
                .as_deref()
                .or(s.function_request_id.as_deref())
                .unwrap_or_default();
            for _ in 0..64 {
                match parent.get(id) {
                    Some(p) => id = p,
                    None => break,
                }
            }
            id.to_string()
        };
        let mut groups: BTreeMap<String, Vec<&SummaryView>> = BTreeMap::new();
        for s in &acc.summaries {
            groups.entry(root(s)).or_default().push(s);
        }
        let group_state = |g: &Vec<&SummaryView>| -> &'static str {
            if g.iter().all(|s| s.targeted == Some(false)) {
                "not_targeted"
            } else if g.iter().any(|s| summary_state(s) == "complete") {
                "complete"
            } else {
                g.last().map(|s| summary_state(s)).unwrap_or("pending")
            }
        };
        let states: Vec<&str> = groups.values().map(group_state).collect();
        let rejected = acc
            .keys
            .values()
            .any(|t| t.resolved().is_some_and(|r| r.outcome == "rejected"));
        let status = if acc.summaries.is_empty() && acc.keys.is_empty() {
            if targeted == Some(false) {
                MemberStatus::NotTargeted
            } else {
                MemberStatus::NoAnswer
            }
        } else if states.contains(&"failed") || (rejected && !states.contains(&"complete")) {
            MemberStatus::Failed
        } else if !pending_keys.is_empty() || states.is_empty() || states.contains(&"pending") {
            MemberStatus::Pending
        } else if states.iter().all(|s| *s == "not_targeted") {
            MemberStatus::NotTargeted
        } else {
            MemberStatus::Complete
        };
        let latest_summary = acc.summaries.last().map(|s| LatestSummary {
            state: summary_state(s).to_string(),
            function_request_id: s.function_request_id.clone(),
            timestamp: rfc3339(&s.timestamp),
            targeted: s.targeted,
            error_type: s.error_type.clone(),
            continued_by: s.continued_by.clone(),
            counts: s.counts.clone(),
        });
        reports.push(MemberReport {
            expected: expected.contains(&m),
            account: m.account,
            region: m.region,
            targeted,
            status,
            keys: counts.values().sum(),
            counts,
            pending_keys,
            latest_summary,
            invocations: acc.requests.len() as u64,
            records: acc.records,
        });
    }

    let count = |st: MemberStatus| {
        reports
            .iter()
            .filter(|r| r.expected && r.status == st)
            .count() as u64
    };
    let mut total: BTreeMap<String, u64> = BTreeMap::new();
    for r in &reports {
        for (o, n) in &r.counts {
            *total.entry(o.clone()).or_insert(0) += n;
        }
    }
    let keys_pending: u64 = reports.iter().map(|r| r.pending_keys.len() as u64).sum();
    let keys_failed: u64 = FAILED_OUTCOMES
        .iter()
        .map(|o| total.get(*o).copied().unwrap_or(0))
        .sum();
    let (pending, no_answer, failed) = (
        count(MemberStatus::Pending),
        count(MemberStatus::NoAnswer),
        count(MemberStatus::Failed),
    );
    let unexpected = reports.iter().filter(|r| !r.expected).count() as u64;
    let unexpected_pending = reports
        .iter()
        .any(|r| !r.expected && matches!(r.status, MemberStatus::Pending));
    let status = if pending > 0 || no_answer > 0 || keys_pending > 0 || unexpected_pending {
        "pending"
    } else if failed > 0 || reports.iter().any(|r| r.status == MemberStatus::Failed) {
        "failed"
    } else {
        "done"
    };
    if unexpected > 0 {
        warnings.push(format!(
            "{unexpected} member(s) answered but are not in the inventory"
        ));
    }
    Report {
        incident_id: inc.to_string(),
        phase,
        organization: OrganizationStatus {
            status: status.to_string(),
            done: status == "done",
            members_expected: expected.len() as u64,
            complete: count(MemberStatus::Complete),
            not_targeted: count(MemberStatus::NotTargeted),
            pending,
            failed,
            no_answer,
            unexpected,
            keys: total.values().sum(),
            keys_pending,
            keys_failed,
            counts: total,
        },
        members: reports,
        targets,
        input: input.stats.clone(),
        warnings,
    }
}

impl Report {
    /// The report as JSON.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// A readable table.
    pub fn to_table(&self) -> String {
        let mut out = String::new();
        let phase = match self.phase {
            Phase::DryRun => "dry run",
            Phase::Live => "revocation",
        };
        let _ = writeln!(out, "Incident {} ({phase})", self.incident_id);
        let rows: Vec<[String; 6]> = self
            .members
            .iter()
            .map(|m| {
                let outcomes = if m.counts.is_empty() {
                    "-".to_string()
                } else {
                    m.counts
                        .iter()
                        .map(|(o, n)| format!("{o}={n}"))
                        .collect::<Vec<_>>()
                        .join(" ")
                };
                let latest = match &m.latest_summary {
                    Some(s) => match (&s.error_type, &s.continued_by) {
                        (Some(e), _) => format!("{} ({e})", s.state),
                        (None, Some(c)) => format!("{} (continued by {c})", s.state),
                        _ => s.state.clone(),
                    },
                    None => "-".into(),
                };
                let mut status = m.status.as_str().to_string();
                if !m.expected {
                    status.push_str(" (not in inventory)");
                }
                [
                    m.account.clone(),
                    m.region.clone(),
                    status,
                    m.keys.to_string(),
                    outcomes,
                    latest,
                ]
            })
            .collect();
        let header = [
            "ACCOUNT",
            "REGION",
            "STATUS",
            "KEYS",
            "OUTCOMES",
            "LATEST SUMMARY",
        ];
        let mut widths = header.map(str::len);
        for r in &rows {
            for (w, c) in widths.iter_mut().zip(r.iter()) {
                *w = (*w).max(c.chars().count());
            }
        }
        let line = |cells: &[String]| -> String {
            let mut l = String::new();
            for (i, c) in cells.iter().enumerate() {
                if i == 3 {
                    let _ = write!(l, "{:>w$}  ", c, w = widths[i]);
                } else if i + 1 == cells.len() {
                    l.push_str(c);
                } else {
                    let _ = write!(l, "{:<w$}  ", c, w = widths[i]);
                }
            }
            l.trim_end().to_string()
        };
        let _ = writeln!(out, "{}", line(&header.map(str::to_string)));
        for r in &rows {
            let _ = writeln!(out, "{}", line(r));
        }
        let pending: Vec<(&MemberReport, &PendingKey)> = self
            .members
            .iter()
            .flat_map(|m| m.pending_keys.iter().map(move |k| (m, k)))
            .collect();
        if !pending.is_empty() {
            let _ = writeln!(out, "Pending keys:");
            for (m, k) in pending {
                let _ = writeln!(
                    out,
                    "  {}/{}  {}  {}{}",
                    m.account,
                    m.region,
                    k.key,
                    k.outcome,
                    k.error_code
                        .as_ref()
                        .map(|c| format!(" ({c})"))
                        .unwrap_or_default()
                );
            }
        }
        let o = &self.organization;
        let verdict = match o.status.as_str() {
            "done" => "DONE",
            "failed" => "NEEDS ATTENTION",
            _ => "PENDING",
        };
        let headline = match self.phase {
            Phase::DryRun => format!(
                "{} keys would be revoked",
                o.counts.get("would_revoke").copied().unwrap_or(0)
            ),
            Phase::Live => format!(
                "{} keys revoked",
                ["revoked", "revoked_unverified", "material_deleted"]
                    .iter()
                    .map(|k| o.counts.get(*k).copied().unwrap_or(0))
                    .sum::<u64>()
            ),
        };
        let _ = writeln!(
            out,
            "Organization: {verdict}: {} of {} members complete, {} not targeted, {} pending, {} without answer, {} failed; {headline}, {} pending, {} failed",
            o.complete,
            o.members_expected,
            o.not_targeted,
            o.pending,
            o.no_answer,
            o.failed,
            o.keys_pending,
            o.keys_failed
        );
        for w in &self.warnings {
            let _ = writeln!(out, "warning: {w}");
        }
        if self.input.unreadable > 0 {
            let _ = writeln!(
                out,
                "warning: {} input values looked like JSON but did not parse",
                self.input.unreadable
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const T0: &str = "2026-03-01T10:00:00.000Z";
    const T1: &str = "2026-03-01T10:00:01.000Z";
    const T2: &str = "2026-03-01T10:02:00.000Z";

    fn audit(member: (&str, &str), key: &str, outcome: &str, req: &str, ts: &str) -> Value {
        json!({"log_type": "audit", "schema": "kms-material-guard/audit/v1", "timestamp": ts,
               "action": "revoke", "outcome": outcome, "dry_run": outcome == "would_revoke",
               "key": key, "key_arn": format!("arn:aws:kms:{}:{}:key/{key}", member.1, member.0),
               "account": member.0, "region": member.1, "incident_id": "INC-1",
               "function_request_id": req,
               "error_code": if outcome == "failed_retryable" { json!("ThrottlingException") } else { Value::Null }})
    }

    fn summary(
        member: (&str, &str),
        req: &str,
        ts: &str,
        complete: bool,
        error: Option<&str>,
        counts: Value,
    ) -> Value {
        json!({"log_type": "summary", "schema": "kms-material-guard/summary/v1", "timestamp": ts,
               "account": member.0, "region": member.1, "function_request_id": req,
               "incident_id": "INC-1", "action": "revoke", "dry_run": false, "targeted": true,
               "trigger": {"source": "incident-response", "event_id": "ev-1"},
               "counts": counts, "keys": 1, "skipped_other_members": 0, "continued_by": null,
               "complete": complete, "error_type": error})
    }

    fn envelope(dt: &str, account: &str, region: &str, detail: Value) -> Value {
        json!({"version": "0", "id": "x", "detail-type": dt, "source": "kms-material-guard",
               "account": account, "time": T0, "region": region, "resources": [], "detail": detail})
    }

    const A: (&str, &str) = ("111111111111", "us-east-1");
    const B: (&str, &str) = ("222222222222", "eu-west-1");

    fn inventory() -> Inventory {
        Inventory::parse(
            r#"{"members": [{"account": "111111111111", "region": "us-east-1"},
                                          {"account": "222222222222", "region": "eu-west-1"}]}"#,
        )
        .expect("inventory")
    }

    fn report(lines: &[Value]) -> Report {
        let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
        build(
            &Input::from_text(&text),
            Some(&inventory()),
            &ReportOptions {
                incident_id: "INC-1".into(),
                phase: None,
            },
        )
    }

    #[test]
    fn a_silent_member_keeps_the_organization_pending() {
        // GIVEN member A done and member B silent
        let r = report(&[
            audit(A, "k1", "revoked", "r1", T0),
            summary(A, "r1", T1, true, None, json!({"revoked": 1})),
        ]);
        // THEN A is complete, B has no answer, and the organization is pending
        assert_eq!(r.members[0].status, MemberStatus::Complete);
        assert_eq!(r.members[1].status, MemberStatus::NoAnswer);
        assert_eq!(r.organization.status, "pending");
        assert!(!r.organization.done);
        assert_eq!(r.organization.counts.get("revoked"), Some(&1));
    }

    #[test]
    fn a_retryable_failure_is_pending_until_a_later_invocation_completes_it() {
        // GIVEN B throttled (failed_retryable, summary not complete)
        let first = [
            audit(A, "k1", "revoked", "r1", T0),
            summary(A, "r1", T1, true, None, json!({"revoked": 1})),
            audit(B, "k2", "failed_retryable", "r2", T0),
            summary(
                B,
                "r2",
                T1,
                false,
                Some("KmsMaterialGuard.Retryable"),
                json!({"failed_retryable": 1}),
            ),
        ];
        let r = report(&first);
        // THEN B is pending with its key listed
        let b = &r.members[1];
        assert_eq!(b.status, MemberStatus::Pending);
        assert_eq!(b.pending_keys.len(), 1);
        assert_eq!(
            b.pending_keys[0].error_code.as_deref(),
            Some("ThrottlingException")
        );
        assert_eq!(
            b.latest_summary.as_ref().map(|s| s.state.as_str()),
            Some("pending")
        );
        assert_eq!(r.organization.keys_pending, 1);
        // WHEN Lambda's retry (same request id) revokes it
        let mut all = first.to_vec();
        all.push(audit(B, "k2", "revoked", "r2", T2));
        all.push(summary(B, "r2", T2, true, None, json!({"revoked": 1})));
        let r = report(&all);
        // THEN the organization is done and the key is counted once, as revoked
        assert_eq!(r.members[1].status, MemberStatus::Complete);
        assert_eq!(
            r.members[1].counts,
            BTreeMap::from([("revoked".to_string(), 1)])
        );
        assert!(r.organization.done, "{}", r.to_table());
        assert_eq!(r.organization.keys, 2);
    }

    #[test]
    fn a_duplicate_delivery_does_not_turn_revoked_into_already_revoked() {
        let r = report(&[
            audit(A, "k1", "revoked", "r1", T0),
            summary(A, "r1", T1, true, None, json!({"revoked": 1})),
            audit(A, "k1", "already_revoked", "r1b", T2),
            summary(A, "r1b", T2, true, None, json!({"already_revoked": 1})),
            audit(B, "k2", "revoked", "r2", T0),
            summary(B, "r2", T1, true, None, json!({"revoked": 1})),
        ]);
        assert_eq!(
            r.members[0].counts,
            BTreeMap::from([("revoked".to_string(), 1)])
        );
        assert_eq!(r.members[0].invocations, 2);
        assert!(r.organization.done);
    }

    #[test]
    fn continued_keys_are_pending_until_the_continuation_records_them() {
        let mut cont = audit(A, "k9", "continued", "r1", T0);
        cont["error_message"] =
            json!("not attempted before the deadline; continued by invocation r1c");
        let mut first = summary(
            A,
            "r1",
            T0,
            false,
            None,
            json!({"revoked": 1, "continued": 1}),
        );
        first["continued_by"] = json!("r1c");
        let lines = vec![
            audit(A, "k1", "revoked", "r1", T0),
            cont,
            first,
            audit(B, "k2", "revoked", "r2", T0),
            summary(B, "r2", T1, true, None, json!({"revoked": 1})),
        ];
        let r = report(&lines);
        assert_eq!(r.members[0].status, MemberStatus::Pending);
        assert_eq!(r.members[0].pending_keys[0].outcome, "continued");
        assert!(r.to_table().contains("continued by r1c"));
        let mut done = lines.clone();
        done.push(audit(A, "k9", "revoked", "r1c", T2));
        done.push(summary(A, "r1c", T2, true, None, json!({"revoked": 1})));
        let r = report(&done);
        assert_eq!(r.members[0].status, MemberStatus::Complete);
        assert_eq!(r.members[0].counts.get("revoked"), Some(&2));
        assert!(r.organization.done);
    }

    #[test]
    fn a_final_error_needs_attention_and_not_targeted_members_count_as_done() {
        // GIVEN B not targeted (the function says complete: nothing pending) and A refusing
        // the request for its blast radius (also "complete": nothing pending, nothing revoked)
        let mut nt = summary(B, "r2", T1, true, None, json!({}));
        nt["targeted"] = json!(false);
        let r = report(&[
            summary(
                A,
                "r1",
                T1,
                true,
                Some("KmsMaterialGuard.RefusedBlastRadius"),
                json!({"refused_blast_radius": 120}),
            ),
            nt.clone(),
        ]);
        // THEN A failed, B is not targeted, and the organization needs attention
        assert_eq!(r.members[0].status, MemberStatus::Failed);
        assert_eq!(
            r.members[0]
                .latest_summary
                .as_ref()
                .map(|s| s.state.as_str()),
            Some("failed")
        );
        assert_eq!(r.members[1].status, MemberStatus::NotTargeted);
        assert_eq!(r.organization.status, "failed");
        assert!(!r.organization.done);
        let r = report(&[
            audit(A, "k1", "revoked", "r1", T0),
            summary(A, "r1", T1, true, None, json!({"revoked": 1})),
            nt,
        ]);
        assert_eq!(r.organization.status, "done");
        assert_eq!(r.organization.not_targeted, 1);
    }

    #[test]
    fn a_member_rejecting_the_request_is_failed_through_the_request_event_id() {
        // GIVEN the request envelope and a member whose function rejected it (an older version
        // not knowing `targets`): its record has no incident id, only the trigger's event id
        let req = json!({"version": "0", "id": "ev-9", "detail-type": REQUEST_DETAIL_TYPE,
            "source": "incident-response", "account": "999999999999", "time": T0, "region": "us-east-1",
            "resources": [], "detail": {"tags": {"s": "x"}, "reason": "r", "incidentId": "INC-1"}});
        let rejected = json!({"log_type": "audit", "outcome": "rejected", "dry_run": false, "incident_id": null,
            "account": null, "region": null, "key": null, "key_arn": null, "timestamp": T0,
            "function_request_id": "rq", "error_code": "UnknownField",
            "trigger": {"source": "incident-response", "event_id": "ev-9"}});
        let r = report(&[
            req,
            envelope(AUDIT_DETAIL_TYPE, B.0, B.1, rejected),
            audit(A, "k1", "revoked", "r1", T0),
            summary(A, "r1", T1, true, None, json!({"revoked": 1})),
        ]);
        // THEN B is failed (not silently pending) and the organization needs attention
        assert_eq!(r.members[1].status, MemberStatus::Failed);
        assert_eq!(r.members[1].counts.get("rejected"), Some(&1));
        assert_eq!(r.organization.status, "failed");
    }

    #[test]
    fn a_continuation_chain_of_a_direct_invocation_is_one_request() {
        // GIVEN a direct invocation (no event id) continued twice, the last one complete
        let mut p = summary(
            A,
            "p",
            T0,
            false,
            None,
            json!({"revoked": 1, "continued": 1}),
        );
        p["trigger"] =
            json!({"source": "direct-invocation", "event_id": null, "continuation_of": null});
        p["continued_by"] = json!("c1");
        let mut c1 = summary(
            A,
            "c1",
            T1,
            false,
            None,
            json!({"revoked": 1, "continued": 1}),
        );
        c1["trigger"] =
            json!({"source": "direct-invocation", "event_id": null, "continuation_of": "p"});
        c1["continued_by"] = json!("c2");
        let mut c2 = summary(A, "c2", T2, true, None, json!({"revoked": 1}));
        c2["trigger"] =
            json!({"source": "direct-invocation", "event_id": null, "continuation_of": "c1"});
        let r = report(&[p, c1, c2, summary(B, "r2", T1, true, None, json!({}))]);
        // THEN A is complete
        assert_eq!(
            r.members[0].status,
            MemberStatus::Complete,
            "{}",
            r.to_table()
        );
        assert_eq!(r.members[0].invocations, 3);
    }

    #[test]
    fn the_responders_put_events_entries_file_gives_the_targets() {
        let entries = json!([{"EventBusName": "kms-material-guard-central", "Source": "incident-response",
            "DetailType": REQUEST_DETAIL_TYPE,
            "Detail": json!({"tags": {"s": "x"}, "reason": "r", "incidentId": "INC-1",
                             "targets": {"regions": ["us-east-1"]}}).to_string()}]);
        let mut input = Input::from_text(&entries.to_string());
        input.add_text(&format!(
            "{}\n{}\n",
            audit(A, "k1", "revoked", "r1", T0),
            summary(A, "r1", T1, true, None, json!({"revoked": 1}))
        ));
        let r = build(
            &input,
            Some(&inventory()),
            &ReportOptions {
                incident_id: "INC-1".into(),
                phase: None,
            },
        );
        assert_eq!(r.members[1].targeted, Some(false));
        assert!(r.organization.done);
    }

    #[test]
    fn envelopes_tabs_arrays_and_log_events_are_all_read_once() {
        // GIVEN the same records from an archive (envelopes), a tab-separated CLI answer and
        // filter-log-events JSON, plus noise
        let rec = audit(A, "k1", "revoked", "r1", T0);
        let sum = summary(A, "r1", T1, true, None, json!({"revoked": 1}));
        let mut input = Input::new();
        input.add_text(&format!(
            "{}\n{}\nSTART RequestId: r1 Version: $LATEST\n{{\"_aws\": {{}}, \"KeysRevoked\": 1}}\n{{broken\n",
            envelope(AUDIT_DETAIL_TYPE, A.0, "us-east-1", rec.clone()),
            envelope(SUMMARY_DETAIL_TYPE, A.0, "us-east-1", sum.clone()),
        ));
        input.add_text(&format!("{rec}\t{sum}\n"));
        input.add_text(
            &json!({"events": [{"message": rec.to_string()}, {"message": sum.to_string()}]})
                .to_string(),
        );
        input.add_text(&json!([rec.to_string()]).to_string());
        // THEN one record and one summary, duplicates and noise counted
        assert_eq!(input.stats.audit_records, 1);
        assert_eq!(input.stats.summaries, 1);
        assert_eq!(input.stats.duplicates, 5);
        assert_eq!(input.stats.ignored, 2);
        assert_eq!(input.stats.unreadable, 1);
        let r = build(
            &input,
            None,
            &ReportOptions {
                incident_id: "INC-1".into(),
                phase: None,
            },
        );
        assert_eq!(r.members.len(), 1);
        assert!(r.organization.done);
        assert!(r.warnings.iter().any(|w| w.contains("no inventory")));
    }

    #[test]
    fn refusals_of_other_members_keys_are_attributed_to_the_member_that_wrote_them() {
        // GIVEN A refused a key of B's account (a non-organization request naming it)
        let mut refusal = audit(B, "k2", "refused_cross_account", "r1", T0);
        refusal["outcome"] = json!("refused_cross_account");
        let r = report(&[
            refusal,
            summary(A, "r1", T1, true, None, json!({"refused_cross_account": 1})),
        ]);
        // THEN it is A's record, and B has not answered
        assert_eq!(r.members[0].counts.get("refused_cross_account"), Some(&1));
        assert_eq!(r.members[1].status, MemberStatus::NoAnswer);
    }

    #[test]
    fn request_targets_exclude_silent_members_that_are_not_targeted() {
        // GIVEN the request (targets: account A only) in the input, and only A answering
        let req = json!({"version": "0", "id": "ev-1", "detail-type": REQUEST_DETAIL_TYPE,
            "source": "incident-response", "account": "999999999999", "time": T0, "region": "us-east-1",
            "resources": [], "detail": {"tags": {"supplier": "acme-hsm"}, "reason": "r", "incidentId": "INC-1",
            "targets": {"accounts": [A.0]}}});
        let r = report(&[
            req,
            audit(A, "k1", "revoked", "r1", T0),
            summary(A, "r1", T1, true, None, json!({"revoked": 1})),
        ]);
        // THEN B is not targeted and the organization is done
        assert_eq!(r.members[1].targeted, Some(false));
        assert_eq!(r.members[1].status, MemberStatus::NotTargeted);
        assert!(r.organization.done);
        assert_eq!(
            r.targets.as_ref().map(|t| t.accounts.clone()),
            Some(vec![A.0.to_string()])
        );
    }

    #[test]
    fn the_dry_run_and_the_revocation_are_reported_separately() {
        let mut dry = audit(A, "k1", "would_revoke", "d1", T0);
        dry["dry_run"] = json!(true);
        let mut dry_sum = summary(A, "d1", T0, true, None, json!({"would_revoke": 1}));
        dry_sum["dry_run"] = json!(true);
        let lines = [dry, dry_sum];
        let r = report(&lines);
        assert_eq!(r.phase, Phase::DryRun);
        assert_eq!(r.organization.counts.get("would_revoke"), Some(&1));
        assert!(r.to_table().contains("1 keys would be revoked"));
        let mut more = lines.to_vec();
        more.push(audit(A, "k1", "revoked", "r1", T1));
        let r = report(&more);
        assert_eq!(r.phase, Phase::Live);
        assert_eq!(r.organization.counts.get("would_revoke"), None);
    }

    #[test]
    fn inventories_in_both_formats() {
        let ours = inventory();
        assert_eq!(ours.members.len(), 2);
        let cfn = Inventory::parse(
            r#"{"Summaries": [
                {"StackSetId": "kms-material-guard:1", "Region": "eu-west-1", "Account": "222222222222",
                 "StackId": "arn:aws:cloudformation:eu-west-1:222222222222:stack/x/1", "Status": "CURRENT",
                 "StackInstanceStatus": {"DetailedStatus": "SUCCEEDED"}, "OrganizationalUnitId": "ou-a1b2-prodapps"},
                {"Region": "us-east-1", "Account": "111111111111", "Status": "OUTDATED",
                 "StackInstanceStatus": {"DetailedStatus": "FAILED"}}]}"#,
        )
        .expect("list-stack-instances output");
        assert_eq!(cfn.members.len(), 2);
        assert_eq!(
            cfn.members[1].organizational_units,
            vec!["ou-a1b2-prodapps".to_string()]
        );
        let r = build(
            &Input::new(),
            Some(&cfn),
            &ReportOptions {
                incident_id: "INC-1".into(),
                phase: None,
            },
        );
        assert!(
            r.warnings
                .iter()
                .any(|w| w.contains("111111111111/us-east-1 is FAILED"))
        );
        for bad in [
            "{}",
            "[{\"account\": \"1\", \"region\": \"us-east-1\"}]",
            "nope",
            "[{\"account\": \"111111111111\", \"region\": \"us-east-1\", \"organizationalUnits\": \"ou\"}]",
        ] {
            assert!(Inventory::parse(bad).is_err(), "{bad}");
        }
    }
}
