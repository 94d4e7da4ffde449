//! Expiry of imported material and scheduled key deletion against the movable SimClock.

use std::time::Duration;

use aws_sdk_kms::primitives::{Blob, DateTime};
use aws_sdk_kms::types::{ExpirationModelType, KeyState};
use kms_sim::{ImportOptions, ImportState, ImportType, KeySpec};

use crate::common::{client, err_of, sim};

const HOUR: Duration = Duration::from_secs(3600);

#[tokio::test]
async fn expired_material_is_deleted_lazily_and_the_key_becomes_pending_import() {
    // GIVEN a key whose material expires in one hour
    let sim = sim().await;
    let kms = client(&sim).await;
    let key = sim.store().create_key(KeySpec::external());
    let valid_to = sim.clock().now() + HOUR;
    let id = sim
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
    // THEN DescribeKey shows KEY_MATERIAL_EXPIRES and its ValidTo
    let m = kms
        .describe_key()
        .key_id(&key.arn)
        .send()
        .await
        .expect("describe");
    let meta = m.key_metadata().expect("meta");
    assert_eq!(
        meta.expiration_model(),
        Some(&ExpirationModelType::KeyMaterialExpires)
    );
    let shown = meta.valid_to().expect("ValidTo").secs();
    let expected = DateTime::from(valid_to).secs();
    assert!((shown - expected).abs() <= 1, "{shown} vs {expected}");

    // WHEN the clock passes ValidTo
    sim.clock().advance(2 * HOUR);
    // THEN the key is PendingImport, the material deleted (PENDING_IMPORT), id kept
    let m = kms
        .describe_key()
        .key_id(&key.arn)
        .send()
        .await
        .expect("describe");
    let meta = m.key_metadata().expect("meta");
    assert_eq!(meta.key_state(), Some(&KeyState::PendingImport));
    assert_eq!(meta.current_key_material_id(), Some(id.as_str()));
    assert!(meta.valid_to().is_none() && meta.expiration_model().is_none());
    let view = sim.store().describe(&key.arn).expect("view");
    assert_eq!(view.materials[0].import_state, ImportState::PendingImport);
    // AND Encrypt fails as pending import
    let e = kms
        .encrypt()
        .key_id(&key.arn)
        .plaintext(Blob::new(b"x".to_vec()))
        .send()
        .await
        .expect_err("expired");
    assert_eq!(err_of(&e).1, format!("{} is pending import.", key.arn));
    // WHEN the same material is re-imported without expiry THEN the key is Enabled again
    sim.store()
        .import_material(&key.arn, [1; 32], ImportOptions::default())
        .expect("re-import");
    assert_eq!(
        sim.store().describe(&key.arn).expect("view").state,
        kms_sim::KeyState::Enabled
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn valid_to_is_the_earliest_expiry_among_permanent_materials() {
    // GIVEN a key rotated from material expiring in 10 h to material expiring in 20 h,
    // with a pending material expiring in 5 h
    let sim = sim().await;
    let key = sim.store().create_key(KeySpec::external());
    let now = sim.clock().now();
    let opts = |hours: u32| ImportOptions {
        valid_to: Some(now + HOUR * hours),
        import_type: ImportType::NewKeyMaterial,
        ..ImportOptions::default()
    };
    let store = sim.store();
    store
        .import_material(&key.arn, [1; 32], opts(10))
        .expect("m1");
    store
        .import_material(&key.arn, [2; 32], opts(20))
        .expect("m2");
    store.rotate_on_demand(&key.arn).expect("rotate");
    store
        .import_material(&key.arn, [3; 32], opts(5))
        .expect("m3");
    // THEN ValidTo is the NON_CURRENT material's (pending rotation does not count)
    assert_eq!(
        store.describe(&key.arn).expect("v").valid_to,
        Some(now + 10 * HOUR)
    );
    // WHEN the pending material expires THEN it is gone and the key still works
    sim.clock().advance(6 * HOUR);
    let view = store.describe(&key.arn).expect("v");
    assert_eq!(view.materials.len(), 2);
    assert_eq!(view.state, kms_sim::KeyState::Enabled);
    // WHEN the NON_CURRENT material expires THEN the whole key is PendingImport
    sim.clock().advance(5 * HOUR);
    assert_eq!(
        store.describe(&key.arn).expect("v").state,
        kms_sim::KeyState::PendingImport
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn valid_to_must_be_in_the_future_and_within_365_days() {
    // GIVEN a key
    let sim = sim().await;
    let key = sim.store().create_key(KeySpec::external());
    for valid_to in [
        sim.clock().now() - HOUR,
        sim.clock().now() + Duration::from_secs(366 * 86_400),
    ] {
        // WHEN material is imported with such a ValidTo THEN ValidationException
        let e = sim
            .store()
            .import_material(
                &key.arn,
                [1; 32],
                ImportOptions {
                    valid_to: Some(valid_to),
                    ..ImportOptions::default()
                },
            )
            .expect_err("bad ValidTo");
        assert_eq!(e.code, "ValidationException");
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn a_key_pending_deletion_disappears_when_its_window_passes() {
    // GIVEN a key scheduled for deletion in 7 days
    let sim = sim().await;
    let kms = client(&sim).await;
    let key = sim
        .store()
        .create_key(KeySpec::external().alias("alias/doomed"));
    let out = kms
        .schedule_key_deletion()
        .key_id(&key.key_id)
        .pending_window_in_days(7)
        .send()
        .await
        .expect("schedule");
    assert_eq!(out.key_state(), Some(&KeyState::PendingDeletion));
    assert_eq!(out.pending_window_in_days(), Some(7));
    let m = kms
        .describe_key()
        .key_id(&key.arn)
        .send()
        .await
        .expect("describe");
    assert_eq!(
        m.key_metadata()
            .and_then(|m| m.pending_deletion_window_in_days()),
        Some(7)
    );
    assert!(m.key_metadata().and_then(|m| m.deletion_date()).is_some());
    // WHEN 8 days pass
    sim.clock().advance(Duration::from_secs(8 * 86_400));
    // THEN the key and its alias are gone
    let e = kms
        .describe_key()
        .key_id(&key.arn)
        .send()
        .await
        .expect_err("deleted");
    assert_eq!(err_of(&e).1, format!("Key '{}' does not exist", key.arn));
    assert!(sim.store().describe(&key.arn).is_none());
    let e = kms
        .describe_key()
        .key_id("alias/doomed")
        .send()
        .await
        .expect_err("alias gone");
    assert_eq!(err_of(&e).0, "NotFoundException");
    // AND a window outside 7-30 days is a ValidationException
    let other = sim.store().create_key(KeySpec::external());
    let e = kms
        .schedule_key_deletion()
        .key_id(&other.key_id)
        .pending_window_in_days(6)
        .send()
        .await
        .expect_err("window");
    assert_eq!(err_of(&e).0, "ValidationException");
    sim.shutdown().await;
}

#[tokio::test]
async fn kms_emits_expiration_rotation_and_deletion_events() {
    // GIVEN a key whose material expires in an hour and a rotated AWS_KMS key
    let sim = sim().await;
    let key = sim.store().create_key(KeySpec::external());
    let valid_to = sim.clock().now() + HOUR;
    sim.store()
        .import_material(
            &key.arn,
            [1; 32],
            ImportOptions {
                valid_to: Some(valid_to),
                ..ImportOptions::default()
            },
        )
        .expect("import");
    let rotated = sim.store().create_key(KeySpec::aws_kms());
    let before = sim.store().describe(&rotated.arn).expect("k");
    sim.store().rotate_on_demand(&rotated.arn).expect("rotate");
    // WHEN the material expires and the rotated key's deletion window passes
    sim.store()
        .schedule_deletion(&rotated.arn, 7)
        .expect("schedule");
    sim.clock().advance(Duration::from_secs(8 * 86_400));
    let (_, listed) = crate::common::admin(&sim, "GET", "/_sim/kms-events", "").await;
    let events = sim.kms_events();
    assert_eq!(listed.as_array().map(Vec::len), Some(3));
    // THEN the rotation event names both materials
    let rotation = &events[0];
    assert_eq!(rotation["detail-type"], "KMS CMK Rotation");
    assert_eq!(
        rotation["detail"]["previous-key-material-id"].as_str(),
        before.current_key_material_id.as_deref()
    );
    assert_eq!(rotation["detail"]["key-origin"], "AWS_KMS");
    // AND the expiration and deletion events are EventBridge envelopes from aws.kms
    let kinds: Vec<&str> = events
        .iter()
        .filter_map(|e| e["detail-type"].as_str())
        .collect();
    assert!(
        kinds.contains(&"KMS Imported Key Material Expiration"),
        "{kinds:?}"
    );
    assert!(kinds.contains(&"KMS CMK Deletion"), "{kinds:?}");
    let expiry = events
        .iter()
        .find(|e| e["detail-type"] == "KMS Imported Key Material Expiration")
        .expect("expiry event");
    assert_eq!(expiry["source"], "aws.kms");
    assert_eq!(expiry["resources"][0].as_str(), Some(key.arn.as_str()));
    assert_eq!(
        expiry["detail"]["key-id"].as_str(),
        Some(key.key_id.as_str())
    );
    assert_eq!(expiry["account"], kms_sim::DEFAULT_ACCOUNT);
    sim.shutdown().await;
}
