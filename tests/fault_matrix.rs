//! The fault matrix: one test per fault the local KMS can inject, through the real handler and
//! the real `aws-sdk-kms` client over HTTP on 127.0.0.1.
//!
//! For every fault the tests check what README.md promises: the documented outcome, exactly one
//! schema-valid audit record per key, no panic, nothing lost (every key has a record; a key that
//! should be revoked is `PendingImport` afterwards, or reported `failed_retryable` / `deferred`
//! and then revoked by a redelivery), the right retry decision (`Ok` vs
//! `KmsMaterialGuard.Retryable`) and, from the local KMS's counters, how often each operation was
//! called for each key (never a second applied delete).

mod common;

use std::time::Duration;

use common::bed::{Bed, bed};
use common::config;
use kms_material_guard::audit::AuditRecord;
use kms_material_guard::domain::Action;
use kms_material_guard::domain::Deadline;
use kms_material_guard::response::error_types;
use kms_material_guard::{Config, GuardError, Invocation, Outcome, Summary};
use kms_sim::{FaultKind, FaultRule, KeyInfo, KeyState, SimConfig};
use serde_json::{Value, json};

const DELETE: &str = "DeleteImportedKeyMaterial";
const DESCRIBE: &str = "DescribeKey";
const TAGS: &str = "ListResourceTags";
const LIST_KEYS: &str = "ListKeys";
const ROTATIONS: &str = "ListKeyRotations";

// ---------- helpers ----------

/// The test configuration with few attempts, so persistent faults end quickly.
fn quick_config(max_attempts: u32) -> Config {
    let mut c = config();
    c.max_attempts = max_attempts;
    c
}

async fn quick_bed(max_attempts: u32) -> Bed {
    bed(SimConfig::unlimited(), quick_config(max_attempts)).await
}

fn revoke(keys: &[&KeyInfo]) -> Value {
    let arns: Vec<&str> = keys.iter().map(|k| k.arn.as_str()).collect();
    json!({"keys": arns, "reason": "fault matrix", "incidentId": "INC-FAULTS"})
}

/// Handles `payload` under `inv` (the Bed's own `handle` has no deadline) and checks the records
/// against the schema.
async fn handle_with(
    b: &Bed,
    payload: &Value,
    inv: &Invocation,
) -> (Result<Summary, GuardError>, Vec<AuditRecord>) {
    let result = b.guard.handle_payload(payload, inv).await;
    let records = b.sink.take();
    common::assert_schema_valid(&records);
    (result, records)
}

/// Exactly one record per key, in any order; returns each key's record.
fn one_record_each<'a>(records: &'a [AuditRecord], keys: &[&KeyInfo]) -> Vec<&'a AuditRecord> {
    assert_eq!(
        records.len(),
        keys.len(),
        "one record per key: {:#?}",
        records
            .iter()
            .map(|r| (&r.key, r.outcome))
            .collect::<Vec<_>>()
    );
    keys.iter()
        .map(|k| {
            let mine: Vec<&AuditRecord> = records
                .iter()
                .filter(|r| r.key_arn.as_deref() == Some(k.arn.as_str()))
                .collect();
            assert_eq!(mine.len(), 1, "exactly one record for {}", k.arn);
            mine[0]
        })
        .collect()
}

/// The single record of a single-key request.
fn only_record<'a>(records: &'a [AuditRecord], key: &KeyInfo) -> &'a AuditRecord {
    one_record_each(records, &[key])[0]
}

fn assert_ok(result: &Result<Summary, GuardError>) {
    assert!(result.is_ok(), "expected success, got {result:?}");
}

fn assert_retryable(result: &Result<Summary, GuardError>) {
    let err = result.as_ref().expect_err("expected a retryable error");
    assert_eq!(err.error_type(), error_types::RETRYABLE, "{err}");
    assert!(err.is_retryable());
}

fn calls(b: &Bed, op: &str, key: &KeyInfo) -> u64 {
    b.sim.counters().calls_for_key(op, &key.key_id)
}

fn applied_deletes(b: &Bed, key: &KeyInfo) -> u64 {
    b.sim.counters().successes_for_key(DELETE, &key.key_id)
}

/// A revoked record: verified `PendingImport`, and the local KMS agrees.
fn assert_revoked(b: &Bed, r: &AuditRecord, key: &KeyInfo) {
    assert_eq!(r.outcome, Outcome::Revoked, "{r:#?}");
    assert_eq!(r.state_after.as_deref(), Some("PendingImport"));
    assert_eq!(b.state(key), KeyState::PendingImport);
    assert_eq!(applied_deletes(b, key), 1, "exactly one applied delete");
}

/// A key the function must not have changed.
fn assert_untouched(b: &Bed, key: &KeyInfo) {
    assert_eq!(b.state(key), KeyState::Enabled);
    assert_eq!(applied_deletes(b, key), 0);
}

// ---------- DeleteImportedKeyMaterial: retryable KMS errors ----------

/// A transient error once on the delete: retried inside the invocation, after a fresh DescribeKey
/// (the failed attempt might have been applied).
async fn transient_delete_error_once(kind: FaultKind, code: &str) {
    let kind_loses_answer = kind == FaultKind::DropConnection;
    // GIVEN one in-scope BYOK key, and a delete that fails once with `code`
    let b = quick_bed(3).await;
    let key = b.byok(&[], &[]);
    b.sim
        .faults()
        .add(FaultRule::new(DELETE, kind).for_key(&key.arn).times(1));
    // WHEN the key is revoked
    let (result, records) = b.handle(&revoke(&[&key])).await;
    // THEN the retry inside the invocation revokes it: two delete calls, one applied
    assert_ok(&result);
    let r = only_record(&records, &key);
    assert_revoked(&b, r, &key);
    assert_eq!(calls(&b, DELETE, &key), 2, "{code}: failed attempt + retry");
    // AND the key was described again before the delete was repeated
    // (resolve, check after the lost answer, verify)
    assert_eq!(calls(&b, DESCRIBE, &key), 3, "{code}");
    // AND the record accounts for every call made for the key, with the request id of every
    // call that was answered
    let all_calls: u64 = [DESCRIBE, TAGS, DELETE, ROTATIONS]
        .iter()
        .map(|op| calls(&b, op, &key))
        .sum();
    assert_eq!(u64::from(r.attempts), all_calls, "{code}: {r:#?}");
    let answered = r.attempts - u32::from(kind_loses_answer);
    assert_eq!(r.kms_request_ids.len() as u32, answered, "{code}: {r:#?}");
}

/// A transient error on every delete: `failed_retryable` with KMS's code, a Retryable
/// invocation error, nothing applied; a redelivery after KMS recovers revokes.
async fn transient_delete_error_persisting(kind: FaultKind, code: &str) {
    // GIVEN every delete of the key fails with `code`
    let b = quick_bed(2).await;
    let key = b.byok(&[], &[]);
    let rule = b
        .sim
        .faults()
        .add(FaultRule::new(DELETE, kind).for_key(&key.arn).always());
    let event = revoke(&[&key]);
    // WHEN the key is revoked
    let (result, records) = b.handle(&event).await;
    // THEN it is failed_retryable after max_attempts deletes, and the invocation asks for a retry
    assert_retryable(&result);
    let r = only_record(&records, &key);
    assert_eq!(r.outcome, Outcome::FailedRetryable, "{r:#?}");
    assert_eq!(r.error_code.as_deref(), Some(code));
    assert_eq!(calls(&b, DELETE, &key), 2);
    assert_untouched(&b, &key);
    // WHEN KMS recovers and the event is redelivered
    b.sim.faults().remove(rule);
    let (result, records) = b.handle(&event).await;
    // THEN the key is revoked with exactly one applied delete in total
    assert_ok(&result);
    assert_revoked(&b, only_record(&records, &key), &key);
}

#[tokio::test]
async fn delete_dependency_timeout_once_is_retried_after_a_fresh_describe() {
    transient_delete_error_once(
        FaultKind::dependency_timeout(),
        "DependencyTimeoutException",
    )
    .await;
}

#[tokio::test]
async fn delete_dependency_timeout_persisting_is_failed_retryable_until_redelivery() {
    transient_delete_error_persisting(
        FaultKind::dependency_timeout(),
        "DependencyTimeoutException",
    )
    .await;
}

#[tokio::test]
async fn delete_kms_internal_once_is_retried_after_a_fresh_describe() {
    transient_delete_error_once(FaultKind::internal(), "KMSInternalException").await;
}

#[tokio::test]
async fn delete_kms_internal_persisting_is_failed_retryable_until_redelivery() {
    transient_delete_error_persisting(FaultKind::internal(), "KMSInternalException").await;
}

#[tokio::test]
async fn delete_http_500_without_kms_body_once_is_retried_after_a_fresh_describe() {
    transient_delete_error_once(FaultKind::Http500, "HttpServerError").await;
}

#[tokio::test]
async fn delete_http_500_without_kms_body_persisting_is_failed_retryable_until_redelivery() {
    transient_delete_error_persisting(FaultKind::Http500, "HttpServerError").await;
}

#[tokio::test]
async fn delete_dropped_connection_before_apply_is_retried_after_a_fresh_describe() {
    transient_delete_error_once(FaultKind::DropConnection, "ConnectionError").await;
}

#[tokio::test]
async fn delete_dropped_connection_persisting_is_failed_retryable_until_redelivery() {
    transient_delete_error_persisting(FaultKind::DropConnection, "ConnectionError").await;
}

// ---------- DeleteImportedKeyMaterial: KMSInvalidStateException ----------

#[tokio::test]
async fn delete_invalid_state_is_failed_final_without_retry() {
    // GIVEN the delete answers KMSInvalidStateException with an ordinary state message
    let b = quick_bed(3).await;
    let key = b.byok(&[], &[]);
    let message = format!("{} is pending deletion.", key.arn);
    b.sim.faults().add(
        FaultRule::new(
            DELETE,
            FaultKind::kms_error("KMSInvalidStateException", &message, 400),
        )
        .for_key(&key.arn)
        .always(),
    );
    // WHEN the key is revoked
    let (result, records) = b.handle(&revoke(&[&key])).await;
    // THEN it is failed (final, not retried) with KMS's code and message; the invocation succeeds
    assert_ok(&result);
    let r = only_record(&records, &key);
    assert_eq!(r.outcome, Outcome::Failed, "{r:#?}");
    assert_eq!(r.error_code.as_deref(), Some("KMSInvalidStateException"));
    assert_eq!(r.error_message.as_deref(), Some(message.as_str()));
    assert_eq!(calls(&b, DELETE, &key), 1, "a final error is not retried");
    assert_untouched(&b, &key);
}

#[tokio::test]
async fn delete_invalid_state_while_updating_is_retried_and_revoked() {
    // GIVEN the first delete finds the key "updating" (a transient state)
    let b = quick_bed(3).await;
    let key = b.byok(&[], &[]);
    b.sim.faults().add(
        FaultRule::new(
            DELETE,
            FaultKind::kms_error(
                "KMSInvalidStateException",
                &format!("{} is updating.", key.arn),
                400,
            ),
        )
        .for_key(&key.arn)
        .times(1),
    );
    // WHEN the key is revoked
    let (result, records) = b.handle(&revoke(&[&key])).await;
    // THEN the delete is retried and the key revoked with one applied delete
    assert_ok(&result);
    assert_revoked(&b, only_record(&records, &key), &key);
    assert_eq!(calls(&b, DELETE, &key), 2);
}

#[tokio::test]
async fn delete_invalid_state_while_updating_persisting_is_failed_retryable() {
    // GIVEN the key stays "updating" for every delete attempt
    let b = quick_bed(2).await;
    let key = b.byok(&[], &[]);
    let rule = b.sim.faults().add(
        FaultRule::new(
            DELETE,
            FaultKind::kms_error(
                "KMSInvalidStateException",
                &format!("{} is updating.", key.arn),
                400,
            ),
        )
        .for_key(&key.arn)
        .always(),
    );
    let event = revoke(&[&key]);
    // WHEN the key is revoked
    let (result, records) = b.handle(&event).await;
    // THEN it is failed_retryable and the invocation asks for a retry
    assert_retryable(&result);
    let r = only_record(&records, &key);
    assert_eq!(r.outcome, Outcome::FailedRetryable, "{r:#?}");
    assert_eq!(r.error_code.as_deref(), Some("KMSInvalidStateException"));
    assert_eq!(calls(&b, DELETE, &key), 2);
    assert_untouched(&b, &key);
    // WHEN the update is over and the event is redelivered THEN it is revoked
    b.sim.faults().remove(rule);
    let (result, records) = b.handle(&event).await;
    assert_ok(&result);
    assert_revoked(&b, only_record(&records, &key), &key);
}

// ---------- DeleteImportedKeyMaterial: final KMS errors ----------

/// A final error on the delete: the documented outcome, one delete call, no retry, the
/// invocation succeeds (nothing a retry could fix), KMS's code and message in the record.
async fn final_delete_error(code: &str, status: u16, expected: Outcome) {
    // GIVEN every delete of the key answers `code`
    let b = quick_bed(3).await;
    let key = b.byok(&[], &[]);
    let message = format!("injected {code} for {}", key.arn);
    b.sim.faults().add(
        FaultRule::new(DELETE, FaultKind::kms_error(code, &message, status))
            .for_key(&key.arn)
            .always(),
    );
    // WHEN the key is revoked
    let (result, records) = b.handle(&revoke(&[&key])).await;
    // THEN it ends with the documented final outcome after exactly one delete call
    assert_ok(&result);
    let r = only_record(&records, &key);
    assert_eq!(r.outcome, expected, "{code}: {r:#?}");
    assert!(!r.outcome.is_retryable());
    assert_eq!(r.error_code.as_deref(), Some(code));
    assert_eq!(r.error_message.as_deref(), Some(message.as_str()));
    assert_eq!(calls(&b, DELETE, &key), 1, "{code} is not retried");
    // AND nothing after the failed delete: no verification DescribeKey
    assert_eq!(calls(&b, DESCRIBE, &key), 1, "{code}");
    assert_untouched(&b, &key);
}

#[tokio::test]
async fn delete_not_found_is_not_found() {
    final_delete_error("NotFoundException", 400, Outcome::NotFound).await;
}

#[tokio::test]
async fn delete_invalid_arn_is_failed() {
    final_delete_error("InvalidArnException", 400, Outcome::Failed).await;
}

#[tokio::test]
async fn delete_unsupported_operation_is_failed() {
    final_delete_error("UnsupportedOperationException", 400, Outcome::Failed).await;
}

#[tokio::test]
async fn delete_access_denied_is_failed() {
    final_delete_error("AccessDeniedException", 400, Outcome::Failed).await;
}

// ---------- throttling ----------

#[tokio::test]
async fn delete_throttling_once_is_retried_without_describing_again() {
    // GIVEN the first two deletes are throttled
    let b = quick_bed(3).await;
    let key = b.byok(&[], &[]);
    b.sim.faults().add(
        FaultRule::new(DELETE, FaultKind::throttling())
            .for_key(&key.arn)
            .times(2),
    );
    // WHEN the key is revoked
    let (result, records) = b.handle(&revoke(&[&key])).await;
    // THEN the third attempt revokes it; a throttled call was not applied, so no extra describe
    assert_ok(&result);
    assert_revoked(&b, only_record(&records, &key), &key);
    assert_eq!(calls(&b, DELETE, &key), 3);
    assert_eq!(calls(&b, DESCRIBE, &key), 2, "resolve + verify only");
    // AND the pacer slowed down
    assert!(b.guard.delete_rate() < b.guard.config().delete_rate);
}

#[tokio::test]
async fn delete_throttling_persisting_is_failed_retryable_until_redelivery() {
    transient_delete_error_persisting(FaultKind::throttling(), "ThrottlingException").await;
}

#[tokio::test]
async fn a_throttling_storm_on_twenty_keys_loses_none_and_deletes_each_once() {
    // GIVEN 20 keys and a KMS throttling half of all deletes, for every delivery
    let mut cfg = quick_config(3);
    // A fast pace, so the halvings on throttling keep the test short; pacing is not the point.
    cfg.delete_rate = 200.0;
    let b = bed(SimConfig::unlimited(), cfg).await;
    let keys: Vec<KeyInfo> = (0..20).map(|_| b.byok(&[], &[])).collect();
    let refs: Vec<&KeyInfo> = keys.iter().collect();
    b.sim
        .faults()
        .add(FaultRule::new(DELETE, FaultKind::throttling()).rate(0.5));
    let event = revoke(&refs);
    let mut done = std::collections::HashSet::new();
    let mut deliveries = 0;
    // WHEN the event is delivered, and redelivered while the invocation asks for a retry
    loop {
        deliveries += 1;
        let (result, records) = b.handle(&event).await;
        let per_key = one_record_each(&records, &refs);
        let mut retry = false;
        // THEN every key has exactly one record per delivery, and it is one of the expected
        for (k, r) in keys.iter().zip(per_key) {
            match r.outcome {
                Outcome::Revoked => {
                    assert!(done.insert(k.key_id.clone()), "revoked twice: {r:#?}");
                    assert_eq!(b.state(k), KeyState::PendingImport);
                }
                Outcome::AlreadyRevoked => assert!(done.contains(&k.key_id), "{r:#?}"),
                Outcome::FailedRetryable => {
                    assert_eq!(r.error_code.as_deref(), Some("ThrottlingException"));
                    assert_eq!(b.state(k), KeyState::Enabled, "{r:#?}");
                    retry = true;
                }
                other => panic!("unexpected outcome {other:?} in a throttling storm: {r:#?}"),
            }
        }
        // AND the retry decision follows: Retryable exactly when a key is failed_retryable
        if retry {
            assert_retryable(&result);
        } else {
            assert_ok(&result);
            break;
        }
        assert!(
            deliveries < 12,
            "a throttling rate of 0.5 cannot defeat 12 deliveries"
        );
    }
    // AND in the end every key is revoked with exactly one applied delete
    assert_eq!(done.len(), keys.len());
    for k in &keys {
        assert_eq!(b.state(k), KeyState::PendingImport);
        assert_eq!(applied_deletes(&b, k), 1, "{}", k.key_id);
    }
    assert!(b.sim.counters().faulted(DELETE) > 0, "the storm happened");
}

// ---------- latency and timeouts ----------

#[tokio::test]
async fn latency_below_the_call_timeout_only_slows_the_delete() {
    // GIVEN every delete takes 300 ms longer, well inside the 5 s call timeout
    let b = quick_bed(3).await;
    let key = b.byok(&[], &[]);
    b.sim
        .faults()
        .add(FaultRule::new(DELETE, FaultKind::latency_ms(300)).always());
    // WHEN the key is revoked
    let (result, records) = b.handle(&revoke(&[&key])).await;
    // THEN nothing differs from a fast KMS: one delete, revoked, no error
    assert_ok(&result);
    let r = only_record(&records, &key);
    assert_revoked(&b, r, &key);
    assert_eq!(calls(&b, DELETE, &key), 1);
    assert_eq!(r.error_code, None);
}

#[tokio::test]
async fn latency_above_the_call_timeout_times_out_describes_first_and_never_deletes_twice() {
    // GIVEN a 300 ms call timeout and a KMS whose first delete takes 1 s
    let mut cfg = quick_config(3);
    cfg.call_timeout = Duration::from_millis(300);
    let b = bed(SimConfig::unlimited(), cfg).await;
    let key = b.byok(&[], &[]);
    b.sim.faults().add(
        FaultRule::new(DELETE, FaultKind::latency_ms(1000))
            .for_key(&key.arn)
            .times(1),
    );
    // WHEN the key is revoked
    let (result, records) = b.handle(&revoke(&[&key])).await;
    // THEN the timed-out attempt is followed by a DescribeKey before the delete is repeated, and
    // the key is revoked
    assert_ok(&result);
    let r = only_record(&records, &key);
    assert_eq!(r.outcome, Outcome::Revoked, "{r:#?}");
    assert_eq!(b.state(&key), KeyState::PendingImport);
    assert_eq!(
        calls(&b, DESCRIBE, &key),
        3,
        "resolve, check after timeout, verify"
    );
    // AND after the slow request has had time to finish on the server, the local KMS applied
    // exactly one delete: the abandoned request died with its connection
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(calls(&b, DELETE, &key), 2, "timed out + repeated");
    assert_eq!(
        applied_deletes(&b, &key),
        1,
        "the material was deleted once"
    );
}

#[tokio::test]
async fn latency_above_the_call_timeout_persisting_is_failed_retryable_until_redelivery() {
    // GIVEN a 300 ms call timeout and every delete taking 1 s
    let mut cfg = quick_config(2);
    cfg.call_timeout = Duration::from_millis(300);
    let b = bed(SimConfig::unlimited(), cfg).await;
    let key = b.byok(&[], &[]);
    let rule = b
        .sim
        .faults()
        .add(FaultRule::new(DELETE, FaultKind::latency_ms(1000)).always());
    let event = revoke(&[&key]);
    // WHEN the key is revoked
    let (result, records) = b.handle(&event).await;
    // THEN every attempt times out: failed_retryable (Timeout), Retryable invocation error
    assert_retryable(&result);
    let r = only_record(&records, &key);
    assert_eq!(r.outcome, Outcome::FailedRetryable, "{r:#?}");
    assert_eq!(r.error_code.as_deref(), Some("Timeout"));
    assert_eq!(calls(&b, DELETE, &key), 2);
    // AND no abandoned request deleted the material after the function gave up
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_untouched(&b, &key);
    // WHEN KMS is fast again and the event is redelivered THEN the key is revoked once
    b.sim.faults().remove(rule);
    let (result, records) = b.handle(&event).await;
    assert_ok(&result);
    assert_revoked(&b, only_record(&records, &key), &key);
}

// ---------- a delete applied whose answer is lost ----------

#[tokio::test]
async fn apply_then_drop_is_revoked_with_exactly_one_delete() {
    // GIVEN the local KMS performs the delete, then drops the connection
    let b = quick_bed(3).await;
    let key = b.byok(&[], &[]);
    b.sim.faults().add(
        FaultRule::new(DELETE, FaultKind::ApplyThenDrop)
            .for_key(&key.arn)
            .times(1),
    );
    // WHEN the key is revoked
    let (result, records) = b.handle(&revoke(&[&key])).await;
    // THEN the function describes before repeating, sees PendingImport and does not delete again
    assert_ok(&result);
    assert_revoked(&b, only_record(&records, &key), &key);
    assert_eq!(calls(&b, DELETE, &key), 1);
    assert_eq!(
        calls(&b, DESCRIBE, &key),
        2,
        "resolve + the check after the lost answer"
    );
}

// ---------- the verification DescribeKey ----------

#[tokio::test]
async fn verification_describe_failing_after_a_successful_delete_is_revoked_unverified() {
    // GIVEN DescribeKey works for resolution but fails for every later call (the verification)
    let b = quick_bed(2).await;
    let key = b.byok(&[], &[]);
    b.sim.faults().add(
        FaultRule::new(DESCRIBE, FaultKind::internal())
            .for_key(&key.arn)
            .skip_first(1)
            .always(),
    );
    // WHEN the key is revoked
    let (result, records) = b.handle(&revoke(&[&key])).await;
    // THEN the delete succeeded but could not be verified: revoked_unverified, final (no retry
    // would delete again), with the verification's error
    assert_ok(&result);
    let r = only_record(&records, &key);
    assert_eq!(r.outcome, Outcome::RevokedUnverified, "{r:#?}");
    assert!(!r.outcome.is_retryable());
    assert_eq!(r.error_code.as_deref(), Some("KMSInternalException"));
    assert_eq!(calls(&b, DELETE, &key), 1);
    assert_eq!(applied_deletes(&b, &key), 1);
    assert_eq!(b.state(&key), KeyState::PendingImport);
    assert_eq!(
        calls(&b, DESCRIBE, &key),
        3,
        "resolve + 2 verification attempts"
    );
}

// ---------- DescribeKey on resolution ----------

#[tokio::test]
async fn describe_transient_error_on_resolution_is_retried_and_revoked() {
    // GIVEN the resolving DescribeKey fails once with KMSInternalException
    let b = quick_bed(3).await;
    let key = b.byok(&[], &[]);
    b.sim.faults().add(
        FaultRule::new(DESCRIBE, FaultKind::internal())
            .for_key(&key.arn)
            .times(1),
    );
    // WHEN the key is revoked THEN the read is retried and the key revoked
    let (result, records) = b.handle(&revoke(&[&key])).await;
    assert_ok(&result);
    assert_revoked(&b, only_record(&records, &key), &key);
    assert_eq!(calls(&b, DELETE, &key), 1);
}

#[tokio::test]
async fn describe_dropped_connection_on_resolution_is_retried_and_revoked() {
    // GIVEN the resolving DescribeKey's connection is dropped once
    let b = quick_bed(3).await;
    let key = b.byok(&[], &[]);
    b.sim.faults().add(
        FaultRule::new(DESCRIBE, FaultKind::DropConnection)
            .for_key(&key.arn)
            .times(1),
    );
    // WHEN the key is revoked THEN the read is retried and the key revoked
    let (result, records) = b.handle(&revoke(&[&key])).await;
    assert_ok(&result);
    assert_revoked(&b, only_record(&records, &key), &key);
}

#[tokio::test]
async fn describe_persisting_errors_on_resolution_are_failed_retryable_without_a_delete() {
    // GIVEN every DescribeKey of the key times out on KMS's side
    let b = quick_bed(2).await;
    let key = b.byok(&[], &[]);
    let rule = b.sim.faults().add(
        FaultRule::new(DESCRIBE, FaultKind::dependency_timeout())
            .for_key(&key.arn)
            .always(),
    );
    let event = revoke(&[&key]);
    // WHEN the key is revoked
    let (result, records) = b.handle(&event).await;
    // THEN it is failed_retryable, nothing was deleted, and the invocation asks for a retry
    assert_retryable(&result);
    let r = only_record(&records, &key);
    assert_eq!(r.outcome, Outcome::FailedRetryable, "{r:#?}");
    assert_eq!(r.error_code.as_deref(), Some("DependencyTimeoutException"));
    assert_eq!(calls(&b, DESCRIBE, &key), 2);
    assert_eq!(calls(&b, DELETE, &key), 0);
    // WHEN KMS recovers and the event is redelivered THEN it is revoked
    b.sim.faults().remove(rule);
    let (result, records) = b.handle(&event).await;
    assert_ok(&result);
    assert_revoked(&b, only_record(&records, &key), &key);
}

#[tokio::test]
async fn describe_not_found_on_resolution_is_not_found_without_a_delete() {
    // GIVEN DescribeKey says the key does not exist
    let b = quick_bed(3).await;
    let key = b.byok(&[], &[]);
    b.sim.faults().add(
        FaultRule::new(
            DESCRIBE,
            FaultKind::not_found(&format!("Key '{}' does not exist", key.arn)),
        )
        .for_key(&key.arn)
        .always(),
    );
    // WHEN the key is revoked THEN it is not_found after one call, final, nothing deleted
    let (result, records) = b.handle(&revoke(&[&key])).await;
    assert_ok(&result);
    let r = only_record(&records, &key);
    assert_eq!(r.outcome, Outcome::NotFound, "{r:#?}");
    assert_eq!(calls(&b, DESCRIBE, &key), 1);
    assert_eq!(calls(&b, DELETE, &key), 0);
    assert_untouched(&b, &key);
}

#[tokio::test]
async fn describe_access_denied_on_resolution_is_failed_without_a_delete() {
    // GIVEN the function may not describe the key
    let b = quick_bed(3).await;
    let key = b.byok(&[], &[]);
    b.sim.faults().add(
        FaultRule::new(
            DESCRIBE,
            FaultKind::kms_error(
                "AccessDeniedException",
                "not authorized: kms:DescribeKey",
                400,
            ),
        )
        .for_key(&key.arn)
        .always(),
    );
    // WHEN the key is revoked THEN it is failed (final) after one call, nothing deleted
    let (result, records) = b.handle(&revoke(&[&key])).await;
    assert_ok(&result);
    let r = only_record(&records, &key);
    assert_eq!(r.outcome, Outcome::Failed, "{r:#?}");
    assert_eq!(r.error_code.as_deref(), Some("AccessDeniedException"));
    assert_eq!(calls(&b, DESCRIBE, &key), 1);
    assert_eq!(calls(&b, DELETE, &key), 0);
    assert_untouched(&b, &key);
}

// ---------- ListResourceTags ----------

#[tokio::test]
async fn list_resource_tags_transient_error_is_retried_and_revoked() {
    // GIVEN the scope check's ListResourceTags fails once
    let b = quick_bed(3).await;
    let key = b.byok(&[], &[]);
    b.sim.faults().add(
        FaultRule::new(TAGS, FaultKind::internal())
            .for_key(&key.arn)
            .times(1),
    );
    // WHEN the key is revoked THEN the read is retried and the key revoked
    let (result, records) = b.handle(&revoke(&[&key])).await;
    assert_ok(&result);
    assert_revoked(&b, only_record(&records, &key), &key);
    assert_eq!(calls(&b, TAGS, &key), 2);
}

#[tokio::test]
async fn list_resource_tags_persisting_error_is_failed_retryable_without_a_delete() {
    // GIVEN every ListResourceTags of the key fails: the scope cannot be checked
    let b = quick_bed(2).await;
    let key = b.byok(&[], &[]);
    let rule = b.sim.faults().add(
        FaultRule::new(TAGS, FaultKind::Http500)
            .for_key(&key.arn)
            .always(),
    );
    let event = revoke(&[&key]);
    // WHEN the key is revoked
    let (result, records) = b.handle(&event).await;
    // THEN it is failed_retryable and, unverified scope, nothing was deleted
    assert_retryable(&result);
    let r = only_record(&records, &key);
    assert_eq!(r.outcome, Outcome::FailedRetryable, "{r:#?}");
    assert_eq!(r.error_code.as_deref(), Some("HttpServerError"));
    assert_eq!(calls(&b, DELETE, &key), 0);
    // WHEN KMS recovers and the event is redelivered THEN it is revoked
    b.sim.faults().remove(rule);
    let (result, records) = b.handle(&event).await;
    assert_ok(&result);
    assert_revoked(&b, only_record(&records, &key), &key);
}

#[tokio::test]
async fn list_resource_tags_access_denied_is_failed_without_a_delete() {
    // GIVEN the function may not read the key's tags
    let b = quick_bed(3).await;
    let key = b.byok(&[], &[]);
    b.sim.faults().add(
        FaultRule::new(
            TAGS,
            FaultKind::kms_error(
                "AccessDeniedException",
                "not authorized: kms:ListResourceTags",
                400,
            ),
        )
        .for_key(&key.arn)
        .always(),
    );
    // WHEN the key is revoked THEN it is failed (final), nothing deleted
    let (result, records) = b.handle(&revoke(&[&key])).await;
    assert_ok(&result);
    let r = only_record(&records, &key);
    assert_eq!(r.outcome, Outcome::Failed, "{r:#?}");
    assert_eq!(r.error_code.as_deref(), Some("AccessDeniedException"));
    assert_eq!(calls(&b, DELETE, &key), 0);
    assert_untouched(&b, &key);
}

// ---------- ListKeys ----------

#[tokio::test]
async fn list_keys_failing_for_a_tag_selector_is_failed_retryable_until_redelivery() {
    // GIVEN two keys carrying the selected tag, and ListKeys failing on every call
    let b = quick_bed(2).await;
    let k1 = b.byok(&[], &[("tenant", "tenant-b")]);
    let k2 = b.byok(&[], &[("tenant", "tenant-b")]);
    let rule = b
        .sim
        .faults()
        .add(FaultRule::new(LIST_KEYS, FaultKind::internal()).always());
    let event = common::event("incident-revocation-tags.json");
    // WHEN the tag-selector event arrives
    let (result, records) = b.handle(&event).await;
    // THEN one failed_retryable record stands for the selector, nothing else was called
    assert_retryable(&result);
    assert_eq!(records.len(), 1, "{records:#?}");
    let r = &records[0];
    assert_eq!(r.outcome, Outcome::FailedRetryable);
    assert_eq!(r.key.as_deref(), Some("tags:tenant=tenant-b"));
    assert_eq!(r.error_code.as_deref(), Some("KMSInternalException"));
    assert_eq!(r.attempts, 2);
    assert_eq!(b.sim.counters().calls(LIST_KEYS), 2);
    assert_eq!(b.sim.counters().calls(DESCRIBE), 0);
    assert_eq!(b.sim.counters().calls(DELETE), 0);
    // WHEN ListKeys recovers and the event is redelivered THEN both keys are revoked once
    b.sim.faults().remove(rule);
    let (result, records) = b.handle(&event).await;
    assert_ok(&result);
    for (k, r) in [&k1, &k2]
        .into_iter()
        .zip(one_record_each(&records, &[&k1, &k2]))
    {
        assert_revoked(&b, r, k);
    }
}

#[tokio::test]
async fn list_keys_failing_for_the_sweep_is_failed_retryable_until_the_next_run() {
    // GIVEN a key whose revoke-at time has passed, and ListKeys failing on every call
    let b = quick_bed(2).await;
    let key = b.byok(
        &[],
        &[("kms-material-guard:revoke-at", "2020-01-01T00:00:00Z")],
    );
    let rule = b
        .sim
        .faults()
        .add(FaultRule::new(LIST_KEYS, FaultKind::dependency_timeout()).always());
    let event = common::event("scheduled-sweep.json");
    // WHEN the scheduled sweep runs
    let (result, records) = b.handle(&event).await;
    // THEN one failed_retryable sweep record, a Retryable error, nothing examined or deleted
    let err = result.as_ref().expect_err("retryable");
    assert_eq!(err.error_type(), error_types::RETRYABLE);
    assert_eq!(records.len(), 1, "{records:#?}");
    assert_eq!(records[0].action, Action::Sweep);
    assert_eq!(records[0].outcome, Outcome::FailedRetryable);
    assert_eq!(
        records[0].error_code.as_deref(),
        Some("DependencyTimeoutException")
    );
    assert_eq!(b.sim.counters().calls(DESCRIBE), 0);
    assert_untouched(&b, &key);
    // WHEN ListKeys recovers and the sweep runs again THEN the due key is revoked
    b.sim.faults().remove(rule);
    let (result, records) = b.handle(&event).await;
    assert_ok(&result);
    let r = only_record(&records, &key);
    assert_eq!(r.action, Action::ScheduledRevoke);
    assert_revoked(&b, r, &key);
}

#[tokio::test]
async fn list_keys_failing_for_a_fifty_tag_selector_writes_a_schema_valid_record() {
    // GIVEN the largest tag selector a request may carry (50 tags, 128-character keys and
    // 256-character values), and ListKeys failing
    let b = quick_bed(1).await;
    b.sim
        .faults()
        .add(FaultRule::new(LIST_KEYS, FaultKind::internal()).always());
    let tags: serde_json::Map<String, Value> = (0..50)
        .map(|i| (format!("{i:0>128}"), json!("v".repeat(256))))
        .collect();
    let event = json!({"tags": tags, "reason": "fault matrix", "incidentId": "INC-FAULTS"});
    // WHEN the request is handled (the Bed validates every record against the audit schema,
    // whose `key` has at most 2,048 characters)
    let (result, records) = b.handle(&event).await;
    // THEN the selector's single record is failed_retryable and the invocation asks for a retry
    assert_retryable(&result);
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].outcome, Outcome::FailedRetryable);
}

// ---------- the invocation's deadline ----------

#[tokio::test]
async fn a_short_deadline_defers_keys_and_a_redelivery_completes_them_once() {
    // GIVEN four keys, a pace of one delete per second and an invocation with 1.5 s left:
    // the third and fourth delete slots (2 s and 3 s) are past the deadline
    let mut cfg = quick_config(3);
    cfg.delete_rate = 1.0;
    let b = bed(SimConfig::unlimited(), cfg).await;
    let keys: Vec<KeyInfo> = (0..4).map(|_| b.byok(&[], &[])).collect();
    let refs: Vec<&KeyInfo> = keys.iter().collect();
    let event = revoke(&refs);
    let inv = Invocation {
        deadline: Deadline::after(Duration::from_millis(1500)),
        ..Invocation::local("req-deadline")
    };
    // WHEN the event is handled under that deadline
    let (result, records) = handle_with(&b, &event, &inv).await;
    // THEN some keys are deferred (never attempted), the rest revoked, every key has a record,
    // and the invocation asks for a retry
    assert_retryable(&result);
    let per_key = one_record_each(&records, &refs);
    let mut deferred = 0;
    for (k, r) in keys.iter().zip(&per_key) {
        match r.outcome {
            Outcome::Deferred => {
                deferred += 1;
                assert_eq!(calls(&b, DELETE, k), 0, "deferred keys were not attempted");
                assert_eq!(b.state(k), KeyState::Enabled);
            }
            Outcome::Revoked => assert_eq!(b.state(k), KeyState::PendingImport),
            other => panic!("unexpected {other:?}: {r:#?}"),
        }
    }
    assert!(deferred >= 2, "slots past the deadline are deferred");
    // WHEN the event is redelivered without the deadline
    let (result, records) = b.handle(&event).await;
    // THEN the deferred keys are revoked, the others recognised, one applied delete per key
    assert_ok(&result);
    for ((k, before), after) in keys
        .iter()
        .zip(&per_key)
        .zip(one_record_each(&records, &refs))
    {
        let expected = match before.outcome {
            Outcome::Deferred => Outcome::Revoked,
            _ => Outcome::AlreadyRevoked,
        };
        assert_eq!(after.outcome, expected, "{after:#?}");
        assert_eq!(b.state(k), KeyState::PendingImport);
        assert_eq!(
            calls(&b, DELETE, k),
            1,
            "exactly one delete per key in total"
        );
        assert_eq!(applied_deletes(&b, k), 1);
    }
}

#[tokio::test]
async fn a_delete_waiting_for_its_pace_slot_never_outlives_the_deadline() {
    // GIVEN three keys, the slowest pace (one delete every 2 s: slots at 0, 2 and 4 s) and an
    // invocation with 3 s left and a margin of 500 ms: the third slot lies past the deadline
    let mut cfg = quick_config(3);
    cfg.delete_rate = 0.5;
    cfg.deadline_margin = Duration::from_millis(500);
    let b = bed(SimConfig::unlimited(), cfg).await;
    let keys: Vec<KeyInfo> = (0..3).map(|_| b.byok(&[], &[])).collect();
    let refs: Vec<&KeyInfo> = keys.iter().collect();
    let inv = Invocation {
        deadline: Deadline::after(Duration::from_secs(3)),
        ..Invocation::local("req-slot")
    };
    // WHEN the event is handled under that deadline
    let (result, records) = handle_with(&b, &revoke(&refs), &inv).await;
    // THEN the invocation answers (with every record written) before Lambda's deadline would
    // have stopped it: a key whose slot lies past the deadline is deferred, not waited for
    assert!(
        inv.deadline.remaining().is_some_and(|r| !r.is_zero()),
        "the invocation outlived its deadline: records written after it would be lost in Lambda"
    );
    assert_retryable(&result);
    let per_key = one_record_each(&records, &refs);
    assert!(per_key.iter().any(|r| r.outcome == Outcome::Deferred));
}
