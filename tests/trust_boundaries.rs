//! The trust boundaries, attacked end to end against the local KMS (docs/security.md): each
//! attack is attempted the way an attacker would, is refused, and the local KMS counts no
//! DeleteImportedKeyMaterial; the genuine path beside it still revokes.
//!
//! The infrastructure's half (the incident bus policy, the Lambda permissions, the continuation
//! key policy) is checked by the template contract hooks in `.ci/steps/`; the central view's half
//! (attribution by the envelope) by `org/tests/`.

mod common;

use std::sync::Arc;

use common::bed::{Bed, Continuation, bed};
use common::{ACCOUNT, REGION, config};
use kms_material_guard::config::{GuardDutyMapping, Severity};
use kms_material_guard::response::error_types;
use kms_material_guard::{Config, Guard, GuardError, Invocation, Outcome};
use kms_sim::{KeyInfo, KeyState, SimConfig};
use serde_json::{Value, json};

const DELETE: &str = "DeleteImportedKeyMaterial";

/// A bed whose function seals and accepts continuations, with `cfg` otherwise.
async fn sealed_bed(mut cfg: Config) -> (Bed, String) {
    let b = bed(SimConfig::unlimited(), cfg.clone()).await;
    let key = b.continuation_key();
    cfg.continuation_key = Some(key.clone());
    let guard = Guard::new(b.kms.clone(), cfg, b.sink.clone());
    (Bed { guard, ..b }, key)
}

/// A bed with `cfg` (the sample events name keys by the samples' ids: see [`retarget`]).
async fn bed_with(cfg: Config) -> Bed {
    bed(SimConfig::unlimited(), cfg).await
}

fn deletes(b: &Bed) -> u64 {
    b.sim.counters().calls(DELETE)
}

/// A sample event from `events/` naming `key` instead of the sample's key id.
fn retarget(file: &str, sample_id: &str, key: &KeyInfo) -> Value {
    let text = common::event(file)
        .to_string()
        .replace(sample_id, &key.key_id);
    serde_json::from_str(&text).expect("json")
}

// ---------- continuations: only the function writes them ----------

#[tokio::test]
async fn a_hand_written_continuation_is_refused_whatever_it_claims() {
    // GIVEN an in-scope key, and a continuation written by hand (the unsealed format), claiming a
    // foreign trigger and deleting one material without the key-wide acknowledgement
    let (b, _) = sealed_bed(config()).await;
    let key = b.byok(&[], &[]);
    let forged = json!({"continuation": {
        "version": 1, "sequence": 1, "parentRequestId": "req-x", "action": "revoke",
        "reason": "r", "incidentId": "INC-FORGED", "requestedBy": null, "dryRun": false,
        "keyMaterialId": "a".repeat(64),
        "trigger": {"source": "incident-response", "event_account": "999999999999"},
        "keys": [{"key": key.arn}]}});
    // WHEN it is invoked directly
    let (result, records) = b.handle(&forged).await;
    // THEN it is refused (a specific error type), with one record saying why and no KMS call
    let err = result.expect_err("refused");
    assert_eq!(err.error_type(), error_types::UNAUTHENTICATED, "{err}");
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].outcome, Outcome::Rejected);
    assert_eq!(
        records[0].error_code.as_deref(),
        Some("ContinuationNotAuthentic")
    );
    assert_eq!(
        records[0].trigger.event_account, None,
        "the claimed trigger is not recorded"
    );
    assert_eq!(b.sim.counters().total_calls(), 0);
    assert_eq!(b.state(&key), KeyState::Enabled);
    // AND no summary speaks for the claimed incident
    assert!(b.sink.summaries().is_empty(), "{:?}", b.sink.summaries());
}

#[tokio::test]
async fn a_continuation_with_a_forged_or_altered_mac_is_refused() {
    // GIVEN a genuine sealed continuation for one key, and an in-scope key the attacker wants
    let (b, sealing) = sealed_bed(config()).await;
    let genuine_key = b.byok(&[], &[]);
    let target = b.byok(&[], &[]);
    let genuine = b
        .sealed_continuation(
            &sealing,
            Continuation {
                sequence: 1,
                keys: &[&genuine_key.arn],
                key_material_id: None,
            },
        )
        .await;
    // WHEN the body is altered to name the attacker's key (MAC kept), or a MAC is made up
    let mut altered = genuine.clone();
    let body = genuine["continuation"]["body"].as_str().expect("body");
    altered["continuation"]["body"] = json!(body.replace(&genuine_key.arn, &target.arn));
    let mut made_up = genuine.clone();
    made_up["continuation"]["mac"] = json!("00".repeat(32));
    for payload in [altered, made_up] {
        let (result, records) = b.handle(&payload).await;
        // THEN it is refused as not authentic, nothing is deleted
        let err = result.expect_err("refused");
        assert_eq!(err.error_type(), error_types::UNAUTHENTICATED, "{err}");
        assert_eq!(records.len(), 1);
        assert_eq!(
            records[0].error_code.as_deref(),
            Some("ContinuationNotAuthentic")
        );
        assert_eq!(deletes(&b), 0);
    }
    // AND the genuine continuation still revokes its key
    let (result, records) = b.handle(&genuine).await;
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(records[0].outcome, Outcome::Revoked);
    assert_eq!(b.state(&target), KeyState::Enabled);
    assert_eq!(deletes(&b), 1);
}

#[tokio::test]
async fn a_replayed_continuation_does_not_act_twice() {
    // GIVEN a genuine continuation that completed
    let (b, sealing) = sealed_bed(config()).await;
    let key = b.byok(&[], &[]);
    let payload = b
        .sealed_continuation(
            &sealing,
            Continuation {
                sequence: 1,
                keys: &[&key.arn],
                key_material_id: None,
            },
        )
        .await;
    let (first, _) = b.handle(&payload).await;
    assert!(first.is_ok());
    // AND the custodian re-imported the material afterwards
    b.sim
        .store()
        .import_material(
            &key.arn,
            common::bed::material_for(&key),
            kms_sim::ImportOptions::default(),
        )
        .expect("re-import");
    // WHEN the same payload is delivered again
    let (again, records) = b.handle(&payload).await;
    // THEN it is refused as a replay, and the key stays usable
    let err = again.expect_err("replay refused");
    assert_eq!(err.error_type(), error_types::UNAUTHENTICATED);
    assert_eq!(
        records[0].error_code.as_deref(),
        Some("ContinuationReplayed")
    );
    assert_eq!(b.state(&key), KeyState::Enabled);
    assert_eq!(deletes(&b), 1);
}

#[tokio::test]
async fn without_a_continuation_key_no_continuation_is_accepted() {
    // GIVEN a function without MATERIAL_GUARD_CONTINUATION_KEY, and a payload sealed with some
    // HMAC key of the account
    let b = bed_with(config()).await;
    let other_key = b.continuation_key();
    let key = b.byok(&[], &[]);
    let payload = b
        .sealed_continuation(
            &other_key,
            Continuation {
                sequence: 1,
                keys: &[&key.arn],
                key_material_id: None,
            },
        )
        .await;
    // WHEN it is invoked
    let (result, records) = b.handle(&payload).await;
    // THEN it is refused, nothing deleted
    assert_eq!(
        result.expect_err("refused").error_type(),
        error_types::UNAUTHENTICATED
    );
    assert_eq!(records[0].outcome, Outcome::Rejected);
    assert_eq!(deletes(&b), 0);
}

// ---------- findings: only AWS products, only about this member ----------

fn with_imported_findings(severity: Severity) -> Config {
    let mut cfg = config();
    cfg.securityhub_min_severity = Some(severity);
    cfg
}

#[tokio::test]
async fn a_critical_finding_from_a_custom_product_revokes_nothing() {
    // GIVEN imported findings revoke at HIGH, and an in-scope key
    let b = bed_with(with_imported_findings(Severity::High)).await;
    let key = b.byok(&[], &[]);
    let sample = "3234abcd-12ab-34cd-56ef-1234567890ab";
    // WHEN anyone with securityhub:BatchImportFindings imports a CRITICAL finding of their own
    // custom product naming the key
    let mut forged = retarget("securityhub-imported-finding.json", sample, &key);
    forged["detail"]["findings"][0]["ProductArn"] = json!(format!(
        "arn:aws:securityhub:{REGION}:{ACCOUNT}:product/{ACCOUNT}/default"
    ));
    forged["detail"]["findings"][0]["ProductName"] = json!("Default");
    let (result, records) = b.handle(&forged).await;
    // THEN nothing is revoked (a note, no record)
    let summary = result.expect("accepted as a note");
    assert!(
        summary
            .note
            .as_deref()
            .is_some_and(|n| n.contains("product not allowed")),
        "{summary:?}"
    );
    assert!(records.is_empty());
    assert_eq!(deletes(&b), 0);
    // AND the same finding from an AWS integration revokes
    let genuine = retarget("securityhub-imported-finding.json", sample, &key);
    let (result, records) = b.handle(&genuine).await;
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(records[0].outcome, Outcome::Revoked);
}

#[tokio::test]
async fn a_finding_about_another_member_or_its_keys_revokes_nothing_here() {
    // GIVEN imported findings revoke at HIGH, and an in-scope key of this member
    let b = bed_with(with_imported_findings(Severity::High)).await;
    let key = b.byok(&[], &[]);
    let sample = "3234abcd-12ab-34cd-56ef-1234567890ab";
    let genuine = retarget("securityhub-imported-finding.json", sample, &key);
    let foreign_arn = key.arn.replace(ACCOUNT, "222222222222");
    let other_partition = key.arn.replace("arn:aws:", "arn:aws-us-gov:");
    let cases: Vec<(&str, Value)> = vec![
        ("AwsAccountId", json!("222222222222")),
        ("Region", json!("eu-west-1")),
        (
            "Resources",
            json!([{"Type": "AwsKmsKey", "Id": foreign_arn}]),
        ),
        (
            "Resources",
            json!([{"Type": "AwsKmsKey", "Id": other_partition}]),
        ),
    ];
    for (field, value) in cases {
        // WHEN a finding is about another account or Region, or names a key elsewhere
        let mut f = genuine.clone();
        f["detail"]["findings"][0][field] = value;
        let (result, records) = b.handle(&f).await;
        // THEN nothing is revoked here
        assert!(result.is_ok(), "{field}: {result:?}");
        assert!(records.is_empty(), "{field}: {records:?}");
        assert_eq!(deletes(&b), 0, "{field}");
    }
}

#[tokio::test]
async fn a_custom_action_other_than_the_configured_one_revokes_nothing() {
    // GIVEN an in-scope key named by a custom-action finding
    let b = bed_with(config()).await;
    let key = b.byok(&[], &[]);
    let sample = "3234abcd-12ab-34cd-56ef-1234567890ab";
    let genuine = retarget("securityhub-custom-action.json", sample, &key);
    // WHEN the event comes from another custom action (any principal can create one)
    let mut other = genuine.clone();
    other["resources"] = json!([format!(
        "arn:aws:securityhub:{REGION}:{ACCOUNT}:action/custom/Whatever"
    )]);
    let (result, records) = b.handle(&other).await;
    // THEN nothing is revoked
    assert!(result.expect("a note").note.is_some());
    assert!(records.is_empty());
    assert_eq!(deletes(&b), 0);
    // AND the configured action revokes
    let (_, records) = b.handle(&genuine).await;
    assert_eq!(records[0].outcome, Outcome::Revoked);
}

#[tokio::test]
async fn a_guardduty_finding_about_another_account_revokes_nothing_here() {
    // GIVEN a mapping from the sample's finding type to a tag of an in-scope key, and a
    // delegated administrator trusted to forward findings
    let mut cfg = config();
    cfg.trusted_accounts = vec!["999999999999".into()];
    cfg.guardduty_mappings = GuardDutyMapping::parse_list(
        r#"[{"findingType": "UnauthorizedAccess:*", "minSeverity": 5, "tags": {"tenant": "b"}}]"#,
    )
    .expect("mapping");
    let b = bed_with(cfg).await;
    let key = b.byok(&[], &[("tenant", "b")]);
    let mut forwarded = common::event("guardduty-finding.json");
    forwarded["account"] = json!("999999999999");
    // WHEN the administrator forwards a finding about another member account, or Region
    for (field, value) in [("accountId", "222222222222"), ("region", "eu-west-1")] {
        let mut f = forwarded.clone();
        f["detail"][field] = json!(value);
        let (result, records) = b.handle(&f).await;
        // THEN nothing is revoked here
        assert!(result.expect("a note").note.is_some(), "{field}");
        assert!(records.is_empty());
        assert_eq!(deletes(&b), 0);
    }
    // AND a finding about this member revokes the mapped keys
    let (result, records) = b.handle(&forwarded).await;
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].key_arn.as_deref(), Some(key.arn.as_str()));
    assert_eq!(records[0].outcome, Outcome::Revoked);
}

// ---------- organization requests: unambiguous ----------

#[tokio::test]
async fn an_organization_request_naming_a_bare_alias_is_rejected_before_any_call() {
    // GIVEN every account has alias/orders (the same IaC deploys it everywhere)
    let b = bed_with(config()).await;
    let key = b.byok(&["alias/orders"], &[]);
    // WHEN a request for two accounts names alias/orders, or a trusted central account sends
    // a bare key id
    let targeted = json!({"keys": ["alias/orders"], "reason": "r", "incidentId": "INC-ORG",
        "targets": {"accounts": [ACCOUNT, "222222222222"]}});
    let (result, records) = b.handle(&targeted).await;
    // THEN it is rejected as ambiguous, naming the entry, before any KMS call
    let GuardError::Rejected(r) = result.expect_err("ambiguous") else {
        panic!("not a rejection")
    };
    assert_eq!(
        (r.location.as_str(), r.code),
        ("keys[0]", "AmbiguousKeyIdentifier")
    );
    assert_eq!(records.len(), 1);
    assert_eq!(b.sim.counters().total_calls(), 0);
    // AND the alias ARN of this account revokes here
    let alias_arn = format!("arn:aws:kms:{REGION}:{ACCOUNT}:alias/orders");
    let precise = json!({"keys": [alias_arn], "reason": "r", "incidentId": "INC-ORG",
        "targets": {"accounts": [ACCOUNT, "222222222222"]}});
    let (result, records) = b.handle(&precise).await;
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(records[0].outcome, Outcome::Revoked);
    assert_eq!(records[0].key_arn.as_deref(), Some(key.arn.as_str()));
}

#[tokio::test]
async fn an_arn_of_another_partition_is_refused_before_any_call() {
    // GIVEN an in-scope key, and its ARN spelled in the GovCloud partition
    let b = bed_with(config()).await;
    let key = b.byok(&[], &[]);
    let gov = key.arn.replace("arn:aws:", "arn:aws-us-gov:");
    // WHEN a request names it
    let (result, records) = b
        .handle(&json!({"keys": [gov], "reason": "r", "incidentId": "INC-P"}))
        .await;
    // THEN it is refused without a KMS call (KMS endpoints may ignore the partition)
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(records[0].outcome, Outcome::RefusedOtherRegion);
    assert_eq!(b.sim.counters().total_calls(), 0);
    assert_eq!(b.state(&key), KeyState::Enabled);
}

// ---------- every key keeps its record ----------

#[tokio::test]
async fn keys_left_by_the_deadline_keep_their_record_when_the_blast_radius_refuses() {
    // GIVEN a tag selecting more keys than the blast radius, read one at a time at 1 s each, and
    // 1.5 s of time: the first two keys are read (two candidates, over the radius of one), the
    // third is never started (500 ms of slack either way)
    let mut cfg = config();
    cfg.blast_radius = 1;
    cfg.concurrency = 1;
    let b = bed_with(cfg.clone()).await;
    for _ in 0..3 {
        b.byok(&[], &[("tenant", "x")]);
    }
    b.sim.faults().add(
        kms_sim::FaultRule::new(
            "DescribeKey",
            kms_sim::FaultKind::Latency(std::time::Duration::from_millis(1000)),
        )
        .always(),
    );
    let inv = Invocation {
        deadline: kms_material_guard::domain::Deadline::after(
            cfg.deadline_margin + std::time::Duration::from_millis(1500),
        ),
        ..Invocation::local("req-tags")
    };
    let sink = Arc::new(kms_material_guard::MemorySink::new());
    let guard = Guard::new(b.kms.clone(), cfg, sink.clone());
    // WHEN the request is handled
    let result = guard
        .handle_payload(
            &json!({"tags": {"tenant": "x"}, "reason": "r", "incidentId": "INC-T"}),
            &inv,
        )
        .await;
    // THEN no key was deleted, and every listed key that was not read still has its record
    let records = sink.records();
    common::assert_schema_valid(&records);
    assert_eq!(deletes(&b), 0);
    let deferred = records
        .iter()
        .filter(|r| r.outcome == Outcome::Deferred)
        .count();
    let read = records.len() - deferred;
    assert!(deferred > 0, "{records:#?}");
    assert_eq!(read + deferred, 3, "{records:#?}");
    assert!(result.is_err(), "refused or retryable: {result:?}");
}
