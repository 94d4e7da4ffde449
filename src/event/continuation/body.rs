//! Reading a continuation body, once its MAC is verified: the rest of the request, the trigger
//! it continues, and the seal's own fields (nonce, validity).

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{MAX_SEQUENCE, Meta};
use crate::domain::text::short_n;
use crate::domain::{Action, Provenance};
use crate::event::envelope::bounded_list;
use crate::request::{
    self, KeyContext, MAX_FINDING_ID_CHARS, MAX_KEYS_PER_REQUEST, RequestedKey, RevocationRequest,
};
use crate::validate::{Path, Rejection, Text, reject_unknown, type_name};

fn string(
    obj: &serde_json::Map<String, Value>,
    name: &str,
    path: &Path,
    max: usize,
    kind: Text,
) -> Result<String, Rejection> {
    match obj.get(name) {
        Some(v) => crate::validate::text(v, &path.field(name), max, kind),
        None => Err(path.field(name).reject("MissingField", "is required")),
    }
}

fn optional_string(
    obj: &serde_json::Map<String, Value>,
    name: &str,
    path: &Path,
    max: usize,
) -> Result<Option<String>, Rejection> {
    match obj.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => crate::validate::text(v, &path.field(name), max, Text::SingleLine).map(Some),
    }
}

/// Parses a continuation body (the sealed JSON text, once its MAC is verified).
pub fn parse(value: &Value) -> Result<(RevocationRequest, Meta), Rejection> {
    let path = Path::root("continuation.body");
    let Value::Object(obj) = value else {
        return Err(path.reject(
            "InvalidType",
            format!("must be an object, got {}", type_name(value)),
        ));
    };
    reject_unknown(
        obj,
        &path,
        &[
            "sequence",
            "parentRequestId",
            "action",
            "reason",
            "incidentId",
            "requestedBy",
            "dryRun",
            "keyMaterialId",
            "targets",
            "trigger",
            "keys",
            "acknowledgeKeyWide",
            "nonce",
            "issuedAt",
            "expiresAt",
            "function",
        ],
    )?;
    let sequence = match obj.get("sequence").and_then(Value::as_u64) {
        Some(n) if (1..=MAX_SEQUENCE).contains(&n) => n,
        _ => {
            return Err(path.field("sequence").reject(
                "InvalidValue",
                format!("must be a number from 1 to {MAX_SEQUENCE}"),
            ));
        }
    };
    let parent_request_id = string(obj, "parentRequestId", &path, 128, Text::SingleLine)?;
    let action = match obj.get("action").and_then(Value::as_str) {
        Some("revoke") => Action::Revoke,
        Some("scheduled_revoke") => Action::ScheduledRevoke,
        _ => {
            return Err(path
                .field("action")
                .reject("InvalidValue", "must be revoke or scheduled_revoke"));
        }
    };
    let reason = string(
        obj,
        "reason",
        &path,
        request::MAX_REASON_CHARS,
        Text::Multiline,
    )?;
    let incident_id = string(
        obj,
        "incidentId",
        &path,
        MAX_FINDING_ID_CHARS,
        Text::SingleLine,
    )?;
    let requested_by = optional_string(obj, "requestedBy", &path, request::MAX_REQUESTED_BY_CHARS)?;
    let dry_run = match obj.get("dryRun") {
        Some(Value::Bool(b)) => *b,
        _ => {
            return Err(path
                .field("dryRun")
                .reject("InvalidType", "must be true or false"));
        }
    };
    let key_material_id = match obj.get("keyMaterialId") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if crate::validate::is_key_material_id(s) => Some(s.clone()),
        Some(_) => {
            return Err(path
                .field("keyMaterialId")
                .reject("InvalidValue", "must be 64 lowercase hex characters"));
        }
    };
    // The acknowledgement travels explicitly: a material delete never continues without it.
    if key_material_id.is_some() && obj.get("acknowledgeKeyWide") != Some(&Value::Bool(true)) {
        return Err(path.field("acknowledgeKeyWide").reject(
            "AcknowledgeKeyWideRequired",
            "a continuation deleting a key material id must carry \"acknowledgeKeyWide\": true",
        ));
    }
    let nonce = string(obj, "nonce", &path, 64, Text::SingleLine)?;
    let issued_at = time(obj, "issuedAt", &path)?;
    let expires_at = time(obj, "expiresAt", &path)?;
    let function = optional_string(obj, "function", &path, 256)?;
    let provenance = match obj.get("trigger") {
        Some(t @ Value::Object(_)) => provenance(t),
        _ => {
            return Err(path
                .field("trigger")
                .reject("InvalidType", "must be the original trigger object"));
        }
    };
    let targets = match obj.get("targets") {
        None | Some(Value::Null) => None,
        Some(v) => Some(request::parse_targets(v, &path.field("targets"))?),
    };
    let keys_path = path.field("keys");
    let items = match obj.get("keys") {
        Some(Value::Array(items)) if !items.is_empty() && items.len() <= MAX_KEYS_PER_REQUEST => {
            items
        }
        _ => {
            return Err(keys_path.reject(
                "InvalidValue",
                format!("must be an array of 1 to {} keys", MAX_KEYS_PER_REQUEST),
            ));
        }
    };
    let mut keys = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let p = keys_path.index(i);
        let Value::Object(k) = item else {
            return Err(p.reject(
                "InvalidType",
                format!("must be an object, got {}", type_name(item)),
            ));
        };
        reject_unknown(k, &p, &["key", "incidentId", "reason"])?;
        let raw = string(
            k,
            "key",
            &p,
            request::MAX_KEY_IDENTIFIER_CHARS,
            Text::SingleLine,
        )?;
        let context = match (k.get("incidentId"), k.get("reason")) {
            (None, None) => None,
            _ => Some(KeyContext {
                incident_id: string(k, "incidentId", &p, MAX_FINDING_ID_CHARS, Text::SingleLine)?,
                reason: string(k, "reason", &p, request::MAX_REASON_CHARS, Text::Multiline)?,
            }),
        };
        keys.push(RequestedKey::new(raw, context));
    }
    if key_material_id.is_some() && keys.len() != 1 {
        return Err(path.field("keyMaterialId").reject(
            "KeyMaterialIdNeedsOneKey",
            "a key material id belongs to one key",
        ));
    }
    Ok((
        RevocationRequest {
            keys,
            tags: Default::default(),
            key_material_id,
            reason,
            incident_id,
            requested_by,
            dry_run,
            targets,
        },
        Meta {
            sequence,
            parent_request_id,
            action,
            provenance,
            nonce,
            issued_at,
            expires_at,
            function,
        },
    ))
}

fn time(
    obj: &serde_json::Map<String, Value>,
    name: &str,
    path: &Path,
) -> Result<DateTime<Utc>, Rejection> {
    let s = string(obj, name, path, 40, Text::SingleLine)?;
    DateTime::parse_from_rfc3339(&s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            path.field(name)
                .reject("InvalidValue", "must be an RFC 3339 time")
        })
}

fn provenance(t: &Value) -> Provenance {
    let s = |k: &str| t.get(k).and_then(Value::as_str).map(|v| short_n(v, 256));
    Provenance {
        source: s("source"),
        detail_type: s("detail_type"),
        event_id: s("event_id"),
        event_account: s("event_account"),
        event_time: s("event_time"),
        resources: bounded_list(t.get("resources")),
        continuation_of: s("continuation_of"),
    }
}
