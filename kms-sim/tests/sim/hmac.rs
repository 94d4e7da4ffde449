//! HMAC keys through the SDK: CreateKey with HMAC key specs, import into EXTERNAL HMAC keys,
//! GenerateMac / VerifyMac with real HMAC, deletion and re-import, usage and algorithm errors.

use aws_lc_rs::hmac;
use aws_sdk_kms::Client;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{
    AlgorithmSpec, ImportType, KeySpec as SdkKeySpec, KeyState, KeyUsageType, MacAlgorithmSpec,
    OriginType,
};

use crate::common::{client, err_of, import_via_sdk, sim};

/// (key spec, MAC algorithm, material length, aws-lc-rs algorithm)
const SPECS: [(SdkKeySpec, MacAlgorithmSpec, usize, hmac::Algorithm); 4] = [
    (
        SdkKeySpec::Hmac224,
        MacAlgorithmSpec::HmacSha224,
        28,
        hmac::HMAC_SHA224,
    ),
    (
        SdkKeySpec::Hmac256,
        MacAlgorithmSpec::HmacSha256,
        32,
        hmac::HMAC_SHA256,
    ),
    (
        SdkKeySpec::Hmac384,
        MacAlgorithmSpec::HmacSha384,
        48,
        hmac::HMAC_SHA384,
    ),
    (
        SdkKeySpec::Hmac512,
        MacAlgorithmSpec::HmacSha512,
        64,
        hmac::HMAC_SHA512,
    ),
];

async fn create_hmac(kms: &Client, spec: SdkKeySpec, origin: OriginType) -> String {
    kms.create_key()
        .key_spec(spec)
        .key_usage(KeyUsageType::GenerateVerifyMac)
        .origin(origin)
        .send()
        .await
        .expect("CreateKey")
        .key_metadata()
        .expect("metadata")
        .arn()
        .expect("arn")
        .to_string()
}

async fn generate_mac(
    kms: &Client,
    key: &str,
    alg: MacAlgorithmSpec,
    msg: &[u8],
) -> Result<Vec<u8>, (String, String, Option<u16>)> {
    kms.generate_mac()
        .key_id(key)
        .mac_algorithm(alg)
        .message(Blob::new(msg.to_vec()))
        .send()
        .await
        .map(|o| o.mac().expect("Mac").as_ref().to_vec())
        .map_err(|e| err_of(&e))
}

async fn verify_mac(
    kms: &Client,
    key: &str,
    alg: MacAlgorithmSpec,
    msg: &[u8],
    mac: &[u8],
) -> Result<bool, (String, String, Option<u16>)> {
    kms.verify_mac()
        .key_id(key)
        .mac_algorithm(alg)
        .message(Blob::new(msg.to_vec()))
        .mac(Blob::new(mac.to_vec()))
        .send()
        .await
        .map(|o| o.mac_valid())
        .map_err(|e| err_of(&e))
}

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

#[tokio::test]
async fn imported_hmac_keys_of_every_spec_compute_real_hmacs() {
    let sim = sim().await;
    let kms = client(&sim).await;
    for (spec, alg, len, lc_alg) in SPECS {
        // GIVEN an EXTERNAL HMAC key, PendingImport, listing its one MAC algorithm
        let key = create_hmac(&kms, spec.clone(), OriginType::External).await;
        let described = kms
            .describe_key()
            .key_id(&key)
            .send()
            .await
            .expect("describe");
        let m = described.key_metadata().expect("metadata");
        assert_eq!(m.key_state(), Some(&KeyState::PendingImport));
        assert_eq!(m.mac_algorithms(), std::slice::from_ref(&alg));
        assert!(m.encryption_algorithms().is_empty());
        assert!(m.current_key_material_id().is_none());
        // WHEN material of the spec's size is imported (RSAES_OAEP_SHA_256)
        let material: Vec<u8> = (0..len).map(|i| i as u8 ^ 0x5a).collect();
        import_via_sdk(&kms, &key, &material, AlgorithmSpec::RsaesOaepSha256, None)
            .await
            .expect("import");
        assert_eq!(state(&kms, &key).await, KeyState::Enabled);
        let mac = generate_mac(&kms, &key, alg.clone(), b"continuation payload")
            .await
            .expect("GenerateMac");
        // THEN the MAC is the real HMAC of the message under the imported material
        let expected = hmac::sign(&hmac::Key::new(lc_alg, &material), b"continuation payload");
        assert_eq!(mac, expected.as_ref(), "{spec:?}");
        // AND VerifyMac accepts it
        let valid = verify_mac(&kms, &key, alg.clone(), b"continuation payload", &mac).await;
        assert_eq!(valid, Ok(true));
    }
}

#[tokio::test]
async fn a_wrong_mac_is_kms_invalid_mac_exception() {
    // GIVEN an AWS_KMS HMAC_256 key and a MAC of one message
    let sim = sim().await;
    let kms = client(&sim).await;
    let key = create_hmac(&kms, SdkKeySpec::Hmac256, OriginType::AwsKms).await;
    let mac = generate_mac(&kms, &key, MacAlgorithmSpec::HmacSha256, b"a")
        .await
        .expect("GenerateMac");
    // WHEN the MAC is verified against another message, or altered
    let other = verify_mac(&kms, &key, MacAlgorithmSpec::HmacSha256, b"b", &mac).await;
    let mut flipped = mac.clone();
    flipped[0] ^= 1;
    let altered = verify_mac(&kms, &key, MacAlgorithmSpec::HmacSha256, b"a", &flipped).await;
    // THEN both are KMSInvalidMacException (HTTP 400)
    for result in [other, altered] {
        let (code, _, status) = result.expect_err("invalid MAC");
        assert_eq!(code, "KMSInvalidMacException");
        assert_eq!(status, Some(400));
    }
}

#[tokio::test]
async fn deleted_hmac_material_stops_macs_until_the_same_material_is_reimported() {
    // GIVEN an imported HMAC_256 key and a MAC made with it
    let sim = sim().await;
    let kms = client(&sim).await;
    let key = create_hmac(&kms, SdkKeySpec::Hmac256, OriginType::External).await;
    let material = [0x42u8; 40];
    let id = import_via_sdk(&kms, &key, &material, AlgorithmSpec::RsaesOaepSha1, None)
        .await
        .expect("import");
    let alg = MacAlgorithmSpec::HmacSha256;
    let mac = generate_mac(&kms, &key, alg.clone(), b"m")
        .await
        .expect("mac");
    // WHEN the material is deleted
    let deleted = kms
        .delete_imported_key_material()
        .key_id(&key)
        .send()
        .await
        .expect("delete");
    assert_eq!(deleted.key_material_id(), Some(id.as_str()));
    // THEN both MAC operations fail with KMSInvalidStateException "... is pending import."
    assert_eq!(state(&kms, &key).await, KeyState::PendingImport);
    let gen_err = generate_mac(&kms, &key, alg.clone(), b"m")
        .await
        .expect_err("gen");
    let ver_err = verify_mac(&kms, &key, alg.clone(), b"m", &mac)
        .await
        .expect_err("ver");
    for (code, message, _) in [gen_err, ver_err] {
        assert_eq!(code, "KMSInvalidStateException");
        assert_eq!(message, format!("{key} is pending import."));
    }
    // AND different material cannot take its place
    let other = import_via_sdk(&kms, &key, &[7u8; 40], AlgorithmSpec::RsaesOaepSha256, None).await;
    assert_eq!(other.expect_err("other").0, "IncorrectKeyMaterialException");
    // WHEN the same material is re-imported (EXISTING_KEY_MATERIAL)
    let again = import_via_sdk(
        &kms,
        &key,
        &material,
        AlgorithmSpec::RsaesOaepSha256,
        Some(ImportType::ExistingKeyMaterial),
    )
    .await
    .expect("re-import");
    // THEN the key is Enabled with the same material ID and the old MAC verifies again
    assert_eq!(again, id);
    assert_eq!(state(&kms, &key).await, KeyState::Enabled);
    assert_eq!(verify_mac(&kms, &key, alg, b"m", &mac).await, Ok(true));
}

#[tokio::test]
async fn wrong_key_usage_or_mac_algorithm_is_invalid_key_usage() {
    // GIVEN a symmetric encryption key and an HMAC_256 key
    let sim = sim().await;
    let kms = client(&sim).await;
    let symmetric = kms.create_key().send().await.expect("create");
    let symmetric = symmetric.key_metadata().and_then(|m| m.arn()).expect("arn");
    let hmac_key = create_hmac(&kms, SdkKeySpec::Hmac256, OriginType::AwsKms).await;
    // WHEN GenerateMac uses the encryption key, Encrypt uses the HMAC key, and GenerateMac
    // names an algorithm of another HMAC spec
    let mac_with_aes = generate_mac(&kms, symmetric, MacAlgorithmSpec::HmacSha256, b"x").await;
    let encrypt_with_hmac = kms
        .encrypt()
        .key_id(&hmac_key)
        .plaintext(Blob::new(b"x".to_vec()))
        .send()
        .await
        .map(|_| ())
        .map_err(|e| err_of(&e));
    let wrong_alg = generate_mac(&kms, &hmac_key, MacAlgorithmSpec::HmacSha512, b"x").await;
    // THEN each is InvalidKeyUsageException naming the problem
    let (code, message, _) = mac_with_aes.expect_err("usage");
    assert_eq!(code, "InvalidKeyUsageException");
    assert_eq!(
        message,
        format!("{symmetric} key usage is ENCRYPT_DECRYPT which is not valid for GenerateMac.")
    );
    let (code, message, _) = encrypt_with_hmac.expect_err("usage");
    assert_eq!(code, "InvalidKeyUsageException");
    assert!(message.contains("GENERATE_VERIFY_MAC"), "{message}");
    let (code, message, _) = wrong_alg.expect_err("algorithm");
    assert_eq!(code, "InvalidKeyUsageException");
    assert_eq!(
        message,
        "Algorithm HMAC_SHA_512 is incompatible with key spec HMAC_256."
    );
}

#[tokio::test]
async fn create_key_import_and_rotation_rules_of_hmac_keys() {
    let sim = sim().await;
    let kms = client(&sim).await;
    // GIVEN CreateKey requests for HMAC_256 without a usage and with ENCRYPT_DECRYPT
    let without = kms.create_key().key_spec(SdkKeySpec::Hmac256).send().await;
    let wrong = kms
        .create_key()
        .key_spec(SdkKeySpec::Hmac256)
        .key_usage(KeyUsageType::EncryptDecrypt)
        .send()
        .await;
    // THEN both are ValidationException
    for result in [without.map(|_| ()), wrong.map(|_| ())] {
        assert_eq!(
            err_of(&result.expect_err("invalid")).0,
            "ValidationException"
        );
    }
    // GIVEN an EXTERNAL HMAC_384 key WHEN 32 bytes (too short for HMAC_384) are imported
    let key = create_hmac(&kms, SdkKeySpec::Hmac384, OriginType::External).await;
    let short = import_via_sdk(&kms, &key, &[1u8; 32], AlgorithmSpec::RsaesOaepSha256, None).await;
    // THEN IncorrectKeyMaterialException and the key stays PendingImport
    assert_eq!(short.expect_err("short").0, "IncorrectKeyMaterialException");
    assert_eq!(state(&kms, &key).await, KeyState::PendingImport);
    // WHEN 48 bytes are imported, then RotateKeyOnDemand and ListKeyRotations are called
    import_via_sdk(&kms, &key, &[1u8; 48], AlgorithmSpec::RsaesOaepSha256, None)
        .await
        .expect("import");
    let rotate = kms.rotate_key_on_demand().key_id(&key).send().await;
    let list = kms.list_key_rotations().key_id(&key).send().await;
    // THEN rotation is unsupported for HMAC keys (UnsupportedOperationException, as recorded
    // for non-symmetric keys)
    assert_eq!(
        err_of(&rotate.expect_err("rotate")).0,
        "UnsupportedOperationException"
    );
    assert_eq!(
        err_of(&list.expect_err("list")).0,
        "UnsupportedOperationException"
    );
    // AND the same material imported as NEW_KEY_MATERIAL is refused like AWS documents
    let again = import_via_sdk(
        &kms,
        &key,
        &[1u8; 48],
        AlgorithmSpec::RsaesOaepSha256,
        Some(ImportType::NewKeyMaterial),
    )
    .await;
    let (code, message) = again.expect_err("new again");
    assert_eq!(code, "IncorrectKeyMaterialException");
    assert_eq!(
        message,
        "KMS expected new key material but the key material being imported is already associated with the KMS key."
    );
}

#[tokio::test]
async fn the_store_api_makes_and_checks_macs_too() {
    // GIVEN an HMAC_512 key created and imported through the in-process API
    let sim = sim().await;
    let key = sim
        .store()
        .create_key(kms_sim::KeySpec::external().key_spec(kms_sim::KmsKeySpec::Hmac512));
    sim.store()
        .import_key_material(&key.arn, &[9u8; 64], kms_sim::ImportOptions::default())
        .expect("import");
    // WHEN a MAC is made and checked in process
    let mac = sim.store().generate_mac(&key.arn, b"m").expect("mac");
    // THEN it is 64 bytes, verifies, and a wrong one is KMSInvalidMacException
    assert_eq!(mac.len(), 64);
    assert_eq!(sim.store().verify_mac(&key.arn, b"m", &mac), Ok(()));
    let err = sim
        .store()
        .verify_mac(&key.arn, b"n", &mac)
        .expect_err("wrong");
    assert_eq!(err.code, "KMSInvalidMacException");
    let view = sim.store().describe(&key.arn).expect("view");
    assert_eq!(view.key_spec, kms_sim::KmsKeySpec::Hmac512);
    assert_eq!(view.key_usage, kms_sim::KeyUsage::GenerateVerifyMac);
}
