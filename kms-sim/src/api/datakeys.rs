//! Data keys and randomness: GenerateDataKey, GenerateDataKeyPair (each +WithoutPlaintext),
//! ReEncrypt, GenerateRandom.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};

use crate::crypto;
use crate::error::KmsError;
use crate::model::KmsKeySpec;
use crate::store::{Caller, Store};

use super::Handler;
use super::params::Params;
use super::symmetric::check_symmetric_algorithm;

/// The operations of this family and their handlers.
pub(super) const OPERATIONS: &[(&str, Handler)] = &[
    ("GenerateDataKey", generate_data_key),
    (
        "GenerateDataKeyWithoutPlaintext",
        generate_data_key_without_plaintext,
    ),
    ("GenerateDataKeyPair", generate_data_key_pair),
    (
        "GenerateDataKeyPairWithoutPlaintext",
        generate_data_key_pair_without_plaintext,
    ),
    ("ReEncrypt", re_encrypt),
    ("GenerateRandom", generate_random),
];

/// `NumberOfBytes` within 1-1024, when present.
fn number_of_bytes(p: &Params<'_>) -> Result<Option<usize>, KmsError> {
    let Some(n) = p.opt_i64("NumberOfBytes")? else {
        return Ok(None);
    };
    let bound = if n < 1 {
        "Member must have value greater than or equal to 1"
    } else if n > 1024 {
        "Member must have value less than or equal to 1024"
    } else {
        return Ok(usize::try_from(n).ok());
    };
    Err(KmsError::constraint(&n.to_string(), "numberOfBytes", bound))
}

/// The data key size: exactly one of `KeySpec` (AES_256 / AES_128) and `NumberOfBytes`.
fn data_key_len(p: &Params<'_>) -> Result<usize, KmsError> {
    let spec = p.opt_enum("KeySpec", &["AES_256", "AES_128"])?;
    match (spec, number_of_bytes(p)?) {
        (Some("AES_128"), None) => Ok(16),
        (Some(_), None) => Ok(32),
        (None, Some(n)) => Ok(n),
        _ => Err(KmsError::validation(
            "Please specify either number of bytes or key spec.",
        )),
    }
}

/// Nitro Enclaves attestation (`Recipient`) is not simulated.
fn refuse_recipient(p: &Params<'_>) -> Result<(), KmsError> {
    if p.raw("Recipient").is_some() {
        return Err(KmsError::client(
            "UnsupportedOperationException",
            "kms-sim does not support Recipient (Nitro Enclaves attestation documents).",
        ));
    }
    Ok(())
}

/// GenerateDataKey and its WithoutPlaintext twin: a fresh data key encrypted under the key.
fn data_key(
    store: &Store,
    caller: &Caller,
    p: &Params<'_>,
    operation: &str,
) -> Result<(Vec<u8>, Value), KmsError> {
    let key = p.key_id("KeyId")?;
    let len = data_key_len(p)?;
    let context = p.context()?;
    refuse_recipient(p)?;
    let plaintext = crypto::random_vec(len);
    let sealed = store.with(|s, _| s.encrypt(caller, key, &plaintext, &context, operation))?;
    p.refuse_dry_run()?;
    let out = json!({
        "CiphertextBlob": B64.encode(sealed.blob),
        "KeyId": sealed.arn,
        "KeyMaterialId": sealed.material_id,
    });
    Ok((plaintext, out))
}

/// The response with the secret added as `field` (the operations without "WithoutPlaintext").
fn with_plaintext(
    made: Result<(Vec<u8>, Value), KmsError>,
    field: &str,
) -> Result<Value, KmsError> {
    let (secret, mut out) = made?;
    out[field] = json!(B64.encode(secret));
    Ok(out)
}

fn generate_data_key(store: &Store, caller: &Caller, p: &Params<'_>) -> Result<Value, KmsError> {
    with_plaintext(data_key(store, caller, p, "GenerateDataKey"), "Plaintext")
}

fn generate_data_key_without_plaintext(
    store: &Store,
    caller: &Caller,
    p: &Params<'_>,
) -> Result<Value, KmsError> {
    data_key(store, caller, p, "GenerateDataKeyWithoutPlaintext").map(|(_, out)| out)
}

/// GenerateDataKeyPair and its WithoutPlaintext twin: a fresh key pair whose PKCS#8 private key
/// is encrypted under the (symmetric) key; (private key, response).
fn data_key_pair(
    store: &Store,
    caller: &Caller,
    p: &Params<'_>,
    operation: &str,
) -> Result<(Vec<u8>, Value), KmsError> {
    let key = p.key_id("KeyId")?;
    let name = p
        .opt_enum(
            "KeyPairSpec",
            &[
                "RSA_2048",
                "RSA_3072",
                "RSA_4096",
                "ECC_NIST_P256",
                "ECC_NIST_P384",
                "ECC_NIST_P521",
                "ECC_SECG_P256K1",
                "SM2",
                "ECC_NIST_EDWARDS25519",
            ],
        )?
        .ok_or_else(|| KmsError::missing("keyPairSpec"))?;
    let spec = KmsKeySpec::parse(name)
        .filter(|s| s.is_asymmetric())
        .ok_or_else(|| {
            KmsError::client(
                "UnsupportedOperationException",
                format!("kms-sim does not support KeyPairSpec {name}."),
            )
        })?;
    let context = p.context()?;
    refuse_recipient(p)?;
    let private = crypto::generate_key_pair(spec)?;
    let public = crypto::public_key_der(spec, &private)?;
    let sealed = store.with(|s, _| s.encrypt(caller, key, &private, &context, operation))?;
    p.refuse_dry_run()?;
    let out = json!({
        "PrivateKeyCiphertextBlob": B64.encode(sealed.blob),
        "PublicKey": B64.encode(public),
        "KeyId": sealed.arn,
        "KeyPairSpec": name,
        "KeyMaterialId": sealed.material_id,
    });
    Ok((private, out))
}

fn generate_data_key_pair(
    store: &Store,
    caller: &Caller,
    p: &Params<'_>,
) -> Result<Value, KmsError> {
    with_plaintext(
        data_key_pair(store, caller, p, "GenerateDataKeyPair"),
        "PrivateKeyPlaintext",
    )
}

fn generate_data_key_pair_without_plaintext(
    store: &Store,
    caller: &Caller,
    p: &Params<'_>,
) -> Result<Value, KmsError> {
    data_key_pair(store, caller, p, "GenerateDataKeyPairWithoutPlaintext").map(|(_, out)| out)
}

fn re_encrypt(store: &Store, caller: &Caller, p: &Params<'_>) -> Result<Value, KmsError> {
    let blob = p.sized_blob("CiphertextBlob", 6144)?;
    let destination = p.key_id("DestinationKeyId")?;
    let source = p.opt_str("SourceKeyId")?;
    let source_context = p.context_member("SourceEncryptionContext")?;
    let destination_context = p.context_member("DestinationEncryptionContext")?;
    check_symmetric_algorithm(p, "SourceEncryptionAlgorithm")?;
    check_symmetric_algorithm(p, "DestinationEncryptionAlgorithm")?;
    let (sealed, source_arn, source_material) = store.with(|s, _| {
        let (plain, source_arn, source_material) =
            s.decrypt(caller, &blob, &source_context, source)?;
        let sealed = s.encrypt(
            caller,
            destination,
            &plain,
            &destination_context,
            "ReEncrypt",
        )?;
        Ok::<_, KmsError>((sealed, source_arn, source_material))
    })?;
    p.refuse_dry_run()?;
    Ok(json!({
        "CiphertextBlob": B64.encode(sealed.blob),
        "SourceKeyId": source_arn,
        "KeyId": sealed.arn,
        "SourceEncryptionAlgorithm": "SYMMETRIC_DEFAULT",
        "DestinationEncryptionAlgorithm": "SYMMETRIC_DEFAULT",
        "SourceKeyMaterialId": source_material,
        "DestinationKeyMaterialId": sealed.material_id,
    }))
}

fn generate_random(_store: &Store, _caller: &Caller, p: &Params<'_>) -> Result<Value, KmsError> {
    let len = number_of_bytes(p)?.ok_or_else(|| KmsError::missing("numberOfBytes"))?;
    refuse_recipient(p)?;
    if let Some(id) = p.opt_str("CustomKeyStoreId")? {
        return Err(KmsError::client(
            "CustomKeyStoreNotFoundException",
            format!("Custom key store {id} does not exist (kms-sim has no custom key stores)."),
        ));
    }
    Ok(json!({ "Plaintext": B64.encode(crypto::random_vec(len)) }))
}
