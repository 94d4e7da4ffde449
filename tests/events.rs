//! Every sample in `events/` parses and is classified as documented; every sample in
//! `events/invalid/` is rejected with a specific error, an audit record and no KMS call.

mod common;

use aws_sdk_kms::Client;
use aws_smithy_mocks::{RuleMode, mock_client};
use common::{ACCOUNT, config, event, guard};
use kms_material_guard::event::{Identity, Trigger, classify};
use kms_material_guard::response::error_types;
use kms_material_guard::{GuardError, Invocation, Outcome};

fn classify_file(name: &str) -> Result<Trigger, String> {
    let cfg = config();
    let who = Identity {
        account: ACCOUNT,
        config: &cfg,
    };
    classify(&event(name), &who)
        .map(|c| c.trigger)
        .map_err(|r| r.rejection.code.to_string())
}

#[test]
fn every_sample_event_file_is_json_and_is_classified() {
    // GIVEN every file in events/ and events/invalid/
    let mut seen = 0;
    for dir in ["events", "events/invalid"] {
        for entry in std::fs::read_dir(common::repo_path(dir)).expect("events dir") {
            let path = entry.expect("entry").path();
            if path.extension().and_then(|e| e.to_str()) != Some("json") {
                continue;
            }
            let rel = path
                .strip_prefix(common::repo_path("events"))
                .expect("inside events")
                .to_string_lossy()
                .to_string();
            // WHEN it is classified
            let result = classify_file(&rel);
            // THEN valid samples are accepted and invalid ones rejected
            if dir == "events" {
                assert!(result.is_ok(), "{rel} should be accepted: {result:?}");
            } else {
                assert!(result.is_err(), "{rel} should be rejected: {result:?}");
            }
            seen += 1;
        }
    }
    assert!(seen >= 15, "expected all samples, saw {seen}");
}

#[test]
fn incident_event_becomes_a_revocation_request() {
    let Ok(Trigger::Revoke(req)) = classify_file("incident-revocation.json") else {
        panic!("not a revocation")
    };
    assert_eq!(req.keys.len(), 2);
    assert_eq!(req.incident_id, "INC-2026-1129-001");
    assert!(!req.dry_run);
}

#[test]
fn tag_selector_and_dry_run_samples_parse() {
    let Ok(Trigger::Revoke(req)) = classify_file("incident-revocation-tags.json") else {
        panic!()
    };
    assert_eq!(req.tags.get("tenant").map(String::as_str), Some("tenant-b"));
    assert!(req.keys.is_empty());
    let Ok(Trigger::Revoke(req)) = classify_file("incident-revocation-dry-run.json") else {
        panic!()
    };
    assert!(req.dry_run);
}

#[test]
fn key_material_sample_carries_the_acknowledgement() {
    let Ok(Trigger::Revoke(req)) = classify_file("incident-revocation-key-material.json") else {
        panic!()
    };
    assert_eq!(req.key_material_id.as_deref().map(str::len), Some(64));
}

#[test]
fn direct_invocation_is_the_request_itself() {
    let Ok(Trigger::Revoke(req)) = classify_file("direct-invocation.json") else {
        panic!()
    };
    assert_eq!(
        req.requested_by.as_deref(),
        Some("step-functions:revocation-workflow")
    );
}

#[test]
fn kms_expiry_events_in_both_forms_name_the_key() {
    let Ok(Trigger::Expiry(n)) = classify_file("kms-key-material-expiration.json") else {
        panic!()
    };
    assert_eq!(
        n.key,
        common::key_arn("1234abcd-12ab-34cd-56ef-1234567890ab")
    );
    assert_eq!(n.key_material_id, None);
    let Ok(Trigger::Expiry(n)) = classify_file("cloudtrail-delete-expired-key-material.json")
    else {
        panic!()
    };
    assert_eq!(
        n.key,
        common::key_arn("1234abcd-12ab-34cd-56ef-1234567890ab")
    );
    assert_eq!(n.key_material_id.as_deref().map(str::len), Some(64));
}

#[test]
fn schedule_is_a_sweep() {
    assert_eq!(classify_file("scheduled-sweep.json"), Ok(Trigger::Sweep));
}

#[test]
fn invalid_samples_are_rejected_for_the_documented_reason() {
    for (file, code) in [
        ("invalid/source-not-allowed.json", "SourceNotAllowed"),
        ("invalid/account-not-trusted.json", "AccountNotTrusted"),
        ("invalid/missing-reason.json", "MissingField"),
        ("invalid/typo-dryrun.json", "UnknownField"),
        (
            "invalid/key-material-without-acknowledgement.json",
            "AcknowledgeKeyWideRequired",
        ),
        ("invalid/unknown-detail-type.json", "UnsupportedEvent"),
        ("invalid/log-injection.json", "InvalidCharacter"),
        ("invalid/not-an-object.json", "InvalidType"),
    ] {
        assert_eq!(classify_file(file), Err(code.to_string()), "{file}");
    }
}

#[test]
fn a_trusted_account_may_send_incident_events() {
    // GIVEN the foreign account is configured as trusted
    let mut cfg = config();
    cfg.trusted_accounts = vec!["999999999999".into()];
    let who = Identity {
        account: ACCOUNT,
        config: &cfg,
    };
    // WHEN its event is classified THEN it is accepted
    assert!(classify(&event("invalid/account-not-trusted.json"), &who).is_ok());
}

#[test]
fn aws_service_events_from_another_account_are_rejected() {
    let mut v = event("scheduled-sweep.json");
    v["account"] = "222222222222".into();
    let cfg = config();
    let who = Identity {
        account: ACCOUNT,
        config: &cfg,
    };
    let err = classify(&v, &who).expect_err("foreign schedule");
    assert_eq!(err.rejection.code, "AccountNotTrusted");
}

#[test]
fn malformed_envelopes_name_the_field() {
    let cfg = config();
    let who = Identity {
        account: ACCOUNT,
        config: &cfg,
    };
    let mut v = event("incident-revocation.json");
    v["detail-type"] = 5.into();
    assert_eq!(
        classify(&v, &who).expect_err("bad").rejection.location,
        "detail-type"
    );
    let mut v = event("incident-revocation.json");
    v["time"] = "yesterday".into();
    assert_eq!(
        classify(&v, &who).expect_err("bad").rejection.code,
        "InvalidEnvelope"
    );
    let mut v = event("incident-revocation.json");
    v["detail"]["keys"][1] = serde_json::json!({"id": 1});
    assert_eq!(
        classify(&v, &who).expect_err("bad").rejection.location,
        "detail.keys[1]"
    );
    let mut v = event("kms-key-material-expiration.json");
    v["resources"] = serde_json::json!([
        "arn:aws:kms:us-east-1:111111111111:key/00000000-0000-0000-0000-000000000000"
    ]);
    assert_eq!(
        classify(&v, &who).expect_err("bad").rejection.code,
        "InconsistentEvent"
    );
}

#[tokio::test]
async fn rejected_events_write_one_record_and_call_nothing() {
    for file in [
        "invalid/source-not-allowed.json",
        "invalid/missing-reason.json",
        "invalid/typo-dryrun.json",
        "invalid/log-injection.json",
        "invalid/not-an-object.json",
    ] {
        // GIVEN a KMS client with no rules: any call fails the test
        let kms: Client = mock_client!(aws_sdk_kms, RuleMode::Sequential, &[]);
        let (guard, sink) = guard(kms, config());
        // WHEN the invalid event is handled
        let err = guard
            .handle_payload(&event(file), &Invocation::local("req-1"))
            .await
            .expect_err(file);
        // THEN the error is final, and exactly one `rejected` record explains it
        assert!(matches!(err, GuardError::Rejected(_)), "{file}: {err}");
        assert_eq!(err.error_type(), error_types::REJECTED);
        assert!(!err.is_retryable());
        let records = sink.records();
        assert_eq!(records.len(), 1, "{file}");
        assert_eq!(records[0].outcome, Outcome::Rejected);
        assert!(
            records[0]
                .error_message
                .as_deref()
                .is_some_and(|m| !m.is_empty())
        );
        assert!(records[0].kms_request_ids.is_empty());
        common::assert_schema_valid(&records);
    }
}

#[tokio::test]
async fn an_injected_newline_never_breaks_the_one_line_record() {
    let kms: Client = mock_client!(aws_sdk_kms, RuleMode::Sequential, &[]);
    let (guard, sink) = guard(kms, config());
    let _ = guard
        .handle_payload(
            &event("invalid/log-injection.json"),
            &Invocation::local("r"),
        )
        .await;
    let line = serde_json::to_string(&sink.records()[0]).expect("json");
    assert!(!line.contains('\n'), "one JSON line: {line}");
}

#[tokio::test]
async fn a_rejected_request_still_answers_with_its_incident_and_a_summary() {
    // GIVEN a direct request with a typo, but a readable incident id
    let kms: Client = mock_client!(aws_sdk_kms, RuleMode::Sequential, &[]);
    let (guard, sink) = guard(kms, config());
    // WHEN it is handled
    let _ = guard
        .handle_payload(&event("invalid/typo-dryrun.json"), &Invocation::local("r1"))
        .await;
    // THEN the rejected record names the incident and a summary reports the rejection
    let records = sink.records();
    assert_eq!(records[0].incident_id.as_deref(), Some("X-4"));
    let summaries = sink.summaries();
    common::assert_summaries_valid(&summaries);
    assert_eq!(summaries.len(), 1);
    assert_eq!(summaries[0]["error_type"], "KmsMaterialGuard.Rejected");
    assert_eq!(summaries[0]["incident_id"], "X-4");
    assert_eq!(summaries[0]["counts"]["rejected"], 1);
    // AND an unreadable incident id (a log-injection attempt) is neither recorded nor summarised
    let (guard, sink) = guard_again();
    let _ = guard
        .handle_payload(
            &event("invalid/log-injection.json"),
            &Invocation::local("r2"),
        )
        .await;
    assert_eq!(sink.records()[0].incident_id, None);
    assert!(sink.summaries().is_empty());
}

fn guard_again() -> (
    kms_material_guard::Guard,
    std::sync::Arc<kms_material_guard::MemorySink>,
) {
    let kms: Client = mock_client!(aws_sdk_kms, RuleMode::Sequential, &[]);
    guard(kms, config())
}
