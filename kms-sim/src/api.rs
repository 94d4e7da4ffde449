//! The KMS JSON 1.1 operations: request parsing and validation as KMS does it, then the store.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};

use crate::clock::{epoch_seconds, from_epoch_seconds, parse_rfc3339};
use crate::crypto::{self, WrappingAlgorithm, WrappingKeySpec};
use crate::error::KmsError;
use crate::model::{ExpirationModel, ImportType, Origin};
use crate::store::{Caller, CreateKeyRequest, ImportRequest, Store, check_valid_to};

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
    "GetParametersForImport",
    "ImportKeyMaterial",
    "ListAliases",
    "ListKeyRotations",
    "ListKeys",
    "ListResourceTags",
    "RotateKeyOnDemand",
    "ScheduleKeyDeletion",
    "TagResource",
    "UntagResource",
    "UpdateAlias",
];

fn serialization(message: impl Into<String>) -> KmsError {
    KmsError::client("SerializationException", message)
}

/// Typed access to a request body with KMS's validation messages.
pub(crate) struct Params<'a> {
    body: &'a Value,
}

impl<'a> Params<'a> {
    pub fn new(body: &'a Value) -> Self {
        Params { body }
    }

    fn raw(&self, name: &str) -> Option<&'a Value> {
        match self.body.get(name) {
            None | Some(Value::Null) => None,
            Some(v) => Some(v),
        }
    }

    /// The member name as KMS's validation messages spell it (lower camel case).
    fn wire_name(name: &str) -> String {
        let mut c = name.chars();
        match c.next() {
            Some(f) => f.to_lowercase().chain(c).collect(),
            None => String::new(),
        }
    }

    pub fn opt_str(&self, name: &str) -> Result<Option<&'a str>, KmsError> {
        match self.raw(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(_) => Err(serialization(format!(
                "Unexpected value type for member {name}: expected a string"
            ))),
        }
    }

    pub fn req_str(&self, name: &str) -> Result<&'a str, KmsError> {
        self.opt_str(name)?
            .ok_or_else(|| KmsError::missing(&Self::wire_name(name)))
    }

    /// A key identifier: required, 1-2048 characters.
    pub fn key_id(&self, name: &str) -> Result<&'a str, KmsError> {
        let v = self.req_str(name)?;
        if v.is_empty() {
            return Err(KmsError::constraint(
                v,
                &Self::wire_name(name),
                "Member must have length greater than or equal to 1",
            ));
        }
        if v.len() > 2048 {
            return Err(KmsError::constraint(
                "...",
                &Self::wire_name(name),
                "Member must have length less than or equal to 2048",
            ));
        }
        Ok(v)
    }

    pub fn opt_i64(&self, name: &str) -> Result<Option<i64>, KmsError> {
        match self.raw(name) {
            None => Ok(None),
            Some(Value::Number(n)) => n
                .as_i64()
                .map(Some)
                .ok_or_else(|| serialization(format!("Member {name} must be an integer"))),
            Some(_) => Err(serialization(format!(
                "Unexpected value type for member {name}: expected a number"
            ))),
        }
    }

    pub fn opt_bool(&self, name: &str) -> Result<Option<bool>, KmsError> {
        match self.raw(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(serialization(format!(
                "Unexpected value type for member {name}: expected a boolean"
            ))),
        }
    }

    pub fn opt_blob(&self, name: &str) -> Result<Option<Vec<u8>>, KmsError> {
        match self.opt_str(name)? {
            None => Ok(None),
            Some(s) => B64
                .decode(s)
                .map(Some)
                .map_err(|_| serialization(format!("Member {name} is not valid base64"))),
        }
    }

    pub fn req_blob(&self, name: &str) -> Result<Vec<u8>, KmsError> {
        self.opt_blob(name)?
            .ok_or_else(|| KmsError::missing(&Self::wire_name(name)))
    }

    /// A timestamp: epoch seconds (what the SDKs send) or an ISO 8601 string.
    pub fn opt_time(&self, name: &str) -> Result<Option<std::time::SystemTime>, KmsError> {
        match self.raw(name) {
            None => Ok(None),
            Some(Value::Number(n)) => n
                .as_f64()
                .and_then(from_epoch_seconds)
                .map(Some)
                .ok_or_else(|| serialization(format!("Member {name} is not a valid timestamp"))),
            Some(Value::String(s)) => parse_rfc3339(s)
                .or_else(|| s.parse::<f64>().ok().and_then(from_epoch_seconds))
                .map(Some)
                .ok_or_else(|| serialization(format!("Member {name} is not a valid timestamp"))),
            Some(_) => Err(serialization(format!(
                "Unexpected value type for member {name}: expected a timestamp"
            ))),
        }
    }

    /// An enum member: `None` if absent; ValidationException listing the allowed values.
    pub fn opt_enum(&self, name: &str, allowed: &[&str]) -> Result<Option<&'a str>, KmsError> {
        match self.opt_str(name)? {
            None => Ok(None),
            Some(v) if allowed.contains(&v) => Ok(Some(v)),
            Some(v) => Err(KmsError::constraint(
                v,
                &Self::wire_name(name),
                &format!(
                    "Member must satisfy enum value set: [{}]",
                    allowed.join(", ")
                ),
            )),
        }
    }

    /// `Limit` within [1, max], default `default`.
    pub fn limit(&self, max: i64, default: i64) -> Result<usize, KmsError> {
        let limit = self.opt_i64("Limit")?.unwrap_or(default);
        if limit < 1 {
            return Err(KmsError::constraint(
                &limit.to_string(),
                "limit",
                "Member must have value greater than or equal to 1",
            ));
        }
        if limit > max {
            return Err(KmsError::constraint(
                &limit.to_string(),
                "limit",
                &format!("Member must have value less than or equal to {max}"),
            ));
        }
        Ok(usize::try_from(limit).unwrap_or(1))
    }

    pub fn marker(&self) -> Result<Option<&'a str>, KmsError> {
        let m = self.opt_str("Marker")?;
        if let Some(m) = m
            && (m.is_empty() || m.len() > 1024)
        {
            return Err(KmsError::constraint(
                "...",
                "marker",
                "Member must have length between 1 and 1024",
            ));
        }
        Ok(m)
    }

    pub fn tags(&self, name: &str) -> Result<Vec<(String, String)>, KmsError> {
        let Some(v) = self.raw(name) else {
            return Ok(Vec::new());
        };
        let arr = v
            .as_array()
            .ok_or_else(|| serialization(format!("Member {name} must be a list")))?;
        arr.iter()
            .map(|t| {
                let key = t.get("TagKey").and_then(Value::as_str);
                let value = t.get("TagValue").and_then(Value::as_str);
                match (key, value) {
                    (Some(k), Some(v)) => Ok((k.to_string(), v.to_string())),
                    (None, _) => Err(KmsError::missing("tags.member.tagKey")),
                    (_, None) => Err(KmsError::missing("tags.member.tagValue")),
                }
            })
            .collect()
    }

    pub fn string_list(&self, name: &str) -> Result<Vec<String>, KmsError> {
        let Some(v) = self.raw(name) else {
            return Err(KmsError::missing(&Self::wire_name(name)));
        };
        v.as_array()
            .ok_or_else(|| serialization(format!("Member {name} must be a list")))?
            .iter()
            .map(|s| {
                s.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| serialization(format!("Member {name} must hold strings")))
            })
            .collect()
    }

    pub fn context(&self) -> Result<BTreeMap<String, String>, KmsError> {
        let Some(v) = self.raw("EncryptionContext") else {
            return Ok(BTreeMap::new());
        };
        let obj = v
            .as_object()
            .ok_or_else(|| serialization("EncryptionContext must be a map"))?;
        obj.iter()
            .map(|(k, v)| {
                v.as_str()
                    .map(|s| (k.clone(), s.to_string()))
                    .ok_or_else(|| serialization("EncryptionContext values must be strings"))
            })
            .collect()
    }

    pub fn key_material_id(&self) -> Result<Option<&'a str>, KmsError> {
        let Some(id) = self.opt_str("KeyMaterialId")? else {
            return Ok(None);
        };
        if id.len() != 64 {
            return Err(KmsError::constraint(
                id,
                "keyMaterialId",
                if id.len() < 64 {
                    "Member must have length greater than or equal to 64"
                } else {
                    "Member must have length less than or equal to 64"
                },
            ));
        }
        if !id.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')) {
            return Err(KmsError::constraint(
                id,
                "keyMaterialId",
                "Member must satisfy regular expression pattern: ^[a-f0-9]+$",
            ));
        }
        Ok(Some(id))
    }
}

fn check_symmetric_algorithm(p: &Params<'_>) -> Result<(), KmsError> {
    let allowed = [
        "SYMMETRIC_DEFAULT",
        "RSAES_OAEP_SHA_1",
        "RSAES_OAEP_SHA_256",
        "SM2PKE",
    ];
    match p.opt_enum("EncryptionAlgorithm", &allowed)? {
        None | Some("SYMMETRIC_DEFAULT") => Ok(()),
        Some(other) => Err(KmsError::client(
            "InvalidKeyUsageException",
            format!("Algorithm {other} is incompatible with key spec SYMMETRIC_DEFAULT."),
        )),
    }
}

/// Runs one KMS operation (not GetParametersForImport, which is async: see
/// [`get_parameters_for_import`]).
pub(crate) fn dispatch(
    store: &Store,
    caller: &Caller,
    operation: &str,
    body: &Value,
) -> Result<Value, KmsError> {
    let p = Params::new(body);
    match operation {
        "CreateKey" => create_key(store, caller, &p),
        "DescribeKey" => {
            let key = p.key_id("KeyId")?;
            store.with(|s, _| s.describe_key(caller, key))
        }
        "ListKeys" => {
            let limit = p.limit(1000, 100)?;
            let marker = p.marker()?;
            store.with(|s, _| s.list_keys(caller, limit, marker))
        }
        "ListAliases" => {
            let limit = p.limit(100, 50)?;
            let marker = p.marker()?;
            let key = p.opt_str("KeyId")?;
            store.with(|s, _| s.list_aliases(caller, key, limit, marker))
        }
        "CreateAlias" => {
            let alias = p.req_str("AliasName")?;
            let target = p.key_id("TargetKeyId")?;
            store.with(|s, now| s.create_alias(caller, alias, target, now))?;
            Ok(json!({}))
        }
        "UpdateAlias" => {
            let alias = p.req_str("AliasName")?;
            let target = p.key_id("TargetKeyId")?;
            store.with(|s, now| s.update_alias(caller, alias, target, now))?;
            Ok(json!({}))
        }
        "DeleteAlias" => {
            let alias = p.req_str("AliasName")?;
            store.with(|s, _| s.delete_alias(caller, alias))?;
            Ok(json!({}))
        }
        "ListResourceTags" => {
            let key = p.key_id("KeyId")?;
            let limit = p.limit(50, 50)?;
            let marker = p.marker()?;
            store.with(|s, _| s.list_resource_tags(caller, key, limit, marker))
        }
        "TagResource" => {
            let key = p.key_id("KeyId")?;
            if p.raw("Tags").is_none() {
                return Err(KmsError::missing("tags"));
            }
            let tags = p.tags("Tags")?;
            store.with(|s, _| s.tag_resource(caller, key, tags))?;
            Ok(json!({}))
        }
        "UntagResource" => {
            let key = p.key_id("KeyId")?;
            let keys = p.string_list("TagKeys")?;
            store.with(|s, _| s.untag_resource(caller, key, &keys))?;
            Ok(json!({}))
        }
        "EnableKey" => {
            let key = p.key_id("KeyId")?;
            store.with(|s, _| s.enable_key(caller, key))?;
            Ok(json!({}))
        }
        "DisableKey" => {
            let key = p.key_id("KeyId")?;
            store.with(|s, _| s.disable_key(caller, key))?;
            Ok(json!({}))
        }
        "ScheduleKeyDeletion" => {
            let key = p.key_id("KeyId")?;
            let days = p.opt_i64("PendingWindowInDays")?;
            store.with(|s, now| s.schedule_key_deletion(caller, key, days, now))
        }
        "CancelKeyDeletion" => {
            let key = p.key_id("KeyId")?;
            store.with(|s, _| s.cancel_key_deletion(caller, key))
        }
        "ImportKeyMaterial" => import_key_material(store, caller, &p),
        "DeleteImportedKeyMaterial" => {
            let key = p.key_id("KeyId")?;
            let material = p.key_material_id()?;
            let (arn, id) =
                store.with(|s, _| s.delete_imported_key_material(caller, key, material))?;
            let mut out = json!({ "KeyId": arn });
            if let Some(id) = id {
                out["KeyMaterialId"] = json!(id);
            }
            Ok(out)
        }
        "RotateKeyOnDemand" => {
            let key = p.key_id("KeyId")?;
            let arn = store.with(|s, now| s.rotate_key_on_demand(caller, key, now))?;
            Ok(json!({ "KeyId": arn }))
        }
        "ListKeyRotations" => {
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
        "Encrypt" => {
            let key = p.key_id("KeyId")?;
            let plaintext = p.req_blob("Plaintext")?;
            if plaintext.is_empty() || plaintext.len() > 4096 {
                return Err(KmsError::constraint(
                    "***",
                    "plaintext",
                    "Member must have length less than or equal to 4096 and greater than or equal to 1",
                ));
            }
            let context = p.context()?;
            check_symmetric_algorithm(&p)?;
            let (blob, arn) = store.with(|s, _| s.encrypt(caller, key, &plaintext, &context))?;
            Ok(json!({
                "CiphertextBlob": B64.encode(blob),
                "KeyId": arn,
                "EncryptionAlgorithm": "SYMMETRIC_DEFAULT",
            }))
        }
        "Decrypt" => {
            let blob = p.req_blob("CiphertextBlob")?;
            if blob.is_empty() || blob.len() > 6144 {
                return Err(KmsError::constraint(
                    "***",
                    "ciphertextBlob",
                    "Member must have length less than or equal to 6144 and greater than or equal to 1",
                ));
            }
            let context = p.context()?;
            let key = p.opt_str("KeyId")?;
            check_symmetric_algorithm(&p)?;
            let (plain, arn, material) =
                store.with(|s, _| s.decrypt(caller, &blob, &context, key))?;
            Ok(json!({
                "KeyId": arn,
                "Plaintext": B64.encode(plain),
                "EncryptionAlgorithm": "SYMMETRIC_DEFAULT",
                "KeyMaterialId": material,
            }))
        }
        other => Err(KmsError::client(
            "UnknownOperationException",
            format!("kms-sim does not implement the operation {other}"),
        )),
    }
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
    for field in ["KeySpec", "CustomerMasterKeySpec"] {
        if let Some(spec) = p.opt_enum(field, KEY_SPECS)?
            && spec != "SYMMETRIC_DEFAULT"
        {
            return Err(KmsError::client(
                "UnsupportedOperationException",
                format!("kms-sim supports KeySpec SYMMETRIC_DEFAULT only, not {spec}."),
            ));
        }
    }
    if let Some(usage) = p.opt_enum(
        "KeyUsage",
        &[
            "SIGN_VERIFY",
            "ENCRYPT_DECRYPT",
            "GENERATE_VERIFY_MAC",
            "KEY_AGREEMENT",
        ],
    )? && usage != "ENCRYPT_DECRYPT"
    {
        return Err(KmsError::validation(format!(
            "The operation failed because the KeyUsage value of the CMK is {usage}. To perform this operation, the KeyUsage value must be ENCRYPT_DECRYPT."
        )));
    }
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
            },
            now,
        )
    })
}

fn import_key_material(store: &Store, caller: &Caller, p: &Params<'_>) -> Result<Value, KmsError> {
    let key = p.key_id("KeyId")?;
    let token = p.req_blob("ImportToken")?;
    let wrapped = p.req_blob("EncryptedKeyMaterial")?;
    let valid_to = p.opt_time("ValidTo")?;
    let model = p.opt_enum(
        "ExpirationModel",
        &["KEY_MATERIAL_EXPIRES", "KEY_MATERIAL_DOES_NOT_EXPIRE"],
    )?;
    let import_type =
        match p.opt_enum("ImportType", &["NEW_KEY_MATERIAL", "EXISTING_KEY_MATERIAL"])? {
            None => ImportType::Auto,
            Some(t) => ImportType::parse(t).unwrap_or(ImportType::Auto),
        };
    let description = p.opt_str("KeyMaterialDescription")?.map(str::to_string);
    let key_material_id = p.key_material_id()?.map(str::to_string);
    let model = match model {
        Some("KEY_MATERIAL_DOES_NOT_EXPIRE") => ExpirationModel::KeyMaterialDoesNotExpire,
        _ => ExpirationModel::KeyMaterialExpires,
    };
    store.with(|s, now| {
        match (model, valid_to) {
            (ExpirationModel::KeyMaterialExpires, None) => {
                return Err(KmsError::validation(
                    "A validTo date must be set if the ExpirationModel is KEY_MATERIAL_EXPIRES",
                ));
            }
            (ExpirationModel::KeyMaterialDoesNotExpire, Some(_)) => {
                return Err(KmsError::validation(
                    "A validTo date must not be set if the ExpirationModel is KEY_MATERIAL_DOES_NOT_EXPIRE",
                ));
            }
            (_, Some(t)) => check_valid_to(t, now)?,
            _ => {}
        }
        let (key_id, spec, algorithm) = s.check_import(caller, key, &token, now)?;
        let wrapping = crypto::wrapping_key(spec)?;
        let material = crypto::unwrap_material(&wrapping, algorithm, &wrapped).map_err(|_| {
            KmsError::client(
                "InvalidCiphertextException",
                "The EncryptedKeyMaterial could not be decrypted with the wrapping key and algorithm of the import token.",
            )
        })?;
        let material: [u8; 32] = material.as_slice().try_into().map_err(|_| {
            KmsError::client(
                "IncorrectKeyMaterialException",
                "The key material is not a 256-bit symmetric key, as the key spec SYMMETRIC_DEFAULT requires.",
            )
        })?;
        let (arn, material_id) = s.import(
            &key_id,
            ImportRequest {
                material,
                valid_to,
                import_type,
                key_material_id,
                description,
            },
        )?;
        Ok(json!({ "KeyId": arn, "KeyMaterialId": material_id }))
    })
}

/// GetParametersForImport: validates under the store lock, generates (or reuses) the RSA
/// wrapping key off the async runtime, then issues a token.
pub(crate) async fn get_parameters_for_import(
    store: &Store,
    caller: &Caller,
    body: &Value,
) -> Result<Value, KmsError> {
    let p = Params::new(body);
    let key = p.key_id("KeyId")?;
    let algorithm = p.opt_enum(
        "WrappingAlgorithm",
        &[
            "RSAES_PKCS1_V1_5",
            "RSAES_OAEP_SHA_1",
            "RSAES_OAEP_SHA_256",
            "RSA_AES_KEY_WRAP_SHA_1",
            "RSA_AES_KEY_WRAP_SHA_256",
            "SM2PKE",
        ],
    )?;
    let spec = p.opt_enum(
        "WrappingKeySpec",
        &["RSA_2048", "RSA_3072", "RSA_4096", "SM2"],
    )?;
    let algorithm = algorithm.ok_or_else(|| KmsError::missing("wrappingAlgorithm"))?;
    let spec = spec.ok_or_else(|| KmsError::missing("wrappingKeySpec"))?;
    let algorithm = WrappingAlgorithm::parse(algorithm).ok_or_else(|| {
        KmsError::client(
            "UnsupportedOperationException",
            format!("kms-sim does not support the wrapping algorithm {algorithm}."),
        )
    })?;
    let spec = WrappingKeySpec::parse(spec).ok_or_else(|| {
        KmsError::client(
            "UnsupportedOperationException",
            format!("kms-sim does not support the wrapping key spec {spec}."),
        )
    })?;
    let key_id = store.with(|s, _| s.check_import_parameters(caller, key))?;
    let wrapping = tokio::task::spawn_blocking(move || crypto::wrapping_key(spec))
        .await
        .map_err(|_| {
            KmsError::server("KMSInternalException", "wrapping key generation failed")
        })??;
    let (arn, token, valid_to) =
        store.with(|s, now| s.issue_import_token(&key_id, spec, algorithm, now))?;
    Ok(json!({
        "KeyId": arn,
        "ImportToken": B64.encode(token),
        "PublicKey": B64.encode(&wrapping.public_der),
        "ParametersValidTo": epoch_seconds(valid_to),
    }))
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
    for field in ["KeyId", "TargetKeyId"] {
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
