//! End to end: the real handler with the real `aws-sdk-kms` client over HTTP against the local
//! KMS (`kms-sim`) on 127.0.0.1. Every trigger in `events/`, key states, scope and blast radius,
//! dry run, retryable faults, throttling, duplicate and concurrent delivery, real decryption
//! failing after revocation.

mod common;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_sdk_kms::primitives::Blob;
use common::bed::{Bed, Continuation, SCOPE, bed, default_bed, material_for};
use common::{ACCOUNT, REGION, config};
use kms_material_guard::audit::AuditRecord;
use kms_material_guard::domain::Action;
use kms_material_guard::{Guard, Invocation, Outcome};
use kms_sim::{
    FaultKind, FaultRule, ImportOptions, KeyInfo, KeySpec, KeyState, KeyStateOverride, SimConfig,
};
use serde_json::{Value, json};

fn revoke(keys: &[&str]) -> Value {
    json!({"keys": keys, "reason": "e2e", "incidentId": "INC-E2E"})
}

fn outcome_of(records: &[AuditRecord], key: &KeyInfo) -> Option<Outcome> {
    records
        .iter()
        .find(|r| r.key_arn.as_deref() == Some(key.arn.as_str()))
        .map(|r| r.outcome)
}

// ---------- every trigger in events/ ----------

#[tokio::test]
async fn incident_sample_revokes_both_named_aliases() {
    // GIVEN the two tenant-a keys the sample names, and an unrelated key
    let b = default_bed().await;
    let orders = b.byok(&["tenant-a/orders"], &[("tenant", "tenant-a")]);
    let payments = b.byok(&["tenant-a/payments"], &[("tenant", "tenant-a")]);
    let other = b.byok(&["tenant-c/misc"], &[("tenant", "tenant-c")]);
    // WHEN events/incident-revocation.json arrives
    let (result, records) = b.handle(&common::event("incident-revocation.json")).await;
    // THEN both are revoked exactly once, verified, and the other key is untouched
    let summary = result.expect("success");
    assert_eq!(summary.counts.get(&Outcome::Revoked), Some(&2));
    for k in [&orders, &payments] {
        assert_eq!(b.state(k), KeyState::PendingImport);
        assert_eq!(b.deletes(k), 1);
        assert_eq!(outcome_of(&records, k), Some(Outcome::Revoked));
    }
    assert_eq!(b.state(&other), KeyState::Enabled);
    assert_eq!(b.deletes(&other), 0);
    // AND each record carries the KMS request ids (describe, tags, delete, verify, list materials)
    // and names the key's materials: the deleted one is PENDING_IMPORT
    for r in &records {
        assert_eq!(r.kms_request_ids.len(), 5, "{r:?}");
        assert_eq!(r.attempts, 5);
        let materials = r.materials.as_ref().expect("materials listed");
        assert_eq!(materials.len(), 1);
        assert_eq!(materials[0].import_state.as_deref(), Some("PENDING_IMPORT"));
        assert_eq!(materials[0].key_material_id, r.key_material_id);
        assert_eq!(r.trigger.source.as_deref(), Some("incident-response"));
        assert_eq!(
            r.trigger.event_id.as_deref(),
            Some("7f6e2a1c-3b4d-4e5f-8a9b-0c1d2e3f4a5b")
        );
        assert_eq!(
            r.key.as_deref().map(|k| k.starts_with("alias/tenant-a/")),
            Some(true)
        );
    }
}

#[tokio::test]
async fn tag_selector_sample_revokes_every_tenant_b_key_in_scope() {
    let b = default_bed().await;
    let b1 = b.byok(&[], &[("tenant", "tenant-b")]);
    let b2 = b.byok(&[], &[("tenant", "tenant-b")]);
    let a1 = b.byok(&[], &[("tenant", "tenant-a")]);
    // an out-of-scope tenant-b key and an AWS_KMS key with the same tag
    let unscoped = b
        .sim
        .store()
        .create_key(KeySpec::external().tag("tenant", "tenant-b"));
    b.sim
        .store()
        .import_material(&unscoped.arn, [9; 32], ImportOptions::default())
        .expect("import");
    let managed = b.sim.store().create_key(
        KeySpec::aws_kms()
            .tag("tenant", "tenant-b")
            .tag(SCOPE.0, SCOPE.1),
    );
    let (result, records) = b
        .handle(&common::event("incident-revocation-tags.json"))
        .await;
    let summary = result.expect("ok");
    assert_eq!(summary.counts.get(&Outcome::Revoked), Some(&2));
    assert_eq!(outcome_of(&records, &b1), Some(Outcome::Revoked));
    assert_eq!(outcome_of(&records, &b2), Some(Outcome::Revoked));
    assert_eq!(
        outcome_of(&records, &unscoped),
        Some(Outcome::RefusedOutOfScope)
    );
    assert_eq!(outcome_of(&records, &a1), None, "not selected, no record");
    assert_eq!(
        outcome_of(&records, &managed),
        None,
        "AWS_KMS keys are never selected"
    );
    assert_eq!(b.state(&unscoped), KeyState::Enabled);
    assert_eq!(b.state(&a1), KeyState::Enabled);
}

#[tokio::test]
async fn dry_run_sample_deletes_nothing() {
    let b = default_bed().await;
    let a1 = b.byok(&[], &[("tenant", "tenant-a")]);
    let (result, records) = b
        .handle(&common::event("incident-revocation-dry-run.json"))
        .await;
    assert!(result.expect("ok").dry_run);
    assert_eq!(outcome_of(&records, &a1), Some(Outcome::WouldRevoke));
    assert_eq!(b.sim.counters().calls("DeleteImportedKeyMaterial"), 0);
    assert_eq!(b.state(&a1), KeyState::Enabled);
}

#[tokio::test]
async fn key_material_sample_deletes_exactly_that_material() {
    // GIVEN a key with two materials: the original (now NON_CURRENT) and a rotated current one
    let b = default_bed().await;
    let key = b.byok(&["tenant-a/orders"], &[]);
    let first = b
        .sim
        .store()
        .describe(&key.arn)
        .and_then(|v| v.current_key_material_id)
        .expect("material");
    b.sim
        .store()
        .import_material(
            &key.arn,
            [42; 32],
            ImportOptions {
                import_type: kms_sim::ImportType::NewKeyMaterial,
                ..ImportOptions::default()
            },
        )
        .expect("new material");
    b.sim.store().rotate_on_demand(&key.arn).expect("rotate");
    // WHEN the sample (with its material id replaced by the old material's) arrives
    let mut event = common::event("incident-revocation-key-material.json");
    event["detail"]["keyMaterialId"] = first.clone().into();
    let (result, records) = b.handle(&event).await;
    // THEN that material was deleted, and (as KMS documents) the whole key is PendingImport
    assert!(result.is_ok(), "{result:?}");
    let r = &records[0];
    assert_eq!(r.outcome, Outcome::Revoked);
    assert_eq!(r.key_material_id.as_deref(), Some(first.as_str()));
    assert_eq!(b.state(&key), KeyState::PendingImport);
}

#[tokio::test]
async fn direct_invocation_sample_revokes() {
    let b = default_bed().await;
    let orders = b.byok(&["tenant-a/orders"], &[]);
    let (result, records) = b.handle(&common::event("direct-invocation.json")).await;
    assert!(result.is_ok());
    assert_eq!(
        records[0].trigger.source.as_deref(),
        Some("direct-invocation")
    );
    assert_eq!(outcome_of(&records, &orders), Some(Outcome::Revoked));
}

#[tokio::test]
async fn expiry_samples_confirm_the_state_kms_left() {
    // GIVEN a key whose material expired (the local KMS clock moved past ValidTo)
    let b = default_bed().await;
    let key = b.sim.store().create_key(KeySpec::external());
    let valid_to = b.sim.clock().now() + Duration::from_secs(3600);
    b.sim
        .store()
        .import_material(
            &key.arn,
            [1; 32],
            ImportOptions {
                valid_to: Some(valid_to),
                ..ImportOptions::default()
            },
        )
        .expect("import");
    b.sim.clock().advance(Duration::from_secs(7200));
    for file in [
        "kms-key-material-expiration.json",
        "cloudtrail-delete-expired-key-material.json",
    ] {
        // WHEN the expiry event (naming this key) arrives
        let mut event = common::event(file);
        let text = event
            .to_string()
            .replace("1234abcd-12ab-34cd-56ef-1234567890ab", &key.key_id);
        event = serde_json::from_str(&text).expect("json");
        let (result, records) = b.handle(&event).await;
        // THEN the record says expired, with the state KMS left the key in; nothing is deleted
        assert!(result.is_ok(), "{file}: {result:?}");
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].action, Action::ObserveExpiry);
        assert_eq!(records[0].outcome, Outcome::Expired);
        assert_eq!(
            records[0].state_after.as_deref(),
            Some("PendingImport"),
            "{file}"
        );
    }
    assert_eq!(b.sim.counters().calls("DeleteImportedKeyMaterial"), 0);
}

#[tokio::test]
async fn scheduled_sweep_sample_revokes_due_keys_and_warns_about_expiring_material() {
    let b = default_bed().await;
    let due = b.byok(
        &[],
        &[("kms-material-guard:revoke-at", "2020-01-01T00:00:00Z")],
    );
    let later = b.byok(
        &[],
        &[("kms-material-guard:revoke-at", "2999-01-01T00:00:00Z")],
    );
    let broken = b.byok(&[], &[("kms-material-guard:revoke-at", "tomorrow-ish")]);
    let expiring = b
        .sim
        .store()
        .create_key(KeySpec::external().tag(SCOPE.0, SCOPE.1));
    b.sim
        .store()
        .import_material(
            &expiring.arn,
            [5; 32],
            ImportOptions {
                valid_to: Some(SystemTime::now() + Duration::from_secs(3 * 86_400)),
                ..ImportOptions::default()
            },
        )
        .expect("import");
    let (result, records) = b.handle(&common::event("scheduled-sweep.json")).await;
    let summary = result.expect("ok");
    assert_eq!(summary.keys_examined, Some(4));
    assert_eq!(outcome_of(&records, &due), Some(Outcome::Revoked));
    assert_eq!(
        records
            .iter()
            .find(|r| r.outcome == Outcome::Revoked)
            .map(|r| r.action),
        Some(Action::ScheduledRevoke)
    );
    assert_eq!(outcome_of(&records, &later), None);
    assert_eq!(
        outcome_of(&records, &broken),
        Some(Outcome::InvalidRevokeAt)
    );
    assert_eq!(outcome_of(&records, &expiring), Some(Outcome::ExpiringSoon));
    assert_eq!(b.state(&due), KeyState::PendingImport);
    assert_eq!(b.state(&broken), KeyState::Enabled);
}

// ---------- revocation really stops cryptography ----------

#[tokio::test]
async fn revoked_key_stops_decrypting_and_reimport_restores_it() {
    // GIVEN a secret encrypted under a BYOK key
    let b = default_bed().await;
    let key = b.byok(&["tenant-a/orders"], &[]);
    let ct = b
        .kms
        .encrypt()
        .key_id("alias/tenant-a/orders")
        .plaintext(Blob::new(b"card-vault-master-secret"))
        .send()
        .await
        .expect("encrypt")
        .ciphertext_blob
        .expect("blob");
    // WHEN the key is revoked
    let (result, _) = b.handle(&revoke(&["alias/tenant-a/orders"])).await;
    assert!(result.is_ok());
    // THEN decrypt fails with KMS's own error
    let err = b
        .kms
        .decrypt()
        .ciphertext_blob(ct.clone())
        .send()
        .await
        .expect_err("revoked");
    let msg = format!("{}", aws_sdk_kms::error::DisplayErrorContext(&err));
    assert!(
        msg.contains("KMSInvalidStateException") && msg.contains("pending import"),
        "{msg}"
    );
    // AND re-importing the same material (the custodian's undo) makes it decrypt again
    b.sim
        .store()
        .import_material(
            &key.arn,
            material_for(&key),
            ImportOptions {
                import_type: kms_sim::ImportType::ExistingKeyMaterial,
                ..ImportOptions::default()
            },
        )
        .expect("reimport");
    let plain = b
        .kms
        .decrypt()
        .ciphertext_blob(ct)
        .send()
        .await
        .expect("decrypts again");
    assert_eq!(
        plain.plaintext.map(|p| p.into_inner()),
        Some(b"card-vault-master-secret".to_vec())
    );
}

// ---------- key states over HTTP ----------

#[tokio::test]
async fn each_key_state_gets_its_outcome_over_http() {
    let b = default_bed().await;
    let enabled = b.byok(&[], &[]);
    let disabled = b.byok(&[], &[]);
    b.kms
        .disable_key()
        .key_id(&disabled.arn)
        .send()
        .await
        .expect("disable");
    let pending_import = b.byok(&[], &[]);
    b.sim
        .store()
        .delete_material(&pending_import.arn, None)
        .expect("delete");
    let pending_deletion = b.byok(&[], &[]);
    b.sim
        .store()
        .schedule_deletion(&pending_deletion.arn, 7)
        .expect("schedule");
    let replica = b.byok(&[], &[]);
    b.sim
        .store()
        .set_key_state(&replica.arn, KeyStateOverride::PendingReplicaDeletion)
        .expect("state");
    let mut cfg = config();
    cfg.max_attempts = 2;
    let b2 = Bed {
        guard: Guard::new(b.kms.clone(), cfg, b.sink.clone()),
        ..b
    };
    let creating = b2.byok(&[], &[]);
    b2.sim
        .store()
        .set_key_state(&creating.arn, KeyStateOverride::Creating)
        .expect("state");
    let all = [
        &enabled,
        &disabled,
        &pending_import,
        &pending_deletion,
        &replica,
        &creating,
    ];
    let arns: Vec<&str> = all.iter().map(|k| k.arn.as_str()).collect();
    let (result, records) = b2.handle(&revoke(&arns)).await;
    assert_eq!(outcome_of(&records, &enabled), Some(Outcome::Revoked));
    assert_eq!(outcome_of(&records, &disabled), Some(Outcome::Revoked));
    assert_eq!(
        outcome_of(&records, &pending_import),
        Some(Outcome::AlreadyRevoked)
    );
    assert_eq!(
        outcome_of(&records, &pending_deletion),
        Some(Outcome::UnchangedPendingDeletion)
    );
    assert_eq!(
        outcome_of(&records, &replica),
        Some(Outcome::UnchangedPendingDeletion)
    );
    assert_eq!(
        outcome_of(&records, &creating),
        Some(Outcome::FailedRetryable)
    );
    assert_eq!(b2.state(&disabled), KeyState::PendingImport);
    assert_eq!(b2.state(&pending_deletion), KeyState::PendingDeletion);
    // a Creating key makes the whole invocation retryable, after every key was attempted
    assert_eq!(
        result.expect_err("retryable").error_type(),
        "KmsMaterialGuard.Retryable"
    );
    assert_eq!(records.len(), 6);
    for k in [&pending_import, &pending_deletion, &replica, &creating] {
        assert_eq!(
            b2.deletes(k),
            0,
            "no delete for {:?}",
            outcome_of(&records, k)
        );
    }
}

#[tokio::test]
async fn scope_origin_account_and_region_guardrails_hold_over_http() {
    let b = default_bed().await;
    let unscoped = b.sim.store().create_key(KeySpec::external());
    b.sim
        .store()
        .import_material(&unscoped.arn, [3; 32], ImportOptions::default())
        .expect("import");
    let managed = b
        .sim
        .store()
        .create_key(KeySpec::aws_kms().tag(SCOPE.0, SCOPE.1));
    let foreign = format!("arn:aws:kms:{REGION}:222222222222:key/{}", unscoped.key_id);
    let elsewhere = format!("arn:aws:kms:eu-west-1:{ACCOUNT}:key/{}", unscoped.key_id);
    let (result, records) = b
        .handle(&revoke(&[
            &unscoped.arn,
            &managed.arn,
            &foreign,
            &elsewhere,
            "alias/missing",
        ]))
        .await;
    assert!(result.is_ok());
    let by_key = |k: &str| {
        records
            .iter()
            .find(|r| r.key.as_deref() == Some(k))
            .map(|r| r.outcome)
    };
    assert_eq!(by_key(&unscoped.arn), Some(Outcome::RefusedOutOfScope));
    assert_eq!(by_key(&managed.arn), Some(Outcome::SkippedNotExternal));
    assert_eq!(by_key(&foreign), Some(Outcome::RefusedCrossAccount));
    assert_eq!(by_key(&elsewhere), Some(Outcome::RefusedOtherRegion));
    assert_eq!(by_key("alias/missing"), Some(Outcome::NotFound));
    assert_eq!(b.sim.counters().calls("DeleteImportedKeyMaterial"), 0);
    assert_eq!(b.state(&unscoped), KeyState::Enabled);
}

#[tokio::test]
async fn tag_selection_over_the_blast_radius_deletes_nothing_over_http() {
    let mut cfg = config();
    cfg.blast_radius = 2;
    let b = bed(SimConfig::unlimited(), cfg).await;
    let keys: Vec<KeyInfo> = (0..3)
        .map(|_| b.byok(&[], &[("tenant", "tenant-b")]))
        .collect();
    let (result, records) = b
        .handle(&common::event("incident-revocation-tags.json"))
        .await;
    assert_eq!(
        result.expect_err("refused").error_type(),
        "KmsMaterialGuard.RefusedBlastRadius"
    );
    assert_eq!(records.len(), 3);
    assert!(
        records
            .iter()
            .all(|r| r.outcome == Outcome::RefusedBlastRadius)
    );
    assert_eq!(b.sim.counters().calls("DeleteImportedKeyMaterial"), 0);
    assert!(keys.iter().all(|k| b.state(k) == KeyState::Enabled));
}

// ---------- at-least-once delivery ----------

#[tokio::test]
async fn the_same_event_delivered_three_times_deletes_once_per_key() {
    let b = default_bed().await;
    let orders = b.byok(&["tenant-a/orders"], &[]);
    let payments = b.byok(&["tenant-a/payments"], &[]);
    let event = common::event("incident-revocation.json");
    let mut outcomes = Vec::new();
    for _ in 0..3 {
        let (result, records) = b.handle(&event).await;
        assert!(result.is_ok());
        outcomes.push(records.iter().map(|r| r.outcome).collect::<Vec<_>>());
    }
    assert_eq!(b.deletes(&orders), 1);
    assert_eq!(b.deletes(&payments), 1);
    assert_eq!(outcomes[0], vec![Outcome::Revoked, Outcome::Revoked]);
    assert_eq!(
        outcomes[1],
        vec![Outcome::AlreadyRevoked, Outcome::AlreadyRevoked]
    );
    assert_eq!(
        outcomes[2],
        vec![Outcome::AlreadyRevoked, Outcome::AlreadyRevoked]
    );
}

#[tokio::test]
async fn the_same_event_delivered_three_times_concurrently_deletes_once_per_key() {
    // GIVEN KMS answers slowly, so three concurrent deliveries all see the keys Enabled
    let b = bed(
        SimConfig::unlimited().with_latency(Duration::from_millis(20), Duration::from_millis(40)),
        config(),
    )
    .await;
    let keys: Vec<KeyInfo> = (0..5).map(|i| b.byok(&[&format!("c/{i}")], &[])).collect();
    let names: Vec<String> = keys.iter().map(|k| k.arn.clone()).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let event = revoke(&names);
    // WHEN the event is handled three times at once by the same process
    let inv = Invocation::local("concurrent");
    let (r1, r2, r3) = tokio::join!(
        b.guard.handle_payload(&event, &inv),
        b.guard.handle_payload(&event, &inv),
        b.guard.handle_payload(&event, &inv)
    );
    // THEN each key's material was deleted exactly once in total
    assert!(r1.is_ok() && r2.is_ok() && r3.is_ok());
    for k in &keys {
        assert_eq!(b.deletes(k), 1, "{}", k.arn);
    }
    let records = b.sink.take();
    common::assert_schema_valid(&records);
    assert_eq!(records.len(), 15);
    assert_eq!(
        records
            .iter()
            .filter(|r| r.outcome == Outcome::Revoked)
            .count(),
        5
    );
    assert_eq!(
        records
            .iter()
            .filter(|r| r.outcome == Outcome::AlreadyRevoked)
            .count(),
        10
    );
}

// ---------- faults and throttling ----------

#[tokio::test]
async fn retryable_kms_errors_are_retried_inside_the_invocation() {
    let b = default_bed().await;
    let key = b.byok(&[], &[]);
    b.sim
        .faults()
        .add(FaultRule::new("DeleteImportedKeyMaterial", FaultKind::dependency_timeout()).times(1));
    b.sim
        .faults()
        .add(FaultRule::new("DeleteImportedKeyMaterial", FaultKind::internal()).times(1));
    let (result, records) = b.handle(&revoke(&[&key.arn])).await;
    assert!(result.is_ok());
    assert_eq!(records[0].outcome, Outcome::Revoked);
    assert_eq!(b.deletes(&key), 3);
    assert_eq!(
        b.sim
            .counters()
            .successes_for_key("DeleteImportedKeyMaterial", &key.key_id),
        1
    );
}

#[tokio::test]
async fn a_dropped_answer_to_an_applied_delete_is_not_deleted_again() {
    // GIVEN the local KMS applies the delete, then drops the connection
    let b = default_bed().await;
    let key = b.byok(&[], &[]);
    b.sim
        .faults()
        .add(FaultRule::new("DeleteImportedKeyMaterial", FaultKind::ApplyThenDrop).times(1));
    let (result, records) = b.handle(&revoke(&[&key.arn])).await;
    // THEN the function looks before repeating: revoked with exactly one delete call
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(records[0].outcome, Outcome::Revoked);
    assert_eq!(b.deletes(&key), 1);
    assert_eq!(b.state(&key), KeyState::PendingImport);
}

#[tokio::test]
async fn persistent_outage_fails_retryable_and_a_redelivery_finishes() {
    let mut cfg = config();
    cfg.max_attempts = 3;
    let b = bed(SimConfig::unlimited(), cfg).await;
    let key = b.byok(&[], &[]);
    let rule = b
        .sim
        .faults()
        .add(FaultRule::new("DeleteImportedKeyMaterial", FaultKind::Http500).always());
    let event = revoke(&[&key.arn]);
    let (result, records) = b.handle(&event).await;
    let err = result.expect_err("retryable");
    assert_eq!(err.error_type(), "KmsMaterialGuard.Retryable");
    assert_eq!(records[0].outcome, Outcome::FailedRetryable);
    assert_eq!(b.state(&key), KeyState::Enabled);
    // WHEN KMS recovers and EventBridge redelivers
    b.sim.faults().remove(rule);
    let (result, records) = b.handle(&event).await;
    assert!(result.is_ok());
    assert_eq!(records[0].outcome, Outcome::Revoked);
}

#[tokio::test]
async fn throttled_deletes_slow_down_and_all_complete() {
    // GIVEN KMS allows only 4 deletes/s while the function is configured for 20/s
    let mut cfg = config();
    cfg.delete_rate = 20.0;
    let b = bed(
        SimConfig::unlimited().with_quota("DeleteImportedKeyMaterial", 4.0),
        cfg,
    )
    .await;
    let keys: Vec<KeyInfo> = (0..12).map(|_| b.byok(&[], &[])).collect();
    let arns: Vec<&str> = keys.iter().map(|k| k.arn.as_str()).collect();
    let (result, records) = b.handle(&revoke(&arns)).await;
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(
        records
            .iter()
            .filter(|r| r.outcome == Outcome::Revoked)
            .count(),
        12
    );
    assert!(
        b.sim.counters().throttled("DeleteImportedKeyMaterial") > 0,
        "the quota was hit"
    );
    assert!(
        b.guard.delete_rate() < 20.0,
        "the pacer slowed down: {}",
        b.guard.delete_rate()
    );
    for k in &keys {
        assert_eq!(
            b.sim
                .counters()
                .successes_for_key("DeleteImportedKeyMaterial", &k.key_id),
            1
        );
    }
}

// ---------- the documented local estate (README quickstart) ----------

#[tokio::test]
async fn the_local_estate_answers_every_sample_as_the_readme_says() {
    // GIVEN the local KMS seeded with local/estate.json (what `cargo run -p kms-sim -- --seed` loads)
    let seed =
        kms_sim::Seed::from_file(&common::repo_path("local/estate.json")).expect("seed parses");
    let b = bed(SimConfig::unlimited().with_seed(seed), config()).await;
    let expect = [
        (
            "incident-revocation-dry-run.json",
            vec![(Outcome::WouldRevoke, 2)],
        ),
        ("incident-revocation.json", vec![(Outcome::Revoked, 2)]),
        (
            "incident-revocation-tags.json",
            vec![(Outcome::Revoked, 3), (Outcome::RefusedOutOfScope, 1)],
        ),
        (
            "kms-key-material-expiration.json",
            vec![(Outcome::Expired, 1)],
        ),
        (
            "cloudtrail-delete-expired-key-material.json",
            vec![(Outcome::Expired, 1)],
        ),
        (
            "cloudtrail-import-key-material.json",
            vec![(Outcome::Rotated, 1)],
        ),
        (
            "kms-cmk-rotation.json",
            vec![(Outcome::RotationObserved, 1)],
        ),
        (
            "securityhub-custom-action.json",
            vec![(Outcome::Revoked, 1)],
        ),
        ("securityhub-imported-finding.json", vec![]),
        ("guardduty-finding.json", vec![]),
        (
            "scheduled-sweep.json",
            vec![(Outcome::Revoked, 1), (Outcome::ExpiringSoon, 1)],
        ),
        ("direct-invocation.json", vec![(Outcome::AlreadyRevoked, 1)]),
        (
            "incident-revocation-key-material.json",
            vec![(Outcome::AlreadyRevoked, 1)],
        ),
    ];
    for (file, counts) in expect {
        // WHEN each sample is handled in the README's order
        let (result, _) = b.handle(&common::event(file)).await;
        // THEN it produces the outcomes the README lists
        let summary = result.unwrap_or_else(|e| panic!("{file}: {e}"));
        let got: Vec<(Outcome, usize)> = summary.counts.into_iter().collect();
        let mut want = counts.clone();
        want.sort();
        assert_eq!(got, want, "{file}");
    }
}

// ---------- continuation of large requests ----------

/// Records continuation payloads instead of invoking Lambda.
#[derive(Default)]
struct CapturedContinuations(std::sync::Mutex<Vec<Value>>);

impl kms_material_guard::continuer::Continuer for CapturedContinuations {
    fn start<'a>(
        &'a self,
        payload: &'a Value,
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Option<String>, String>> + Send + 'a>,
    > {
        Box::pin(async move {
            let mut v = self.0.lock().map_err(|e| e.to_string())?;
            v.push(payload.clone());
            Ok(Some(format!("continuation-{}", v.len())))
        })
    }
}

#[tokio::test]
async fn a_request_larger_than_one_invocation_continues_in_a_fresh_one() {
    // GIVEN 30 keys, deletes paced at 5/s (6 s for all), and an invocation with ~2 s before its
    // deadline: time for some deletes even on a loaded machine, not for all
    let mut cfg = config();
    cfg.delete_rate = 5.0;
    let b = bed(SimConfig::unlimited(), cfg.clone()).await;
    cfg.continuation_key = Some(b.continuation_key());
    let continuations = Arc::new(CapturedContinuations::default());
    let guard = Guard::new(b.kms.clone(), cfg.clone(), b.sink.clone())
        .with_continuer(continuations.clone());
    let keys: Vec<KeyInfo> = (0..30).map(|_| b.byok(&[], &[])).collect();
    let arns: Vec<&str> = keys.iter().map(|k| k.arn.as_str()).collect();
    let mut event = common::event("incident-revocation.json");
    event["detail"]["keys"] = serde_json::json!(arns);
    let mut first = Invocation::local("req-first");
    first.deadline = kms_material_guard::domain::Deadline::after(
        cfg.deadline_margin + Duration::from_millis(2000),
    );
    // WHEN the first invocation runs out of time
    let summary = guard
        .handle_payload(&event, &first)
        .await
        .expect("handed over, not failed");
    let records = b.sink.take();
    common::assert_schema_valid(&records);
    // THEN the keys it could not reach are `continued`, and one continuation carries exactly them
    let revoked = records
        .iter()
        .filter(|r| r.outcome == Outcome::Revoked)
        .count();
    let continued: Vec<&AuditRecord> = records
        .iter()
        .filter(|r| r.outcome == Outcome::Continued)
        .collect();
    assert!(
        revoked > 0 && !continued.is_empty(),
        "revoked {revoked}, continued {}",
        continued.len()
    );
    assert_eq!(revoked + continued.len(), 30);
    assert_eq!(summary.continued_by.as_deref(), Some("continuation-1"));
    let payloads = continuations.0.lock().expect("lock").clone();
    assert_eq!(payloads.len(), 1);
    let body: Value = serde_json::from_str(
        payloads[0]["continuation"]["body"]
            .as_str()
            .expect("a sealed body"),
    )
    .expect("the body is JSON");
    let carried = body["keys"].as_array().map(Vec::len);
    assert_eq!(carried, Some(continued.len()));
    assert_eq!(body["parentRequestId"], "req-first");
    // WHEN Lambda delivers the continuation
    let summary = guard
        .handle_payload(&payloads[0], &Invocation::local("req-second"))
        .await
        .expect("ok");
    let records = b.sink.take();
    common::assert_schema_valid(&records);
    // THEN the rest is revoked, records keep the original trigger, and no key was deleted twice
    assert_eq!(
        summary.counts.get(&Outcome::Revoked),
        Some(&continued.len())
    );
    for r in &records {
        assert_eq!(
            r.trigger.event_id.as_deref(),
            Some("7f6e2a1c-3b4d-4e5f-8a9b-0c1d2e3f4a5b")
        );
        assert_eq!(r.trigger.continuation_of.as_deref(), Some("req-first"));
        assert_eq!(r.incident_id.as_deref(), Some("INC-2026-1129-001"));
    }
    for k in &keys {
        assert_eq!(b.state(k), KeyState::PendingImport);
        assert_eq!(b.deletes(k), 1, "{}", k.arn);
    }
}

#[tokio::test]
async fn a_continuation_that_makes_no_progress_stops_the_chain() {
    // GIVEN a continuation payload delivered with no time left
    let mut cfg = config();
    let b = bed(SimConfig::unlimited(), cfg.clone()).await;
    let sealing = b.continuation_key();
    cfg.continuation_key = Some(sealing.clone());
    let continuations = Arc::new(CapturedContinuations::default());
    let guard =
        Guard::new(b.kms.clone(), cfg, b.sink.clone()).with_continuer(continuations.clone());
    let key = b.byok(&[], &[]);
    let payload = b
        .sealed_continuation(
            &sealing,
            Continuation {
                sequence: 3,
                keys: &[&key.arn],
                key_material_id: None,
            },
        )
        .await;
    let mut inv = Invocation::local("req-3");
    inv.deadline = kms_material_guard::domain::Deadline::after(Duration::ZERO);
    // WHEN it is handled
    let err = guard
        .handle_payload(&payload, &inv)
        .await
        .expect_err("no progress");
    // THEN no further continuation starts: the key is deferred and the invocation asks for a retry
    assert_eq!(err.error_type(), "KmsMaterialGuard.Retryable");
    assert!(continuations.0.lock().expect("lock").is_empty());
    let records = b.sink.take();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].outcome, Outcome::Deferred);
    assert_eq!(records[0].error_code.as_deref(), Some("DeadlineReached"));
}

#[tokio::test]
async fn an_authentic_continuation_still_meets_every_guardrail() {
    // GIVEN continuations sealed by the function, naming an out-of-scope key, and more keys than
    // the blast radius
    let mut cfg = config();
    cfg.blast_radius = 2;
    let b = bed(SimConfig::unlimited(), cfg.clone()).await;
    let sealing = b.continuation_key();
    cfg.continuation_key = Some(sealing.clone());
    let b = Bed {
        guard: Guard::new(b.kms.clone(), cfg, b.sink.clone()),
        ..b
    };
    let unscoped = b.sim.store().create_key(KeySpec::external());
    b.sim
        .store()
        .import_material(&unscoped.arn, [1; 32], ImportOptions::default())
        .expect("import");
    let sealed = |keys| Continuation {
        sequence: 1,
        keys,
        key_material_id: None,
    };
    // WHEN they are handled
    let unscoped_arns = [unscoped.arn.as_str()];
    let one = b
        .sealed_continuation(&sealing, sealed(&unscoped_arns))
        .await;
    let (result, records) = b.handle(&one).await;
    // THEN the scope is checked again, and the blast radius
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(records[0].outcome, Outcome::RefusedOutOfScope);
    let many = b
        .sealed_continuation(&sealing, sealed(&["alias/k0", "alias/k1", "alias/k2"]))
        .await;
    let (result, _) = b.handle(&many).await;
    assert_eq!(
        result.expect_err("refused").error_type(),
        "KmsMaterialGuard.RefusedBlastRadius"
    );
    assert_eq!(b.sim.counters().calls("DeleteImportedKeyMaterial"), 0);
}

// ---------- organization requests ----------

#[tokio::test]
async fn an_organization_request_acts_only_where_it_is_targeted_and_only_on_own_keys() {
    let b = default_bed().await;
    let mine = b.byok(&[], &[("supplier", "acme-hsm")]);
    let elsewhere = format!("arn:aws:kms:eu-west-1:{ACCOUNT}:key/{}", mine.key_id);
    let foreign = format!("arn:aws:kms:{REGION}:222222222222:key/{}", mine.key_id);
    let request = |targets: Value, keys: Vec<&str>| {
        json!({"keys": keys, "tags": {"supplier": "acme-hsm"}, "reason": "supplier HSM compromised",
               "incidentId": "INC-ORG", "targets": targets})
    };
    // GIVEN a request for other accounts only: nothing happens here, and a summary says so
    let (result, records) = b
        .handle(&request(
            json!({"accounts": ["222222222222", "333333333333"]}),
            vec![&foreign],
        ))
        .await;
    let summary = result.expect("ok");
    assert_eq!(summary.targeted, Some(false));
    assert!(records.is_empty());
    assert_eq!(b.sim.counters().total_calls(), 0);
    let s = b.sink.summaries();
    assert_eq!(
        s.last()
            .map(|v| (v["targeted"].clone(), v["complete"].clone())),
        Some((json!(false), json!(true)))
    );
    // WHEN the request targets this account and Region, naming keys of other members too
    let (result, records) = b
        .handle(&request(
            json!({"accounts": [ACCOUNT], "regions": [REGION]}),
            vec![&foreign, &elsewhere],
        ))
        .await;
    // THEN only this member's key is revoked; the others are left to their owners silently
    let summary = result.expect("ok");
    assert_eq!(summary.targeted, Some(true));
    assert_eq!(summary.skipped_other_members, 2);
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].key_arn.as_deref(), Some(mine.arn.as_str()));
    assert_eq!(records[0].outcome, Outcome::Revoked);
    let s = b.sink.summaries();
    let last = s.last().expect("summary");
    assert_eq!(last["complete"], true);
    assert_eq!(last["counts"]["revoked"], 1);
    assert_eq!(last["incident_id"], "INC-ORG");
}

#[tokio::test]
async fn organizational_units_target_members_that_belong_to_them() {
    let mut cfg = config();
    cfg.organizational_units = vec!["ou-ab12-payments1".into(), "r-ab12".into()];
    let b = bed(SimConfig::unlimited(), cfg).await;
    let key = b.byok(&[], &[("supplier", "acme-hsm")]);
    let req = |ou: &str| {
        json!({"tags": {"supplier": "acme-hsm"}, "reason": "r", "incidentId": "INC-OU", "dryRun": true,
               "targets": {"organizationalUnits": [ou]}})
    };
    let (result, _) = b.handle(&req("ou-ab12-security")).await;
    assert_eq!(result.expect("ok").targeted, Some(false));
    let (result, records) = b.handle(&req("ou-ab12-payments1")).await;
    assert_eq!(result.expect("ok").targeted, Some(true));
    assert_eq!(records[0].outcome, Outcome::WouldRevoke);
    assert_eq!(records[0].key_arn.as_deref(), Some(key.arn.as_str()));
}
