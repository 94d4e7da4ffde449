//! KMS's own events about this account's keys: material expiry (native and through CloudTrail),
//! ImportKeyMaterial API calls (staged rotations to complete) and `KMS CMK Rotation`.

use serde::Deserialize;

use super::envelope::{Envelope, typed};
use super::{ExpiryNotice, ImportNotice, RotationNotice, Trigger};
use crate::domain::text::short;
use crate::keyref::KeyRef;
use crate::validate::{Path, Rejection, is_key_material_id};

/// `KMS Imported Key Material Expiration`.
#[derive(Deserialize)]
struct ExpiryDetail {
    #[serde(rename = "key-id")]
    key_id: Option<String>,
    #[serde(rename = "key-material-id")]
    key_material_id: Option<String>,
}

/// `AWS Service Event via CloudTrail` (`DeleteExpiredKeyMaterial`).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ServiceEventDetail {
    event_name: Option<String>,
    resources: Option<Vec<CloudTrailResource>>,
    service_event_details: Option<ServiceEventDetails>,
}

#[derive(Deserialize)]
struct CloudTrailResource {
    #[serde(rename = "ARN")]
    arn: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ServiceEventDetails {
    key_id: Option<String>,
    key_material_id: Option<String>,
}

/// `AWS API Call via CloudTrail` (`ImportKeyMaterial`).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ApiCallDetail {
    event_name: Option<String>,
    error_code: Option<serde_json::Value>,
    request_parameters: Option<ImportParameters>,
    response_elements: Option<ImportResponse>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ImportParameters {
    key_id: Option<String>,
    import_type: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ImportResponse {
    key_material_id: Option<String>,
}

/// `KMS CMK Rotation`.
#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct RotationDetail {
    key_id: Option<String>,
    key_origin: Option<String>,
    previous_key_material_id: Option<String>,
    current_key_material_id: Option<String>,
}

/// KMS deleted expired material: confirm and record.
pub(super) fn expiry(env: &Envelope<'_>) -> Result<Trigger, Rejection> {
    let d: ExpiryDetail = typed(&env.event.detail, &env.detail)?;
    let key_id = d
        .key_id
        .ok_or_else(|| env.detail.field("key-id").missing("is required"))?;
    // Prefer the key ARN from `resources`, which must agree with detail.key-id.
    let key = match env.event.resources.as_deref() {
        Some([arn, ..]) if arn.ends_with(&format!("key/{key_id}")) => arn.clone(),
        Some([arn, ..]) => {
            return Err(Rejection::new(
                "resources[0]",
                "InconsistentEvent",
                format!(
                    "{:?} does not name detail.key-id {:?}",
                    short(arn),
                    short(&key_id)
                ),
            ));
        }
        _ => key_id,
    };
    let material = material(d.key_material_id, &env.detail.field("key-material-id"))?;
    notice(key, material)
}

/// KMS deleted expired material, as CloudTrail reports it.
pub(super) fn expired_via_cloudtrail(env: &Envelope<'_>) -> Result<Trigger, Rejection> {
    let d: ServiceEventDetail = typed(&env.event.detail, &env.detail)?;
    let name = d.event_name.unwrap_or_default();
    if name != "DeleteExpiredKeyMaterial" {
        return Err(unsupported(
            &env.detail,
            format!(
                "{:?} is not handled; only DeleteExpiredKeyMaterial",
                short(&name)
            ),
        ));
    }
    let from_resources = d
        .resources
        .unwrap_or_default()
        .into_iter()
        .find_map(|r| r.arn);
    let (key_id, material_id) = match d.service_event_details {
        Some(s) => (s.key_id, s.key_material_id),
        None => (None, None),
    };
    let Some(key) = from_resources.or(key_id) else {
        return Err(env.detail.field("serviceEventDetails.keyId").missing(
            "the key is named neither in detail.resources[].ARN nor in detail.serviceEventDetails.keyId",
        ));
    };
    let material = material(
        material_id,
        &env.detail.field("serviceEventDetails.keyMaterialId"),
    )?;
    notice(key, material)
}

/// New material imported as `NEW_KEY_MATERIAL`: complete the staged rotation.
pub(super) fn import(env: &Envelope<'_>) -> Result<Trigger, Rejection> {
    let d: ApiCallDetail = typed(&env.event.detail, &env.detail)?;
    let name = d.event_name.unwrap_or_default();
    if name != "ImportKeyMaterial" {
        return Err(unsupported(
            &env.detail,
            format!("{:?} is not handled; only ImportKeyMaterial", short(&name)),
        ));
    }
    if d.error_code.is_some_and(|e| !e.is_null()) {
        return Ok(Trigger::Nothing(
            "the ImportKeyMaterial call failed; nothing to complete".into(),
        ));
    }
    let (key, import_type) = match d.request_parameters {
        Some(p) => (p.key_id, p.import_type),
        None => (None, None),
    };
    if import_type.as_deref() != Some("NEW_KEY_MATERIAL") {
        return Ok(Trigger::Nothing(format!(
            "ImportKeyMaterial with importType {:?}: no rotation to complete",
            import_type.as_deref().map(short)
        )));
    }
    let key = key.ok_or_else(|| {
        env.detail
            .field("requestParameters.keyId")
            .missing("is required")
    })?;
    let key_material_id = material(
        d.response_elements.and_then(|r| r.key_material_id),
        &env.detail.field("responseElements.keyMaterialId"),
    )?;
    Ok(Trigger::CompleteRotation(ImportNotice {
        key,
        key_material_id,
    }))
}

/// KMS rotated a key: record it for in-scope EXTERNAL keys.
pub(super) fn rotation(env: &Envelope<'_>) -> Result<Trigger, Rejection> {
    let d: RotationDetail = typed(&env.event.detail, &env.detail)?;
    let key_id = d
        .key_id
        .ok_or_else(|| env.detail.field("key-id").missing("is required"))?;
    if d.key_origin.is_some_and(|o| o != "EXTERNAL") {
        return Ok(Trigger::Nothing(
            "rotation of a key whose origin is not EXTERNAL".into(),
        ));
    }
    let key = match env.event.resources.as_deref() {
        Some([arn, ..]) if arn.ends_with(&format!("key/{key_id}")) => arn.clone(),
        _ => key_id,
    };
    Ok(Trigger::ObserveRotation(RotationNotice {
        key,
        previous: material(
            d.previous_key_material_id,
            &env.detail.field("previous-key-material-id"),
        )?,
        current: material(
            d.current_key_material_id,
            &env.detail.field("current-key-material-id"),
        )?,
    }))
}

fn unsupported(detail: &Path, problem: String) -> Rejection {
    detail
        .field("eventName")
        .reject("UnsupportedEvent", problem)
}

/// An optional key material id: 64 lowercase hex characters.
fn material(id: Option<String>, path: &Path) -> Result<Option<String>, Rejection> {
    match id {
        Some(s) if !is_key_material_id(&s) => Err(path.reject(
            "InvalidValue",
            format!(
                "must be a key material id (64 lowercase hex), got {:?}",
                short(&s)
            ),
        )),
        id => Ok(id),
    }
}

fn notice(key: String, key_material_id: Option<String>) -> Result<Trigger, Rejection> {
    match KeyRef::parse(&key) {
        Ok(parsed) => Ok(Trigger::Expiry(ExpiryNotice {
            key,
            parsed,
            key_material_id,
        })),
        Err(problem) => Err(Rejection::new(
            "detail.key-id",
            "InvalidKeyIdentifier",
            problem,
        )),
    }
}
