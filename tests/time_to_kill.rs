//! Time to kill (issue 13), as behaviour rather than timing: the reads of a named key run side
//! by side, an invocation's first delete does not queue behind the pacer, the materials listing
//! is best effort, and a quota shared with other callers is used without losing a key. Through
//! the real handler and `aws-sdk-kms` over HTTP against the local KMS on 127.0.0.1. The figures
//! (round trips, rates) are the benchmark's (`cargo run --release -p bench -- all`).

mod common;

use std::time::Duration;

use common::bed::{Bed, bed, material_for};
use common::config;
use kms_material_guard::audit::AuditRecord;
use kms_material_guard::domain::Deadline;
use kms_material_guard::{Config, Invocation, Outcome};
use kms_sim::{FaultKind, FaultRule, ImportOptions, KeyInfo, KeySpec, KeyState, SimConfig};
use serde_json::{Value, json};

const DELETE: &str = "DeleteImportedKeyMaterial";
const DESCRIBE: &str = "DescribeKey";
const TAGS: &str = "ListResourceTags";
const ROTATIONS: &str = "ListKeyRotations";

fn revoke(keys: &[&str]) -> Value {
    json!({"keys": keys, "reason": "time to kill", "incidentId": "INC-TTK"})
}

/// Handles `payload` while watching the local KMS's counters: `Some(true)` when the first
/// ListResourceTags arrived before any DescribeKey had been answered, `Some(false)` after.
async fn tags_before_describe_answered(
    b: &Bed,
    payload: &Value,
) -> (Option<bool>, Vec<AuditRecord>) {
    let watch = async {
        loop {
            let c = b.sim.counters();
            if c.calls(TAGS) > 0 {
                return c.successes(DESCRIBE) == 0;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    };
    let handled = b.handle(payload);
    tokio::pin!(watch, handled);
    let mut seen = None;
    loop {
        tokio::select! {
            order = &mut watch, if seen.is_none() => seen = Some(order),
            (result, records) = &mut handled => {
                assert!(result.is_ok(), "{result:?}");
                return (seen, records);
            }
        }
    }
}

fn all_calls(b: &Bed, key: &KeyInfo) -> u64 {
    [DESCRIBE, TAGS, DELETE, ROTATIONS]
        .iter()
        .map(|op| b.sim.counters().calls_for_key(op, &key.key_id))
        .sum()
}

#[tokio::test]
async fn a_key_named_by_arn_has_its_tags_listed_while_it_is_being_described() {
    // GIVEN an in-scope key named by ARN, and a KMS whose first DescribeKey takes 3 s to answer
    let b = bed(SimConfig::unlimited(), config()).await;
    let key = b.byok(&[], &[]);
    b.sim.faults().add(
        FaultRule::new(DESCRIBE, FaultKind::Latency(Duration::from_secs(3)))
            .for_key(&key.arn)
            .times(1),
    );
    // WHEN it is revoked
    let (order, records) = tags_before_describe_answered(&b, &revoke(&[&key.arn])).await;
    // THEN ListResourceTags was sent before DescribeKey answered: the two reads ran side by side
    assert_eq!(order, Some(true), "the tags waited for DescribeKey");
    // AND the key is revoked, its record counting every call of both reads
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].outcome, Outcome::Revoked, "{:#?}", records[0]);
    assert_eq!(b.state(&key), KeyState::PendingImport);
    assert_eq!(u64::from(records[0].attempts), all_calls(&b, &key));
    assert_eq!(records[0].kms_request_ids.len() as u64, all_calls(&b, &key));
}

#[tokio::test]
async fn a_key_named_by_alias_is_described_before_its_tags_are_listed() {
    // GIVEN an in-scope key named by its alias (ListResourceTags takes no alias)
    let b = bed(SimConfig::unlimited(), config()).await;
    let key = b.byok(&["alias/ttk-orders"], &[]);
    // WHEN it is revoked
    let (order, records) = tags_before_describe_answered(&b, &revoke(&["alias/ttk-orders"])).await;
    // THEN DescribeKey answered first (it resolves the alias), and the key is revoked
    assert_eq!(order, Some(false));
    assert_eq!(records[0].outcome, Outcome::Revoked, "{:#?}", records[0]);
    assert_eq!(b.state(&key), KeyState::PendingImport);
}

#[tokio::test]
async fn an_out_of_scope_key_read_side_by_side_is_still_refused() {
    // GIVEN a key named by ARN without the scope tag
    let b = bed(SimConfig::unlimited(), config()).await;
    let key = b
        .sim
        .store()
        .create_key(KeySpec::external().tag("team", "orders"));
    b.sim
        .store()
        .import_material(&key.arn, material_for(&key), ImportOptions::default())
        .expect("import");
    // WHEN it is named in a revocation
    let (result, records) = b.handle(&revoke(&[&key.arn])).await;
    // THEN it is refused and untouched: reading the tags early changes no decision
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(records[0].outcome, Outcome::RefusedOutOfScope);
    assert_eq!(b.state(&key), KeyState::Enabled);
    assert_eq!(b.sim.counters().calls_for_key(DELETE, &key.key_id), 0);
}

async fn failing_listing_still_revokes(fault: FaultKind, expected: &str) {
    // GIVEN a KMS whose ListKeyRotations fails (`expected`) for an in-scope key
    let b = bed(SimConfig::unlimited(), config()).await;
    let key = b.byok(&[], &[]);
    b.sim
        .faults()
        .add(FaultRule::new(ROTATIONS, fault).for_key(&key.arn));
    // WHEN the key is revoked
    let (result, records) = b.handle(&revoke(&[&key.arn])).await;
    // THEN the revocation's outcome is unchanged
    assert!(result.is_ok(), "{result:?}");
    let r = &records[0];
    assert_eq!(r.outcome, Outcome::Revoked, "{r:#?}");
    assert_eq!(b.state(&key), KeyState::PendingImport);
    // AND the listing was tried once, not retried
    assert_eq!(b.sim.counters().calls_for_key(ROTATIONS, &key.key_id), 1);
    // AND the record says the materials are missing, and why
    assert_eq!(r.materials, None);
    let why = r.materials_error.as_deref().unwrap_or_default();
    assert!(
        why.starts_with("ListKeyRotations") && why.contains(expected),
        "{why}"
    );
}

#[tokio::test]
async fn a_materials_listing_that_fails_leaves_the_revocation_and_says_why() {
    failing_listing_still_revokes(
        FaultKind::kms_error("KMSInternalException", "internal error", 500),
        "KMSInternalException",
    )
    .await;
}

#[tokio::test]
async fn a_materials_listing_that_hangs_is_abandoned_after_the_enrichment_timeout() {
    failing_listing_still_revokes(
        FaultKind::Latency(Duration::from_secs(30)),
        "no answer within 500 ms",
    )
    .await;
}

#[tokio::test]
async fn a_listing_the_endpoint_does_not_implement_is_not_retried() {
    failing_listing_still_revokes(
        FaultKind::kms_error(
            "UnknownOperationException",
            "ListKeyRotations is not supported",
            400,
        ),
        "UnknownOperationException",
    )
    .await;
}

#[tokio::test]
async fn the_first_delete_of_an_invocation_does_not_queue_behind_the_pacer() {
    // GIVEN one delete every two seconds, and an invocation that just revoked two keys (its
    // second delete paced two seconds after the first: the next slot lies two seconds ahead)
    let mut cfg: Config = config();
    cfg.delete_rate = 0.5;
    cfg.deadline_margin = Duration::from_millis(200);
    let b = bed(SimConfig::unlimited(), cfg).await;
    let (k1, k2, k3) = (b.byok(&[], &[]), b.byok(&[], &[]), b.byok(&[], &[]));
    let (result, records) = b.handle(&revoke(&[&k1.arn, &k2.arn])).await;
    assert!(result.is_ok(), "{result:?}");
    assert!(
        records.iter().all(|r| r.outcome == Outcome::Revoked),
        "{records:#?}"
    );
    // WHEN the next invocation names one key and has one second left
    let inv = Invocation {
        deadline: Deadline::after(Duration::from_millis(1200)),
        ..Invocation::local("req-first-delete")
    };
    let result = b.guard.handle_payload(&revoke(&[&k3.arn]), &inv).await;
    let records = b.sink.take();
    // THEN its delete went at once instead of waiting for the slot past its deadline
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(records[0].outcome, Outcome::Revoked, "{:#?}", records[0]);
    assert_eq!(b.state(&k3), KeyState::PendingImport);
}

#[tokio::test]
async fn a_quota_shared_with_other_callers_loses_no_key_and_deletes_each_once() {
    // GIVEN the default 10/s configured while KMS grants only 5 deletes a second
    let b = bed(SimConfig::unlimited().with_quota(DELETE, 5.0), config()).await;
    let keys: Vec<KeyInfo> = (0..30).map(|_| b.byok(&[], &[])).collect();
    let arns: Vec<&str> = keys.iter().map(|k| k.arn.as_str()).collect();
    // WHEN all are revoked in one invocation
    let (result, records) = b.handle(&revoke(&arns)).await;
    // THEN every key is revoked, with exactly one applied delete each, whatever KMS throttled
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(records.len(), keys.len());
    for k in &keys {
        let r = records
            .iter()
            .find(|r| r.key_arn.as_deref() == Some(k.arn.as_str()))
            .expect("a record per key");
        assert_eq!(r.outcome, Outcome::Revoked, "{r:#?}");
        assert_eq!(b.state(k), KeyState::PendingImport);
        assert_eq!(b.sim.counters().successes_for_key(DELETE, &k.key_id), 1);
    }
}
