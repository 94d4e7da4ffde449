//! Building the report of one incident: the phase, the records of each member, the expected
//! members, each member's part and the organization's verdict.

use std::collections::{BTreeMap, BTreeSet};

use super::input::Input;
use super::inventory::Inventory;
use super::member_status::{Expectation, member_report};
use super::model::{MemberReport, MemberStatus, OrganizationStatus, Report, ReportOptions};
use super::names::FAILED_OUTCOMES;
use super::records::Targets;
use super::select::{Selected, default_phase, request_targets};
use super::track::Heard;
use crate::aws::MemberId;

/// Builds the report of one incident.
pub fn build(input: &Input, inventory: Option<&Inventory>, opts: &ReportOptions) -> Report {
    let inc = opts.incident_id.as_str();
    let mut warnings = Vec::new();
    let phase = opts.phase.unwrap_or_else(|| default_phase(input, inc));
    let selected = Selected::of(input, inc, phase);
    let disowned = selected.disowned();
    if !disowned.is_empty() {
        warnings.push(format!(
            "records or summaries naming another account or Region than the one EventBridge says published them: {}, counted for nobody (forged or misconfigured; see Disowned)",
            disowned.len()
        ));
    }
    if input.stats.unvouched > 0 {
        warnings.push(format!(
            "records or summaries without an EventBridge envelope (a member's own log, stdout): {}, attributed to the account and Region they name, which nothing vouches for",
            input.stats.unvouched
        ));
    }
    let (heard, unattributed) = selected.by_member();
    if unattributed > 0 {
        warnings.push(format!(
            "{unattributed} audit records name no member (no account, Region or envelope) and are left out"
        ));
    }
    let targets = request_targets(input, inc, phase);
    let expected = expected_members(inventory, &heard, &mut warnings);
    let members = member_reports(heard, &expected, inventory, targets.as_ref());
    let organization = organization(&members, expected.len() as u64);
    if organization.unexpected > 0 {
        warnings.push(format!(
            "{} member(s) answered but are not in the inventory",
            organization.unexpected
        ));
    }
    Report {
        incident_id: inc.to_string(),
        phase,
        organization,
        members,
        targets,
        disowned,
        input: input.stats.clone(),
        warnings,
    }
}

/// The part of every member expected or heard from.
fn member_reports(
    mut heard: BTreeMap<MemberId, Heard>,
    expected: &BTreeSet<MemberId>,
    inventory: Option<&Inventory>,
    targets: Option<&Targets>,
) -> Vec<MemberReport> {
    let all: BTreeSet<MemberId> = expected
        .iter()
        .cloned()
        .chain(heard.keys().cloned())
        .collect();
    all.into_iter()
        .map(|m| {
            let exp = Expectation {
                expected: expected.contains(&m),
                units: inventory
                    .and_then(|i| i.get(&m))
                    .map(|i| i.organizational_units.clone())
                    .unwrap_or_default(),
                targets,
            };
            let h = heard.remove(&m).unwrap_or_default();
            member_report(m, h, exp)
        })
        .collect()
}

/// The inventory's members (warning about stack instances not up to date); without an
/// inventory, the members that answered (with a warning).
fn expected_members(
    inventory: Option<&Inventory>,
    heard: &BTreeMap<MemberId, Heard>,
    warnings: &mut Vec<String>,
) -> BTreeSet<MemberId> {
    let Some(inv) = inventory else {
        warnings.push(
            "no inventory: members that never answered cannot be seen; pass --inventory".into(),
        );
        return heard.keys().cloned().collect();
    };
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
    inv.members
        .iter()
        .map(|m| MemberId::new(&m.account, &m.region))
        .collect()
}

/// The organization's verdict: `pending` while a member or a key waits, else `failed` if a
/// member needs a human, else `done`.
fn organization(reports: &[MemberReport], members_expected: u64) -> OrganizationStatus {
    let count = |st: MemberStatus| {
        reports
            .iter()
            .filter(|r| r.expected && r.status == st)
            .count() as u64
    };
    let mut total: BTreeMap<String, u64> = BTreeMap::new();
    for r in reports {
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
    OrganizationStatus {
        status: status.to_string(),
        done: status == "done",
        members_expected,
        complete: count(MemberStatus::Complete),
        not_targeted: count(MemberStatus::NotTargeted),
        pending,
        failed,
        no_answer,
        unexpected: reports.iter().filter(|r| !r.expected).count() as u64,
        keys: total.values().sum(),
        keys_pending,
        keys_failed,
        counts: total,
    }
}
