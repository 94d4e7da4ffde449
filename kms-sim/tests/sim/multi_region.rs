//! Multi-Region keys through the SDK: ReplicateKey, the same imported material in the primary
//! and its replicas, each copy's material deleted and re-imported on its own, interoperable
//! ciphertexts, MultiRegionConfiguration.

use aws_sdk_kms::Client;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{AlgorithmSpec, ImportType, KeyState, MultiRegionKeyType, OriginType};

use crate::common::{DEFAULT_AKID, client, client_as, err_of, import_via_sdk, sim};

type Failure = (String, String, Option<u16>);

async fn state(kms: &Client, key: &str) -> KeyState {
    kms.describe_key()
        .key_id(key)
        .send()
        .await
        .expect("DescribeKey")
        .key_metadata()
        .and_then(|m| m.key_state().cloned())
        .expect("state")
}

async fn decrypt(kms: &Client, blob: &Blob) -> Result<Vec<u8>, Failure> {
    kms.decrypt()
        .ciphertext_blob(blob.clone())
        .send()
        .await
        .map(|o| o.plaintext().expect("Plaintext").as_ref().to_vec())
        .map_err(|e| err_of(&e))
}

#[tokio::test]
async fn an_external_multi_region_key_takes_the_same_material_in_each_region() {
    // GIVEN an EXTERNAL multi-Region primary in us-east-1 with imported material
    let sim = sim().await;
    let us = client(&sim).await;
    let eu = client_as(&sim, DEFAULT_AKID, "eu-west-1").await;
    let created = us
        .create_key()
        .origin(OriginType::External)
        .multi_region(true)
        .send()
        .await
        .expect("CreateKey");
    let primary = created.key_metadata().expect("metadata");
    let (id, primary_arn) = (
        primary.key_id().to_string(),
        primary.arn().expect("arn").to_string(),
    );
    assert!(id.starts_with("mrk-"), "{id}");
    let material = [0x33u8; 32];
    let material_id = import_via_sdk(&us, &id, &material, AlgorithmSpec::RsaesOaepSha256, None)
        .await
        .expect("import into the primary");
    // WHEN it is replicated to eu-west-1
    let replicated = us
        .replicate_key()
        .key_id(&primary_arn)
        .replica_region("eu-west-1")
        .description("replica")
        .send()
        .await
        .expect("ReplicateKey");
    // THEN the replica has the same key ID, its own ARN, no material, and points at the primary
    let replica = replicated
        .replica_key_metadata()
        .expect("ReplicaKeyMetadata");
    let replica_arn = replica.arn().expect("arn").to_string();
    assert_eq!(replica.key_id(), id);
    assert_eq!(
        replica_arn,
        format!("arn:aws:kms:eu-west-1:111111111111:key/{id}")
    );
    assert_eq!(replica.key_state(), Some(&KeyState::PendingImport));
    let config = replica.multi_region_configuration().expect("configuration");
    assert_eq!(
        config.multi_region_key_type(),
        Some(&MultiRegionKeyType::Replica)
    );
    assert_eq!(
        config.primary_key().and_then(|k| k.arn()),
        Some(primary_arn.as_str())
    );
    // AND the primary lists the replica
    let described = us
        .describe_key()
        .key_id(&id)
        .send()
        .await
        .expect("describe");
    let replicas = described
        .key_metadata()
        .and_then(|m| m.multi_region_configuration())
        .map(|c| c.replica_keys().to_vec())
        .unwrap_or_default();
    assert_eq!(replicas.len(), 1);
    assert_eq!(replicas[0].region(), Some("eu-west-1"));
    // WHEN other material, or NEW material, is imported into the replica THEN it is refused
    let other = import_via_sdk(&eu, &id, &[0x44; 32], AlgorithmSpec::RsaesOaepSha256, None).await;
    assert_eq!(other.expect_err("other").0, "IncorrectKeyMaterialException");
    let new = import_via_sdk(
        &eu,
        &id,
        &material,
        AlgorithmSpec::RsaesOaepSha256,
        Some(ImportType::NewKeyMaterial),
    )
    .await;
    assert_eq!(new.expect_err("new").0, "ValidationException");
    // WHEN the primary's material is imported into the replica (in its Region)
    let replica_material = import_via_sdk(&eu, &id, &material, AlgorithmSpec::RsaesOaepSha1, None)
        .await
        .expect("import into the replica");
    // THEN it is the same material, the replica is Enabled and ciphertexts cross Regions
    assert_eq!(replica_material, material_id);
    assert_eq!(state(&eu, &id).await, KeyState::Enabled);
    let blob = us
        .encrypt()
        .key_id(&id)
        .plaintext(Blob::new(b"everywhere".to_vec()))
        .send()
        .await
        .expect("Encrypt")
        .ciphertext_blob()
        .expect("blob")
        .clone();
    assert_eq!(decrypt(&eu, &blob).await, Ok(b"everywhere".to_vec()));
    // WHEN the replica's material is deleted
    eu.delete_imported_key_material()
        .key_id(&id)
        .send()
        .await
        .expect("delete");
    // THEN only the replica is PendingImport: the primary still decrypts
    assert_eq!(state(&eu, &id).await, KeyState::PendingImport);
    assert_eq!(state(&us, &id).await, KeyState::Enabled);
    let (code, message, _) = decrypt(&eu, &blob).await.expect_err("replica revoked");
    assert_eq!(code, "KMSInvalidStateException");
    assert_eq!(message, format!("{replica_arn} is pending import."));
    assert_eq!(decrypt(&us, &blob).await, Ok(b"everywhere".to_vec()));
    // AND re-importing into the replica restores it
    import_via_sdk(&eu, &id, &material, AlgorithmSpec::RsaesOaepSha256, None)
        .await
        .expect("re-import");
    assert_eq!(decrypt(&eu, &blob).await, Ok(b"everywhere".to_vec()));
}

#[tokio::test]
async fn replicate_key_errors_follow_aws() {
    // GIVEN a multi-Region AWS_KMS key replicated once, and a single-Region key
    let sim = sim().await;
    let us = client(&sim).await;
    let eu = client_as(&sim, DEFAULT_AKID, "eu-west-1").await;
    let mrk = us
        .create_key()
        .multi_region(true)
        .send()
        .await
        .expect("create");
    let mrk = mrk.key_metadata().expect("metadata").key_id().to_string();
    let single = us.create_key().send().await.expect("create");
    let single = single
        .key_metadata()
        .expect("metadata")
        .key_id()
        .to_string();
    us.replicate_key()
        .key_id(&mrk)
        .replica_region("eu-west-1")
        .send()
        .await
        .expect("ReplicateKey");
    // WHEN it is replicated to the same Region again, to its own Region, a single-Region key is
    // replicated, the replica is replicated, or the Region is malformed
    let cases = [
        (
            us.replicate_key()
                .key_id(&mrk)
                .replica_region("eu-west-1")
                .send()
                .await,
            "AlreadyExistsException",
        ),
        (
            us.replicate_key()
                .key_id(&mrk)
                .replica_region("us-east-1")
                .send()
                .await,
            "ValidationException",
        ),
        (
            us.replicate_key()
                .key_id(&single)
                .replica_region("eu-west-1")
                .send()
                .await,
            "UnsupportedOperationException",
        ),
        (
            eu.replicate_key()
                .key_id(&mrk)
                .replica_region("ap-south-1")
                .send()
                .await,
            "UnsupportedOperationException",
        ),
        (
            us.replicate_key()
                .key_id(&mrk)
                .replica_region("Mars")
                .send()
                .await,
            "ValidationException",
        ),
    ];
    // THEN each is refused with AWS's code
    for (result, expected) in cases {
        assert_eq!(err_of(&result.expect_err(expected)).0, expected);
    }
    // AND an AWS_KMS replica shares the primary's material: the replica decrypts at once
    let blob = us
        .encrypt()
        .key_id(&mrk)
        .plaintext(Blob::new(b"m".to_vec()))
        .send()
        .await
        .expect("Encrypt")
        .ciphertext_blob()
        .expect("blob")
        .clone();
    assert_eq!(decrypt(&eu, &blob).await, Ok(b"m".to_vec()));
    // AND the in-process API replicates too
    let ap = sim
        .store()
        .replicate(&mrk, "ap-south-1")
        .expect("replicate");
    assert_eq!(ap.region, "ap-south-1");
    assert_eq!(ap.key_id, mrk);
}
