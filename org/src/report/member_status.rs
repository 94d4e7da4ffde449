//! One member's part of the report: whether it is targeted, its keys' outcomes, the keys that
//! still wait, its latest summary and its status.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::model::{LatestSummary, MemberReport, MemberStatus, PendingKey};
use super::records::{SummaryView, Targets};
use super::track::{Heard, summary_state};
use crate::aws::MemberId;

/// What decides a member's part besides what it wrote.
pub(super) struct Expectation<'t> {
    /// Listed in the inventory.
    pub(super) expected: bool,
    /// Its organizational units (from the inventory).
    pub(super) units: Vec<String>,
    /// The request's targets, when the request was in the input.
    pub(super) targets: Option<&'t Targets>,
}

/// The member's part of the report.
pub(super) fn member_report(m: MemberId, heard: Heard, exp: Expectation) -> MemberReport {
    // What the member said about itself wins over what the report infers from the request.
    let answered = heard
        .summaries
        .iter()
        .filter_map(|s| s.targeted)
        .next_back();
    let targeted = answered.or_else(|| {
        exp.targets
            .map(|t| t.includes(&m.account, &exp.units, &m.region))
    });
    let (counts, pending_keys) = key_outcomes(&heard);
    let status = status(&heard, targeted, !pending_keys.is_empty());
    MemberReport {
        expected: exp.expected,
        account: m.account,
        region: m.region,
        targeted,
        status,
        keys: counts.values().sum(),
        counts,
        pending_keys,
        latest_summary: heard.summaries.last().map(|s| latest_summary(s)),
        invocations: heard.requests.len() as u64,
        records: heard.records,
    }
}

/// Keys per resolved outcome, and the keys that still wait.
fn key_outcomes(heard: &Heard) -> (BTreeMap<String, u64>, Vec<PendingKey>) {
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    let mut pending_keys = Vec::new();
    for (key, track) in &heard.keys {
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
    (counts, pending_keys)
}

/// Silent: not targeted or no answer; a final error or an unanswered rejection: failed; keys
/// or requests waiting: pending; else not targeted or complete.
fn status(heard: &Heard, targeted: Option<bool>, keys_pending: bool) -> MemberStatus {
    if heard.summaries.is_empty() && heard.keys.is_empty() {
        return if targeted == Some(false) {
            MemberStatus::NotTargeted
        } else {
            MemberStatus::NoAnswer
        };
    }
    let states = heard.request_states();
    let rejected = heard
        .keys
        .values()
        .any(|t| t.resolved().is_some_and(|r| r.outcome == "rejected"));
    if states.contains(&"failed") || (rejected && !states.contains(&"complete")) {
        MemberStatus::Failed
    } else if keys_pending || states.is_empty() || states.contains(&"pending") {
        MemberStatus::Pending
    } else if states.iter().all(|s| *s == "not_targeted") {
        MemberStatus::NotTargeted
    } else {
        MemberStatus::Complete
    }
}

fn latest_summary(s: &SummaryView) -> LatestSummary {
    LatestSummary {
        state: summary_state(s).to_string(),
        function_request_id: s.function_request_id.clone(),
        timestamp: rfc3339(&s.timestamp),
        targeted: s.targeted,
        error_type: s.error_type.clone(),
        continued_by: s.continued_by.clone(),
        counts: s.counts.clone(),
    }
}

fn rfc3339(t: &Option<DateTime<Utc>>) -> Option<String> {
    t.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}
