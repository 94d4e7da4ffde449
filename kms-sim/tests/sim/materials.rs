//! Keys with several key materials: deleting by KeyMaterialId, re-import rules, rotation,
//! ListKeyRotations.

use aws_sdk_kms::Client;
use aws_sdk_kms::types::{ImportState, IncludeKeyMaterial, KeyMaterialState, KeyState};
use kms_sim::{ImportOptions, ImportType, KeyInfo, KeySpec, KmsSim};

use crate::common::{client, err_of, sim};

/// A key with material 1 NON_CURRENT, material 2 CURRENT, material 3 PENDING_ROTATION.
async fn given_rotated_key() -> (KmsSim, Client, KeyInfo, [String; 3]) {
    let sim = sim().await;
    let kms = client(&sim).await;
    let key = sim.store().create_key(KeySpec::external());
    let store = sim.store();
    let new = || ImportOptions {
        import_type: ImportType::NewKeyMaterial,
        ..ImportOptions::default()
    };
    let m1 = store.import_material(&key.arn, [1; 32], new()).expect("m1");
    let m2 = store.import_material(&key.arn, [2; 32], new()).expect("m2");
    store.rotate_on_demand(&key.arn).expect("rotate");
    let m3 = store.import_material(&key.arn, [3; 32], new()).expect("m3");
    (sim, kms, key, [m1, m2, m3])
}

async fn key_state(kms: &Client, key: &str) -> (KeyState, Option<String>) {
    let out = kms
        .describe_key()
        .key_id(key)
        .send()
        .await
        .expect("describe");
    let m = out.key_metadata().expect("meta");
    (
        m.key_state().cloned().expect("state"),
        m.current_key_material_id().map(str::to_string),
    )
}

async fn rotations(kms: &Client, key: &str) -> Vec<(String, ImportState, KeyMaterialState)> {
    kms.list_key_rotations()
        .key_id(key)
        .include_key_material(IncludeKeyMaterial::AllKeyMaterial)
        .send()
        .await
        .expect("ListKeyRotations")
        .rotations()
        .iter()
        .map(|r| {
            (
                r.key_material_id().unwrap_or_default().to_string(),
                r.import_state().cloned().expect("import state"),
                r.key_material_state().cloned().expect("material state"),
            )
        })
        .collect()
}

#[tokio::test]
async fn list_key_rotations_shows_every_material_or_only_rotations() {
    // GIVEN a key with NON_CURRENT, CURRENT and PENDING_ROTATION materials
    let (sim, kms, key, [m1, m2, m3]) = given_rotated_key().await;
    // WHEN all materials are listed THEN each has its state
    assert_eq!(
        rotations(&kms, &key.arn).await,
        vec![
            (m1, ImportState::Imported, KeyMaterialState::NonCurrent),
            (m2.clone(), ImportState::Imported, KeyMaterialState::Current),
            (m3, ImportState::Imported, KeyMaterialState::PendingRotation),
        ]
    );
    // WHEN only rotations are listed (the default) THEN just the rotated-in material, ON_DEMAND
    let out = kms
        .list_key_rotations()
        .key_id(&key.key_id)
        .send()
        .await
        .expect("ListKeyRotations");
    assert_eq!(out.rotations().len(), 1);
    let r = &out.rotations()[0];
    assert_eq!(r.key_material_id(), Some(m2.as_str()));
    assert_eq!(r.rotation_type().map(|t| t.as_str()), Some("ON_DEMAND"));
    assert!(r.rotation_date().is_some());
    assert_eq!(
        r.expiration_model().map(|m| m.as_str()),
        Some("KEY_MATERIAL_DOES_NOT_EXPIRE")
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn deleting_a_non_current_material_revokes_the_whole_key() {
    // GIVEN a rotated key
    let (sim, kms, key, [m1, m2, _]) = given_rotated_key().await;
    // WHEN the NON_CURRENT material is deleted by ID
    let out = kms
        .delete_imported_key_material()
        .key_id(&key.arn)
        .key_material_id(&m1)
        .send()
        .await
        .expect("delete m1");
    // THEN exactly that material is named and PENDING_IMPORT
    assert_eq!(out.key_material_id(), Some(m1.as_str()));
    assert_eq!(
        rotations(&kms, &key.arn).await[0].1,
        ImportState::PendingImport
    );
    // AND the key is PendingImport (current material unchanged)
    assert_eq!(
        key_state(&kms, &key.arn).await,
        (KeyState::PendingImport, Some(m2))
    );
    // AND re-importing the same bytes restores it
    sim.store()
        .import_material(&key.arn, [1; 32], ImportOptions::default())
        .expect("re-import");
    assert_eq!(key_state(&kms, &key.arn).await.0, KeyState::Enabled);
    sim.shutdown().await;
}

#[tokio::test]
async fn deleting_the_pending_rotation_material_leaves_the_key_usable() {
    // GIVEN a rotated key with material pending rotation
    let (sim, kms, key, [_, m2, m3]) = given_rotated_key().await;
    // WHEN the pending material is deleted by ID
    kms.delete_imported_key_material()
        .key_id(&key.key_id)
        .key_material_id(&m3)
        .send()
        .await
        .expect("delete m3");
    // THEN the key stays Enabled with the same current material and m3 is gone
    assert_eq!(
        key_state(&kms, &key.arn).await,
        (KeyState::Enabled, Some(m2))
    );
    assert_eq!(rotations(&kms, &key.arn).await.len(), 2);
    // AND a new material can be imported for rotation again
    sim.store()
        .import_material(
            &key.arn,
            [4; 32],
            ImportOptions {
                import_type: ImportType::NewKeyMaterial,
                ..ImportOptions::default()
            },
        )
        .expect("new pending material");
    sim.shutdown().await;
}

#[tokio::test]
async fn deleting_without_an_id_deletes_the_current_material() {
    // GIVEN a rotated key
    let (sim, kms, key, [_, m2, _]) = given_rotated_key().await;
    // WHEN material is deleted without KeyMaterialId
    let out = kms
        .delete_imported_key_material()
        .key_id(&key.arn)
        .send()
        .await
        .expect("delete");
    // THEN the current material was deleted
    assert_eq!(out.key_material_id(), Some(m2.as_str()));
    assert_eq!(
        rotations(&kms, &key.arn).await[1].1,
        ImportState::PendingImport
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn unknown_or_malformed_material_ids_are_errors() {
    // GIVEN a rotated key
    let (sim, kms, key, _) = given_rotated_key().await;
    // WHEN an unknown (well-formed) material ID is deleted THEN NotFoundException
    let unknown = "ab".repeat(32);
    let e = kms
        .delete_imported_key_material()
        .key_id(&key.arn)
        .key_material_id(&unknown)
        .send()
        .await
        .expect_err("unknown id");
    let (code, message, status) = err_of(&e);
    assert_eq!((code.as_str(), status), ("NotFoundException", Some(400)));
    assert!(message.contains(&unknown), "{message}");
    // WHEN a malformed one is sent THEN ValidationException (64 lowercase hex)
    for bad in ["abc", &"AB".repeat(32), &"zz".repeat(32)] {
        let e = kms
            .delete_imported_key_material()
            .key_id(&key.arn)
            .key_material_id(bad)
            .send()
            .await
            .expect_err("malformed id");
        assert_eq!(err_of(&e).0, "ValidationException", "{bad}");
    }
    // AND nothing was deleted
    assert_eq!(key_state(&kms, &key.arn).await.0, KeyState::Enabled);
    sim.shutdown().await;
}

#[tokio::test]
async fn only_the_same_material_can_be_reimported() {
    // GIVEN a revoked key
    let sim = sim().await;
    let key = sim.store().create_key(KeySpec::external());
    let store = sim.store();
    let id = store
        .import_material(&key.arn, [5; 32], ImportOptions::default())
        .expect("import");
    store.delete_material(&key.arn, None).expect("revoke");
    // WHEN different bytes are re-imported as existing material THEN IncorrectKeyMaterialException
    let e = store
        .import_material(&key.arn, [6; 32], ImportOptions::default())
        .expect_err("different material");
    assert_eq!(e.code, "IncorrectKeyMaterialException");
    // WHEN the same bytes are re-imported naming a wrong ID THEN IncorrectKeyMaterialException
    let e = store
        .import_material(
            &key.arn,
            [5; 32],
            ImportOptions {
                key_material_id: Some("00".repeat(32)),
                ..ImportOptions::default()
            },
        )
        .expect_err("wrong id");
    assert_eq!(e.code, "IncorrectKeyMaterialException");
    // WHEN the same bytes are re-imported naming their ID THEN the key is back, same ID
    let again = store
        .import_material(
            &key.arn,
            [5; 32],
            ImportOptions {
                key_material_id: Some(id.clone()),
                ..ImportOptions::default()
            },
        )
        .expect("same material");
    assert_eq!(again, id);
    assert_eq!(
        store.describe(&key.arn).expect("key").state,
        kms_sim::KeyState::Enabled
    );
    // AND NEW_KEY_MATERIAL may not name an ID
    let e = store
        .import_material(
            &key.arn,
            [7; 32],
            ImportOptions {
                import_type: ImportType::NewKeyMaterial,
                key_material_id: Some(id),
                ..ImportOptions::default()
            },
        )
        .expect_err("id with new material");
    assert_eq!(e.code, "ValidationException");
    sim.shutdown().await;
}

#[tokio::test]
async fn rotation_of_a_revoked_or_disabled_key_is_refused() {
    // GIVEN a key with a pending material, then revoked
    let (sim, kms, key, _) = given_rotated_key().await;
    kms.disable_key()
        .key_id(&key.arn)
        .send()
        .await
        .expect("disable");
    // WHEN it is rotated while disabled THEN DisabledException
    let e = kms
        .rotate_key_on_demand()
        .key_id(&key.arn)
        .send()
        .await
        .expect_err("disabled");
    assert_eq!(err_of(&e).0, "DisabledException");
    kms.enable_key()
        .key_id(&key.arn)
        .send()
        .await
        .expect("enable");
    kms.delete_imported_key_material()
        .key_id(&key.arn)
        .send()
        .await
        .expect("revoke");
    // WHEN it is rotated while PendingImport THEN KMSInvalidStateException
    let e = kms
        .rotate_key_on_demand()
        .key_id(&key.arn)
        .send()
        .await
        .expect_err("pending import");
    assert_eq!(
        (err_of(&e).0, err_of(&e).1),
        (
            "KMSInvalidStateException".to_string(),
            format!("{} is pending import.", key.arn)
        )
    );
    sim.shutdown().await;
}
