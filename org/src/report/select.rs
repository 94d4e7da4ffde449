//! Which of the input's records belong to the incident and phase, which member wrote each of
//! them, and which disown their envelope (they name another member than the one EventBridge
//! says published them: counted for nobody, listed).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};

use super::input::Input;
use super::model::{Disowned, Phase};
use super::records::{AuditView, SummaryView, Targets};
use super::track::Heard;
use crate::aws::MemberId;

/// The input's records of one incident and phase, in time order.
pub(super) struct Selected<'a> {
    pub(super) audits: Vec<&'a AuditView>,
    pub(super) summaries: Vec<&'a SummaryView>,
    /// Records and summaries that name another account or Region than their envelope.
    pub(super) disowned_audits: Vec<&'a AuditView>,
    pub(super) disowned_summaries: Vec<&'a SummaryView>,
}

fn is_incident(incident_id: &Option<String>, inc: &str) -> bool {
    incident_id.as_deref() == Some(inc)
}

/// The live revocation if any of it is in the input, else the dry run.
pub(super) fn default_phase(input: &Input, inc: &str) -> Phase {
    let live = input
        .audits
        .iter()
        .filter(|a| is_incident(&a.incident_id, inc))
        .map(|a| a.dry_run)
        .chain(
            input
                .summaries
                .iter()
                .filter(|s| is_incident(&s.incident_id, inc))
                .map(|s| s.dry_run),
        )
        .any(|d| !d);
    if live { Phase::Live } else { Phase::DryRun }
}

impl<'a> Selected<'a> {
    /// The records and summaries of the incident and phase, and the `rejected` records (which
    /// have no incident id) that name one of the incident's request events in their trigger.
    pub(super) fn of(input: &'a Input, inc: &str, phase: Phase) -> Self {
        let mut summaries: Vec<&SummaryView> = input
            .summaries
            .iter()
            .filter(|s| is_incident(&s.incident_id, inc) && phase.matches(s.dry_run))
            .collect();
        summaries.sort_by_key(|s| sort_key(&s.timestamp, s.order));
        let request_events: BTreeSet<&str> = input
            .requests
            .iter()
            .filter(|r| is_incident(&r.incident_id, inc))
            .filter_map(|r| r.event_id.as_deref())
            .collect();
        let mut audits: Vec<&AuditView> = input
            .audits
            .iter()
            .filter(|a| {
                (is_incident(&a.incident_id, inc) && phase.matches(a.dry_run))
                    || (a.incident_id.is_none()
                        && a.outcome == "rejected"
                        && a.trigger_event_id
                            .as_deref()
                            .is_some_and(|e| request_events.contains(e)))
            })
            .collect();
        audits.sort_by_key(|a| sort_key(&a.timestamp, a.order));
        let (disowned_summaries, summaries) = summaries.into_iter().partition(|s| s.disowned());
        let (disowned_audits, audits) = audits.into_iter().partition(|a| a.disowned());
        Selected {
            audits,
            summaries,
            disowned_audits,
            disowned_summaries,
        }
    }

    /// The disowned records and summaries, as the report lists them.
    pub(super) fn disowned(&self) -> Vec<Disowned> {
        let summaries = self.disowned_summaries.iter().map(|s| Disowned {
            kind: "summary",
            published_by: s.member.clone(),
            claimed: s.claimed.clone(),
            state: if s.complete { "complete" } else { "incomplete" }.to_string(),
            key: None,
            function_request_id: s.function_request_id.clone(),
            timestamp: s.timestamp.map(|t| t.to_rfc3339()),
        });
        let records = self.disowned_audits.iter().filter_map(|a| {
            Some(Disowned {
                kind: "record",
                published_by: a.envelope.clone()?,
                claimed: MemberId::new(
                    a.account.as_deref().unwrap_or("-"),
                    a.region.as_deref().unwrap_or("-"),
                ),
                state: a.outcome.clone(),
                key: a.key_arn.clone().or_else(|| a.key.clone()),
                function_request_id: a.function_request_id.clone(),
                timestamp: a.timestamp.map(|t| t.to_rfc3339()),
            })
        });
        summaries.chain(records).collect()
    }

    /// What each member wrote, and how many records name no member.
    pub(super) fn by_member(&self) -> (BTreeMap<MemberId, Heard<'a>>, usize) {
        let by_request: BTreeMap<&str, &MemberId> = self
            .summaries
            .iter()
            .filter_map(|s| s.function_request_id.as_deref().map(|r| (r, &s.member)))
            .collect();
        let mut members: BTreeMap<MemberId, Heard> = BTreeMap::new();
        let mut unattributed = 0;
        for a in &self.audits {
            match writer(a, &by_request) {
                Some(m) => members.entry(m).or_default().add_record(a),
                None => unattributed += 1,
            }
        }
        for s in &self.summaries {
            members.entry(s.member.clone()).or_default().add_summary(s);
        }
        (members, unattributed)
    }
}

/// Which member wrote a record: the envelope's account and Region (set by EventBridge); for a
/// bare record, the summary of its invocation, else the record's own account and Region
/// (except for refusals naming another member's key).
fn writer(a: &AuditView, by_request: &BTreeMap<&str, &MemberId>) -> Option<MemberId> {
    if let Some(env) = &a.envelope {
        return Some(env.clone());
    }
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
        _ => None,
    }
}

/// The targets of the incident's latest request of this phase in the input.
pub(super) fn request_targets(input: &Input, inc: &str, phase: Phase) -> Option<Targets> {
    input
        .requests
        .iter()
        .filter(|r| is_incident(&r.incident_id, inc) && phase.matches(r.dry_run))
        .filter_map(|r| r.targets.clone())
        .next_back()
}

/// Time order; records without a timestamp first; input order among equals.
fn sort_key(t: &Option<DateTime<Utc>>, order: usize) -> (i64, u32, usize) {
    match t {
        Some(t) => (t.timestamp(), t.timestamp_subsec_nanos(), order),
        None => (i64::MIN, 0, order),
    }
}
