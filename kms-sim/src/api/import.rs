//! Imported key material: GetParametersForImport, ImportKeyMaterial, DeleteImportedKeyMaterial.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};

use crate::clock::epoch_seconds;
use crate::crypto::{self, WrappingAlgorithm, WrappingKeyRef, WrappingKeySpec};
use crate::error::KmsError;
use crate::model::{ExpirationModel, ImportType};
use crate::store::{Caller, ImportRequest, Store, check_valid_to};

use super::Handler;
use super::params::Params;

/// The operations of this family and their handlers.
pub(super) const OPERATIONS: &[(&str, Handler)] = &[
    ("ImportKeyMaterial", import_key_material),
    ("DeleteImportedKeyMaterial", delete_imported_key_material),
];

fn delete_imported_key_material(
    store: &Store,
    caller: &Caller,
    p: &Params<'_>,
) -> Result<Value, KmsError> {
    let key = p.key_id("KeyId")?;
    let material = p.key_material_id()?;
    let (arn, id) = store.with(|s, _| s.delete_imported_key_material(caller, key, material))?;
    let mut out = json!({ "KeyId": arn });
    if let Some(id) = id {
        out["KeyMaterialId"] = json!(id);
    }
    Ok(out)
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
    let description = material_description(p)?;
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
        let (key_id, which, algorithm) = s.check_import(caller, key, &token, now)?;
        let wrapping = crypto::wrapping_key(which)?;
        let material = crypto::unwrap_material(&wrapping, algorithm, &wrapped).map_err(|_| {
            KmsError::client(
                "InvalidCiphertextException",
                "The EncryptedKeyMaterial could not be decrypted with the wrapping key and algorithm of the import token.",
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
    let which = WrappingKeyRef::next(spec);
    let wrapping = tokio::task::spawn_blocking(move || crypto::wrapping_key(which))
        .await
        .map_err(|_| {
            KmsError::server("KMSInternalException", "wrapping key generation failed")
        })??;
    let (arn, token, valid_to) =
        store.with(|s, now| s.issue_import_token(&key_id, which, algorithm, now))?;
    Ok(json!({
        "KeyId": arn,
        "ImportToken": B64.encode(token),
        "PublicKey": B64.encode(&wrapping.public_der),
        "ParametersValidTo": epoch_seconds(valid_to),
    }))
}

/// `KeyMaterialDescription`: at most 256 characters of `[a-zA-Z0-9:/_\s.-]`.
fn material_description(p: &Params<'_>) -> Result<Option<String>, KmsError> {
    let Some(d) = p.opt_str("KeyMaterialDescription")? else {
        return Ok(None);
    };
    if d.chars().count() > 256 {
        return Err(KmsError::constraint(
            d,
            "keyMaterialDescription",
            "Member must have length less than or equal to 256",
        ));
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || c.is_whitespace() || ":/_.-".contains(c);
    if !d.chars().all(allowed) {
        return Err(KmsError::constraint(
            d,
            "keyMaterialDescription",
            "Member must satisfy regular expression pattern: ^[a-zA-Z0-9:/_\\s.-]+$",
        ));
    }
    Ok(Some(d.to_string()))
}
