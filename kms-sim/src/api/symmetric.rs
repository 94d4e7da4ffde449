//! Cryptographic operations on symmetric keys: Encrypt and Decrypt.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};

use crate::error::KmsError;
use crate::store::{Caller, Store};

use super::Handler;
use super::params::Params;

/// The operations of this family and their handlers.
pub(super) const OPERATIONS: &[(&str, Handler)] = &[("Encrypt", encrypt), ("Decrypt", decrypt)];

fn encrypt(store: &Store, caller: &Caller, p: &Params<'_>) -> Result<Value, KmsError> {
    let key = p.key_id("KeyId")?;
    let plaintext = p.sized_blob("Plaintext", 4096)?;
    let context = p.context()?;
    check_symmetric_algorithm(p, "EncryptionAlgorithm")?;
    let sealed = store.with(|s, _| s.encrypt(caller, key, &plaintext, &context, "Encrypt"))?;
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
    check_symmetric_algorithm(p, "EncryptionAlgorithm")?;
    let (plain, arn, material) = store.with(|s, _| s.decrypt(caller, &blob, &context, key))?;
    Ok(json!({
        "KeyId": arn,
        "Plaintext": B64.encode(plain),
        "EncryptionAlgorithm": "SYMMETRIC_DEFAULT",
        "KeyMaterialId": material,
    }))
}

/// An encryption-algorithm member (`EncryptionAlgorithm`, `SourceEncryptionAlgorithm`, ...) of
/// a request on a symmetric key: absent or `SYMMETRIC_DEFAULT`.
pub(super) fn check_symmetric_algorithm(p: &Params<'_>, member: &str) -> Result<(), KmsError> {
    let allowed = [
        "SYMMETRIC_DEFAULT",
        "RSAES_OAEP_SHA_1",
        "RSAES_OAEP_SHA_256",
        "SM2PKE",
    ];
    match p.opt_enum(member, &allowed)? {
        None | Some("SYMMETRIC_DEFAULT") => Ok(()),
        Some(other) => Err(KmsError::client(
            "InvalidKeyUsageException",
            format!("Algorithm {other} is incompatible with key spec SYMMETRIC_DEFAULT."),
        )),
    }
}
