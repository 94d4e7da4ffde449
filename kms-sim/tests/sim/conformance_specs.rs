//! Conformance of HMAC and asymmetric keys: replays the recorded AWS responses for imports into
//! keys of those specs and for rotating them (see `conformance.rs` for the method).

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{
    ExpirationModelType, KeySpec as SdkKeySpec, KeyUsageType, MacAlgorithmSpec, OriginType,
};
use serde_json::json;

use aws_lc_rs::signature::{self, EcdsaKeyPair, EcdsaSigningAlgorithm};
use aws_sdk_kms::types::{AlgorithmSpec, MessageType, SigningAlgorithmSpec};

use crate::common::err_of;
use crate::common::import_via_sdk;
use crate::recorded::{Norm, check, check_error, describe, setup, wrapped};

#[tokio::test]
async fn hmac_key_imports_match_aws() {
    let (_sim, kms) = setup().await;
    let specs = [
        (
            "HMAC_224",
            SdkKeySpec::Hmac224,
            MacAlgorithmSpec::HmacSha224,
            28,
        ),
        (
            "HMAC_256",
            SdkKeySpec::Hmac256,
            MacAlgorithmSpec::HmacSha256,
            32,
        ),
        (
            "HMAC_384",
            SdkKeySpec::Hmac384,
            MacAlgorithmSpec::HmacSha384,
            48,
        ),
        (
            "HMAC_512",
            SdkKeySpec::Hmac512,
            MacAlgorithmSpec::HmacSha512,
            64,
        ),
    ];
    for (name, spec, alg, len) in specs {
        let test = format!("test_import_key_hmac_keys[{name}]");
        // GIVEN an EXTERNAL HMAC key as the recording created it
        let created = kms
            .create_key()
            .key_spec(spec)
            .key_usage(KeyUsageType::GenerateVerifyMac)
            .origin(OriginType::External)
            .description("test import hmac key")
            .send()
            .await
            .expect("CreateKey");
        let m = created.key_metadata().expect("metadata");
        let (id, arn) = (m.key_id().to_string(), m.arn().expect("arn").to_string());
        let norm = Norm::default()
            .map(
                &arn,
                "arn:<partition>:kms:<region>:111111111111:key/<key-id:1>",
            )
            .map(&id, "<key-id:1>");
        // THEN DescribeKey before the import matches
        check(
            &test,
            "describe-key-before-import",
            &norm,
            describe(&kms, &id).await,
        );
        // WHEN material is imported THEN DescribeKey matches
        let (token, encrypted, _) = wrapped(&kms, &id, &vec![0x11; len]).await;
        kms.import_key_material()
            .key_id(&id)
            .import_token(token)
            .encrypted_key_material(encrypted)
            .expiration_model(ExpirationModelType::KeyMaterialDoesNotExpire)
            .send()
            .await
            .expect("ImportKeyMaterial");
        check(
            &test,
            "describe-key-after-import",
            &norm,
            describe(&kms, &id).await,
        );
        // AND GenerateMac / VerifyMac answer with the recorded fields
        let mac = kms
            .generate_mac()
            .key_id(&id)
            .mac_algorithm(alg.clone())
            .message(Blob::new(b"some important message".to_vec()))
            .send()
            .await
            .expect("GenerateMac");
        let shape = json!({
            "KeyId": mac.key_id(),
            "Mac": mac.mac().map(|_| "<mac>"),
            "MacAlgorithm": mac.mac_algorithm().map(|a| a.as_str()),
        });
        check(&test, "generate-mac-response", &norm, shape);
        let verified = kms
            .verify_mac()
            .key_id(&id)
            .mac_algorithm(alg)
            .message(Blob::new(b"some important message".to_vec()))
            .mac(mac.mac().expect("Mac").clone())
            .send()
            .await
            .expect("VerifyMac");
        let shape = json!({
            "KeyId": verified.key_id(),
            "MacAlgorithm": verified.mac_algorithm().map(|a| a.as_str()),
            "MacValid": verified.mac_valid(),
        });
        check(&test, "verify-mac-response", &norm, shape);
        // WHEN the material is deleted THEN DescribeKey matches
        kms.delete_imported_key_material()
            .key_id(&id)
            .send()
            .await
            .expect("DeleteImportedKeyMaterial");
        check(
            &test,
            "describe-key-after-deleted-import",
            &norm,
            describe(&kms, &id).await,
        );
    }
}

#[tokio::test]
async fn ecc_key_imports_match_aws() {
    let (_sim, kms) = setup().await;
    let specs: [(
        &str,
        SdkKeySpec,
        SigningAlgorithmSpec,
        &'static EcdsaSigningAlgorithm,
    ); 4] = [
        (
            "ECC_NIST_P256",
            SdkKeySpec::EccNistP256,
            SigningAlgorithmSpec::EcdsaSha256,
            &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
        ),
        (
            "ECC_NIST_P384",
            SdkKeySpec::EccNistP384,
            SigningAlgorithmSpec::EcdsaSha384,
            &signature::ECDSA_P384_SHA384_ASN1_SIGNING,
        ),
        (
            "ECC_NIST_P521",
            SdkKeySpec::EccNistP521,
            SigningAlgorithmSpec::EcdsaSha512,
            &signature::ECDSA_P521_SHA512_ASN1_SIGNING,
        ),
        (
            "ECC_SECG_P256K1",
            SdkKeySpec::EccSecgP256K1,
            SigningAlgorithmSpec::EcdsaSha256,
            &signature::ECDSA_P256K1_SHA256_ASN1_SIGNING,
        ),
    ];
    for (name, spec, alg, curve) in specs {
        let test = format!("test_import_key_ecc_keys[{name}]");
        // GIVEN an EXTERNAL signing key of the curve, as the recording created it
        let created = kms
            .create_key()
            .key_spec(spec)
            .key_usage(KeyUsageType::SignVerify)
            .origin(OriginType::External)
            .description("test ecc key import")
            .send()
            .await
            .expect("CreateKey");
        let m = created.key_metadata().expect("metadata");
        let (id, arn) = (m.key_id().to_string(), m.arn().expect("arn").to_string());
        let norm = Norm::default()
            .map(
                &arn,
                "arn:<partition>:kms:<region>:111111111111:key/<key-id:1>",
            )
            .map(&id, "<key-id:1>");
        check(
            &test,
            "describe-key-before-import",
            &norm,
            describe(&kms, &id).await,
        );
        // WHEN a PKCS#8 key pair of the curve is imported THEN DescribeKey matches
        let pair = EcdsaKeyPair::generate(curve).expect("key pair");
        let pkcs8 = pair.to_pkcs8v1().expect("pkcs8");
        import_via_sdk(
            &kms,
            &id,
            pkcs8.as_ref(),
            AlgorithmSpec::RsaAesKeyWrapSha256,
            None,
        )
        .await
        .expect("import");
        check(
            &test,
            "describe-key-after-import",
            &norm,
            describe(&kms, &id).await,
        );
        // AND Sign / Verify answer with the recorded fields
        let signed = kms
            .sign()
            .key_id(&id)
            .message(Blob::new(b"test message 123 !%$@".to_vec()))
            .message_type(MessageType::Raw)
            .signing_algorithm(alg.clone())
            .send()
            .await
            .expect("Sign");
        let shape = json!({
            "KeyId": signed.key_id(),
            "Signature": signed.signature().map(|_| "<signature>"),
            "SigningAlgorithm": signed.signing_algorithm().map(|a| a.as_str()),
        });
        check(&test, "sign-result", &norm, shape);
        let verified = kms
            .verify()
            .key_id(&id)
            .message(Blob::new(b"test message 123 !%$@".to_vec()))
            .message_type(MessageType::Raw)
            .signing_algorithm(alg)
            .signature(signed.signature().expect("Signature").clone())
            .send()
            .await
            .expect("Verify");
        let shape = json!({
            "KeyId": verified.key_id(),
            "SignatureValid": verified.signature_valid(),
            "SigningAlgorithm": verified.signing_algorithm().map(|a| a.as_str()),
        });
        check(&test, "verify-result", &norm, shape);
        // WHEN the material is deleted THEN DescribeKey matches
        kms.delete_imported_key_material()
            .key_id(&id)
            .send()
            .await
            .expect("DeleteImportedKeyMaterial");
        check(
            &test,
            "describe-key-after-deleted-import",
            &norm,
            describe(&kms, &id).await,
        );
    }
}

#[tokio::test]
async fn an_rsa_4096_encryption_key_import_matches_aws() {
    const T: &str = "test_import_key_rsa_aes_wrap_sha256";
    let (_sim, kms) = setup().await;
    // GIVEN an EXTERNAL RSA_4096 encryption key as the recording created it
    let created = kms
        .create_key()
        .key_spec(SdkKeySpec::Rsa4096)
        .key_usage(KeyUsageType::EncryptDecrypt)
        .origin(OriginType::External)
        .description("test-key")
        .send()
        .await
        .expect("CreateKey");
    let m = created.key_metadata().expect("metadata");
    let (id, arn) = (m.key_id().to_string(), m.arn().expect("arn").to_string());
    let norm = Norm::default()
        .map(
            &arn,
            "arn:<partition>:kms:<region>:111111111111:key/<key-id:1>",
        )
        .map(&id, "<key-id:1>");
    check(
        T,
        "describe-before-import",
        &norm,
        describe(&kms, &id).await,
    );
    // WHEN a 4096-bit PKCS#8 key pair is imported with RSA_AES_KEY_WRAP_SHA_256
    let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa4096).expect("RSA");
    let pkcs8: aws_lc_rs::encoding::Pkcs8V1Der<'_> =
        aws_lc_rs::encoding::AsDer::as_der(&pair).expect("PKCS#8");
    import_via_sdk(
        &kms,
        &id,
        pkcs8.as_ref(),
        AlgorithmSpec::RsaAesKeyWrapSha256,
        None,
    )
    .await
    .expect("import");
    // THEN DescribeKey matches the recording after the import, and after the deletion
    check(
        T,
        "import-key-material-response",
        &norm,
        describe(&kms, &id).await,
    );
    kms.delete_imported_key_material()
        .key_id(&id)
        .send()
        .await
        .expect("DeleteImportedKeyMaterial");
    check(
        T,
        "describe-key-after-deleted-import",
        &norm,
        describe(&kms, &id).await,
    );
}

#[tokio::test]
async fn rotating_a_non_symmetric_key_matches_aws() {
    const T: &str = "test_rotate_key_on_demand_raises_error_given_non_symmetric_key";
    let (_sim, kms) = setup().await;
    // GIVEN an ECC signing key
    let created = kms
        .create_key()
        .key_spec(SdkKeySpec::EccNistP256)
        .key_usage(KeyUsageType::SignVerify)
        .send()
        .await
        .expect("CreateKey");
    let arn = created.key_metadata().and_then(|m| m.arn()).expect("arn");
    // WHEN it is rotated on demand THEN UnsupportedOperationException with an empty message
    let e = kms
        .rotate_key_on_demand()
        .key_id(arn)
        .send()
        .await
        .expect_err("unsupported");
    check_error(T, "error-response", &Norm::default(), arn, err_of(&e));
}
