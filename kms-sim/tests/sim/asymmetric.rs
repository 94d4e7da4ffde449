//! Asymmetric keys through the SDK: ECC and RSA signing verified independently with the public
//! key from GetPublicKey, RSA-OAEP encryption, and import / deletion / re-import of PKCS#8 key
//! pairs into EXTERNAL keys.

use std::sync::OnceLock;

use aws_lc_rs::digest;
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{OAEP_SHA256_MGF1SHA256, OaepPublicEncryptingKey, PublicEncryptingKey};
use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair, UnparsedPublicKey, VerificationAlgorithm};
use aws_sdk_kms::Client;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{
    AlgorithmSpec, EncryptionAlgorithmSpec, KeySpec as SdkKeySpec, KeyState, KeyUsageType,
    MessageType, OriginType, SigningAlgorithmSpec,
};

use crate::common::{client, err_of, import_via_sdk, sim};

type Failure = (String, String, Option<u16>);

async fn create(kms: &Client, spec: SdkKeySpec, usage: KeyUsageType, origin: OriginType) -> String {
    kms.create_key()
        .key_spec(spec)
        .key_usage(usage)
        .origin(origin)
        .send()
        .await
        .expect("CreateKey")
        .key_metadata()
        .and_then(|m| m.arn())
        .expect("arn")
        .to_string()
}

async fn public_key(kms: &Client, key: &str) -> Result<Vec<u8>, Failure> {
    kms.get_public_key()
        .key_id(key)
        .send()
        .await
        .map(|o| o.public_key().expect("PublicKey").as_ref().to_vec())
        .map_err(|e| err_of(&e))
}

async fn sign(
    kms: &Client,
    key: &str,
    alg: SigningAlgorithmSpec,
    message: &[u8],
    kind: MessageType,
) -> Result<Vec<u8>, Failure> {
    kms.sign()
        .key_id(key)
        .signing_algorithm(alg)
        .message(Blob::new(message.to_vec()))
        .message_type(kind)
        .send()
        .await
        .map(|o| o.signature().expect("Signature").as_ref().to_vec())
        .map_err(|e| err_of(&e))
}

async fn verify(
    kms: &Client,
    key: &str,
    alg: SigningAlgorithmSpec,
    message: &[u8],
    sig: &[u8],
) -> Result<bool, Failure> {
    kms.verify()
        .key_id(key)
        .signing_algorithm(alg)
        .message(Blob::new(message.to_vec()))
        .signature(Blob::new(sig.to_vec()))
        .send()
        .await
        .map(|o| o.signature_valid())
        .map_err(|e| err_of(&e))
}

/// Verifies with aws-lc-rs alone, from the DER SubjectPublicKeyInfo GetPublicKey returned.
fn independently_valid(
    alg: &'static dyn VerificationAlgorithm,
    spki: &[u8],
    msg: &[u8],
    sig: &[u8],
) -> bool {
    UnparsedPublicKey::new(alg, spki).verify(msg, sig).is_ok()
}

#[tokio::test]
async fn ecc_signatures_verify_with_the_public_key_from_get_public_key() {
    let sim = sim().await;
    let kms = client(&sim).await;
    let cases: [(
        SdkKeySpec,
        SigningAlgorithmSpec,
        &'static dyn VerificationAlgorithm,
        &'static digest::Algorithm,
    ); 4] = [
        (
            SdkKeySpec::EccNistP256,
            SigningAlgorithmSpec::EcdsaSha256,
            &signature::ECDSA_P256_SHA256_ASN1,
            &digest::SHA256,
        ),
        (
            SdkKeySpec::EccNistP384,
            SigningAlgorithmSpec::EcdsaSha384,
            &signature::ECDSA_P384_SHA384_ASN1,
            &digest::SHA384,
        ),
        (
            SdkKeySpec::EccNistP521,
            SigningAlgorithmSpec::EcdsaSha512,
            &signature::ECDSA_P521_SHA512_ASN1,
            &digest::SHA512,
        ),
        (
            SdkKeySpec::EccSecgP256K1,
            SigningAlgorithmSpec::EcdsaSha256,
            &signature::ECDSA_P256K1_SHA256_ASN1,
            &digest::SHA256,
        ),
    ];
    for (spec, alg, lc_alg, hash) in cases {
        // GIVEN an AWS_KMS signing key of the curve and its public key
        let key = create(
            &kms,
            spec.clone(),
            KeyUsageType::SignVerify,
            OriginType::AwsKms,
        )
        .await;
        let spki = public_key(&kms, &key).await.expect("GetPublicKey");
        // WHEN a message is signed RAW, and its digest signed as DIGEST
        let message = b"release 1.2.3";
        let raw = sign(&kms, &key, alg.clone(), message, MessageType::Raw)
            .await
            .expect("sign");
        let pre_hashed = digest::digest(hash, message);
        let dig = sign(
            &kms,
            &key,
            alg.clone(),
            pre_hashed.as_ref(),
            MessageType::Digest,
        )
        .await
        .expect("sign digest");
        // THEN both verify with aws-lc-rs alone and with KMS Verify
        assert!(
            independently_valid(lc_alg, &spki, message, &raw),
            "{spec:?} raw"
        );
        assert!(
            independently_valid(lc_alg, &spki, message, &dig),
            "{spec:?} digest"
        );
        assert_eq!(
            verify(&kms, &key, alg.clone(), message, &raw).await,
            Ok(true)
        );
        // AND another message does not verify: KMSInvalidSignatureException
        let (code, _, status) = verify(&kms, &key, alg, b"release 1.2.4", &raw)
            .await
            .expect_err("invalid");
        assert_eq!(
            (code.as_str(), status),
            ("KMSInvalidSignatureException", Some(400))
        );
    }
}

#[tokio::test]
async fn rsa_keys_sign_with_every_algorithm_and_encrypt_with_oaep() {
    let sim = sim().await;
    let kms = client(&sim).await;
    // GIVEN an RSA_2048 signing key and its public key
    let key = create(
        &kms,
        SdkKeySpec::Rsa2048,
        KeyUsageType::SignVerify,
        OriginType::AwsKms,
    )
    .await;
    let spki = public_key(&kms, &key).await.expect("GetPublicKey");
    let cases: [(SigningAlgorithmSpec, &'static dyn VerificationAlgorithm); 6] = [
        (
            SigningAlgorithmSpec::RsassaPssSha256,
            &signature::RSA_PSS_2048_8192_SHA256,
        ),
        (
            SigningAlgorithmSpec::RsassaPssSha384,
            &signature::RSA_PSS_2048_8192_SHA384,
        ),
        (
            SigningAlgorithmSpec::RsassaPssSha512,
            &signature::RSA_PSS_2048_8192_SHA512,
        ),
        (
            SigningAlgorithmSpec::RsassaPkcs1V15Sha256,
            &signature::RSA_PKCS1_2048_8192_SHA256,
        ),
        (
            SigningAlgorithmSpec::RsassaPkcs1V15Sha384,
            &signature::RSA_PKCS1_2048_8192_SHA384,
        ),
        (
            SigningAlgorithmSpec::RsassaPkcs1V15Sha512,
            &signature::RSA_PKCS1_2048_8192_SHA512,
        ),
    ];
    for (alg, lc_alg) in cases {
        // WHEN a message is signed with each algorithm
        let sig = sign(&kms, &key, alg.clone(), b"m", MessageType::Raw)
            .await
            .expect("sign");
        // THEN aws-lc-rs verifies it with the GetPublicKey key, and so does KMS
        assert!(independently_valid(lc_alg, &spki, b"m", &sig), "{alg:?}");
        assert_eq!(verify(&kms, &key, alg, b"m", &sig).await, Ok(true));
    }
    // AND an ECDSA algorithm is refused for the RSA key
    let wrong = sign(
        &kms,
        &key,
        SigningAlgorithmSpec::EcdsaSha256,
        b"m",
        MessageType::Raw,
    )
    .await;
    assert_eq!(wrong.expect_err("alg").0, "InvalidKeyUsageException");
    // GIVEN an RSA_2048 encryption key
    let enc = create(
        &kms,
        SdkKeySpec::Rsa2048,
        KeyUsageType::EncryptDecrypt,
        OriginType::AwsKms,
    )
    .await;
    let enc_spki = public_key(&kms, &enc).await.expect("GetPublicKey");
    // WHEN a client encrypts with the public key (RSAES_OAEP_SHA_256) outside KMS
    let public =
        OaepPublicEncryptingKey::new(PublicEncryptingKey::from_der(&enc_spki).expect("spki"))
            .expect("oaep");
    let mut out = vec![0u8; public.ciphertext_size()];
    let outside = public
        .encrypt(&OAEP_SHA256_MGF1SHA256, b"offline secret", &mut out, None)
        .expect("encrypt")
        .to_vec();
    // THEN KMS decrypts it with the key and the algorithm
    let plain = kms
        .decrypt()
        .key_id(&enc)
        .encryption_algorithm(EncryptionAlgorithmSpec::RsaesOaepSha256)
        .ciphertext_blob(Blob::new(outside))
        .send()
        .await
        .expect("Decrypt");
    assert_eq!(
        plain.plaintext().map(|p| p.as_ref()),
        Some(&b"offline secret"[..])
    );
    // AND KMS Encrypt / Decrypt round-trip with RSAES_OAEP_SHA_1
    let ct = kms
        .encrypt()
        .key_id(&enc)
        .encryption_algorithm(EncryptionAlgorithmSpec::RsaesOaepSha1)
        .plaintext(Blob::new(b"x".to_vec()))
        .send()
        .await
        .expect("Encrypt");
    assert_eq!(
        ct.encryption_algorithm(),
        Some(&EncryptionAlgorithmSpec::RsaesOaepSha1)
    );
    let back = kms
        .decrypt()
        .key_id(&enc)
        .encryption_algorithm(EncryptionAlgorithmSpec::RsaesOaepSha1)
        .ciphertext_blob(ct.ciphertext_blob().expect("blob").clone())
        .send()
        .await
        .expect("Decrypt");
    assert_eq!(back.plaintext().map(|p| p.as_ref()), Some(&b"x"[..]));
    // AND without an RSA algorithm, or signing with the encryption key, is InvalidKeyUsage
    let default_alg = kms
        .encrypt()
        .key_id(&enc)
        .plaintext(Blob::new(b"x".to_vec()))
        .send()
        .await;
    assert_eq!(
        err_of(&default_alg.expect_err("alg")).0,
        "InvalidKeyUsageException"
    );
    let sign_with_enc = sign(
        &kms,
        &enc,
        SigningAlgorithmSpec::RsassaPssSha256,
        b"m",
        MessageType::Raw,
    )
    .await;
    assert_eq!(
        sign_with_enc.expect_err("usage").0,
        "InvalidKeyUsageException"
    );
}

/// A P-256 key pair made outside KMS (PKCS#8 DER), once per test run.
fn p256_pkcs8() -> &'static (Vec<u8>, Vec<u8>) {
    static PAIR: OnceLock<(Vec<u8>, Vec<u8>)> = OnceLock::new();
    PAIR.get_or_init(|| {
        let pair = EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_ASN1_SIGNING).expect("gen");
        let spki = pair.public_key().as_der().expect("spki").as_ref().to_vec();
        (pair.to_pkcs8v1().expect("pkcs8").as_ref().to_vec(), spki)
    })
}

#[tokio::test]
async fn imported_key_pairs_sign_until_deleted_and_again_after_reimport() {
    // GIVEN an EXTERNAL ECC_NIST_P256 key, PendingImport, and a P-256 key pair made outside
    let sim = sim().await;
    let kms = client(&sim).await;
    let key = create(
        &kms,
        SdkKeySpec::EccNistP256,
        KeyUsageType::SignVerify,
        OriginType::External,
    )
    .await;
    let (pkcs8, spki) = p256_pkcs8();
    let before = public_key(&kms, &key).await.expect_err("no material yet");
    assert_eq!(before.0, "KMSInvalidStateException");
    // WHEN another curve's key is imported THEN IncorrectKeyMaterialException
    let p384 = EcdsaKeyPair::generate(&signature::ECDSA_P384_SHA384_ASN1_SIGNING).expect("gen");
    let other = import_via_sdk(
        &kms,
        &key,
        p384.to_pkcs8v1().expect("pkcs8").as_ref(),
        AlgorithmSpec::RsaAesKeyWrapSha256,
        None,
    )
    .await;
    assert_eq!(other.expect_err("curve").0, "IncorrectKeyMaterialException");
    // WHEN the P-256 PKCS#8 key is imported (RSA_AES_KEY_WRAP_SHA_256)
    let id = import_via_sdk(&kms, &key, pkcs8, AlgorithmSpec::RsaAesKeyWrapSha256, None)
        .await
        .expect("import");
    // THEN GetPublicKey returns its public key and signatures verify with it
    assert_eq!(public_key(&kms, &key).await.as_ref(), Ok(spki));
    let sig = sign(
        &kms,
        &key,
        SigningAlgorithmSpec::EcdsaSha256,
        b"m",
        MessageType::Raw,
    )
    .await
    .expect("sign");
    assert!(independently_valid(
        &signature::ECDSA_P256_SHA256_ASN1,
        spki,
        b"m",
        &sig
    ));
    // WHEN the material is deleted THEN Sign, Verify and GetPublicKey are KMSInvalidStateException
    kms.delete_imported_key_material()
        .key_id(&key)
        .send()
        .await
        .expect("delete");
    let failures = [
        sign(
            &kms,
            &key,
            SigningAlgorithmSpec::EcdsaSha256,
            b"m",
            MessageType::Raw,
        )
        .await
        .map(|_| ()),
        verify(&kms, &key, SigningAlgorithmSpec::EcdsaSha256, b"m", &sig)
            .await
            .map(|_| ()),
        public_key(&kms, &key).await.map(|_| ()),
    ];
    for failure in failures {
        let (code, message, _) = failure.expect_err("pending import");
        assert_eq!(code, "KMSInvalidStateException");
        assert_eq!(message, format!("{key} is pending import."));
    }
    // WHEN the same key pair is re-imported (RSAES_OAEP_SHA_256 fits a P-256 key)
    let again = import_via_sdk(&kms, &key, pkcs8, AlgorithmSpec::RsaesOaepSha256, None)
        .await
        .expect("re-import");
    // THEN the key is Enabled with the same material and the old signature verifies again
    assert_eq!(again, id);
    let state = kms
        .describe_key()
        .key_id(&key)
        .send()
        .await
        .expect("describe");
    assert_eq!(
        state.key_metadata().and_then(|m| m.key_state()),
        Some(&KeyState::Enabled)
    );
    assert_eq!(
        verify(&kms, &key, SigningAlgorithmSpec::EcdsaSha256, b"m", &sig).await,
        Ok(true)
    );
}

#[tokio::test]
async fn an_imported_rsa_key_pair_needs_rsa_aes_key_wrap_and_decrypts() {
    // GIVEN an EXTERNAL RSA_2048 encryption key and an RSA key pair made by KMS elsewhere
    let sim = sim().await;
    let kms = client(&sim).await;
    let key = create(
        &kms,
        SdkKeySpec::Rsa2048,
        KeyUsageType::EncryptDecrypt,
        OriginType::External,
    )
    .await;
    let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).expect("gen");
    let pkcs8: aws_lc_rs::encoding::Pkcs8V1Der<'_> = pair.as_der().expect("pkcs8");
    // WHEN it is wrapped with RSA_AES_KEY_WRAP_SHA_1 and imported
    import_via_sdk(
        &kms,
        &key,
        pkcs8.as_ref(),
        AlgorithmSpec::RsaAesKeyWrapSha1,
        None,
    )
    .await
    .expect("import");
    // THEN the key's public key is the pair's, and KMS decrypts what it encrypts
    let spki = public_key(&kms, &key).await.expect("GetPublicKey");
    assert_eq!(spki, pair.public_key().as_der().expect("spki").as_ref());
    let ct = kms
        .encrypt()
        .key_id(&key)
        .encryption_algorithm(EncryptionAlgorithmSpec::RsaesOaepSha256)
        .plaintext(Blob::new(b"imported".to_vec()))
        .send()
        .await
        .expect("Encrypt");
    let back = kms
        .decrypt()
        .key_id(&key)
        .encryption_algorithm(EncryptionAlgorithmSpec::RsaesOaepSha256)
        .ciphertext_blob(ct.ciphertext_blob().expect("blob").clone())
        .send()
        .await
        .expect("Decrypt");
    assert_eq!(back.plaintext().map(|p| p.as_ref()), Some(&b"imported"[..]));
}
