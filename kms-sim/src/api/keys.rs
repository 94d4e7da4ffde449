//! Key operations: CreateKey, DescribeKey, ListKeys, Enable/DisableKey, Schedule/CancelKeyDeletion,
//! RotateKeyOnDemand, ListKeyRotations and ReplicateKey.

use serde_json::{Value, json};

use crate::error::KmsError;
use crate::model::{KeyUsage, KmsKeySpec, Origin};
use crate::store::{Caller, CreateKeyRequest, ReplicaRequest, Store};

use super::Handler;
use super::params::Params;

/// The operations of this family and their handlers.
pub(super) const OPERATIONS: &[(&str, Handler)] = &[
    ("CreateKey", create_key),
    ("DescribeKey", describe_key),
    ("ListKeys", list_keys),
    ("EnableKey", enable_key),
    ("DisableKey", disable_key),
    ("ScheduleKeyDeletion", schedule_key_deletion),
    ("CancelKeyDeletion", cancel_key_deletion),
    ("RotateKeyOnDemand", rotate_key_on_demand),
    ("ListKeyRotations", list_key_rotations),
    ("ReplicateKey", replicate_key),
];

fn describe_key(store: &Store, caller: &Caller, p: &Params<'_>) -> Result<Value, KmsError> {
    let key = p.key_id("KeyId")?;
    store.with(|s, _| s.describe_key(caller, key))
}

fn list_keys(store: &Store, caller: &Caller, p: &Params<'_>) -> Result<Value, KmsError> {
    let limit = p.limit(1000, 100)?;
    let marker = p.marker()?;
    store.with(|s, _| s.list_keys(caller, limit, marker))
}

fn enable_key(store: &Store, caller: &Caller, p: &Params<'_>) -> Result<Value, KmsError> {
    let key = p.key_id("KeyId")?;
    store.with(|s, _| s.enable_key(caller, key))?;
    Ok(json!({}))
}

fn disable_key(store: &Store, caller: &Caller, p: &Params<'_>) -> Result<Value, KmsError> {
    let key = p.key_id("KeyId")?;
    store.with(|s, _| s.disable_key(caller, key))?;
    Ok(json!({}))
}

fn schedule_key_deletion(
    store: &Store,
    caller: &Caller,
    p: &Params<'_>,
) -> Result<Value, KmsError> {
    let key = p.key_id("KeyId")?;
    let days = p.opt_i64("PendingWindowInDays")?;
    store.with(|s, now| s.schedule_key_deletion(caller, key, days, now))
}

fn cancel_key_deletion(store: &Store, caller: &Caller, p: &Params<'_>) -> Result<Value, KmsError> {
    let key = p.key_id("KeyId")?;
    store.with(|s, _| s.cancel_key_deletion(caller, key))
}

fn rotate_key_on_demand(store: &Store, caller: &Caller, p: &Params<'_>) -> Result<Value, KmsError> {
    let key = p.key_id("KeyId")?;
    let arn = store.with(|s, now| s.rotate_key_on_demand(caller, key, now))?;
    Ok(json!({ "KeyId": arn }))
}

fn list_key_rotations(store: &Store, caller: &Caller, p: &Params<'_>) -> Result<Value, KmsError> {
    let key = p.key_id("KeyId")?;
    let include = p.opt_enum(
        "IncludeKeyMaterial",
        &["ALL_KEY_MATERIAL", "ROTATIONS_ONLY"],
    )?;
    let limit = p.limit(1000, 100)?;
    let marker = p.marker()?;
    store.with(|s, _| {
        s.list_key_rotations(
            caller,
            key,
            include == Some("ALL_KEY_MATERIAL"),
            limit,
            marker,
        )
    })
}

fn create_key(store: &Store, caller: &Caller, p: &Params<'_>) -> Result<Value, KmsError> {
    let origin = match p.opt_enum(
        "Origin",
        &["AWS_KMS", "EXTERNAL", "AWS_CLOUDHSM", "EXTERNAL_KEY_STORE"],
    )? {
        None => Origin::AwsKms,
        Some(o) => Origin::parse(o).ok_or_else(|| {
            KmsError::client(
                "UnsupportedOperationException",
                format!("kms-sim supports Origin AWS_KMS and EXTERNAL only, not {o}."),
            )
        })?,
    };
    let spec = key_spec(p)?;
    let usage = match p.opt_enum(
        "KeyUsage",
        &[
            "SIGN_VERIFY",
            "ENCRYPT_DECRYPT",
            "GENERATE_VERIFY_MAC",
            "KEY_AGREEMENT",
        ],
    )? {
        None => None,
        Some(u) => Some(KeyUsage::parse(u).ok_or_else(|| {
            KmsError::client(
                "UnsupportedOperationException",
                format!("kms-sim does not support KeyUsage {u}."),
            )
        })?),
    };
    let usage = spec.usage(usage)?;
    let description = p.opt_str("Description")?.unwrap_or("").to_string();
    let tags = p.tags("Tags")?;
    let multi_region = p.opt_bool("MultiRegion")?.unwrap_or(false);
    store.with(|s, now| {
        s.create_key(
            caller,
            CreateKeyRequest {
                origin,
                description,
                tags,
                multi_region,
                aliases: Vec::new(),
                fixed_id: None,
                spec,
                usage,
            },
            now,
        )
    })
}

/// `KeySpec` (or the deprecated `CustomerMasterKeySpec`) of CreateKey; specs kms-sim does not
/// implement get UnsupportedOperationException.
fn key_spec(p: &Params<'_>) -> Result<KmsKeySpec, KmsError> {
    const KEY_SPECS: &[&str] = &[
        "RSA_2048",
        "RSA_3072",
        "RSA_4096",
        "ECC_NIST_P256",
        "ECC_NIST_P384",
        "ECC_NIST_P521",
        "ECC_SECG_P256K1",
        "SYMMETRIC_DEFAULT",
        "HMAC_224",
        "HMAC_256",
        "HMAC_384",
        "HMAC_512",
        "SM2",
        "ML_DSA_44",
        "ML_DSA_65",
        "ML_DSA_87",
        "ECC_NIST_EDWARDS25519",
    ];
    let given = p.opt_enum("KeySpec", KEY_SPECS)?;
    let legacy = p.opt_enum("CustomerMasterKeySpec", KEY_SPECS)?;
    if given.is_some() && legacy.is_some() {
        return Err(KmsError::validation(
            "You cannot specify KeySpec and CustomerMasterKeySpec in the same request. CustomerMasterKeySpec parameter is deprecated. Use KeySpec instead.",
        ));
    }
    let name = given.or(legacy).unwrap_or("SYMMETRIC_DEFAULT");
    KmsKeySpec::parse(name).ok_or_else(|| {
        KmsError::client(
            "UnsupportedOperationException",
            format!("kms-sim does not support KeySpec {name}."),
        )
    })
}

fn replicate_key(store: &Store, caller: &Caller, p: &Params<'_>) -> Result<Value, KmsError> {
    let key = p.key_id("KeyId")?;
    let region = p.req_str("ReplicaRegion")?;
    let shaped = region.len() <= 32 && {
        let mut parts: Vec<&str> = region.split('-').collect();
        let number = parts.pop().unwrap_or("");
        (2..=3).contains(&parts.len())
            && parts
                .iter()
                .all(|s| !s.is_empty() && s.chars().all(|c| c.is_ascii_lowercase()))
            && !number.is_empty()
            && number.chars().all(|c| c.is_ascii_digit())
    };
    if !shaped {
        return Err(KmsError::constraint(
            region,
            "replicaRegion",
            "Member must satisfy regular expression pattern: ^([a-z]+-){2,3}\\d+$",
        ));
    }
    let request = ReplicaRequest {
        region: region.to_string(),
        description: p.opt_str("Description")?.map(str::to_string),
        tags: p.tags("Tags")?,
        policy: p.opt_str("Policy")?.map(str::to_string),
    };
    p.opt_bool("BypassPolicyLockoutSafetyCheck")?;
    store.with(|s, now| s.replicate_key(caller, key, request, now))
}
