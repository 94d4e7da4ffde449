//! The report trusts only what EventBridge vouches for: the envelope's account and Region decide
//! whose a record or summary is; one that names another member than its envelope counts for
//! nobody and is listed as disowned.

use serde_json::json;

use super::tests::{A, B, T0, T1, audit, envelope, report, summary};
use super::*;
use crate::aws::MemberId;

fn summary_of(m: (&str, &str), req: &str) -> serde_json::Value {
    summary(m, req, T1, true, None, json!({"revoked": 1}))
}

fn genuine_a() -> Vec<serde_json::Value> {
    vec![
        envelope(
            AUDIT_DETAIL_TYPE,
            A.0,
            A.1,
            audit(A, "k1", "revoked", "r1", T0),
        ),
        envelope(SUMMARY_DETAIL_TYPE, A.0, A.1, summary_of(A, "r1")),
    ]
}

#[test]
fn a_summary_published_by_one_member_for_another_counts_for_nobody() {
    // GIVEN member A done, member B silent, and a summary claiming B complete that EventBridge
    // delivered in A's envelope (A's administrator published it)
    let mut lines = genuine_a();
    lines.push(envelope(
        SUMMARY_DETAIL_TYPE,
        A.0,
        A.1,
        summary_of(B, "forged"),
    ));
    // WHEN the report is built
    let r = report(&lines);
    // THEN B is still without answer and the organization pending; the forgery is disowned,
    // named as published by A and claiming B, and A's own state is unchanged
    assert_eq!(r.members[1].status, MemberStatus::NoAnswer);
    assert_eq!(r.organization.status, "pending");
    assert_eq!(r.members[0].status, MemberStatus::Complete);
    assert_eq!(r.members[0].invocations, 1);
    assert_eq!(r.disowned.len(), 1);
    assert_eq!(r.disowned[0].kind, "summary");
    assert_eq!(r.disowned[0].published_by, MemberId::new(A.0, A.1));
    assert_eq!(r.disowned[0].claimed, MemberId::new(B.0, B.1));
    assert!(r.warnings.iter().any(|w| w.contains("counted for nobody")));
    assert!(r.to_table().contains(
        "summary published by 111111111111/us-east-1, claims 222222222222/eu-west-1: complete"
    ));
}

#[test]
fn a_summary_of_the_same_account_in_another_region_counts_for_nobody() {
    // GIVEN a summary claiming A's account in us-east-1, published from eu-west-1
    let lines = [envelope(
        SUMMARY_DETAIL_TYPE,
        A.0,
        "eu-west-1",
        summary_of(A, "r1"),
    )];
    // WHEN the report is built
    let r = report(&lines);
    // THEN A/us-east-1 has no answer; the summary is disowned, not moved to the Region it names
    let a = r
        .members
        .iter()
        .find(|m| m.account == A.0 && m.region == A.1)
        .expect("A");
    assert_eq!(a.status, MemberStatus::NoAnswer);
    assert_eq!(r.disowned.len(), 1);
    assert_eq!(r.disowned[0].published_by, MemberId::new(A.0, "eu-west-1"));
}

#[test]
fn a_record_acting_on_another_members_key_is_disowned_but_a_refusal_of_it_is_not() {
    // GIVEN, in A's envelope, a record revoking a key of B and one refusing another key of B
    let mut lines = genuine_a();
    lines.push(envelope(
        AUDIT_DETAIL_TYPE,
        A.0,
        A.1,
        audit(B, "kb1", "revoked", "r1", T0),
    ));
    lines.push(envelope(
        AUDIT_DETAIL_TYPE,
        A.0,
        A.1,
        audit(B, "kb2", "refused_cross_account", "r1", T0),
    ));
    // WHEN the report is built
    let r = report(&lines);
    // THEN the revocation is disowned (B revoked nothing), the refusal is A's
    assert_eq!(r.disowned.len(), 1);
    assert_eq!(r.disowned[0].kind, "record");
    assert_eq!(r.disowned[0].state, "revoked");
    assert_eq!(r.members[1].keys, 0);
    assert_eq!(r.members[0].counts.get("refused_cross_account"), Some(&1));
    assert_eq!(r.organization.counts.get("revoked"), Some(&1));
}

#[test]
fn a_copy_replayed_by_another_member_does_not_hide_the_genuine_one() {
    // GIVEN B's administrator republishes A's genuine summary before A's own copy arrives
    let mut lines = vec![envelope(SUMMARY_DETAIL_TYPE, B.0, B.1, summary_of(A, "r1"))];
    lines.extend(genuine_a());
    // WHEN the report is built
    let r = report(&lines);
    // THEN A's genuine summary counts for A, the replay is disowned as B's
    assert_eq!(r.members[0].status, MemberStatus::Complete);
    assert_eq!(r.disowned.len(), 1);
    assert_eq!(r.disowned[0].published_by, MemberId::new(B.0, B.1));
    assert_eq!(r.input.duplicates, 0);
}

#[test]
fn a_bare_record_is_attributed_to_what_it_names_with_a_warning_until_its_envelope_arrives() {
    // GIVEN A's summary from A's own log group (no envelope)
    let bare = summary_of(A, "r1");
    // WHEN the report reads it alone
    let r = report(std::slice::from_ref(&bare));
    // THEN it counts for A, and the report warns that nothing vouches for it
    assert_eq!(r.members[0].status, MemberStatus::Complete);
    assert_eq!(r.input.unvouched, 1);
    assert!(
        r.warnings
            .iter()
            .any(|w| w.contains("without an EventBridge envelope"))
    );
    // WHEN the same summary also arrives from the central bus
    let r = report(&[bare.clone(), envelope(SUMMARY_DETAIL_TYPE, A.0, A.1, bare)]);
    // THEN it counts once, vouched
    assert_eq!(r.input.summaries, 1);
    assert_eq!(r.input.duplicates, 1);
    assert_eq!(r.input.unvouched, 0);
    assert!(
        !r.warnings
            .iter()
            .any(|w| w.contains("without an EventBridge envelope"))
    );
}

#[test]
fn a_bare_copy_of_a_disowned_summary_cannot_launder_it() {
    // GIVEN a forged summary for B in A's envelope, and the same JSON as a bare line
    let forged = summary_of(B, "forged");
    let lines = [
        envelope(SUMMARY_DETAIL_TYPE, A.0, A.1, forged.clone()),
        forged,
    ];
    // WHEN the report is built
    let r = report(&lines);
    // THEN the bare copy is a duplicate of the enveloped one: B stays without answer
    assert_eq!(r.members[1].status, MemberStatus::NoAnswer);
    assert_eq!(r.disowned.len(), 1);
    assert_eq!(r.input.duplicates, 1);
}
