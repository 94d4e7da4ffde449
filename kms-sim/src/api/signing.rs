//! Asymmetric signing: Sign, Verify and GetPublicKey.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Map, Value, json};

use crate::crypto::Signed;
use crate::error::KmsError;
use crate::store::{Caller, Store};

use super::Handler;
use super::params::Params;

/// The operations of this family and their handlers.
pub(super) const OPERATIONS: &[(&str, Handler)] = &[
    ("Sign", sign),
    ("Verify", verify),
    ("GetPublicKey", get_public_key),
];

const SIGNING_ALGORITHMS: &[&str] = &[
    "RSASSA_PSS_SHA_256",
    "RSASSA_PSS_SHA_384",
    "RSASSA_PSS_SHA_512",
    "RSASSA_PKCS1_V1_5_SHA_256",
    "RSASSA_PKCS1_V1_5_SHA_384",
    "RSASSA_PKCS1_V1_5_SHA_512",
    "ECDSA_SHA_256",
    "ECDSA_SHA_384",
    "ECDSA_SHA_512",
    "SM2DSA",
    "ML_DSA_SHAKE_256",
];

/// `KeyId`, `Message` (1-4096 bytes, with its `MessageType`) and `SigningAlgorithm`.
fn signing_request<'a>(p: &Params<'a>) -> Result<(&'a str, Vec<u8>, bool, &'a str), KmsError> {
    let key = p.key_id("KeyId")?;
    let message = p.sized_blob("Message", 4096)?;
    let digest = match p.opt_enum("MessageType", &["RAW", "DIGEST", "EXTERNAL_MU"])? {
        None | Some("RAW") => false,
        Some("DIGEST") => true,
        Some(other) => {
            return Err(KmsError::validation(format!(
                "MessageType {other} is only valid for ML_DSA key specs."
            )));
        }
    };
    let algorithm = p
        .opt_enum("SigningAlgorithm", SIGNING_ALGORITHMS)?
        .ok_or_else(|| KmsError::missing("signingAlgorithm"))?;
    Ok((key, message, digest, algorithm))
}

fn signed(message: &[u8], digest: bool) -> Signed<'_> {
    if digest {
        Signed::Digest(message)
    } else {
        Signed::Raw(message)
    }
}

fn sign(store: &Store, caller: &Caller, p: &Params<'_>) -> Result<Value, KmsError> {
    let (key, message, digest, algorithm) = signing_request(p)?;
    let (signature, arn) =
        store.with(|s, _| s.sign(caller, key, algorithm, signed(&message, digest)))?;
    p.refuse_dry_run()?;
    Ok(json!({
        "KeyId": arn,
        "Signature": B64.encode(signature),
        "SigningAlgorithm": algorithm,
    }))
}

fn verify(store: &Store, caller: &Caller, p: &Params<'_>) -> Result<Value, KmsError> {
    let (key, message, digest, algorithm) = signing_request(p)?;
    let signature = p.sized_blob("Signature", 6144)?;
    let arn = store
        .with(|s, _| s.verify(caller, key, algorithm, signed(&message, digest), &signature))?;
    p.refuse_dry_run()?;
    Ok(json!({
        "KeyId": arn,
        "SignatureValid": true,
        "SigningAlgorithm": algorithm,
    }))
}

fn get_public_key(store: &Store, caller: &Caller, p: &Params<'_>) -> Result<Value, KmsError> {
    let key = p.key_id("KeyId")?;
    let info = store.with(|s, _| s.get_public_key(caller, key))?;
    let mut out = Map::new();
    out.insert("KeyId".into(), json!(info.arn));
    out.insert("PublicKey".into(), json!(B64.encode(&info.der)));
    out.insert("CustomerMasterKeySpec".into(), json!(info.spec.as_str()));
    out.insert("KeySpec".into(), json!(info.spec.as_str()));
    out.insert("KeyUsage".into(), json!(info.usage.as_str()));
    let encryption = info.spec.encryption_algorithms(info.usage);
    if !encryption.is_empty() {
        out.insert("EncryptionAlgorithms".into(), json!(encryption));
    }
    let signing = info.spec.signing_algorithms(info.usage);
    if !signing.is_empty() {
        out.insert("SigningAlgorithms".into(), json!(signing));
    }
    Ok(Value::Object(out))
}
