//! The handler against `aws-smithy-mocks`: one test per key state and per KMS error variant,
//! the guardrails, dry run, deadlines, tag selection, expiry and the sweep. A KMS request that
//! matches no rule panics, so "no KMS call" is asserted by giving no rule for it.
//!
//! Time is paused (`start_paused`): backoff and pacing sleeps complete instantly but in order.

mod common;

use std::time::Duration;

use aws_sdk_kms::Client;
use aws_sdk_kms::error::ErrorMetadata;
use aws_sdk_kms::operation::delete_imported_key_material::{
    DeleteImportedKeyMaterialError, DeleteImportedKeyMaterialOutput,
};
use aws_sdk_kms::operation::describe_key::{DescribeKeyError, DescribeKeyOutput};
use aws_sdk_kms::operation::list_keys::ListKeysOutput;
use aws_sdk_kms::operation::list_resource_tags::ListResourceTagsOutput;
use aws_sdk_kms::types::error::{
    DependencyTimeoutException, InvalidArnException, KmsInternalException,
    KmsInvalidStateException, NotFoundException, UnsupportedOperationException,
};
use aws_sdk_kms::types::{KeyListEntry, KeyMetadata, KeyState, OriginType, Tag};
use aws_smithy_mocks::{MockResponse, Rule, RuleMode, mock, mock_client};
use common::{ACCOUNT, config, guard, key_arn};
use kms_material_guard::audit::AuditRecord;
use kms_material_guard::config::ScopeMode;
use kms_material_guard::domain::Action;
use kms_material_guard::domain::Deadline;
use kms_material_guard::response::error_types;
use kms_material_guard::{Config, GuardError, Invocation, MemorySink, Outcome, Summary};
use serde_json::{Value, json};

const ID: &str = "1234abcd-12ab-34cd-56ef-1234567890ab";
const ID2: &str = "2234abcd-12ab-34cd-56ef-1234567890ab";
const ID3: &str = "3234abcd-12ab-34cd-56ef-1234567890ab";
const MATERIAL: &str = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90";
const MATERIAL2: &str = "b1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90";

// ---------- building blocks ----------

fn metadata(id: &str, state: KeyState, origin: OriginType) -> KeyMetadata {
    KeyMetadata::builder()
        .key_id(id)
        .arn(key_arn(id))
        .aws_account_id(ACCOUNT)
        .enabled(state == KeyState::Enabled)
        .key_state(state)
        .origin(origin)
        .current_key_material_id(MATERIAL)
        .build()
        .expect("metadata")
}

fn described(id: &str, state: KeyState) -> DescribeKeyOutput {
    DescribeKeyOutput::builder()
        .key_metadata(metadata(id, state, OriginType::External))
        .build()
}

fn meta(code: &str, message: &str) -> ErrorMetadata {
    ErrorMetadata::builder().code(code).message(message).build()
}

/// A DeleteImportedKeyMaterial error as the SDK builds it from the wire (`__type`, `message`).
fn delete_error(code: &str, message: &str) -> DeleteImportedKeyMaterialError {
    let m = meta(code, message);
    match code {
        "DependencyTimeoutException" => DeleteImportedKeyMaterialError::DependencyTimeoutException(
            DependencyTimeoutException::builder()
                .message(message)
                .meta(m)
                .build(),
        ),
        "KMSInternalException" => DeleteImportedKeyMaterialError::KmsInternalException(
            KmsInternalException::builder()
                .message(message)
                .meta(m)
                .build(),
        ),
        "KMSInvalidStateException" => DeleteImportedKeyMaterialError::KmsInvalidStateException(
            KmsInvalidStateException::builder()
                .message(message)
                .meta(m)
                .build(),
        ),
        "NotFoundException" => DeleteImportedKeyMaterialError::NotFoundException(
            NotFoundException::builder()
                .message(message)
                .meta(m)
                .build(),
        ),
        "InvalidArnException" => DeleteImportedKeyMaterialError::InvalidArnException(
            InvalidArnException::builder()
                .message(message)
                .meta(m)
                .build(),
        ),
        "UnsupportedOperationException" => {
            DeleteImportedKeyMaterialError::UnsupportedOperationException(
                UnsupportedOperationException::builder()
                    .message(message)
                    .meta(m)
                    .build(),
            )
        }
        // ThrottlingException, AccessDeniedException: not modeled for this operation.
        _ => DeleteImportedKeyMaterialError::generic(m),
    }
}

fn describe_error(code: &str, message: &str) -> DescribeKeyError {
    let m = meta(code, message);
    match code {
        "NotFoundException" => DescribeKeyError::NotFoundException(
            NotFoundException::builder()
                .message(message)
                .meta(m)
                .build(),
        ),
        "DependencyTimeoutException" => DescribeKeyError::DependencyTimeoutException(
            DependencyTimeoutException::builder()
                .message(message)
                .meta(m)
                .build(),
        ),
        "KMSInternalException" => DescribeKeyError::KmsInternalException(
            KmsInternalException::builder()
                .message(message)
                .meta(m)
                .build(),
        ),
        "InvalidArnException" => DescribeKeyError::InvalidArnException(
            InvalidArnException::builder()
                .message(message)
                .meta(m)
                .build(),
        ),
        _ => DescribeKeyError::generic(m),
    }
}

/// DescribeKey answering `states` in order (resolve, then verify, ...), for key `id` only.
fn describe_seq(id: &'static str, states: &[KeyState]) -> Rule {
    let mut seq = mock!(Client::describe_key)
        .match_requests(move |r| {
            r.key_id()
                .is_some_and(|k| k == id || k == key_arn(id) || k.starts_with("alias/"))
        })
        .sequence();
    for s in states {
        let s = s.clone();
        seq = seq.output(move || described(id, s.clone()));
    }
    seq.build()
}

fn tags_rule(id: &'static str, tags: &[(&str, &str)]) -> Rule {
    let tags: Vec<Tag> = tags
        .iter()
        .map(|(k, v)| {
            Tag::builder()
                .tag_key(*k)
                .tag_value(*v)
                .build()
                .expect("tag")
        })
        .collect();
    mock!(Client::list_resource_tags)
        .match_requests(move |r| r.key_id().is_some_and(|k| k == key_arn(id) || k == id))
        .sequence()
        .output(move || {
            ListResourceTagsOutput::builder()
                .set_tags(Some(tags.clone()))
                .truncated(false)
                .build()
        })
        .repeatedly()
        .build()
}

/// DescribeKey of `ID`: `Enabled` until `deleted` is set (by the delete mock), then
/// `PendingImport`, as KMS answers around a DeleteImportedKeyMaterial.
fn describe_until_deleted(deleted: std::sync::Arc<std::sync::atomic::AtomicBool>) -> Rule {
    mock!(Client::describe_key).then_compute_output(move |_| {
        let state = if deleted.load(std::sync::atomic::Ordering::SeqCst) {
            KeyState::PendingImport
        } else {
            KeyState::Enabled
        };
        described(ID, state)
    })
}

fn in_scope(id: &'static str) -> Rule {
    tags_rule(id, &[("kms-material-guard:revocable", "true")])
}

fn delete_ok(id: &'static str) -> Rule {
    mock!(Client::delete_imported_key_material)
        .match_requests(move |r| r.key_id() == Some(key_arn(id).as_str()))
        .then_output(move || {
            DeleteImportedKeyMaterialOutput::builder()
                .key_id(key_arn(id))
                .key_material_id(MATERIAL)
                .build()
        })
}

fn request(keys: &[&str]) -> Value {
    json!({"keys": keys, "reason": "test revocation", "incidentId": "INC-T", "requestedBy": "tester"})
}

/// The function disables SDK retries (it retries itself); so do the mocks.
fn no_sdk_retries(c: aws_sdk_kms::config::Builder) -> aws_sdk_kms::config::Builder {
    c.retry_config(aws_sdk_kms::config::retry::RetryConfig::disabled())
}

/// ListKeyRotations (the materials listed in records after a revocation): one CURRENT material.
fn materials_rule() -> Rule {
    use aws_sdk_kms::operation::list_key_rotations::ListKeyRotationsOutput;
    use aws_sdk_kms::types::{ImportState, KeyMaterialState, RotationsListEntry};
    mock!(Client::list_key_rotations).then_compute_output(|_| {
        ListKeyRotationsOutput::builder()
            .rotations(
                RotationsListEntry::builder()
                    .key_material_id(MATERIAL)
                    .key_material_state(KeyMaterialState::Current)
                    .import_state(ImportState::PendingImport)
                    .build(),
            )
            .truncated(false)
            .build()
    })
}

fn client(rules: &[&Rule]) -> Client {
    let materials = materials_rule();
    let mut all: Vec<&Rule> = rules.to_vec();
    all.push(&materials);
    mock_client!(aws_sdk_kms, RuleMode::MatchAny, all, no_sdk_retries)
}

async fn run(rules: &[&Rule], payload: Value) -> (Result<Summary, GuardError>, Vec<AuditRecord>) {
    run_with(rules, payload, config()).await
}

async fn run_with(
    rules: &[&Rule],
    payload: Value,
    cfg: Config,
) -> (Result<Summary, GuardError>, Vec<AuditRecord>) {
    let (guard, sink) = guard(client(rules), cfg);
    let result = guard
        .handle_payload(&payload, &Invocation::local("req-test"))
        .await;
    let records = sink.records();
    common::assert_schema_valid(&records);
    (result, records)
}

fn only(records: &[AuditRecord]) -> &AuditRecord {
    assert_eq!(records.len(), 1, "exactly one record: {records:#?}");
    &records[0]
}

// ---------- key states ----------

#[tokio::test(start_paused = true)]
async fn enabled_key_is_revoked_and_verified() {
    // GIVEN an Enabled EXTERNAL key in scope
    let d = describe_seq(ID, &[KeyState::Enabled, KeyState::PendingImport]);
    let t = in_scope(ID);
    let del = delete_ok(ID);
    // WHEN a revocation names it
    let (result, records) = run(&[&d, &t, &del], request(&[ID])).await;
    // THEN its material is deleted once, the state is verified, and the record says so
    let summary = result.expect("success");
    assert_eq!(summary.counts.get(&Outcome::Revoked), Some(&1));
    assert_eq!(del.num_calls(), 1);
    assert_eq!(d.num_calls(), 2);
    let r = only(&records);
    assert_eq!(r.outcome, Outcome::Revoked);
    assert_eq!(r.action, Action::Revoke);
    assert_eq!(r.state_before.as_deref(), Some("Enabled"));
    assert_eq!(r.state_after.as_deref(), Some("PendingImport"));
    assert_eq!(r.key_arn.as_deref(), Some(key_arn(ID).as_str()));
    assert_eq!(r.key_material_id.as_deref(), Some(MATERIAL));
    assert_eq!(r.incident_id.as_deref(), Some("INC-T"));
    assert_eq!(r.requested_by.as_deref(), Some("tester"));
    assert_eq!(
        r.attempts, 5,
        "describe, tags, delete, verify, list materials"
    );
    assert_eq!(r.materials.as_ref().map(Vec::len), Some(1));
    assert!(!r.dry_run);
}

#[tokio::test(start_paused = true)]
async fn disabled_key_is_revoked() {
    let d = describe_seq(ID, &[KeyState::Disabled, KeyState::PendingImport]);
    let t = in_scope(ID);
    let del = delete_ok(ID);
    let (result, records) = run(&[&d, &t, &del], request(&[ID])).await;
    assert!(result.is_ok());
    assert_eq!(only(&records).outcome, Outcome::Revoked);
    assert_eq!(only(&records).state_before.as_deref(), Some("Disabled"));
    assert_eq!(del.num_calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn pending_import_key_is_already_revoked_without_a_delete() {
    // GIVEN a key whose material is already gone; no delete rule exists
    let d = describe_seq(ID, &[KeyState::PendingImport]);
    let t = in_scope(ID);
    let (result, records) = run(&[&d, &t], request(&[ID])).await;
    assert!(result.is_ok());
    let r = only(&records);
    assert_eq!(r.outcome, Outcome::AlreadyRevoked);
    assert_eq!(r.state_after.as_deref(), Some("PendingImport"));
}

#[tokio::test(start_paused = true)]
async fn pending_deletion_key_is_left_unchanged() {
    let d = describe_seq(ID, &[KeyState::PendingDeletion]);
    let t = in_scope(ID);
    let (result, records) = run(&[&d, &t], request(&[ID])).await;
    assert!(result.is_ok());
    assert_eq!(only(&records).outcome, Outcome::UnchangedPendingDeletion);
}

#[tokio::test(start_paused = true)]
async fn pending_replica_deletion_key_is_left_unchanged() {
    let d = describe_seq(ID, &[KeyState::PendingReplicaDeletion]);
    let t = in_scope(ID);
    let (_, records) = run(&[&d, &t], request(&[ID])).await;
    assert_eq!(only(&records).outcome, Outcome::UnchangedPendingDeletion);
}

#[tokio::test(start_paused = true)]
async fn creating_key_is_retried_then_failed_retryable() {
    // GIVEN a key that stays Creating through every retry
    let d = describe_seq(ID, &[const { KeyState::Creating }; 5]);
    let t = in_scope(ID);
    let (result, records) = run(&[&d, &t], request(&[ID])).await;
    // THEN no delete is made, the key is failed_retryable and the invocation asks for a retry
    let err = result.expect_err("retryable");
    assert_eq!(err.error_type(), error_types::RETRYABLE);
    assert!(err.is_retryable());
    let r = only(&records);
    assert_eq!(r.outcome, Outcome::FailedRetryable);
    assert_eq!(r.error_code.as_deref(), Some("KeyNotReady"));
    assert_eq!(d.num_calls(), 5, "one describe per attempt");
}

#[tokio::test(start_paused = true)]
async fn updating_key_that_settles_is_revoked() {
    let d = describe_seq(
        ID,
        &[
            KeyState::Updating,
            KeyState::Enabled,
            KeyState::PendingImport,
        ],
    );
    let t = in_scope(ID);
    let del = delete_ok(ID);
    let (result, records) = run(&[&d, &t, &del], request(&[ID])).await;
    assert!(result.is_ok());
    assert_eq!(only(&records).outcome, Outcome::Revoked);
    assert_eq!(only(&records).state_before.as_deref(), Some("Updating"));
}

#[tokio::test(start_paused = true)]
async fn unavailable_key_fails_finally() {
    let d = describe_seq(ID, &[KeyState::Unavailable]);
    let t = in_scope(ID);
    let (result, records) = run(&[&d, &t], request(&[ID])).await;
    assert!(result.is_ok(), "final outcomes never cause a retry");
    let r = only(&records);
    assert_eq!(r.outcome, Outcome::Failed);
    assert_eq!(r.error_code.as_deref(), Some("UnsupportedKeyState"));
}

// ---------- DeleteImportedKeyMaterial errors ----------

/// A key that is Enabled until a DeleteImportedKeyMaterial succeeds (or is applied although
/// it answered `applied_but_failed`), then PendingImport: a tiny model of KMS for retry tests.
async fn delete_fails_with(
    code: &'static str,
    message: &'static str,
    times: usize,
) -> (Result<Summary, GuardError>, Vec<AuditRecord>, Rule) {
    let (result, records, del, _) = delete_fails_with_rate(code, message, times).await;
    (result, records, del)
}

/// As [`delete_fails_with`], also returning the pacer's rate afterwards.
async fn delete_fails_with_rate(
    code: &'static str,
    message: &'static str,
    times: usize,
) -> (Result<Summary, GuardError>, Vec<AuditRecord>, Rule, f64) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let deleted = Arc::new(AtomicBool::new(false));
    let calls = Arc::new(AtomicUsize::new(0));
    let (seen, d_flag) = (deleted.clone(), deleted.clone());
    let d = describe_until_deleted(seen);
    let t = in_scope(ID);
    let del = mock!(Client::delete_imported_key_material).then_compute_response(move |_| {
        if calls.fetch_add(1, Ordering::SeqCst) < times {
            MockResponse::Error(delete_error(code, message))
        } else {
            d_flag.store(true, Ordering::SeqCst);
            MockResponse::Output(
                DeleteImportedKeyMaterialOutput::builder()
                    .key_id(key_arn(ID))
                    .build(),
            )
        }
    });
    let (guard, sink) = guard(client(&[&d, &t, &del]), config());
    let result = guard
        .handle_payload(&request(&[ID]), &Invocation::local("req-test"))
        .await;
    let records = sink.records();
    common::assert_schema_valid(&records);
    (result, records, del, guard.delete_rate())
}

#[tokio::test(start_paused = true)]
async fn dependency_timeout_is_retried_and_then_succeeds() {
    let (result, records, del) =
        delete_fails_with("DependencyTimeoutException", "timed out", 2).await;
    assert!(result.is_ok());
    let r = only(&records);
    assert_eq!(r.outcome, Outcome::Revoked);
    assert_eq!(del.num_calls(), 3);
}

#[tokio::test(start_paused = true)]
async fn kms_internal_error_is_retried_and_then_succeeds() {
    let (result, records, del) = delete_fails_with("KMSInternalException", "internal", 1).await;
    assert!(result.is_ok());
    assert_eq!(only(&records).outcome, Outcome::Revoked);
    assert_eq!(del.num_calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn throttling_is_retried_and_slows_the_pacer() {
    // GIVEN KMS throttles the first two deletes (configured pace: 10/s)
    let (result, records, del, rate) = delete_fails_with_rate(
        "ThrottlingException",
        "You have exceeded the rate at which you may call KMS. Reduce the frequency of your calls.",
        2,
    )
    .await;
    // THEN the key is revoked on the third attempt and the pace dropped (10 -> 5 -> 2.5, +0.5)
    assert!(result.is_ok());
    assert!(
        (rate - 3.0).abs() < 1e-9,
        "pace after two throttles and one success: {rate}"
    );
    assert_eq!(only(&records).outcome, Outcome::Revoked);
    assert_eq!(del.num_calls(), 3);
}

#[tokio::test(start_paused = true)]
async fn persistent_dependency_timeouts_end_failed_retryable() {
    // GIVEN KMS keeps timing out on every one of the 5 attempts
    let (result, records, del) =
        delete_fails_with("DependencyTimeoutException", "timed out", 5).await;
    // THEN the key is failed_retryable with the KMS error, and the invocation fails for a retry
    let err = result.expect_err("retryable");
    assert_eq!(err.error_type(), error_types::RETRYABLE);
    let r = only(&records);
    assert_eq!(r.outcome, Outcome::FailedRetryable);
    assert_eq!(r.error_code.as_deref(), Some("DependencyTimeoutException"));
    assert_eq!(r.error_message.as_deref(), Some("timed out"));
    assert_eq!(del.num_calls(), 5);
    assert_eq!(err.summary().map(|s| s.retryable()), Some(1));
}

#[tokio::test(start_paused = true)]
async fn not_found_on_delete_is_final() {
    let (result, records, del) =
        delete_fails_with("NotFoundException", "Key 'x' does not exist", 1).await;
    assert!(result.is_ok());
    let r = only(&records);
    assert_eq!(r.outcome, Outcome::NotFound);
    assert_eq!(r.error_code.as_deref(), Some("NotFoundException"));
    assert_eq!(del.num_calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn invalid_arn_on_delete_is_final() {
    let (result, records, del) = delete_fails_with("InvalidArnException", "bad arn", 1).await;
    assert!(result.is_ok());
    assert_eq!(only(&records).outcome, Outcome::Failed);
    assert_eq!(
        only(&records).error_code.as_deref(),
        Some("InvalidArnException")
    );
    assert_eq!(del.num_calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn unsupported_operation_on_delete_is_final() {
    let (_, records, del) = delete_fails_with(
        "UnsupportedOperationException",
        "origin is AWS_KMS which is not valid",
        1,
    )
    .await;
    assert_eq!(only(&records).outcome, Outcome::Failed);
    assert_eq!(
        only(&records).error_code.as_deref(),
        Some("UnsupportedOperationException")
    );
    assert_eq!(del.num_calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn invalid_state_on_delete_is_final() {
    let (_, records, del) = delete_fails_with(
        "KMSInvalidStateException",
        "key is in an unexpected state",
        1,
    )
    .await;
    assert_eq!(only(&records).outcome, Outcome::Failed);
    assert_eq!(
        only(&records).error_code.as_deref(),
        Some("KMSInvalidStateException")
    );
    assert_eq!(del.num_calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn invalid_state_while_updating_is_retried() {
    let (result, records, del) = delete_fails_with(
        "KMSInvalidStateException",
        "arn:aws:kms:... is updating.",
        1,
    )
    .await;
    assert!(result.is_ok());
    assert_eq!(only(&records).outcome, Outcome::Revoked);
    assert_eq!(del.num_calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn access_denied_on_delete_is_final() {
    let (_, records, _) = delete_fails_with(
        "AccessDeniedException",
        "not authorized to perform kms:DeleteImportedKeyMaterial",
        1,
    )
    .await;
    assert_eq!(only(&records).outcome, Outcome::Failed);
    assert_eq!(
        only(&records).error_code.as_deref(),
        Some("AccessDeniedException")
    );
}

#[tokio::test(start_paused = true)]
async fn http_500_without_a_kms_body_is_retried() {
    let d = describe_seq(
        ID,
        &[
            KeyState::Enabled,
            KeyState::Enabled,
            KeyState::PendingImport,
        ],
    );
    let t = in_scope(ID);
    let del = mock!(Client::delete_imported_key_material)
        .sequence()
        .http_status(500, Some("<html>Internal Server Error</html>".into()))
        .output(|| DeleteImportedKeyMaterialOutput::builder().build())
        .build();
    let (result, records) = run(&[&d, &t, &del], request(&[ID])).await;
    assert!(result.is_ok());
    assert_eq!(only(&records).outcome, Outcome::Revoked);
    assert_eq!(del.num_calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_lost_answer_after_the_delete_is_not_repeated() {
    // GIVEN the delete is applied but its answer is an internal error; the re-check shows
    // PendingImport
    let d = describe_seq(ID, &[KeyState::Enabled, KeyState::PendingImport]);
    let t = in_scope(ID);
    let del = mock!(Client::delete_imported_key_material)
        .then_error(|| delete_error("KMSInternalException", "internal"));
    let (result, records) = run(&[&d, &t, &del], request(&[ID])).await;
    // THEN the key is revoked with exactly one delete call
    assert!(result.is_ok());
    assert_eq!(only(&records).outcome, Outcome::Revoked);
    assert_eq!(del.num_calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_lost_answer_whose_check_also_fails_is_never_deleted_blind() {
    // GIVEN the delete's answer is lost (internal error) and every DescribeKey after it fails
    let d = mock!(Client::describe_key)
        .sequence()
        .output(|| described(ID, KeyState::Enabled))
        .error(|| describe_error("KMSInternalException", "internal"))
        .times(5)
        .build();
    let t = in_scope(ID);
    let del = mock!(Client::delete_imported_key_material)
        .then_error(|| delete_error("KMSInternalException", "internal"));
    // WHEN the key is revoked
    let (result, records) = run(&[&d, &t, &del], request(&[ID])).await;
    // THEN the key's state is unknown: failed_retryable, one delete call, no second delete
    assert!(
        matches!(result, Err(GuardError::Retryable { .. })),
        "{result:?}"
    );
    let r = only(&records);
    assert_eq!(r.outcome, Outcome::FailedRetryable);
    assert_eq!(r.error_code.as_deref(), Some("DeleteOutcomeUnknown"));
    assert!(
        r.error_message
            .as_deref()
            .is_some_and(|m| m.contains("not repeated")),
        "{r:#?}"
    );
    assert_eq!(del.num_calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_lost_answer_to_a_material_delete_is_recognised_by_the_import_state() {
    // GIVEN a delete of one (non-current) material by id whose answer is lost; the key stays
    // Enabled and ListKeyRotations shows that material PENDING_IMPORT
    let d = describe_seq(
        ID,
        &[KeyState::Enabled, KeyState::Enabled, KeyState::Enabled],
    );
    let t = in_scope(ID);
    let del = mock!(Client::delete_imported_key_material)
        .then_error(|| delete_error("KMSInternalException", "internal"));
    let payload = json!({"keys": [ID], "keyMaterialId": MATERIAL, "acknowledgeKeyWide": true,
        "reason": "r", "incidentId": "INC-M"});
    // WHEN the material is revoked
    let (result, records) = run(&[&d, &t, &del], payload).await;
    // THEN the delete is recognised as done: material_deleted, one delete call
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(only(&records).outcome, Outcome::MaterialDeleted);
    assert_eq!(only(&records).key_material_id.as_deref(), Some(MATERIAL));
    assert_eq!(del.num_calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn an_empty_delete_response_is_accepted() {
    // Older SDKs and documentation show `{}`.
    let d = describe_seq(ID, &[KeyState::Enabled, KeyState::PendingImport]);
    let t = in_scope(ID);
    let del = mock!(Client::delete_imported_key_material)
        .then_output(|| DeleteImportedKeyMaterialOutput::builder().build());
    let (_, records) = run(&[&d, &t, &del], request(&[ID])).await;
    assert_eq!(only(&records).outcome, Outcome::Revoked);
    assert_eq!(
        only(&records).key_material_id.as_deref(),
        Some(MATERIAL),
        "the current material, from DescribeKey"
    );
}

#[tokio::test(start_paused = true)]
async fn failed_verification_is_revoked_unverified() {
    // GIVEN the delete succeeds but every verification DescribeKey fails
    let d = mock!(Client::describe_key)
        .sequence()
        .output(|| described(ID, KeyState::Enabled))
        .error(|| describe_error("KMSInternalException", "internal"))
        .times(5)
        .build();
    let t = in_scope(ID);
    let del = delete_ok(ID);
    let (result, records) = run(&[&d, &t, &del], request(&[ID])).await;
    // THEN the outcome is final (the delete answered) but says it was not verified
    assert!(result.is_ok());
    let r = only(&records);
    assert_eq!(r.outcome, Outcome::RevokedUnverified);
    assert_eq!(r.error_code.as_deref(), Some("KMSInternalException"));
    assert_eq!(del.num_calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_key_still_enabled_after_the_delete_fails_verification() {
    let d = describe_seq(ID, &[KeyState::Enabled, KeyState::Enabled]);
    let t = in_scope(ID);
    let del = delete_ok(ID);
    let (result, records) = run(&[&d, &t, &del], request(&[ID])).await;
    assert!(result.is_err());
    assert_eq!(only(&records).outcome, Outcome::FailedRetryable);
    assert_eq!(
        only(&records).error_code.as_deref(),
        Some("VerificationFailed")
    );
}

// ---------- DescribeKey errors ----------

#[tokio::test(start_paused = true)]
async fn unknown_key_is_not_found() {
    let d = mock!(Client::describe_key)
        .then_error(|| describe_error("NotFoundException", "Alias is not found."));
    let (result, records) = run(&[&d], request(&["alias/gone"])).await;
    assert!(result.is_ok());
    let r = only(&records);
    assert_eq!(r.outcome, Outcome::NotFound);
    assert_eq!(r.key.as_deref(), Some("alias/gone"));
}

#[tokio::test(start_paused = true)]
async fn describe_that_keeps_timing_out_is_failed_retryable() {
    let d = mock!(Client::describe_key)
        .sequence()
        .error(|| describe_error("DependencyTimeoutException", "timeout"))
        .times(5)
        .build();
    // (a key named by id has its tags read beside DescribeKey)
    let t = tags_rule(ID, &[("kms-material-guard:revocable", "true")]);
    let (result, records) = run(&[&d, &t], request(&[ID])).await;
    assert!(result.is_err());
    assert_eq!(only(&records).outcome, Outcome::FailedRetryable);
    assert_eq!(d.num_calls(), 5);
}

#[tokio::test(start_paused = true)]
async fn describe_invalid_arn_is_final() {
    let d = mock!(Client::describe_key)
        .then_error(|| describe_error("InvalidArnException", "invalid arn"));
    let t = tags_rule(ID, &[("kms-material-guard:revocable", "true")]);
    let (result, records) = run(&[&d, &t], request(&[ID])).await;
    assert!(result.is_ok());
    assert_eq!(only(&records).outcome, Outcome::Failed);
}

// ---------- guardrails ----------

#[tokio::test(start_paused = true)]
async fn aws_kms_origin_is_skipped_without_a_delete() {
    // GIVEN a key named by id whose DescribeKey shows origin AWS_KMS, tagged in scope
    let d = mock!(Client::describe_key).then_output(|| {
        DescribeKeyOutput::builder()
            .key_metadata(metadata(ID, KeyState::Enabled, OriginType::AwsKms))
            .build()
    });
    let t = tags_rule(ID, &[("kms-material-guard:revocable", "true")]);
    // WHEN it is named in a revocation (DescribeKey and ListResourceTags read side by side)
    let (result, records) = run(&[&d, &t], request(&[ID])).await;
    // THEN it is skipped: the origin decides before the tags, and no delete is sent
    assert!(result.is_ok());
    assert_eq!(only(&records).outcome, Outcome::SkippedNotExternal);
    assert_eq!(d.num_calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn untagged_key_is_refused_out_of_scope() {
    let d = describe_seq(ID, &[KeyState::Enabled]);
    let t = tags_rule(
        ID,
        &[
            ("owner", "team-a"),
            ("kms-material-guard:revocable", "false"),
        ],
    );
    let (result, records) = run(&[&d, &t], request(&[ID])).await;
    assert!(result.is_ok());
    assert_eq!(only(&records).outcome, Outcome::RefusedOutOfScope);
}

#[tokio::test(start_paused = true)]
async fn widened_scope_needs_no_tags() {
    let mut cfg = config();
    cfg.scope.mode = ScopeMode::AllExternal;
    let d = describe_seq(ID, &[KeyState::Enabled, KeyState::PendingImport]);
    let del = delete_ok(ID);
    let (result, records) = run_with(&[&d, &del], request(&[ID]), cfg).await;
    assert!(result.is_ok());
    assert_eq!(only(&records).outcome, Outcome::Revoked);
    assert_eq!(only(&records).scope_mode, "all-external");
}

#[tokio::test(start_paused = true)]
async fn custom_scope_tag_is_honoured() {
    let mut cfg = config();
    cfg.scope.tag_key = "security:kill-switch".into();
    cfg.scope.tag_value = "armed".into();
    let d = describe_seq(ID, &[KeyState::Enabled, KeyState::PendingImport]);
    let t = tags_rule(ID, &[("security:kill-switch", "armed")]);
    let del = delete_ok(ID);
    let (_, records) = run_with(&[&d, &t, &del], request(&[ID]), cfg).await;
    assert_eq!(only(&records).outcome, Outcome::Revoked);
}

#[tokio::test(start_paused = true)]
async fn other_account_and_region_arns_are_refused_without_a_call() {
    let foreign = format!("arn:aws:kms:us-east-1:999999999999:key/{ID}");
    let elsewhere = format!("arn:aws:kms:eu-west-1:{ACCOUNT}:key/{ID}");
    let (result, records) = run(&[], request(&[&foreign, &elsewhere])).await;
    assert!(result.is_ok());
    assert_eq!(records.len(), 2);
    assert_eq!(records[0].outcome, Outcome::RefusedCrossAccount);
    assert_eq!(records[0].account.as_deref(), Some("999999999999"));
    assert_eq!(records[1].outcome, Outcome::RefusedOtherRegion);
    assert_eq!(records[1].region.as_deref(), Some("eu-west-1"));
}

#[tokio::test(start_paused = true)]
async fn malformed_identifier_is_rejected_per_key_without_a_call() {
    let (result, records) = run(&[], request(&["not-a-key-id"])).await;
    assert!(result.is_ok());
    let r = only(&records);
    assert_eq!(r.outcome, Outcome::RejectedInvalidIdentifier);
    assert!(
        r.error_message
            .as_deref()
            .is_some_and(|m| m.contains("not a key id"))
    );
}

#[tokio::test(start_paused = true)]
async fn more_named_keys_than_the_blast_radius_touch_nothing() {
    // GIVEN a blast radius of 2 and a request naming 3 keys; no KMS rule at all
    let mut cfg = config();
    cfg.blast_radius = 2;
    let (result, records) = run_with(&[], request(&[ID, ID2, ID3]), cfg).await;
    // THEN every key is refused, nothing is called, and the error is final
    let err = result.expect_err("refused");
    assert_eq!(err.error_type(), error_types::REFUSED_BLAST_RADIUS);
    assert!(!err.is_retryable());
    assert_eq!(records.len(), 3);
    assert!(
        records
            .iter()
            .all(|r| r.outcome == Outcome::RefusedBlastRadius)
    );
}

#[tokio::test(start_paused = true)]
async fn duplicate_spellings_of_one_key_make_one_delete() {
    // GIVEN the same key named by id and by ARN; it is Enabled until its material is deleted
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let deleted = Arc::new(AtomicBool::new(false));
    let (seen, flag) = (deleted.clone(), deleted.clone());
    let d = describe_until_deleted(seen);
    let del = mock!(Client::delete_imported_key_material).then_compute_output(move |_| {
        flag.store(true, Ordering::SeqCst);
        DeleteImportedKeyMaterialOutput::builder()
            .key_id(key_arn(ID))
            .build()
    });
    let t = in_scope(ID);
    let (result, records) = run(&[&d, &t, &del], request(&[ID, &key_arn(ID)])).await;
    assert!(result.is_ok());
    assert_eq!(del.num_calls(), 1);
    let outcomes: Vec<Outcome> = records.iter().map(|r| r.outcome).collect();
    assert!(outcomes.contains(&Outcome::Revoked));
    assert!(outcomes.contains(&Outcome::SkippedDuplicate));
}

// ---------- dry run, key material id, deadline ----------

#[tokio::test(start_paused = true)]
async fn dry_run_stops_before_the_delete() {
    let d = describe_seq(ID, &[KeyState::Enabled]);
    let t = in_scope(ID);
    let mut payload = request(&[ID]);
    payload["dryRun"] = true.into();
    let (result, records) = run(&[&d, &t], payload).await;
    let summary = result.expect("ok");
    assert!(summary.dry_run);
    let r = only(&records);
    assert_eq!(r.outcome, Outcome::WouldRevoke);
    assert!(r.dry_run);
    assert_eq!(r.state_after.as_deref(), Some("Enabled"));
}

#[tokio::test(start_paused = true)]
async fn the_global_dry_run_switch_overrides_the_request() {
    let mut cfg = config();
    cfg.dry_run = true;
    let d = describe_seq(ID, &[KeyState::Enabled]);
    let t = in_scope(ID);
    let (_, records) = run_with(&[&d, &t], request(&[ID]), cfg).await;
    assert_eq!(only(&records).outcome, Outcome::WouldRevoke);
}

#[tokio::test(start_paused = true)]
async fn a_named_key_material_is_passed_to_kms() {
    let d = describe_seq(ID, &[KeyState::Enabled, KeyState::PendingImport]);
    let t = in_scope(ID);
    let del = mock!(Client::delete_imported_key_material)
        .match_requests(|r| r.key_material_id() == Some(MATERIAL2))
        .then_output(|| {
            DeleteImportedKeyMaterialOutput::builder()
                .key_id(key_arn(ID))
                .key_material_id(MATERIAL2)
                .build()
        });
    let mut payload = request(&[ID]);
    payload["keyMaterialId"] = MATERIAL2.into();
    payload["acknowledgeKeyWide"] = true.into();
    let (_, records) = run(&[&d, &t, &del], payload).await;
    let r = only(&records);
    assert_eq!(r.outcome, Outcome::Revoked);
    assert_eq!(r.key_material_id.as_deref(), Some(MATERIAL2));
}

#[tokio::test(start_paused = true)]
async fn deleting_a_pending_rotation_material_leaves_the_key_usable() {
    let d = describe_seq(ID, &[KeyState::Enabled, KeyState::Enabled]);
    let t = in_scope(ID);
    let del = delete_ok(ID);
    let mut payload = request(&[ID]);
    payload["keyMaterialId"] = MATERIAL2.into();
    payload["acknowledgeKeyWide"] = true.into();
    let (result, records) = run(&[&d, &t, &del], payload).await;
    assert!(result.is_ok());
    assert_eq!(only(&records).outcome, Outcome::MaterialDeleted);
}

#[tokio::test(start_paused = true)]
async fn the_deadline_defers_keys_not_yet_deleted() {
    // GIVEN two keys, deletes paced at 1/s, and an invocation with 0.5 s + margin left
    let mut cfg = config();
    cfg.delete_rate = 1.0;
    let d1 = describe_seq(ID, &[KeyState::Enabled, KeyState::PendingImport]);
    let d2 = describe_seq(ID2, &[KeyState::Enabled]);
    let t1 = in_scope(ID);
    let t2 = in_scope(ID2);
    let del = delete_ok(ID);
    let (guard, sink) = guard(client(&[&d1, &d2, &t1, &t2, &del]), cfg.clone());
    let mut inv = Invocation::local("req-deadline");
    inv.deadline = Deadline::after(cfg.deadline_margin + Duration::from_millis(500));
    // WHEN the request runs
    let err = guard
        .handle_payload(&request(&[ID, ID2]), &inv)
        .await
        .expect_err("deferred");
    // THEN the first key is revoked, the second deferred, and the invocation asks for a retry
    let records: Vec<AuditRecord> = sink.records();
    common::assert_schema_valid(&records);
    let by_key = |id: &str| {
        records
            .iter()
            .find(|r| r.key.as_deref() == Some(id))
            .map(|r| r.outcome)
    };
    assert_eq!(by_key(ID), Some(Outcome::Revoked));
    assert_eq!(by_key(ID2), Some(Outcome::Deferred));
    assert_eq!(err.error_type(), error_types::RETRYABLE);
    assert_eq!(del.num_calls(), 1);
}

// ---------- tag selection ----------

fn list_keys(ids: &[&'static str]) -> Rule {
    let entries: Vec<KeyListEntry> = ids
        .iter()
        .map(|id| {
            KeyListEntry::builder()
                .key_id(*id)
                .key_arn(key_arn(id))
                .build()
        })
        .collect();
    mock!(Client::list_keys).then_output(move || {
        ListKeysOutput::builder()
            .set_keys(Some(entries.clone()))
            .truncated(false)
            .build()
    })
}

fn tag_request() -> Value {
    json!({"tags": {"tenant": "tenant-b"}, "reason": "offboarding", "incidentId": "INC-TAGS"})
}

#[tokio::test(start_paused = true)]
async fn tag_selector_revokes_every_matching_in_scope_external_key() {
    // GIVEN three EXTERNAL keys: two of tenant-b (one in scope, one not), one of tenant-a
    let l = list_keys(&[ID, ID2, ID3]);
    let d1 = describe_seq(ID, &[KeyState::Enabled, KeyState::PendingImport]);
    let d2 = describe_seq(ID2, &[KeyState::Enabled]);
    let d3 = describe_seq(ID3, &[KeyState::Enabled]);
    let t1 = tags_rule(
        ID,
        &[
            ("tenant", "tenant-b"),
            ("kms-material-guard:revocable", "true"),
        ],
    );
    let t2 = tags_rule(ID2, &[("tenant", "tenant-b")]);
    let t3 = tags_rule(
        ID3,
        &[
            ("tenant", "tenant-a"),
            ("kms-material-guard:revocable", "true"),
        ],
    );
    let del = delete_ok(ID);
    let kms = client(&[&l, &d1, &d2, &d3, &t1, &t2, &t3, &del]);
    let (guard, sink) = guard(kms, config());
    // WHEN the selector runs
    let summary = guard
        .handle_payload(&tag_request(), &Invocation::local("r"))
        .await
        .expect("ok");
    // THEN the in-scope match is revoked, the out-of-scope match refused, tenant-a untouched
    let records = sink.records();
    common::assert_schema_valid(&records);
    assert_eq!(records.len(), 2);
    assert_eq!(summary.counts.get(&Outcome::Revoked), Some(&1));
    assert_eq!(summary.counts.get(&Outcome::RefusedOutOfScope), Some(&1));
    assert_eq!(del.num_calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn tag_selector_over_the_blast_radius_deletes_nothing() {
    let mut cfg = config();
    cfg.blast_radius = 1;
    let l = list_keys(&[ID, ID2]);
    let d1 = describe_seq(ID, &[KeyState::Enabled]);
    let d2 = describe_seq(ID2, &[KeyState::Enabled]);
    let t1 = tags_rule(
        ID,
        &[
            ("tenant", "tenant-b"),
            ("kms-material-guard:revocable", "true"),
        ],
    );
    let t2 = tags_rule(
        ID2,
        &[
            ("tenant", "tenant-b"),
            ("kms-material-guard:revocable", "true"),
        ],
    );
    let kms = client(&[&l, &d1, &d2, &t1, &t2]);
    let (guard, sink) = guard(kms, cfg);
    let err = guard
        .handle_payload(&tag_request(), &Invocation::local("r"))
        .await
        .expect_err("refused");
    assert_eq!(err.error_type(), error_types::REFUSED_BLAST_RADIUS);
    let records = sink.records();
    assert_eq!(records.len(), 2);
    assert!(
        records
            .iter()
            .all(|r| r.outcome == Outcome::RefusedBlastRadius)
    );
}

// ---------- expiry ----------

#[tokio::test(start_paused = true)]
async fn kms_expiry_event_is_confirmed_and_recorded() {
    let d = describe_seq(ID, &[KeyState::PendingImport]);
    let (result, records) = run(
        &[&d],
        common::event("cloudtrail-delete-expired-key-material.json"),
    )
    .await;
    assert!(result.is_ok());
    let r = only(&records);
    assert_eq!(r.action, Action::ObserveExpiry);
    assert_eq!(r.outcome, Outcome::Expired);
    assert_eq!(r.state_after.as_deref(), Some("PendingImport"));
    assert_eq!(
        r.key_material_id.as_deref(),
        Some("8a3f1e5d2c4b6a79887766554433221100ffeeddccbbaa998877665544332211")
    );
    assert_eq!(r.trigger.source.as_deref(), Some("aws.kms"));
}

#[tokio::test(start_paused = true)]
async fn an_expiry_event_for_a_usable_key_is_recorded_as_what_describe_key_says() {
    // GIVEN an expiry event, but DescribeKey shows the key Enabled (material imported again)
    let d = describe_seq(ID, &[KeyState::Enabled]);
    // WHEN the event is handled
    let (result, records) = run(&[&d], common::event("kms-key-material-expiration.json")).await;
    // THEN the record says not_expired, with the state KMS reports, and nothing was done
    assert!(result.is_ok());
    let r = only(&records);
    assert_eq!(r.outcome, Outcome::NotExpired);
    assert_eq!(r.state_after.as_deref(), Some("Enabled"));
    assert_eq!(r.error_code.as_deref(), Some("MaterialImported"));
    // AND a key pending deletion is recorded as such
    let d = describe_seq(ID, &[KeyState::PendingDeletion]);
    let (_, records) = run(&[&d], common::event("kms-key-material-expiration.json")).await;
    assert_eq!(only(&records).outcome, Outcome::UnchangedPendingDeletion);
}

// ---------- sweep ----------

fn sweep_keys(revoke_at: &'static str) -> (Rule, Rule, Rule) {
    let l = list_keys(&[ID]);
    let d = describe_seq(ID, &[KeyState::Enabled, KeyState::PendingImport]);
    let t = tags_rule(
        ID,
        &[
            ("kms-material-guard:revocable", "true"),
            ("kms-material-guard:revoke-at", revoke_at),
        ],
    );
    (l, d, t)
}

async fn sweep(rules: &[&Rule], now: &str) -> (Result<Summary, GuardError>, Vec<AuditRecord>) {
    let now = chrono::DateTime::parse_from_rfc3339(now)
        .expect("time")
        .with_timezone(&chrono::Utc);
    let sink = std::sync::Arc::new(MemorySink::new());
    let guard = kms_material_guard::Guard::new(client(rules), config(), sink.clone())
        .with_clock(move || now);
    let result = guard
        .handle_payload(
            &common::event("scheduled-sweep.json"),
            &Invocation::local("r"),
        )
        .await;
    let records = sink.records();
    common::assert_schema_valid(&records);
    (result, records)
}

#[tokio::test(start_paused = true)]
async fn sweep_revokes_a_key_whose_revoke_at_has_passed() {
    let (l, d, t) = sweep_keys("2026-11-01T00:00:00Z");
    let del = delete_ok(ID);
    let (result, records) = sweep(&[&l, &d, &t, &del], "2026-11-29T06:00:00Z").await;
    let summary = result.expect("ok");
    assert_eq!(summary.keys_examined, Some(1));
    let r = only(&records);
    assert_eq!(r.action, Action::ScheduledRevoke);
    assert_eq!(r.outcome, Outcome::Revoked);
    assert!(
        r.reason
            .as_deref()
            .is_some_and(|s| s.contains("2026-11-01T00:00:00"))
    );
    assert_eq!(del.num_calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn sweep_leaves_a_future_revoke_at_alone() {
    let (l, d, t) = sweep_keys("2027-01-01T00:00:00+01:00");
    let (result, records) = sweep(&[&l, &d, &t], "2026-11-29T06:00:00Z").await;
    assert!(result.is_ok());
    assert!(records.is_empty(), "{records:#?}");
}

#[tokio::test(start_paused = true)]
async fn sweep_reports_a_malformed_revoke_at_and_does_nothing() {
    let (l, d, t) = sweep_keys("next tuesday");
    let (result, records) = sweep(&[&l, &d, &t], "2026-11-29T06:00:00Z").await;
    assert!(result.is_ok());
    let r = only(&records);
    assert_eq!(r.outcome, Outcome::InvalidRevokeAt);
    assert!(
        r.error_message
            .as_deref()
            .is_some_and(|m| m.contains("next tuesday"))
    );
}

#[tokio::test(start_paused = true)]
async fn sweep_warns_about_material_expiring_within_the_window() {
    let l = list_keys(&[ID, ID2]);
    let soon = aws_sdk_kms::primitives::DateTime::from_secs(
        chrono::DateTime::parse_from_rfc3339("2026-12-05T00:00:00Z")
            .expect("t")
            .timestamp(),
    );
    let later = aws_sdk_kms::primitives::DateTime::from_secs(
        chrono::DateTime::parse_from_rfc3339("2027-06-01T00:00:00Z")
            .expect("t")
            .timestamp(),
    );
    let with_valid_to = |id: &'static str, t: aws_sdk_kms::primitives::DateTime| {
        mock!(Client::describe_key)
            .match_requests(move |r| r.key_id().is_some_and(|k| k.contains(id)))
            .then_output(move || {
                let mut md = metadata(id, KeyState::Enabled, OriginType::External);
                md.valid_to = Some(t);
                DescribeKeyOutput::builder().key_metadata(md).build()
            })
    };
    let d1 = with_valid_to(ID, soon);
    let d2 = with_valid_to(ID2, later);
    let t1 = in_scope(ID);
    let t2 = in_scope(ID2);
    let (result, records) = sweep(&[&l, &d1, &d2, &t1, &t2], "2026-11-29T06:00:00Z").await;
    assert!(result.is_ok());
    let r = only(&records);
    assert_eq!(r.outcome, Outcome::ExpiringSoon);
    assert_eq!(r.key_arn.as_deref(), Some(key_arn(ID).as_str()));
    assert_eq!(r.valid_to.as_deref(), Some("2026-12-05T00:00:00.000Z"));
}
