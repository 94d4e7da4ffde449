//! The KMS JSON 1.1 operations: request parsing and validation as KMS does it, then the store.

mod datakeys;
mod import;
mod keys;
mod labels;
mod mac;
mod params;
mod signing;
mod symmetric;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::Value;

use crate::crypto;
use crate::error::KmsError;
use crate::keyspec::KeyFamily;
use crate::quotas::{CRYPTO_ECC, CRYPTO_RSA, CRYPTO_SYMMETRIC};
use crate::store::{Caller, Store};

use params::Params;

pub(crate) use import::get_parameters_for_import;

/// One operation: validates the request as KMS does, then calls the store.
type Handler = fn(&Store, &Caller, &Params<'_>) -> Result<Value, KmsError>;

/// Every synchronous operation, by family.
const FAMILIES: &[&[(&str, Handler)]] = &[
    keys::OPERATIONS,
    labels::OPERATIONS,
    import::OPERATIONS,
    symmetric::OPERATIONS,
    mac::OPERATIONS,
    datakeys::OPERATIONS,
    signing::OPERATIONS,
];

/// Every KMS operation the simulator implements.
pub const KMS_OPERATIONS: &[&str] = &[
    "CancelKeyDeletion",
    "CreateAlias",
    "CreateKey",
    "Decrypt",
    "DeleteAlias",
    "DeleteImportedKeyMaterial",
    "DescribeKey",
    "DisableKey",
    "EnableKey",
    "Encrypt",
    "GenerateDataKey",
    "GenerateDataKeyPair",
    "GenerateDataKeyPairWithoutPlaintext",
    "GenerateDataKeyWithoutPlaintext",
    "GenerateMac",
    "GenerateRandom",
    "GetParametersForImport",
    "GetPublicKey",
    "ImportKeyMaterial",
    "ListAliases",
    "ListKeyRotations",
    "ListKeys",
    "ListResourceTags",
    "ReEncrypt",
    "ReplicateKey",
    "RotateKeyOnDemand",
    "ScheduleKeyDeletion",
    "Sign",
    "TagResource",
    "UntagResource",
    "UpdateAlias",
    "Verify",
    "VerifyMac",
];

/// Runs one KMS operation (not GetParametersForImport, which is async: see
/// [`get_parameters_for_import`]).
pub(crate) fn dispatch(
    store: &Store,
    caller: &Caller,
    operation: &str,
    body: &Value,
) -> Result<Value, KmsError> {
    let p = Params::new(body);
    match FAMILIES
        .iter()
        .flat_map(|family| family.iter())
        .find(|(name, _)| *name == operation)
    {
        Some((_, handler)) => handler(store, caller, &p),
        None => Err(KmsError::client(
            "UnknownOperationException",
            format!("kms-sim does not implement the operation {operation}"),
        )),
    }
}

/// The shared quota a cryptographic operation counts against, by the type of the key it uses
/// (`key`: the resolved key ID, when known); `None` for the other operations.
pub(crate) fn shared_quota(
    store: &Store,
    caller: &Caller,
    operation: &str,
    key: Option<&str>,
) -> Option<&'static str> {
    const CRYPTOGRAPHIC: &[&str] = &[
        "Decrypt",
        "Encrypt",
        "GenerateDataKey",
        "GenerateDataKeyWithoutPlaintext",
        "GenerateMac",
        "GenerateRandom",
        "ReEncrypt",
        "ReplicateKey",
        "Sign",
        "Verify",
        "Verify",
        "VerifyMac",
    ];
    if !CRYPTOGRAPHIC.contains(&operation) {
        return None;
    }
    let spec = key.and_then(|k| store.with(|s, _| s.key_spec_of(caller, k)));
    Some(match spec.map(|s| s.family()) {
        Some(KeyFamily::Rsa) => CRYPTO_RSA,
        Some(KeyFamily::Ecc) => CRYPTO_ECC,
        _ => CRYPTO_SYMMETRIC,
    })
}

/// The key a request names, for counters and fault matching: the resolved key ID when the
/// reference resolves, plus the raw identifiers.
pub(crate) fn keys_named(
    store: &Store,
    caller: &Caller,
    operation: &str,
    body: &Value,
) -> Vec<String> {
    let mut raw: Vec<String> = Vec::new();
    for field in ["KeyId", "TargetKeyId", "DestinationKeyId"] {
        if let Some(s) = body.get(field).and_then(Value::as_str)
            && !s.is_empty()
        {
            raw.push(s.to_string());
        }
    }
    if operation == "Decrypt"
        && raw.is_empty()
        && let Some(blob) = body
            .get("CiphertextBlob")
            .and_then(Value::as_str)
            .and_then(|b| B64.decode(b).ok())
        && let Ok((header, _)) = crypto::parse_blob(&blob)
    {
        raw.push(header.arn);
    }
    if (operation == "CreateAlias" || operation == "DeleteAlias" || operation == "UpdateAlias")
        && let Some(s) = body.get("AliasName").and_then(Value::as_str)
    {
        raw.push(s.to_string());
    }
    let mut out = Vec::new();
    if let Some(first) = raw.first()
        && let Some(id) = store.with(|s, _| s.key_id_of(caller, first))
    {
        out.push(id);
    }
    for r in raw {
        let n = crate::counters::normalise_key(&r);
        if !out.contains(&n) {
            out.push(n);
        }
        if !out.contains(&r) {
            out.push(r);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_public_operation_list_is_exactly_what_dispatch_serves() {
        // GIVEN the handlers of every family, plus the async GetParametersForImport
        let mut served: Vec<&str> = FAMILIES
            .iter()
            .flat_map(|family| family.iter().map(|(name, _)| *name))
            .chain(["GetParametersForImport"])
            .collect();
        // WHEN both lists are sorted
        served.sort_unstable();
        let mut listed = KMS_OPERATIONS.to_vec();
        listed.sort_unstable();
        // THEN they are the same, without duplicates
        assert_eq!(served, listed);
        served.dedup();
        assert_eq!(served.len(), KMS_OPERATIONS.len());
    }
}
