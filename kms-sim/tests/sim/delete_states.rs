//! DeleteImportedKeyMaterial in every key state (the facts sheet's table), through the SDK.

use aws_sdk_kms::Client;
use aws_sdk_kms::operation::delete_imported_key_material::DeleteImportedKeyMaterialError;
use aws_sdk_kms::types::KeyState as SdkKeyState;
use kms_sim::{KeySpec, KeyState, KeyStateOverride, KmsSim};

use crate::common::{client, err_of, external_key_with_material, sim};

async fn delete(kms: &Client, key: &str) -> Result<(String, Option<String>), (String, String)> {
    match kms.delete_imported_key_material().key_id(key).send().await {
        Ok(out) => Ok((
            out.key_id().unwrap_or_default().to_string(),
            out.key_material_id().map(str::to_string),
        )),
        Err(e) => {
            let (code, message, _) = err_of(&e);
            Err((code, message))
        }
    }
}

async fn state_of(kms: &Client, key: &str) -> (SdkKeyState, bool, Option<String>, bool) {
    let out = kms
        .describe_key()
        .key_id(key)
        .send()
        .await
        .expect("DescribeKey");
    let m = out.key_metadata().expect("metadata");
    (
        m.key_state().cloned().expect("state"),
        m.enabled(),
        m.current_key_material_id().map(str::to_string),
        m.expiration_model().is_some(),
    )
}

async fn given_external_key_in(
    state: Option<KeyStateOverride>,
) -> (KmsSim, Client, String, String) {
    let sim = sim().await;
    let kms = client(&sim).await;
    let (key, material) = external_key_with_material(&sim, [9; 32]);
    if let Some(s) = state {
        sim.store().set_key_state(&key.arn, s).expect("state");
    }
    (sim, kms, key.arn, material)
}

#[tokio::test]
async fn enabled_key_becomes_pending_import_and_keeps_its_material_id() {
    // GIVEN an Enabled EXTERNAL key
    let (sim, kms, arn, material) = given_external_key_in(None).await;
    // WHEN its material is deleted
    let (key_id, deleted) = delete(&kms, &arn).await.expect("deleted");
    // THEN the response names the key ARN and the deleted material
    assert_eq!(key_id, arn);
    assert_eq!(deleted.as_deref(), Some(material.as_str()));
    // AND the key is PendingImport, disabled, CurrentKeyMaterialId kept, ExpirationModel gone
    assert_eq!(
        state_of(&kms, &arn).await,
        (SdkKeyState::PendingImport, false, Some(material), false)
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn disabled_key_becomes_pending_import() {
    // GIVEN a Disabled EXTERNAL key with material
    let (sim, kms, arn, material) = given_external_key_in(None).await;
    kms.disable_key()
        .key_id(&arn)
        .send()
        .await
        .expect("disable");
    // WHEN its material is deleted
    delete(&kms, &arn).await.expect("deleted");
    // THEN it is PendingImport
    assert_eq!(
        state_of(&kms, &arn).await,
        (SdkKeyState::PendingImport, false, Some(material), false)
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn pending_import_key_is_allowed_with_no_effect() {
    // GIVEN a key already revoked (PendingImport)
    let (sim, kms, arn, material) = given_external_key_in(None).await;
    delete(&kms, &arn).await.expect("first delete");
    // WHEN its material is deleted again (an idempotent retry)
    let (_, deleted) = delete(&kms, &arn).await.expect("second delete is allowed");
    // THEN nothing changes and the same material is named
    assert_eq!(deleted.as_deref(), Some(material.as_str()));
    assert_eq!(state_of(&kms, &arn).await.0, SdkKeyState::PendingImport);
    sim.shutdown().await;
}

#[tokio::test]
async fn never_imported_key_is_allowed_with_no_effect() {
    // GIVEN an EXTERNAL key that never had material
    let sim = sim().await;
    let kms = client(&sim).await;
    let key = sim.store().create_key(KeySpec::external());
    // WHEN its material is deleted
    let (key_id, deleted) = delete(&kms, &key.key_id).await.expect("allowed");
    // THEN the response names only the key
    assert_eq!(key_id, key.arn);
    assert_eq!(deleted, None);
    assert_eq!(state_of(&kms, &key.arn).await.0, SdkKeyState::PendingImport);
    sim.shutdown().await;
}

#[tokio::test]
async fn pending_deletion_key_keeps_its_state() {
    // GIVEN a key scheduled for deletion
    let (sim, kms, arn, _) = given_external_key_in(None).await;
    kms.schedule_key_deletion()
        .key_id(&arn)
        .pending_window_in_days(7)
        .send()
        .await
        .expect("schedule");
    // WHEN its material is deleted
    delete(&kms, &arn).await.expect("allowed");
    // THEN it is still PendingDeletion, and the material is gone (PENDING_IMPORT)
    assert_eq!(state_of(&kms, &arn).await.0, SdkKeyState::PendingDeletion);
    let view = sim.store().describe(&arn).expect("key");
    assert_eq!(
        view.current_material().map(|m| m.import_state),
        Some(kms_sim::ImportState::PendingImport)
    );
    // AND cancelling the deletion leaves it PendingImport, not Disabled
    kms.cancel_key_deletion()
        .key_id(&arn)
        .send()
        .await
        .expect("cancel");
    assert_eq!(state_of(&kms, &arn).await.0, SdkKeyState::PendingImport);
    sim.shutdown().await;
}

#[tokio::test]
async fn pending_replica_deletion_key_keeps_its_state() {
    // GIVEN a key in PendingReplicaDeletion
    let (sim, kms, arn, _) =
        given_external_key_in(Some(KeyStateOverride::PendingReplicaDeletion)).await;
    // WHEN its material is deleted THEN it is allowed and the state is unchanged
    delete(&kms, &arn).await.expect("allowed");
    assert_eq!(
        state_of(&kms, &arn).await.0,
        SdkKeyState::PendingReplicaDeletion
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn creating_key_is_an_invalid_state() {
    // GIVEN a key being created
    let (sim, kms, arn, _) = given_external_key_in(Some(KeyStateOverride::Creating)).await;
    // WHEN its material is deleted
    let e = kms
        .delete_imported_key_material()
        .key_id(&arn)
        .send()
        .await
        .expect_err("creating");
    // THEN the SDK maps it to the modeled KMSInvalidStateException "<arn> is creating."
    assert!(matches!(
        e.as_service_error(),
        Some(DeleteImportedKeyMaterialError::KmsInvalidStateException(_))
    ));
    assert_eq!(err_of(&e).1, format!("{arn} is creating."));
    assert_eq!(
        sim.store().describe(&arn).expect("key").state,
        KeyState::Creating
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn updating_key_is_an_invalid_state() {
    // GIVEN a key being updated
    let (sim, kms, arn, _) = given_external_key_in(Some(KeyStateOverride::Updating)).await;
    // WHEN its material is deleted THEN KMSInvalidStateException "<arn> is updating."
    assert_eq!(
        delete(&kms, &arn).await,
        Err((
            "KMSInvalidStateException".to_string(),
            format!("{arn} is updating.")
        ))
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn aws_kms_key_is_an_unsupported_operation() {
    // GIVEN a key whose material KMS generated
    let sim = sim().await;
    let kms = client(&sim).await;
    let key = sim.store().create_key(KeySpec::aws_kms());
    // WHEN its material is deleted THEN UnsupportedOperationException naming the origin
    let e = kms
        .delete_imported_key_material()
        .key_id(&key.key_id)
        .send()
        .await
        .expect_err("origin");
    assert!(matches!(
        e.as_service_error(),
        Some(DeleteImportedKeyMaterialError::UnsupportedOperationException(_))
    ));
    assert_eq!(
        err_of(&e).1,
        format!(
            "{} origin is AWS_KMS which is not valid for this operation.",
            key.arn
        )
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn unknown_keys_malformed_arns_and_aliases_are_rejected() {
    // GIVEN a simulator with one aliased key
    let sim = sim().await;
    let kms = client(&sim).await;
    sim.store()
        .create_key(KeySpec::external().alias("alias/guarded"));
    let missing = "arn:aws:kms:us-east-1:111111111111:key/0e3e9d8a-1111-2222-3333-444444444444";
    // WHEN a missing key is named THEN NotFoundException "Key '<arn>' does not exist"
    assert_eq!(
        delete(&kms, missing).await,
        Err((
            "NotFoundException".to_string(),
            format!("Key '{missing}' does not exist")
        ))
    );
    // AND a bare missing key ID is reported as the ARN in the caller's account and Region
    let e = delete(&kms, "0e3e9d8a-1111-2222-3333-444444444444").await;
    assert_eq!(
        e,
        Err((
            "NotFoundException".to_string(),
            format!("Key '{missing}' does not exist")
        ))
    );
    // WHEN a malformed ARN is named THEN InvalidArnException (modeled for the operation)
    let e = kms
        .delete_imported_key_material()
        .key_id("arn:aws:kms:us-east-1:not-an-account:key/x")
        .send()
        .await
        .expect_err("bad arn");
    assert!(matches!(
        e.as_service_error(),
        Some(DeleteImportedKeyMaterialError::InvalidArnException(_))
    ));
    // WHEN an alias is named THEN it is refused: the operation takes key IDs and ARNs only
    assert_eq!(
        delete(&kms, "alias/guarded").await.map_err(|e| e.0),
        Err("NotFoundException".to_string())
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn unsupported_and_invalid_state_are_checked_before_anything_changes() {
    // GIVEN an Unavailable key (custom key stores: not applicable, answered as invalid state)
    let (sim, kms, arn, _) = given_external_key_in(Some(KeyStateOverride::Unavailable)).await;
    // WHEN its material is deleted THEN the key and its material are untouched
    assert!(delete(&kms, &arn).await.is_err());
    let view = sim.store().describe(&arn).expect("key");
    assert_eq!(
        view.current_material().map(|m| m.import_state),
        Some(kms_sim::ImportState::Imported)
    );
    sim.shutdown().await;
}
