//! Conformance: replays the import / delete / rotate lifecycle steps recorded against real AWS
//! KMS (`tests/data/kms-aws-recorded-responses.json`, a verbatim copy of the project's shared
//! reference recording, so a clone anywhere is self-contained) through the real
//! `aws-sdk-kms` client and checks that the simulator answers with the same fields, states,
//! error codes, messages and HTTP statuses (identifiers normalised as in the recording).
//!
//! Normalisation: the recording replaces Regions by `<region>`, the partition by
//! `<partition>`, timestamps by `datetime`, blobs by placeholders and identifiers by numbered
//! placeholders; each scenario below maps its actual identifiers to the recorded placeholders.
//! One leniency: where the recording shows a bare `<key-id:N>` as the `KeyId` of an
//! ImportKeyMaterial / RotateKeyOnDemand response, the key ARN is accepted too (the recording
//! normalised those older snapshots inconsistently; AWS documents the ARN).

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{ExpirationModelType, ImportType};
use serde_json::json;

use crate::common::err_of;
use crate::recorded::{
    Norm, check, check_error, create_aws_kms, create_external, describe, encrypt, import, metadata,
    setup, wrapped,
};

#[tokio::test]
async fn import_delete_lifecycle_of_a_symmetric_external_key_matches_aws() {
    const T: &str = "test_import_key_symmetric";
    // GIVEN a new EXTERNAL key
    let (sim, kms) = setup().await;
    let meta = create_external(&kms, "conformance key").await;
    let key = meta.key_id().to_string();
    let arn = meta.arn().expect("arn").to_string();
    let mut norm = Norm::default()
        .map(&key, "<key-id:1>")
        .map("conformance key", "<description:1>");
    // THEN CreateKey and DescribeKey show a PendingImport key without material
    check(T, "created-key", &norm, metadata(&meta));
    check(
        T,
        "describe-key-before-import",
        &norm,
        describe(&kms, &key).await,
    );
    // AND Encrypt is refused as pending import
    let e = kms
        .encrypt()
        .key_id(&key)
        .plaintext(Blob::new(b"x".to_vec()))
        .send()
        .await
        .expect_err("pending import");
    check_error(T, "encrypt-before-import-error", &norm, &arn, err_of(&e));

    // WHEN material is imported as expiring without a ValidTo
    let material = [0x42u8; 32];
    let (token, encrypted, _) = wrapped(&kms, &key, &material).await;
    let e = kms
        .import_key_material()
        .key_id(&key)
        .import_token(token.clone())
        .encrypted_key_material(encrypted.clone())
        .expiration_model(ExpirationModelType::KeyMaterialExpires)
        .send()
        .await
        .expect_err("ValidTo required");
    // THEN it is a ValidationException with AWS's message
    check_error(
        T,
        "import-expiring-key-without-valid-to",
        &norm,
        &arn,
        err_of(&e),
    );

    // WHEN it is imported without expiry
    let out = kms
        .import_key_material()
        .key_id(&key)
        .import_token(token)
        .encrypted_key_material(encrypted)
        .expiration_model(ExpirationModelType::KeyMaterialDoesNotExpire)
        .send()
        .await
        .expect("ImportKeyMaterial");
    let material_id = out.key_material_id().expect("KeyMaterialId").to_string();
    norm = norm.map(&material_id, "<current-key-material-id:1>");
    // THEN the key is Enabled with that material current
    check(
        T,
        "describe-key-after-import",
        &norm,
        describe(&kms, &key).await,
    );

    // WHEN the material is deleted
    kms.delete_imported_key_material()
        .key_id(&key)
        .send()
        .await
        .expect("DeleteImportedKeyMaterial");
    // THEN the key is PendingImport, CurrentKeyMaterialId kept, ExpirationModel gone
    check(
        T,
        "describe-key-after-deleted-import",
        &norm,
        describe(&kms, &key).await,
    );
    // AND Encrypt fails as pending import
    let e = kms
        .encrypt()
        .key_id(&key)
        .plaintext(Blob::new(b"x".to_vec()))
        .send()
        .await
        .expect_err("revoked");
    check_error(T, "encrypt-after-delete-error", &norm, &arn, err_of(&e));
    sim.shutdown().await;
}

#[tokio::test]
async fn on_demand_rotation_of_an_external_key_matches_aws() {
    const T: &str = "test_rotate_key_on_demand_updates_current_key_material_for_external_keys";
    const T2: &str = "test_rotate_key_on_demand_for_external_keys_decrypts_with_previous_material";
    // GIVEN a new EXTERNAL key
    let (sim, kms) = setup().await;
    let meta = create_external(&kms, "test-key").await;
    let key = meta.key_id().to_string();
    let mut norm = Norm::default().map(&key, "<key-id:1>");
    check(T, "create-kms-external-key", &norm, metadata(&meta));
    check(T2, "create-kms-external-key", &norm, metadata(&meta));
    check(
        T,
        "describe-empty-key-response",
        &norm,
        describe(&kms, &key).await,
    );
    // WHEN import parameters are fetched
    let (_, _, params) = wrapped(&kms, &key, &[1; 32]).await;
    // THEN the response has AWS's shape
    check(T, "get-import-parameters-response", &norm, params);

    // WHEN the first material is imported
    let (first, response) = import(&kms, &key, &[1; 32], None).await;
    norm = norm.map(&first, "<key-material-id:1>");
    check(T, "import-key-material-response", &norm, response.clone());
    check(T2, "import-key-material-response", &norm, response);
    check(
        T,
        "describe-key-with-material-response",
        &norm,
        describe(&kms, &key).await,
    );
    let (old_ciphertext, response) = encrypt(&kms, &key).await;
    check(T, "kms-encrypt-initial-response", &norm, response.clone());
    check(T2, "kms-encrypt-initial-response", &norm, response);

    // WHEN new material is imported for rotation
    let (second, response) = import(&kms, &key, &[2; 32], Some(ImportType::NewKeyMaterial)).await;
    norm = norm.map(&second, "<key-material-id:2>");
    check(T, "import-new-key-material-response", &norm, response);
    // THEN the first material stays current
    check(
        T,
        "describe-key-with-new-material-response",
        &norm,
        describe(&kms, &key).await,
    );

    // WHEN the key is rotated on demand
    let out = kms
        .rotate_key_on_demand()
        .key_id(&key)
        .send()
        .await
        .expect("RotateKeyOnDemand");
    let response = json!({"KeyId": out.key_id()});
    check(T, "rotate-key-on-demand-response", &norm, response.clone());
    check(T2, "rotate-key-on-demand-response", &norm, response);
    // THEN the new material is current and encrypts
    check(
        T,
        "describe-key-after-rotation",
        &norm,
        describe(&kms, &key).await,
    );
    let (new_ciphertext, response) = encrypt(&kms, &key).await;
    check(T, "kms-encrypt-rotated-key-response", &norm, response);
    // AND old ciphertexts still decrypt with the previous (NON_CURRENT) material
    for (blob, material) in [(old_ciphertext, &first), (new_ciphertext, &second)] {
        let out = kms
            .decrypt()
            .ciphertext_blob(blob)
            .send()
            .await
            .expect("Decrypt");
        assert_eq!(
            out.plaintext().map(|p| p.as_ref()),
            Some(&b"conformance plaintext"[..])
        );
        assert_eq!(out.key_material_id(), Some(material.as_str()));
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn rotating_an_external_key_without_material_matches_aws() {
    const T: &str =
        "test_rotate_key_on_demand_on_external_key_with_no_key_material[SYMMETRIC_DEFAULT]";
    // GIVEN an EXTERNAL key that never had material
    let (sim, kms) = setup().await;
    let meta = create_external(&kms, "test-key").await;
    let arn = meta.arn().expect("arn").to_string();
    let norm = Norm::default().map(meta.key_id(), "<key-id:1>");
    check(T, "create-kms-external-key", &norm, metadata(&meta));
    // WHEN it is rotated THEN KMSInvalidStateException "... is pending import."
    let e = kms
        .rotate_key_on_demand()
        .key_id(meta.key_id())
        .send()
        .await
        .expect_err("no material");
    check_error(
        T,
        "rotate-key-on-demand-error-response-SYMMETRIC_DEFAULT",
        &norm,
        &arn,
        err_of(&e),
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn rotating_with_nothing_pending_matches_aws() {
    const T: &str = "test_rotate_key_on_demand_raises_for_no_pending_key_material";
    // GIVEN an EXTERNAL key with one (current) material
    let (sim, kms) = setup().await;
    let meta = create_external(&kms, "test-key").await;
    let arn = meta.arn().expect("arn").to_string();
    import(&kms, meta.key_id(), &[3; 32], None).await;
    // WHEN it is rotated THEN nothing is pending rotation
    let e = kms
        .rotate_key_on_demand()
        .key_id(meta.key_id())
        .send()
        .await
        .expect_err("nothing pending");
    check_error(
        T,
        "rotate-key-on-demand-invalid-state-error",
        &Norm::default(),
        &arn,
        err_of(&e),
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn a_second_pending_material_is_refused_like_aws() {
    const T: &str = "test_import_key_material_raises_if_there_is_already_key_material_pending";
    // GIVEN an EXTERNAL key with a current and a pending-rotation material
    let (sim, kms) = setup().await;
    let meta = create_external(&kms, "test-key").await;
    let key = meta.key_id().to_string();
    let arn = meta.arn().expect("arn").to_string();
    let (first, r1) = import(&kms, &key, &[1; 32], None).await;
    let (second, r2) = import(&kms, &key, &[2; 32], Some(ImportType::NewKeyMaterial)).await;
    let third_id = {
        // The ID KMS derives for the third material, as the error message names it.
        let (token, encrypted, _) = wrapped(&kms, &key, &[3; 32]).await;
        let e = kms
            .import_key_material()
            .key_id(&key)
            .import_token(token)
            .encrypted_key_material(encrypted)
            .expiration_model(ExpirationModelType::KeyMaterialDoesNotExpire)
            .import_type(ImportType::NewKeyMaterial)
            .send()
            .await
            .expect_err("second pending material");
        let (code, message, status) = err_of(&e);
        let id = message
            .split("(id: ")
            .nth(1)
            .and_then(|s| s.split(')').next())
            .unwrap_or_default()
            .to_string();
        (id, (code, message, status))
    };
    let norm = Norm::default()
        .map(&key, "<key-id:1>")
        .map(&first, "<key-material-id:1>")
        .map(&second, "<key-material-id:2>")
        .map(&third_id.0, "<key-material-id>");
    // THEN the imports and the refusal match the recording
    check(T, "import-initial-material-response", &norm, r1);
    check(T, "import-pending-material-response", &norm, r2);
    check_error(
        T,
        "existing-pending-material-error",
        &norm,
        &arn,
        third_id.1,
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn rotating_a_disabled_key_matches_aws() {
    const T: &str = "test_rotate_key_on_demand_raises_error_given_key_is_disabled";
    // GIVEN a disabled key
    let (sim, kms) = setup().await;
    let meta = create_aws_kms(&kms, "test-key").await;
    kms.disable_key()
        .key_id(meta.key_id())
        .send()
        .await
        .expect("DisableKey");
    // WHEN it is rotated THEN DisabledException
    let e = kms
        .rotate_key_on_demand()
        .key_id(meta.key_id())
        .send()
        .await
        .expect_err("disabled");
    let arn = meta.arn().expect("arn").to_string();
    check_error(T, "error-response", &Norm::default(), &arn, err_of(&e));
    sim.shutdown().await;
}

#[tokio::test]
async fn rotating_a_key_that_does_not_exist_matches_aws() {
    const T: &str = "test_rotate_key_on_demand_raises_error_given_key_that_does_not_exist";
    // GIVEN a key ARN that does not exist
    let (sim, kms) = setup().await;
    let arn = "arn:aws:kms:us-east-1:111111111111:key/11111111-2222-3333-4444-555555555555";
    // WHEN it is rotated THEN NotFoundException "Key '<arn>' does not exist"
    let e = kms
        .rotate_key_on_demand()
        .key_id(arn)
        .send()
        .await
        .expect_err("not found");
    check_error(T, "error-response", &Norm::default(), arn, err_of(&e));
    sim.shutdown().await;
}

#[tokio::test]
async fn the_on_demand_rotation_limit_matches_aws() {
    const T: &str = "test_key_rotations_limits";
    // GIVEN a key rotated on demand 25 times
    let (sim, kms) = setup().await;
    let meta = create_aws_kms(&kms, "test-key").await;
    for _ in 0..25 {
        kms.rotate_key_on_demand()
            .key_id(meta.key_id())
            .send()
            .await
            .expect("rotation within the limit");
    }
    // WHEN it is rotated once more THEN LimitExceededException
    let e = kms
        .rotate_key_on_demand()
        .key_id(meta.key_id())
        .send()
        .await
        .expect_err("limit");
    let arn = meta.arn().expect("arn").to_string();
    check_error(T, "error-response", &Norm::default(), &arn, err_of(&e));
    sim.shutdown().await;
}
