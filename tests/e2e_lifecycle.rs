//! End to end against the local KMS: the key-material lifecycle (staged rotations, crypto-periods,
//! rotation events), Security Hub and GuardDuty triggers, audit publishing to EventBridge and the
//! EMF metrics.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_kms::primitives::Blob;
use common::bed::{Bed, SCOPE, bed, default_bed, sdk_config};
use common::config;
use kms_material_guard::audit::{AuditSink, Tee};
use kms_material_guard::config::{GuardDutyMapping, Severity};
use kms_material_guard::domain::Action;
use kms_material_guard::publish::{
    EVENT_DETAIL_TYPE, EVENT_SOURCE, EventBridgeSink, SUMMARY_DETAIL_TYPE,
};
use kms_material_guard::{Config, Guard, Invocation, MemorySink, Outcome};
use kms_sim::{
    FaultKind, FaultRule, ImportOptions, ImportType, KeyInfo, KeySpec, KeyState, SimConfig,
};
use serde_json::Value;

const AUTO: (&str, &str) = ("kms-material-guard:auto-rotate", "true");

/// Replaces the fixed key id of a sample event with a seeded key's.
fn event_for(file: &str, fixed_id: &str, key: &KeyInfo) -> Value {
    let text = common::event(file)
        .to_string()
        .replace(fixed_id, &key.key_id);
    serde_json::from_str(&text).expect("json")
}

/// The custodian's side of a rotation: import new material as NEW_KEY_MATERIAL through the SDK
/// (GetParametersForImport, wrap, ImportKeyMaterial); it waits as PENDING_ROTATION.
async fn stage_new_material(b: &Bed, key: &KeyInfo, material: [u8; 32]) {
    use aws_sdk_kms::types::{
        AlgorithmSpec, ExpirationModelType, ImportType as SdkImportType, WrappingKeySpec,
    };
    let params = b
        .kms
        .get_parameters_for_import()
        .key_id(&key.arn)
        .wrapping_algorithm(AlgorithmSpec::RsaesOaepSha256)
        .wrapping_key_spec(WrappingKeySpec::Rsa2048)
        .send()
        .await
        .expect("parameters");
    let wrapped = kms_sim::wrap::wrap_key_material(
        params.public_key.as_ref().expect("public key").as_ref(),
        &material,
        "RSAES_OAEP_SHA_256",
    )
    .expect("wrap");
    b.kms
        .import_key_material()
        .key_id(&key.arn)
        .import_token(params.import_token.expect("token"))
        .encrypted_key_material(Blob::new(wrapped))
        .expiration_model(ExpirationModelType::KeyMaterialDoesNotExpire)
        .import_type(SdkImportType::NewKeyMaterial)
        .key_material_description("HSM batch 2026-11")
        .send()
        .await
        .expect("import NEW_KEY_MATERIAL");
}

async fn encrypt(b: &Bed, key: &KeyInfo, text: &[u8]) -> Blob {
    b.kms
        .encrypt()
        .key_id(&key.arn)
        .plaintext(Blob::new(text.to_vec()))
        .send()
        .await
        .expect("encrypt")
        .ciphertext_blob
        .expect("blob")
}

async fn decrypt_material(b: &Bed, ct: &Blob) -> Option<String> {
    let out = b
        .kms
        .decrypt()
        .ciphertext_blob(ct.clone())
        .send()
        .await
        .expect("decrypt");
    out.key_material_id
}

fn current_material(b: &Bed, key: &KeyInfo) -> Option<String> {
    b.sim
        .store()
        .describe(&key.arn)
        .and_then(|v| v.current_key_material_id)
}

// ---------- completing staged rotations ----------

#[tokio::test]
async fn a_staged_rotation_is_completed_on_the_import_event() {
    // GIVEN an opted-in key with a ciphertext under its first material, and new material staged
    let b = default_bed().await;
    let key = b.byok(&["tenant-d/rotating"], &[AUTO]);
    let first = current_material(&b, &key).expect("material");
    let old_ct = encrypt(&b, &key, b"before rotation").await;
    stage_new_material(&b, &key, [77; 32]).await;
    assert_eq!(
        current_material(&b, &key).as_deref(),
        Some(first.as_str()),
        "staged, not yet current"
    );
    // WHEN CloudTrail's ImportKeyMaterial event arrives
    let event = event_for(
        "cloudtrail-import-key-material.json",
        "2234abcd-12ab-34cd-56ef-1234567890ab",
        &key,
    );
    let (result, records) = b.handle(&event).await;
    // THEN the function made the new material current and recorded both ids
    let summary = result.expect("ok");
    assert_eq!(summary.counts.get(&Outcome::Rotated), Some(&1));
    let r = &records[0];
    assert_eq!(r.action, Action::Rotate);
    assert_eq!(r.previous_key_material_id.as_deref(), Some(first.as_str()));
    let second = current_material(&b, &key).expect("material");
    assert_ne!(second, first);
    assert_eq!(r.key_material_id.as_deref(), Some(second.as_str()));
    let materials = r.materials.as_ref().expect("materials");
    assert_eq!(materials.len(), 2);
    assert!(
        materials
            .iter()
            .any(|m| m.key_material_state.as_deref() == Some("NON_CURRENT"))
    );
    assert_eq!(b.sim.counters().calls("RotateKeyOnDemand"), 1);
    // AND old ciphertexts still decrypt (with the old material) while new ones use the new one
    assert_eq!(
        decrypt_material(&b, &old_ct).await.as_deref(),
        Some(first.as_str())
    );
    let new_ct = encrypt(&b, &key, b"after rotation").await;
    assert_eq!(
        decrypt_material(&b, &new_ct).await.as_deref(),
        Some(second.as_str())
    );
    // AND a redelivered event changes nothing
    let (result, records) = b.handle(&event).await;
    assert!(result.is_ok());
    assert_eq!(records[0].outcome, Outcome::NothingToRotate);
    assert_eq!(b.sim.counters().calls("RotateKeyOnDemand"), 1);
}

#[tokio::test]
async fn keys_that_did_not_opt_in_keep_their_staged_material() {
    let b = default_bed().await;
    let key = b.byok(&[], &[]);
    stage_new_material(&b, &key, [78; 32]).await;
    let event = event_for(
        "cloudtrail-import-key-material.json",
        "2234abcd-12ab-34cd-56ef-1234567890ab",
        &key,
    );
    let (result, records) = b.handle(&event).await;
    assert!(result.is_ok());
    assert_eq!(records[0].outcome, Outcome::RefusedOutOfScope);
    assert_eq!(records[0].error_code.as_deref(), Some("RotationNotOptedIn"));
    assert_eq!(b.sim.counters().calls("RotateKeyOnDemand"), 0);
}

#[tokio::test]
async fn a_conflicting_automatic_rotation_is_retried_later() {
    let b = default_bed().await;
    let key = b.byok(&[], &[AUTO]);
    stage_new_material(&b, &key, [79; 32]).await;
    b.sim
        .faults()
        .add(FaultRule::new("RotateKeyOnDemand", FaultKind::conflict()).times(1));
    let event = event_for(
        "cloudtrail-import-key-material.json",
        "2234abcd-12ab-34cd-56ef-1234567890ab",
        &key,
    );
    let (result, records) = b.handle(&event).await;
    assert_eq!(
        result.expect_err("retry later").error_type(),
        "KmsMaterialGuard.Retryable"
    );
    assert_eq!(records[0].outcome, Outcome::FailedRetryable);
    assert_eq!(records[0].error_code.as_deref(), Some("ConflictException"));
    // WHEN EventBridge redelivers THEN the rotation completes
    let (result, records) = b.handle(&event).await;
    assert!(result.is_ok());
    assert_eq!(records[0].outcome, Outcome::Rotated);
}

#[tokio::test]
async fn the_rotation_limit_is_reported_as_final() {
    // GIVEN a key that already used its 25 on-demand rotations
    let b = default_bed().await;
    let key = b.byok(&[], &[AUTO]);
    for i in 0..kms_sim::MAX_ON_DEMAND_ROTATIONS {
        let options = ImportOptions {
            import_type: ImportType::NewKeyMaterial,
            ..ImportOptions::default()
        };
        b.sim
            .store()
            .import_material(&key.arn, [100 + i as u8; 32], options)
            .expect("stage");
        b.sim.store().rotate_on_demand(&key.arn).expect("rotate");
    }
    stage_new_material(&b, &key, [7; 32]).await;
    let event = event_for(
        "cloudtrail-import-key-material.json",
        "2234abcd-12ab-34cd-56ef-1234567890ab",
        &key,
    );
    let (result, records) = b.handle(&event).await;
    assert!(result.is_ok(), "final, no retry");
    assert_eq!(records[0].outcome, Outcome::Failed);
    assert_eq!(
        records[0].error_code.as_deref(),
        Some("LimitExceededException")
    );
}

#[tokio::test]
async fn the_sweep_completes_staged_rotations_of_opted_in_keys() {
    let b = default_bed().await;
    let opted = b.byok(&[], &[AUTO]);
    let not_opted = b.byok(&[], &[]);
    stage_new_material(&b, &opted, [81; 32]).await;
    stage_new_material(&b, &not_opted, [82; 32]).await;
    let (result, records) = b.handle(&common::event("scheduled-sweep.json")).await;
    assert!(result.is_ok());
    assert_eq!(records.len(), 1, "{records:#?}");
    assert_eq!(records[0].outcome, Outcome::Rotated);
    assert_eq!(records[0].key_arn.as_deref(), Some(opted.arn.as_str()));
    let pending = |k: &KeyInfo| {
        b.sim.store().describe(&k.arn).map(|v| {
            v.materials
                .iter()
                .filter(|m| m.state == kms_sim::KeyMaterialState::PendingRotation)
                .count()
        })
    };
    assert_eq!(pending(&opted), Some(0));
    assert_eq!(pending(&not_opted), Some(1));
}

// ---------- crypto-periods ----------

async fn sweep_at(b: &Bed, cfg: Config, days_ahead: i64) -> Vec<kms_material_guard::AuditRecord> {
    let sink = Arc::new(MemorySink::new());
    let now = chrono::Utc::now() + chrono::Duration::days(days_ahead);
    let guard = Guard::new(b.kms.clone(), cfg, sink.clone()).with_clock(move || now);
    let _ = guard
        .handle_payload(
            &common::event("scheduled-sweep.json"),
            &Invocation::local("sweep"),
        )
        .await;
    let records = sink.records();
    common::assert_schema_valid(&records);
    records
}

#[tokio::test]
async fn material_past_its_crypto_period_is_reported_then_revoked_after_the_grace() {
    let b = default_bed().await;
    let report_only = b.byok(&[], &[("kms-material-guard:max-material-age-days", "30")]);
    let revoke = b.byok(
        &[],
        &[
            ("kms-material-guard:max-material-age-days", "30"),
            ("kms-material-guard:on-crypto-period", "revoke"),
        ],
    );
    let fresh = b.byok(&[], &[("kms-material-guard:max-material-age-days", "90")]);
    let broken = b.byok(
        &[],
        &[("kms-material-guard:max-material-age-days", "a month")],
    );
    // WHEN the sweep runs 33 days later (inside the 7-day grace)
    let records = sweep_at(&b, config(), 33).await;
    let outcome = |k: &KeyInfo| {
        records
            .iter()
            .find(|r| r.key_arn.as_deref() == Some(k.arn.as_str()))
            .map(|r| r.outcome)
    };
    assert_eq!(outcome(&report_only), Some(Outcome::RotationDue));
    assert_eq!(outcome(&revoke), Some(Outcome::RotationDue));
    assert_eq!(outcome(&fresh), None);
    assert_eq!(outcome(&broken), Some(Outcome::InvalidTag));
    assert_eq!(b.state(&revoke), KeyState::Enabled);
    // AND 40 days later the key tagged `revoke` is revoked, the other only reported
    let records = sweep_at(&b, config(), 40).await;
    let r = records
        .iter()
        .find(|r| r.key_arn.as_deref() == Some(revoke.arn.as_str()))
        .expect("record");
    assert_eq!(
        (r.action, r.outcome),
        (Action::ScheduledRevoke, Outcome::Revoked)
    );
    assert!(
        r.reason
            .as_deref()
            .is_some_and(|s| s.contains("crypto-period"))
    );
    assert_eq!(b.state(&revoke), KeyState::PendingImport);
    assert_eq!(b.state(&report_only), KeyState::Enabled);
}

#[tokio::test]
async fn the_configured_default_crypto_period_applies_to_untagged_keys() {
    let b = default_bed().await;
    let key = b.byok(&[], &[]);
    let mut cfg = config();
    cfg.max_material_age = Some(Duration::from_secs(10 * 86_400));
    let records = sweep_at(&b, cfg, 11).await;
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].outcome, Outcome::RotationDue);
    assert_eq!(records[0].key_arn.as_deref(), Some(key.arn.as_str()));
    assert_eq!(
        records[0].error_code.as_deref(),
        Some("CryptoPeriodExceeded")
    );
}

// ---------- KMS rotation events ----------

#[tokio::test]
async fn kms_rotation_events_of_in_scope_external_keys_are_recorded() {
    let b = default_bed().await;
    let key = b.byok(&[], &[]);
    let outside = b.sim.store().create_key(KeySpec::external());
    b.sim
        .store()
        .import_material(&outside.arn, [4; 32], ImportOptions::default())
        .expect("import");
    let event = event_for(
        "kms-cmk-rotation.json",
        "2234abcd-12ab-34cd-56ef-1234567890ab",
        &key,
    );
    let (result, records) = b.handle(&event).await;
    assert!(result.is_ok());
    let r = &records[0];
    assert_eq!(
        (r.action, r.outcome),
        (Action::ObserveRotation, Outcome::RotationObserved)
    );
    assert_eq!(
        r.previous_key_material_id.as_deref(),
        Some("1c9e7a5b3d1f2e4c6a8b0d9f7e5c3a1b2d4f6e8a0c9b7d5f3e1a2c4b6d8f0e9a")
    );
    assert!(r.materials.is_some());
    // a key outside the scope gets no record
    let event = event_for(
        "kms-cmk-rotation.json",
        "2234abcd-12ab-34cd-56ef-1234567890ab",
        &outside,
    );
    let (result, records) = b.handle(&event).await;
    assert!(result.is_ok());
    assert!(records.is_empty());
}

// ---------- Security Hub and GuardDuty ----------

#[tokio::test]
async fn a_security_hub_custom_action_revokes_the_findings_kms_keys() {
    let b = default_bed().await;
    let key = b.byok(&["tenant-e/exposed"], &[]);
    let event = event_for(
        "securityhub-custom-action.json",
        "3234abcd-12ab-34cd-56ef-1234567890ab",
        &key,
    );
    let (result, records) = b.handle(&event).await;
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(records.len(), 1, "only the AwsKmsKey resource");
    let r = &records[0];
    assert_eq!(r.outcome, Outcome::Revoked);
    assert_eq!(
        r.incident_id.as_deref(),
        Some(
            "arn:aws:securityhub:us-east-1:111111111111:finding/7c1e0b4a-58f2-4d7e-9a63-2f5b8c1d0e94"
        )
    );
    assert!(
        r.reason.as_deref().is_some_and(
            |s| s.contains("RevokeKeyMaterial") && s.contains("unknown external account")
        )
    );
    assert_eq!(
        r.requested_by.as_deref(),
        Some("securityhub:custom-action:RevokeKeyMaterial")
    );
    assert_eq!(r.trigger.source.as_deref(), Some("aws.securityhub"));
    assert_eq!(b.state(&key), KeyState::PendingImport);
}

#[tokio::test]
async fn imported_findings_revoke_only_at_the_configured_severity() {
    let b = default_bed().await;
    let key = b.byok(&[], &[]);
    let event = event_for(
        "securityhub-imported-finding.json",
        "3234abcd-12ab-34cd-56ef-1234567890ab",
        &key,
    );
    // GIVEN the default configuration: imported findings never revoke
    let (result, records) = b.handle(&event).await;
    assert!(result.expect("ok").note.is_some());
    assert!(records.is_empty());
    assert_eq!(b.state(&key), KeyState::Enabled);
    // WHEN the threshold is CRITICAL THEN the CRITICAL finding revokes its key
    let mut cfg = config();
    cfg.securityhub_min_severity = Some(Severity::Critical);
    let b2 = Bed {
        guard: Guard::new(b.kms.clone(), cfg, b.sink.clone()),
        ..b
    };
    let (result, records) = b2.handle(&event).await;
    assert!(result.is_ok());
    assert_eq!(records[0].outcome, Outcome::Revoked);
}

#[tokio::test]
async fn guardduty_findings_revoke_through_the_configured_mapping() {
    let mut cfg = config();
    cfg.guardduty_mappings = GuardDutyMapping::parse_list(
        r#"[{"findingType": "Recon:*", "tags": {"tenant": "tenant-a"}},
            {"findingType": "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration*", "minSeverity": 7, "tags": {"tenant": "tenant-b"}}]"#,
    )
    .expect("mappings");
    let b = bed(SimConfig::unlimited(), cfg).await;
    let b_key = b.byok(&[], &[("tenant", "tenant-b")]);
    let a_key = b.byok(&[], &[("tenant", "tenant-a")]);
    let (result, records) = b.handle(&common::event("guardduty-finding.json")).await;
    assert!(result.is_ok());
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].key_arn.as_deref(), Some(b_key.arn.as_str()));
    assert_eq!(records[0].outcome, Outcome::Revoked);
    assert_eq!(
        records[0].incident_id.as_deref(),
        Some("16afba5c5c43e07c9e3e5e2e544e95df")
    );
    assert_eq!(b.state(&a_key), KeyState::Enabled);
    // a finding below the rule's severity does nothing
    let mut low = common::event("guardduty-finding.json");
    low["detail"]["severity"] = 5.into();
    let (result, records) = b.handle(&low).await;
    assert!(result.expect("ok").note.is_some());
    assert!(records.is_empty());
}

#[tokio::test]
async fn without_mappings_guardduty_does_nothing() {
    let b = default_bed().await;
    let key = b.byok(&[], &[("tenant", "tenant-b")]);
    let (result, records) = b.handle(&common::event("guardduty-finding.json")).await;
    assert!(result.expect("ok").note.is_some());
    assert!(records.is_empty());
    assert_eq!(b.state(&key), KeyState::Enabled);
    assert_eq!(b.sim.counters().total_calls(), 0);
}

// ---------- publishing and metrics ----------

async fn publishing_bed(sim_config: SimConfig) -> (Bed, Arc<EventBridgeSink>) {
    let b = bed(sim_config, config()).await;
    let sdk = sdk_config(&b.sim.endpoint_url()).await;
    let publisher = Arc::new(EventBridgeSink::new(
        aws_sdk_eventbridge::Client::new(&sdk),
        "security-audit",
    ));
    let sink: Arc<dyn AuditSink> = Arc::new(Tee(vec![b.sink.clone(), publisher.clone()]));
    let guard = Guard::new(b.kms.clone(), config(), sink);
    (Bed { guard, ..b }, publisher)
}

#[tokio::test]
async fn audit_records_are_published_to_the_event_bus() {
    let (b, publisher) = publishing_bed(SimConfig::unlimited()).await;
    let keys: Vec<KeyInfo> = (0..12).map(|_| b.byok(&[], &[])).collect();
    let arns: Vec<&str> = keys.iter().map(|k| k.arn.as_str()).collect();
    let (result, records) = b
        .handle(&serde_json::json!({"keys": arns, "reason": "publish", "incidentId": "INC-PUB"}))
        .await;
    assert!(result.is_ok());
    // 12 records and the invocation's summary, sent in batches of 10
    let all = b.sim.events();
    assert_eq!(publisher.published(), 13);
    let summaries: Vec<_> = all
        .iter()
        .filter(|e| e.detail_type == SUMMARY_DETAIL_TYPE)
        .collect();
    assert_eq!(summaries.len(), 1);
    let summary: Value = serde_json::from_str(&summaries[0].detail).expect("summary JSON");
    assert_eq!(summary["counts"]["revoked"], 12);
    assert_eq!(summary["complete"], true);
    assert_eq!(summary["incident_id"], "INC-PUB");
    let events: Vec<_> = all
        .iter()
        .filter(|e| e.detail_type == EVENT_DETAIL_TYPE)
        .collect();
    assert_eq!(events.len(), 12, "one event per record");
    for e in &events {
        assert_eq!(e.source, EVENT_SOURCE);
        assert_eq!(e.detail_type, EVENT_DETAIL_TYPE);
        assert_eq!(e.event_bus_name.as_deref(), Some("security-audit"));
        let detail: Value = serde_json::from_str(&e.detail).expect("detail is JSON");
        assert_eq!(detail["log_type"], "audit");
        assert_eq!(
            e.resources,
            vec![detail["key_arn"].as_str().expect("arn").to_string()]
        );
    }
    assert_eq!(records.len(), 12);
}

#[tokio::test]
async fn failed_publishing_is_retried_and_never_fails_the_revocation() {
    // GIVEN PutEvents fails twice and then rejects some entries once
    let (b, publisher) = publishing_bed(SimConfig::unlimited()).await;
    b.sim
        .faults()
        .add(FaultRule::new("PutEvents", FaultKind::Http500).times(2));
    b.sim
        .faults()
        .add(FaultRule::new("PutEvents", FaultKind::fail_entries()).times(1));
    let key = b.byok(&[], &[]);
    let (result, records) = b
        .handle(&serde_json::json!({"keys": [key.arn], "reason": "r", "incidentId": "i"}))
        .await;
    // THEN the revocation succeeded, the stdout record exists, and the event arrived in the end
    assert!(result.is_ok());
    assert_eq!(records[0].outcome, Outcome::Revoked);
    assert_eq!(publisher.published(), 2, "the record and the summary");
    assert_eq!(publisher.lost(), 0);
    assert_eq!(b.sim.events().len(), 2);
}

#[tokio::test]
async fn a_bus_that_stays_down_loses_only_the_copy() {
    let (b, publisher) = publishing_bed(SimConfig::unlimited()).await;
    b.sim
        .faults()
        .add(FaultRule::new("PutEvents", FaultKind::Http500).always());
    let key = b.byok(&[], &[]);
    let (result, records) = b
        .handle(&serde_json::json!({"keys": [key.arn], "reason": "r", "incidentId": "i"}))
        .await;
    assert!(result.is_ok());
    assert_eq!(records.len(), 1, "the stdout record is there");
    assert_eq!(publisher.lost(), 2, "the record's and the summary's copies");
    assert_eq!(b.state(&key), KeyState::PendingImport);
}

#[tokio::test]
async fn publishing_stops_at_the_deadline_and_counts_what_it_could_not_send() {
    // GIVEN an audit bus that answers only after 30 s, and an invocation with 2 s left
    let b = bed(SimConfig::unlimited(), config()).await;
    let sdk = sdk_config(&b.sim.endpoint_url()).await;
    let publisher = Arc::new(EventBridgeSink::new(
        aws_sdk_eventbridge::Client::new(&sdk),
        "security-audit",
    ));
    b.sim
        .faults()
        .add(FaultRule::new("PutEvents", FaultKind::Latency(Duration::from_secs(30))).always());
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let writer_lines = lines.clone();
    let mut cfg = config();
    cfg.metrics_namespace = Some("KmsMaterialGuard".into());
    cfg.audit_event_bus = Some("security-audit".into());
    let sink: Arc<dyn AuditSink> = Arc::new(Tee(vec![b.sink.clone(), publisher.clone()]));
    let guard =
        Guard::new(b.kms.clone(), cfg, sink).with_metrics_writer(Arc::new(move |l: &str| {
            if let Ok(mut v) = writer_lines.lock() {
                v.push(l.to_string());
            }
        }));
    let key = b.byok(&[], &[]);
    let deadline = Duration::from_secs(2);
    let inv = Invocation {
        deadline: kms_material_guard::domain::Deadline::after(deadline),
        ..Invocation::local("req-publish-deadline")
    };
    // WHEN the key is revoked
    let started = std::time::Instant::now();
    let result = guard
        .handle_payload(
            &serde_json::json!({"keys": [key.arn], "reason": "r", "incidentId": "i"}),
            &inv,
        )
        .await;
    // THEN the revocation stands, the invocation answered within its deadline (Lambda would
    // otherwise kill it with the rest of its work), and both copies are counted as not published
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(b.state(&key), KeyState::PendingImport);
    assert!(started.elapsed() < deadline, "{:?}", started.elapsed());
    assert_eq!(publisher.lost(), 2, "the record's and the summary's copies");
    let lines = lines.lock().expect("lines").clone();
    let unpublished: Vec<Value> = lines
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|d| d.get("RecordsNotPublished").is_some())
        .collect();
    assert_eq!(unpublished.len(), 1, "{lines:?}");
    assert_eq!(unpublished[0]["RecordsNotPublished"], 2);
    assert_eq!(
        unpublished[0]["function_request_id"],
        "req-publish-deadline"
    );
}

#[tokio::test]
async fn each_invocation_writes_emf_metrics_per_action() {
    let b = default_bed().await;
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let writer_lines = lines.clone();
    let mut cfg = config();
    cfg.metrics_namespace = Some("KmsMaterialGuard".into());
    let guard = Guard::new(b.kms.clone(), cfg, b.sink.clone()).with_metrics_writer(Arc::new(
        move |l: &str| {
            if let Ok(mut v) = writer_lines.lock() {
                v.push(l.to_string());
            }
        },
    ));
    let k1 = b.byok(&[], &[]);
    let unscoped = b.sim.store().create_key(KeySpec::external().tag("x", "y"));
    let _ = unscoped;
    let payload = serde_json::json!({"keys": [k1.arn, unscoped.arn, "alias/nope"], "reason": "m", "incidentId": "i"});
    let _ = guard
        .handle_payload(&payload, &Invocation::local("m"))
        .await;
    let lines = lines.lock().expect("lines").clone();
    assert_eq!(lines.len(), 1);
    let doc: Value = serde_json::from_str(&lines[0]).expect("json");
    assert_eq!(doc["Action"], "revoke");
    assert_eq!(doc["KeysRevoked"], 1);
    assert_eq!(doc["KeysRefused"], 1);
    assert_eq!(doc["KeysFailed"], 1, "not_found");
    assert_eq!(doc["RevocationLatency"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        doc["_aws"]["CloudWatchMetrics"][0]["Namespace"],
        "KmsMaterialGuard"
    );
    let _ = SCOPE;
}
