//! The report's behaviour: members' states from their records and summaries, retries,
//! redeliveries and continuations, requests and their targets, the input shapes, inventories.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::*;

pub(super) const T0: &str = "2026-03-01T10:00:00.000Z";
pub(super) const T1: &str = "2026-03-01T10:00:01.000Z";
const T2: &str = "2026-03-01T10:02:00.000Z";

pub(super) fn audit(member: (&str, &str), key: &str, outcome: &str, req: &str, ts: &str) -> Value {
    json!({"log_type": "audit", "schema": "kms-material-guard/audit/v1", "timestamp": ts,
               "action": "revoke", "outcome": outcome, "dry_run": outcome == "would_revoke",
               "key": key, "key_arn": format!("arn:aws:kms:{}:{}:key/{key}", member.1, member.0),
               "account": member.0, "region": member.1, "incident_id": "INC-1",
               "function_request_id": req,
               "error_code": if outcome == "failed_retryable" { json!("ThrottlingException") } else { Value::Null }})
}

pub(super) fn summary(
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

pub(super) fn envelope(dt: &str, account: &str, region: &str, detail: Value) -> Value {
    json!({"version": "0", "id": "x", "detail-type": dt, "source": "kms-material-guard",
               "account": account, "time": T0, "region": region, "resources": [], "detail": detail})
}

pub(super) const A: (&str, &str) = ("111111111111", "us-east-1");
pub(super) const B: (&str, &str) = ("222222222222", "eu-west-1");

fn inventory() -> Inventory {
    Inventory::parse(
        r#"{"members": [{"account": "111111111111", "region": "us-east-1"},
                                          {"account": "222222222222", "region": "eu-west-1"}]}"#,
    )
    .expect("inventory")
}

pub(super) fn report(lines: &[Value]) -> Report {
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
    cont["error_message"] = json!("not attempted before the deadline; continued by invocation r1c");
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
