//! Real cryptography through the SDK: importing wrapped material like a key custodian, import
//! tokens, and Encrypt / Decrypt across revoke, re-import and rotation.

use std::time::Duration;

use aws_sdk_kms::Client;
use aws_sdk_kms::operation::decrypt::DecryptError;
use aws_sdk_kms::operation::import_key_material::ImportKeyMaterialError;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{AlgorithmSpec, ExpirationModelType, ImportType, WrappingKeySpec};
use kms_sim::KeySpec;
use kms_sim::wrap::wrap_key_material;

use crate::common::{client, err_of, import_wrapped, params, sim};

async fn encrypt(kms: &Client, key: &str, text: &[u8]) -> Blob {
    kms.encrypt()
        .key_id(key)
        .plaintext(Blob::new(text.to_vec()))
        .send()
        .await
        .expect("Encrypt")
        .ciphertext_blob()
        .expect("blob")
        .clone()
}

async fn decrypt(kms: &Client, blob: &Blob) -> Result<Vec<u8>, (String, String)> {
    kms.decrypt()
        .ciphertext_blob(blob.clone())
        .send()
        .await
        .map(|o| {
            o.plaintext()
                .map(|p| p.as_ref().to_vec())
                .unwrap_or_default()
        })
        .map_err(|e| {
            let (c, m, _) = err_of(&e);
            (c, m)
        })
}

#[tokio::test]
async fn material_wrapped_with_each_algorithm_imports_and_encrypts() {
    // GIVEN EXTERNAL keys, one per wrapping algorithm (RSA 2048 wrapping keys)
    let sim = sim().await;
    let kms = client(&sim).await;
    for (alg, name) in [
        (AlgorithmSpec::RsaesOaepSha256, "RSAES_OAEP_SHA_256"),
        (AlgorithmSpec::RsaesOaepSha1, "RSAES_OAEP_SHA_1"),
        (
            AlgorithmSpec::RsaAesKeyWrapSha256,
            "RSA_AES_KEY_WRAP_SHA_256",
        ),
        (AlgorithmSpec::RsaAesKeyWrapSha1, "RSA_AES_KEY_WRAP_SHA_1"),
    ] {
        let key = sim.store().create_key(KeySpec::external());
        let p = params(&kms, &key.key_id, alg, WrappingKeySpec::Rsa2048).await;
        // WHEN the custodian wraps 32 bytes and imports them
        let material = [0x5au8; 32];
        let wrapped = wrap_key_material(&p.public_key, &material, name).expect("wrap");
        let id = import_wrapped(&kms, &key.key_id, &p, wrapped, None)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e:?}"));
        // THEN the key is Enabled with the material KMS derives from the same bytes
        let view = sim.store().describe(&key.arn).expect("key");
        assert_eq!(view.state, kms_sim::KeyState::Enabled, "{name}");
        assert_eq!(view.current_key_material_id.as_deref(), Some(id.as_str()));
        // AND the key really encrypts and decrypts
        let blob = encrypt(&kms, &key.arn, b"secret").await;
        assert_eq!(decrypt(&kms, &blob).await, Ok(b"secret".to_vec()), "{name}");
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn a_4096_bit_wrapping_key_is_real_der_and_works() {
    // GIVEN an EXTERNAL key and RSA_4096 import parameters
    let sim = sim().await;
    let kms = client(&sim).await;
    let key = sim.store().create_key(KeySpec::external());
    let p = params(
        &kms,
        &key.key_id,
        AlgorithmSpec::RsaesOaepSha256,
        WrappingKeySpec::Rsa4096,
    )
    .await;
    // THEN the public key is a DER SubjectPublicKeyInfo (SEQUENCE) of a 4096-bit key
    assert_eq!(p.public_key.first(), Some(&0x30));
    assert!(p.public_key.len() > 512, "{}", p.public_key.len());
    // WHEN material is wrapped with it and imported THEN it works
    let wrapped = wrap_key_material(&p.public_key, &[1; 32], "RSAES_OAEP_SHA_256").expect("wrap");
    assert_eq!(wrapped.len(), 512);
    import_wrapped(&kms, &key.key_id, &p, wrapped, None)
        .await
        .expect("import");
    sim.shutdown().await;
}

#[tokio::test]
async fn import_tokens_bind_the_key_and_expire() {
    // GIVEN two EXTERNAL keys and parameters for the first
    let sim = sim().await;
    let kms = client(&sim).await;
    let a = sim.store().create_key(KeySpec::external());
    let b = sim.store().create_key(KeySpec::external());
    let p = params(
        &kms,
        &a.key_id,
        AlgorithmSpec::RsaesOaepSha1,
        WrappingKeySpec::Rsa2048,
    )
    .await;
    let wrapped = wrap_key_material(&p.public_key, &[2; 32], "RSAES_OAEP_SHA_1").expect("wrap");
    // WHEN the token is used for the other key THEN InvalidImportTokenException
    let e = kms
        .import_key_material()
        .key_id(&b.key_id)
        .import_token(p.token.clone())
        .encrypted_key_material(Blob::new(wrapped.clone()))
        .expiration_model(ExpirationModelType::KeyMaterialDoesNotExpire)
        .send()
        .await
        .expect_err("foreign token");
    assert!(matches!(
        e.as_service_error(),
        Some(ImportKeyMaterialError::InvalidImportTokenException(_))
    ));
    // WHEN material wrapped with the wrong algorithm is imported THEN InvalidCiphertextException
    let sha256 = wrap_key_material(&p.public_key, &[2; 32], "RSAES_OAEP_SHA_256").expect("wrap");
    assert_eq!(
        import_wrapped(&kms, &a.key_id, &p, sha256, None)
            .await
            .map_err(|e| e.0),
        Err("InvalidCiphertextException".to_string())
    );
    // WHEN 16 bytes are imported THEN IncorrectKeyMaterialException (256-bit keys only)
    let short = wrap_key_material(&p.public_key, &[2; 16], "RSAES_OAEP_SHA_1").expect("wrap");
    assert_eq!(
        import_wrapped(&kms, &a.key_id, &p, short, None)
            .await
            .map_err(|e| e.0),
        Err("IncorrectKeyMaterialException".to_string())
    );
    // WHEN the token is used after 24 hours THEN ExpiredImportTokenException
    sim.clock().advance(Duration::from_secs(24 * 3600 + 1));
    let e = kms
        .import_key_material()
        .key_id(&a.key_id)
        .import_token(p.token.clone())
        .encrypted_key_material(Blob::new(wrapped))
        .expiration_model(ExpirationModelType::KeyMaterialDoesNotExpire)
        .send()
        .await
        .expect_err("expired token");
    assert!(matches!(
        e.as_service_error(),
        Some(ImportKeyMaterialError::ExpiredImportTokenException(_))
    ));
    sim.shutdown().await;
}

#[tokio::test]
async fn ciphertexts_survive_revoke_reimport_and_rotation() {
    // GIVEN a key with imported material and a ciphertext under it
    let sim = sim().await;
    let kms = client(&sim).await;
    let key = sim.store().create_key(KeySpec::external());
    let p = params(
        &kms,
        &key.arn,
        AlgorithmSpec::RsaesOaepSha256,
        WrappingKeySpec::Rsa2048,
    )
    .await;
    let wrap = |m: &[u8; 32]| wrap_key_material(&p.public_key, m, "RSAES_OAEP_SHA_256").expect("w");
    let first = import_wrapped(&kms, &key.arn, &p, wrap(&[10; 32]), None)
        .await
        .expect("import");
    let old = encrypt(&kms, &key.arn, b"before revocation").await;

    // WHEN the material is deleted (revocation)
    kms.delete_imported_key_material()
        .key_id(&key.arn)
        .send()
        .await
        .expect("revoke");
    // THEN decrypting fails as pending import (the modeled KMSInvalidStateException)
    let e = kms
        .decrypt()
        .ciphertext_blob(old.clone())
        .send()
        .await
        .expect_err("revoked");
    assert!(matches!(
        e.as_service_error(),
        Some(DecryptError::KmsInvalidStateException(_))
    ));
    assert_eq!(err_of(&e).1, format!("{} is pending import.", key.arn));

    // WHEN different material is re-imported THEN it is refused
    assert_eq!(
        import_wrapped(&kms, &key.arn, &p, wrap(&[11; 32]), None)
            .await
            .map_err(|e| e.0),
        Err("IncorrectKeyMaterialException".to_string())
    );
    // WHEN the same material is re-imported (EXISTING) THEN old ciphertexts decrypt again
    let again = import_wrapped(
        &kms,
        &key.arn,
        &p,
        wrap(&[10; 32]),
        Some(ImportType::ExistingKeyMaterial),
    )
    .await
    .expect("re-import");
    assert_eq!(again, first);
    assert_eq!(decrypt(&kms, &old).await, Ok(b"before revocation".to_vec()));

    // WHEN new material is imported and the key rotated
    let second = import_wrapped(
        &kms,
        &key.arn,
        &p,
        wrap(&[12; 32]),
        Some(ImportType::NewKeyMaterial),
    )
    .await
    .expect("new material");
    kms.rotate_key_on_demand()
        .key_id(&key.arn)
        .send()
        .await
        .expect("rotate");
    let new = encrypt(&kms, &key.arn, b"after rotation").await;
    // THEN both decrypt, each with its own material
    for (blob, text, material) in [
        (&old, &b"before revocation"[..], &first),
        (&new, &b"after rotation"[..], &second),
    ] {
        let out = kms
            .decrypt()
            .ciphertext_blob(blob.clone())
            .send()
            .await
            .expect("decrypt");
        assert_eq!(out.plaintext().map(|p| p.as_ref()), Some(text));
        assert_eq!(out.key_material_id(), Some(material.as_str()));
    }
    // WHEN the NON_CURRENT material is deleted THEN the key is revoked as a whole
    kms.delete_imported_key_material()
        .key_id(&key.arn)
        .key_material_id(&first)
        .send()
        .await
        .expect("delete old material");
    assert!(decrypt(&kms, &new).await.is_err());
    sim.shutdown().await;
}

#[tokio::test]
async fn encryption_context_and_tampering_are_checked() {
    // GIVEN an AWS_KMS key and a ciphertext with an encryption context
    let sim = sim().await;
    let kms = client(&sim).await;
    let key = sim
        .store()
        .create_key(KeySpec::aws_kms().alias("alias/ctx"));
    let blob = kms
        .encrypt()
        .key_id("alias/ctx")
        .plaintext(Blob::new(b"p".to_vec()))
        .encryption_context("tenant", "a")
        .send()
        .await
        .expect("encrypt")
        .ciphertext_blob()
        .expect("blob")
        .clone();
    // WHEN it is decrypted with another context THEN InvalidCiphertextException
    let e = kms
        .decrypt()
        .ciphertext_blob(blob.clone())
        .encryption_context("tenant", "b")
        .send()
        .await
        .expect_err("context");
    assert_eq!(err_of(&e).0, "InvalidCiphertextException");
    // WHEN it is decrypted with the right context (and the key named by ARN) THEN it works
    let out = kms
        .decrypt()
        .ciphertext_blob(blob.clone())
        .encryption_context("tenant", "a")
        .key_id(&key.arn)
        .send()
        .await
        .expect("decrypt");
    assert_eq!(out.key_id(), Some(key.arn.as_str()));
    // WHEN a byte of it is flipped THEN InvalidCiphertextException
    let mut bytes = blob.into_inner();
    if let Some(last) = bytes.last_mut() {
        *last ^= 1;
    }
    let e = kms
        .decrypt()
        .ciphertext_blob(Blob::new(bytes))
        .encryption_context("tenant", "a")
        .send()
        .await
        .expect_err("tampered");
    assert_eq!(err_of(&e).0, "InvalidCiphertextException");
    sim.shutdown().await;
}

#[tokio::test]
async fn a_public_key_works_only_with_the_token_of_its_own_call() {
    // GIVEN two GetParametersForImport calls for the same key
    let sim = sim().await;
    let kms = client(&sim).await;
    let key = sim.store().create_key(KeySpec::external());
    let first = params(
        &kms,
        &key.key_id,
        AlgorithmSpec::RsaesOaepSha256,
        WrappingKeySpec::Rsa2048,
    )
    .await;
    let second = params(
        &kms,
        &key.key_id,
        AlgorithmSpec::RsaesOaepSha256,
        WrappingKeySpec::Rsa2048,
    )
    .await;
    // THEN they return different public keys
    assert_ne!(first.public_key, second.public_key);
    // WHEN material wrapped with the first public key is imported with the second token
    let wrapped =
        wrap_key_material(&first.public_key, &[4; 32], "RSAES_OAEP_SHA_256").expect("wrap");
    let crossed = import_wrapped(&kms, &key.key_id, &second, wrapped.clone(), None).await;
    // THEN the material cannot be unwrapped (InvalidCiphertextException)
    assert_eq!(
        crossed.expect_err("crossed").0,
        "InvalidCiphertextException"
    );
    // AND with its own token it imports
    import_wrapped(&kms, &key.key_id, &first, wrapped, None)
        .await
        .expect("own token");
}

#[tokio::test]
async fn key_material_descriptions_are_validated_like_aws() {
    // GIVEN an EXTERNAL key and wrapped material
    let sim = sim().await;
    let kms = client(&sim).await;
    let key = sim.store().create_key(KeySpec::external());
    let long = "a".repeat(257);
    for (description, ok) in [
        ("HSM batch 2026-01: key/7_a.b", true),
        ("emoji \u{1f511}", false),
        ("semi;colon", false),
        (long.as_str(), false),
    ] {
        let p = params(
            &kms,
            &key.key_id,
            AlgorithmSpec::RsaesOaepSha256,
            WrappingKeySpec::Rsa2048,
        )
        .await;
        let wrapped =
            wrap_key_material(&p.public_key, &[8; 32], "RSAES_OAEP_SHA_256").expect("wrap");
        // WHEN it is imported with the description
        let result = kms
            .import_key_material()
            .key_id(&key.key_id)
            .import_token(p.token.clone())
            .encrypted_key_material(Blob::new(wrapped))
            .expiration_model(ExpirationModelType::KeyMaterialDoesNotExpire)
            .key_material_description(description)
            .send()
            .await;
        // THEN only [a-zA-Z0-9:/_\s.-], at most 256 characters, is accepted
        match result {
            Ok(_) => assert!(ok, "{description} accepted"),
            Err(e) => {
                assert!(!ok, "{description} refused: {e:?}");
                let (code, message, _) = err_of(&e);
                assert_eq!(code, "ValidationException");
                assert!(message.contains("keyMaterialDescription"), "{message}");
            }
        }
    }
}
