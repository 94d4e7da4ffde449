//! Data keys through the SDK: GenerateDataKey (+WithoutPlaintext), ReEncrypt, GenerateRandom,
//! encryption contexts, and the key-state rules while imported material is deleted.

use std::collections::HashMap;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair};
use aws_sdk_kms::Client;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{DataKeyPairSpec, DataKeySpec, KeySpec as SdkKeySpec, KeyUsageType};

use crate::common::{client, err_of, external_key_with_material, sim};

type Failure = (String, String, Option<u16>);

fn ctx(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

async fn decrypt(
    kms: &Client,
    blob: &[u8],
    context: HashMap<String, String>,
) -> Result<Vec<u8>, Failure> {
    kms.decrypt()
        .ciphertext_blob(Blob::new(blob.to_vec()))
        .set_encryption_context(Some(context))
        .send()
        .await
        .map(|o| o.plaintext().expect("Plaintext").as_ref().to_vec())
        .map_err(|e| err_of(&e))
}

async fn data_key(kms: &Client, key: &str) -> Result<(Vec<u8>, Vec<u8>), Failure> {
    kms.generate_data_key()
        .key_id(key)
        .key_spec(DataKeySpec::Aes256)
        .send()
        .await
        .map(|o| {
            (
                o.plaintext().expect("Plaintext").as_ref().to_vec(),
                o.ciphertext_blob().expect("blob").as_ref().to_vec(),
            )
        })
        .map_err(|e| err_of(&e))
}

#[tokio::test]
async fn data_keys_decrypt_only_under_their_encryption_context() {
    // GIVEN an imported key and an encryption context
    let sim = sim().await;
    let kms = client(&sim).await;
    let (key, material_id) = external_key_with_material(&sim, [3; 32]);
    let context = ctx(&[("tenant", "a"), ("purpose", "continuation")]);
    // WHEN a 256-bit data key and a 64-byte key without plaintext are generated
    let out = kms
        .generate_data_key()
        .key_id(&key.arn)
        .key_spec(DataKeySpec::Aes256)
        .set_encryption_context(Some(context.clone()))
        .send()
        .await
        .expect("GenerateDataKey");
    let bare = kms
        .generate_data_key_without_plaintext()
        .key_id(&key.key_id)
        .number_of_bytes(64)
        .set_encryption_context(Some(context.clone()))
        .send()
        .await
        .expect("GenerateDataKeyWithoutPlaintext");
    // THEN the responses name the key ARN and its current material
    let plaintext = out.plaintext().expect("Plaintext").as_ref().to_vec();
    assert_eq!(plaintext.len(), 32);
    assert_eq!(out.key_id(), Some(key.arn.as_str()));
    assert_eq!(out.key_material_id(), Some(material_id.as_str()));
    assert_eq!(bare.key_id(), Some(key.arn.as_str()));
    assert_eq!(bare.key_material_id(), Some(material_id.as_str()));
    // AND Decrypt with the same context returns the data keys
    let blob = out.ciphertext_blob().expect("blob").as_ref().to_vec();
    assert_eq!(decrypt(&kms, &blob, context.clone()).await, Ok(plaintext));
    let bare_blob = bare.ciphertext_blob().expect("blob").as_ref().to_vec();
    let bare_plain = decrypt(&kms, &bare_blob, context.clone())
        .await
        .expect("decrypt");
    assert_eq!(bare_plain.len(), 64);
    // AND a different or missing context is InvalidCiphertextException
    for wrong in [
        ctx(&[("tenant", "b"), ("purpose", "continuation")]),
        ctx(&[]),
    ] {
        let (code, _, status) = decrypt(&kms, &blob, wrong)
            .await
            .expect_err("wrong context");
        assert_eq!(code, "InvalidCiphertextException");
        assert_eq!(status, Some(400));
    }
}

#[tokio::test]
async fn data_key_and_random_sizes_are_validated_like_aws() {
    // GIVEN an AWS_KMS key
    let sim = sim().await;
    let kms = client(&sim).await;
    let created = kms.create_key().send().await.expect("CreateKey");
    let key = created.key_metadata().expect("metadata").key_id();
    // WHEN GenerateDataKey names neither KeySpec nor NumberOfBytes, or both
    let neither = kms.generate_data_key().key_id(key).send().await;
    let both = kms
        .generate_data_key()
        .key_id(key)
        .key_spec(DataKeySpec::Aes128)
        .number_of_bytes(16)
        .send()
        .await;
    // THEN ValidationException asks for one of them
    for result in [neither.map(|_| ()), both.map(|_| ())] {
        let (code, message, _) = err_of(&result.expect_err("invalid"));
        assert_eq!(code, "ValidationException");
        assert_eq!(
            message,
            "Please specify either number of bytes or key spec."
        );
    }
    // AND NumberOfBytes must be within 1-1024, for data keys and random bytes alike
    for n in [0, 1025] {
        let dk = kms
            .generate_data_key()
            .key_id(key)
            .number_of_bytes(n)
            .send()
            .await;
        let rnd = kms.generate_random().number_of_bytes(n).send().await;
        assert_eq!(err_of(&dk.expect_err("size")).0, "ValidationException");
        let (code, message, _) = err_of(&rnd.expect_err("size"));
        assert_eq!(code, "ValidationException");
        assert!(message.contains("numberOfBytes"), "{message}");
    }
    // WHEN AES_128 and 1024 random bytes are asked for THEN those sizes come back, random
    let aes128 = kms
        .generate_data_key()
        .key_id(key)
        .key_spec(DataKeySpec::Aes128)
        .send()
        .await
        .expect("AES_128");
    assert_eq!(aes128.plaintext().map(|p| p.as_ref().len()), Some(16));
    let a = kms
        .generate_random()
        .number_of_bytes(1024)
        .send()
        .await
        .expect("random");
    let b = kms
        .generate_random()
        .number_of_bytes(1024)
        .send()
        .await
        .expect("random");
    assert_eq!(a.plaintext().map(|p| p.as_ref().len()), Some(1024));
    assert_ne!(a.plaintext(), b.plaintext());
}

#[tokio::test]
async fn re_encrypt_moves_a_ciphertext_between_keys_and_contexts() {
    // GIVEN a ciphertext under key A with context c1, and key B
    let sim = sim().await;
    let kms = client(&sim).await;
    let (a, a_material) = external_key_with_material(&sim, [1; 32]);
    let (b, b_material) = external_key_with_material(&sim, [2; 32]);
    let c1 = ctx(&[("k", "1")]);
    let c2 = ctx(&[("k", "2")]);
    let blob = kms
        .encrypt()
        .key_id(&a.arn)
        .plaintext(Blob::new(b"secret".to_vec()))
        .set_encryption_context(Some(c1.clone()))
        .send()
        .await
        .expect("Encrypt")
        .ciphertext_blob()
        .expect("blob")
        .clone();
    // WHEN it is re-encrypted under B with context c2
    let out = kms
        .re_encrypt()
        .ciphertext_blob(blob.clone())
        .source_key_id(&a.key_id)
        .set_source_encryption_context(Some(c1.clone()))
        .destination_key_id(&b.arn)
        .set_destination_encryption_context(Some(c2.clone()))
        .send()
        .await
        .expect("ReEncrypt");
    // THEN the response names both keys and materials, and B decrypts it under c2 only
    assert_eq!(out.source_key_id(), Some(a.arn.as_str()));
    assert_eq!(out.key_id(), Some(b.arn.as_str()));
    assert_eq!(out.source_key_material_id(), Some(a_material.as_str()));
    assert_eq!(out.destination_key_material_id(), Some(b_material.as_str()));
    let moved = out.ciphertext_blob().expect("blob").as_ref().to_vec();
    assert_eq!(decrypt(&kms, &moved, c2).await, Ok(b"secret".to_vec()));
    assert!(decrypt(&kms, &moved, c1.clone()).await.is_err());
    // AND a wrong source context or source key is refused
    let wrong_context = kms
        .re_encrypt()
        .ciphertext_blob(blob.clone())
        .destination_key_id(&b.arn)
        .send()
        .await;
    assert_eq!(
        err_of(&wrong_context.expect_err("context")).0,
        "InvalidCiphertextException"
    );
    let wrong_source = kms
        .re_encrypt()
        .ciphertext_blob(blob)
        .source_key_id(&b.arn)
        .set_source_encryption_context(Some(c1))
        .destination_key_id(&b.arn)
        .send()
        .await;
    assert_eq!(
        err_of(&wrong_source.expect_err("source")).0,
        "IncorrectKeyException"
    );
}

#[tokio::test]
async fn every_data_operation_fails_while_the_material_is_deleted() {
    // GIVEN a ciphertext and a data key under an imported key, and a second usable key
    let sim = sim().await;
    let kms = client(&sim).await;
    let (key, _) = external_key_with_material(&sim, [5; 32]);
    let (other, _) = external_key_with_material(&sim, [6; 32]);
    let (plain, blob) = data_key(&kms, &key.arn).await.expect("data key");
    // WHEN the key's material is deleted
    kms.delete_imported_key_material()
        .key_id(&key.arn)
        .send()
        .await
        .expect("delete");
    // THEN GenerateDataKey(+WithoutPlaintext), Decrypt and ReEncrypt (from and to the key)
    // all fail with KMSInvalidStateException "... is pending import."
    let without = kms
        .generate_data_key_without_plaintext()
        .key_id(&key.arn)
        .number_of_bytes(32)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| err_of(&e));
    let from = kms
        .re_encrypt()
        .ciphertext_blob(Blob::new(blob.clone()))
        .destination_key_id(&other.arn)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| err_of(&e));
    let other_blob = data_key(&kms, &other.arn).await.expect("other").1;
    let to = kms
        .re_encrypt()
        .ciphertext_blob(Blob::new(other_blob))
        .destination_key_id(&key.arn)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| err_of(&e));
    let failures = [
        data_key(&kms, &key.arn).await.map(|_| ()),
        without,
        decrypt(&kms, &blob, ctx(&[])).await.map(|_| ()),
        from,
        to,
    ];
    for failure in failures {
        let (code, message, _) = failure.expect_err("pending import");
        assert_eq!(code, "KMSInvalidStateException");
        assert_eq!(message, format!("{} is pending import.", key.arn));
    }
    // WHEN the same material is re-imported THEN the old data key decrypts again
    sim.store()
        .import_material(&key.arn, [5; 32], Default::default())
        .expect("re-import");
    assert_eq!(decrypt(&kms, &blob, ctx(&[])).await, Ok(plain));
}

#[tokio::test]
async fn data_keys_need_an_encryption_key() {
    // GIVEN an HMAC key
    let sim = sim().await;
    let kms = client(&sim).await;
    let created = kms
        .create_key()
        .key_spec(SdkKeySpec::Hmac256)
        .key_usage(KeyUsageType::GenerateVerifyMac)
        .send()
        .await
        .expect("CreateKey");
    let arn = created.key_metadata().and_then(|m| m.arn()).expect("arn");
    // WHEN a data key is asked of it THEN InvalidKeyUsageException names the operation
    let (code, message, _) = data_key(&kms, arn).await.expect_err("usage");
    assert_eq!(code, "InvalidKeyUsageException");
    assert_eq!(
        message,
        format!("{arn} key usage is GENERATE_VERIFY_MAC which is not valid for GenerateDataKey.")
    );
}

#[tokio::test]
async fn data_key_pairs_are_real_key_pairs_with_a_sealed_private_key() {
    // GIVEN an imported symmetric key and a context
    let sim = sim().await;
    let kms = client(&sim).await;
    let (key, material_id) = external_key_with_material(&sim, [9; 32]);
    let context = ctx(&[("use", "device")]);
    // WHEN a P-256 data key pair is generated, with and without its plaintext private key
    let out = kms
        .generate_data_key_pair()
        .key_id(&key.arn)
        .key_pair_spec(DataKeyPairSpec::EccNistP256)
        .set_encryption_context(Some(context.clone()))
        .send()
        .await
        .expect("GenerateDataKeyPair");
    let bare = kms
        .generate_data_key_pair_without_plaintext()
        .key_id(&key.arn)
        .key_pair_spec(DataKeyPairSpec::EccNistP256)
        .send()
        .await
        .expect("GenerateDataKeyPairWithoutPlaintext");
    // THEN the plaintext private key is a PKCS#8 P-256 key whose public key is the one returned
    let private = out
        .private_key_plaintext()
        .expect("private")
        .as_ref()
        .to_vec();
    let pair = EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_ASN1_SIGNING, &private)
        .expect("PKCS#8 P-256");
    let spki = pair.public_key().as_der().expect("spki");
    assert_eq!(out.public_key().map(|k| k.as_ref()), Some(spki.as_ref()));
    assert_eq!(out.key_pair_spec(), Some(&DataKeyPairSpec::EccNistP256));
    assert_eq!(out.key_material_id(), Some(material_id.as_str()));
    // AND the sealed private key decrypts to it under the same context only
    let blob = out
        .private_key_ciphertext_blob()
        .expect("blob")
        .as_ref()
        .to_vec();
    assert_eq!(decrypt(&kms, &blob, context).await, Ok(private));
    assert!(decrypt(&kms, &blob, ctx(&[])).await.is_err());
    assert!(bare.public_key().is_some() && bare.private_key_ciphertext_blob().is_some());
    // AND a missing KeyPairSpec is a ValidationException
    let missing = kms.generate_data_key_pair().key_id(&key.arn).send().await;
    assert_eq!(err_of(&missing.expect_err("spec")).0, "ValidationException");
}

#[tokio::test]
async fn dry_runs_check_everything_then_answer_dry_run_operation_exception() {
    // GIVEN an imported key
    let sim = sim().await;
    let kms = client(&sim).await;
    let (key, _) = external_key_with_material(&sim, [2; 32]);
    // WHEN Encrypt and GenerateDataKey are dry runs
    let encrypt = kms
        .encrypt()
        .key_id(&key.arn)
        .plaintext(Blob::new(b"x".to_vec()))
        .dry_run(true)
        .send()
        .await
        .map(|_| ());
    let data_key = kms
        .generate_data_key()
        .key_id(&key.arn)
        .number_of_bytes(32)
        .dry_run(true)
        .send()
        .await
        .map(|_| ());
    // THEN both answer DryRunOperationException with HTTP 412
    for result in [
        encrypt.map_err(|e| err_of(&e)),
        data_key.map_err(|e| err_of(&e)),
    ] {
        let (code, _, status) = result.expect_err("dry run");
        assert_eq!(
            (code.as_str(), status),
            ("DryRunOperationException", Some(412))
        );
    }
    // AND a dry run that would fail answers the failure instead
    kms.delete_imported_key_material()
        .key_id(&key.arn)
        .send()
        .await
        .expect("delete");
    let failing = kms
        .encrypt()
        .key_id(&key.arn)
        .plaintext(Blob::new(b"x".to_vec()))
        .dry_run(true)
        .send()
        .await;
    assert_eq!(
        err_of(&failing.expect_err("invalid state")).0,
        "KMSInvalidStateException"
    );
}
