//! HMAC operations: GenerateMac and VerifyMac.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};

use crate::error::KmsError;
use crate::keyspec::MAC_ALGORITHMS;
use crate::store::{Caller, Store};

use super::Handler;
use super::params::Params;

/// The operations of this family and their handlers.
pub(super) const OPERATIONS: &[(&str, Handler)] =
    &[("GenerateMac", generate_mac), ("VerifyMac", verify_mac)];

/// `KeyId`, `Message` (1-4096 bytes) and `MacAlgorithm`, the members both operations share.
fn mac_request<'a>(p: &Params<'a>) -> Result<(&'a str, Vec<u8>, &'a str), KmsError> {
    let message = p.sized_blob("Message", 4096)?;
    let key = p.key_id("KeyId")?;
    let algorithm = p
        .opt_enum("MacAlgorithm", MAC_ALGORITHMS)?
        .ok_or_else(|| KmsError::missing("macAlgorithm"))?;
    Ok((key, message, algorithm))
}

fn generate_mac(store: &Store, caller: &Caller, p: &Params<'_>) -> Result<Value, KmsError> {
    let (key, message, algorithm) = mac_request(p)?;
    let (mac, arn) = store.with(|s, _| s.generate_mac(caller, key, algorithm, &message))?;
    p.refuse_dry_run()?;
    Ok(json!({
        "Mac": B64.encode(mac),
        "MacAlgorithm": algorithm,
        "KeyId": arn,
    }))
}

fn verify_mac(store: &Store, caller: &Caller, p: &Params<'_>) -> Result<Value, KmsError> {
    let (key, message, algorithm) = mac_request(p)?;
    let mac = p.sized_blob("Mac", 6144)?;
    let arn = store.with(|s, _| s.verify_mac(caller, key, algorithm, &message, &mac))?;
    p.refuse_dry_run()?;
    Ok(json!({
        "KeyId": arn,
        "MacValid": true,
        "MacAlgorithm": algorithm,
    }))
}
