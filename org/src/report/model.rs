//! What the report says: the phase, each member's status and keys, the organization's
//! verdict, and the options that choose the incident and phase.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use super::input::InputStats;
use super::records::Targets;
use crate::aws::MemberId;

/// Dry run or the real revocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    DryRun,
    Live,
}

impl Phase {
    pub(super) fn matches(self, dry_run: bool) -> bool {
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

/// A record or summary whose own account or Region differs from the envelope it came in:
/// EventBridge says `published_by` wrote it, it claims to be about `claimed`. Counted for
/// nobody: a forgery (a member-account administrator publishing for another member) or a
/// misconfiguration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Disowned {
    /// `summary` or `record`.
    pub kind: &'static str,
    /// The envelope's account and Region (set by EventBridge).
    pub published_by: MemberId,
    /// What the detail says: a summary's account and Region, a record's key's.
    pub claimed: MemberId,
    /// A summary's state (`complete`, `incomplete`), a record's outcome.
    pub state: String,
    /// The record's key, if any.
    pub key: Option<String>,
    pub function_request_id: Option<String>,
    pub timestamp: Option<String>,
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
    /// Records and summaries counted for nobody (see [`Disowned`]).
    pub disowned: Vec<Disowned>,
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

impl Report {
    /// The report as JSON.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}
