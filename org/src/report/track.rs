//! What was heard from one member, followed over time: each key's latest and final outcome,
//! and each request's state from the summaries of its invocations (retries, redeliveries and
//! continuations of one request count together).

use std::collections::{BTreeMap, BTreeSet};

use super::names::{FINAL_ERROR_TYPES, PENDING_OUTCOMES, REVOKING_OUTCOMES};
use super::records::{AuditView, SummaryView};

/// Everything one member wrote for the incident and phase.
#[derive(Default)]
pub(super) struct Heard<'a> {
    /// Per key (ARN, else id, else the invocation for records without a key).
    pub(super) keys: BTreeMap<String, KeyTrack>,
    /// In time order.
    pub(super) summaries: Vec<&'a SummaryView>,
    /// Distinct function request ids.
    pub(super) requests: BTreeSet<String>,
    pub(super) records: u64,
}

impl<'a> Heard<'a> {
    /// Adds an audit record (in time order).
    pub(super) fn add_record(&mut self, a: &AuditView) {
        self.records += 1;
        if let Some(r) = &a.function_request_id {
            self.requests.insert(r.clone());
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
        self.keys.entry(key).or_default().add(a);
    }

    /// Adds a summary (in time order).
    pub(super) fn add_summary(&mut self, s: &'a SummaryView) {
        if let Some(r) = &s.function_request_id {
            self.requests.insert(r.clone());
        }
        self.summaries.push(s);
    }

    /// The state of each request the member worked on (`complete`, `pending`, `failed`,
    /// `not_targeted`). Invocations of the same request share its trigger: the request is
    /// done when one of them completed it. Without an event id (a direct invocation), a
    /// continuation chain is one request.
    pub(super) fn request_states(&self) -> Vec<&'static str> {
        let parent: BTreeMap<&str, &str> = self
            .summaries
            .iter()
            .filter_map(|s| {
                Some((
                    s.function_request_id.as_deref()?,
                    s.continuation_of.as_deref()?,
                ))
            })
            .collect();
        let mut groups: BTreeMap<String, Vec<&SummaryView>> = BTreeMap::new();
        for s in &self.summaries {
            groups.entry(request_of(s, &parent)).or_default().push(s);
        }
        groups.values().map(|g| group_state(g)).collect()
    }
}

/// The request an invocation worked on: its trigger's event id, else the first invocation of
/// its continuation chain.
fn request_of(s: &SummaryView, parent: &BTreeMap<&str, &str>) -> String {
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
}

/// A request's state from the summaries of its invocations (in time order).
fn group_state(g: &[&SummaryView]) -> &'static str {
    if g.iter().all(|s| s.targeted == Some(false)) {
        "not_targeted"
    } else if g.iter().any(|s| summary_state(s) == "complete") {
        "complete"
    } else {
        g.last().map(|s| summary_state(s)).unwrap_or("pending")
    }
}

/// One invocation's state from its summary.
pub(super) fn summary_state(s: &SummaryView) -> &'static str {
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

/// One key's records: the latest, and the latest final one.
#[derive(Default)]
pub(super) struct KeyTrack {
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

    /// The record that gives the key's outcome.
    pub(super) fn resolved(&self) -> Option<&AuditView> {
        self.terminal.as_ref().or(self.latest.as_ref())
    }

    /// The latest record, when the key still waits for another invocation.
    pub(super) fn pending(&self) -> Option<&AuditView> {
        match (&self.terminal, &self.latest) {
            (None, Some(l)) if PENDING_OUTCOMES.contains(&l.outcome.as_str()) => Some(l),
            _ => None,
        }
    }
}
