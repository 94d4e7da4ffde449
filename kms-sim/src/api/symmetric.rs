//! Encrypt and Decrypt: kms-sim blobs under symmetric keys, RSA-OAEP under RSA key pairs.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};

use crate::error::KmsError;
use crate::keyspec::KeyFamily;
use crate::store::{Caller, Store};

use super::Handler;
use super::params::Params;

/// The operations of this family and their handlers.
pub(super) const OPERATIONS: &[(&str, Handler)] = &[("Encrypt", encrypt), ("Decrypt", decrypt)];

fn encrypt(store: &Store, caller: &Caller, p: &Params<'_>) -> Result<Value, KmsError> {
    let key = p.key_id("KeyId")?;
    let plaintext = p.sized_blob("Plaintext", 4096)?;
    let context = p.context()?;
    if let Some(algorithm) = rsa_algorithm(store, caller, Some(key), p)? {
        let (blob, arn) = store.with(|s, _| s.rsa_encrypt(caller, key, algorithm, &plaintext))?;
        p.refuse_dry_run()?;
        return Ok(json!({
            "CiphertextBlob": B64.encode(blob),
            "KeyId": arn,
            "EncryptionAlgorithm": algorithm,
        }));
    }
    check_symmetric_algorithm(p, "EncryptionAlgorithm")?;
    let sealed = store.with(|s, _| s.encrypt(caller, key, &plaintext, &context, "Encrypt"))?;
    p.refuse_dry_run()?;
    Ok(json!({
        "CiphertextBlob": B64.encode(sealed.blob),
        "KeyId": sealed.arn,
        "EncryptionAlgorithm": "SYMMETRIC_DEFAULT",
    }))
}

fn decrypt(store: &Store, caller: &Caller, p: &Params<'_>) -> Result<Value, KmsError> {
    let blob = p.sized_blob("CiphertextBlob", 6144)?;
    let context = p.context()?;
    let key = p.opt_str("KeyId")?;
    if let (Some(algorithm), Some(key)) = (rsa_algorithm(store, caller, key, p)?, key) {
        let (plain, arn) = store.with(|s, _| s.rsa_decrypt(caller, key, algorithm, &blob))?;
        p.refuse_dry_run()?;
        return Ok(json!({
            "KeyId": arn,
            "Plaintext": B64.encode(plain),
            "EncryptionAlgorithm": algorithm,
        }));
    }
    check_symmetric_algorithm(p, "EncryptionAlgorithm")?;
    let (plain, arn, material) = store.with(|s, _| s.decrypt(caller, &blob, &context, key))?;
    p.refuse_dry_run()?;
    Ok(json!({
        "KeyId": arn,
        "Plaintext": B64.encode(plain),
        "EncryptionAlgorithm": "SYMMETRIC_DEFAULT",
        "KeyMaterialId": material,
    }))
}

const ENCRYPTION_ALGORITHMS: [&str; 4] = [
    "SYMMETRIC_DEFAULT",
    "RSAES_OAEP_SHA_1",
    "RSAES_OAEP_SHA_256",
    "SM2PKE",
];

/// `EncryptionAlgorithm` when `key` names an RSA key (`SYMMETRIC_DEFAULT` when absent, which
/// the key then refuses); `None` for other keys.
fn rsa_algorithm<'a>(
    store: &Store,
    caller: &Caller,
    key: Option<&str>,
    p: &Params<'a>,
) -> Result<Option<&'a str>, KmsError> {
    let spec = key.and_then(|k| store.with(|s, _| s.key_spec_of(caller, k)));
    if spec.map(|s| s.family()) != Some(KeyFamily::Rsa) {
        return Ok(None);
    }
    Ok(Some(
        p.opt_enum("EncryptionAlgorithm", &ENCRYPTION_ALGORITHMS)?
            .unwrap_or("SYMMETRIC_DEFAULT"),
    ))
}

/// An encryption-algorithm member (`EncryptionAlgorithm`, `SourceEncryptionAlgorithm`, ...) of
/// a request on a symmetric key: absent or `SYMMETRIC_DEFAULT`.
pub(super) fn check_symmetric_algorithm(p: &Params<'_>, member: &str) -> Result<(), KmsError> {
    match p.opt_enum(member, &ENCRYPTION_ALGORITHMS)? {
        None | Some("SYMMETRIC_DEFAULT") => Ok(()),
        Some(other) => Err(KmsError::client(
            "InvalidKeyUsageException",
            format!("Algorithm {other} is incompatible with key spec SYMMETRIC_DEFAULT."),
        )),
    }
}
