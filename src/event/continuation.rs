//! The continuation payload format: the rest of a large request, handed to a fresh invocation
//! of the function (the continuer port in `src/continuer.rs` starts it).
//!
//! DeleteImportedKeyMaterial allows 15 calls per second per account and Region, so 10,000 keys
//! need about 11 minutes at the full quota: more than one invocation can always give. When the
//! deadline stops the delete phase, the keys not yet attempted are handed to a new asynchronous
//! invocation of the function itself (Lambda `Invoke`, `InvocationType=Event`) with this payload:
//!
//! ```json
//! {"continuation": {"version": 1, "sequence": 1, "parentRequestId": "<request id>",
//!   "action": "revoke", "reason": "...", "incidentId": "...", "requestedBy": null,
//!   "dryRun": false, "keyMaterialId": null,
//!   "trigger": {"source": "...", "detail_type": "...", "event_id": "...", ...},
//!   "keys": [{"key": "<key ARN>", "incidentId": "<finding id>", "reason": "..."}]}}
//! ```
//!
//! The continuation is a direct invocation and passes every guardrail again (each key is described
//! again, the scope and the blast radius are checked again); its records keep the original
//! trigger, so the SOC joins them to the original event. A chain stops after
//! [`MAX_SEQUENCE`] continuations or when an invocation made no progress; then the function
//! returns a retryable error as without continuation.

use serde_json::{Value, json};

use super::envelope::bounded_list;
use crate::domain::text::short_n;
use crate::domain::{Action, Provenance};
use crate::request::{
    self, KeyContext, MAX_FINDING_ID_CHARS, MAX_KEYS_PER_REQUEST, RequestedKey, RevocationRequest,
};
use crate::validate::{Path, Rejection, Text, reject_unknown, type_name};

/// Payload format version.
pub const VERSION: u64 = 1;
/// Longest chain of continuations for one request.
pub const MAX_SEQUENCE: u64 = 50;
/// Largest continuation payload (Lambda accepts 1 MB for asynchronous invocations).
pub const MAX_PAYLOAD_BYTES: usize = 900_000;

/// What the continuation carries besides the keys.
#[derive(Debug, Clone, PartialEq)]
pub struct Meta {
    pub sequence: u64,
    pub parent_request_id: String,
    pub action: Action,
    pub provenance: Provenance,
}

/// One key to continue with.
#[derive(Debug, Clone, PartialEq)]
pub struct ContinuedKey {
    /// The key ARN when resolved, else the identifier as requested.
    pub key: String,
    pub context: Option<KeyContext>,
}

/// Builds the payload; `None` when it would exceed [`MAX_PAYLOAD_BYTES`] (the caller splits).
pub fn payload(meta: &Meta, req: &RevocationRequest, keys: &[ContinuedKey]) -> Value {
    json!({"continuation": {
        "version": VERSION,
        "sequence": meta.sequence,
        "parentRequestId": meta.parent_request_id,
        "action": meta.action.as_str(),
        "reason": req.reason,
        "incidentId": req.incident_id,
        "requestedBy": req.requested_by,
        "dryRun": req.dry_run,
        "keyMaterialId": req.key_material_id,
        "targets": req.targets,
        "trigger": meta.provenance,
        "keys": keys.iter().map(|k| match &k.context {
            Some(c) => json!({"key": k.key, "incidentId": c.incident_id, "reason": c.reason}),
            None => json!({"key": k.key}),
        }).collect::<Vec<_>>(),
    }})
}

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

/// Parses a continuation payload (the value of the `continuation` field).
pub fn parse(value: &Value) -> Result<(RevocationRequest, Meta), Rejection> {
    let path = Path::root("continuation");
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
            "version",
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
        ],
    )?;
    if obj.get("version").and_then(Value::as_u64) != Some(VERSION) {
        return Err(path
            .field("version")
            .reject("UnsupportedVersion", format!("must be {VERSION}")));
    }
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
        },
    ))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> RevocationRequest {
        RevocationRequest {
            keys: vec![],
            tags: Default::default(),
            key_material_id: None,
            reason: "r\nmultiline".into(),
            incident_id: "INC-1".into(),
            requested_by: Some("alice".into()),
            dry_run: false,
            targets: None,
        }
    }

    #[test]
    fn a_payload_round_trips() {
        let meta = Meta {
            sequence: 2,
            parent_request_id: "req-1".into(),
            action: Action::ScheduledRevoke,
            provenance: Provenance {
                source: Some("incident-response".into()),
                event_id: Some("e-1".into()),
                ..Provenance::default()
            },
        };
        let keys = vec![
            ContinuedKey {
                key: "arn:aws:kms:us-east-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab"
                    .into(),
                context: None,
            },
            ContinuedKey {
                key: "alias/x".into(),
                context: Some(KeyContext {
                    incident_id: "finding-1".into(),
                    reason: "because".into(),
                }),
            },
        ];
        let v = payload(&meta, &request(), &keys);
        let (req, back) = parse(&v["continuation"]).expect("parses");
        assert_eq!(back, meta);
        assert_eq!(req.keys.len(), 2);
        assert_eq!(
            req.keys[1].context.as_ref().map(|c| c.incident_id.as_str()),
            Some("finding-1")
        );
        assert_eq!(req.reason, "r\nmultiline");
    }

    #[test]
    fn a_tampered_payload_is_rejected_with_its_location() {
        let meta = Meta {
            sequence: 1,
            parent_request_id: "req".into(),
            action: Action::Revoke,
            provenance: Provenance::default(),
        };
        let good = payload(
            &meta,
            &request(),
            &[ContinuedKey {
                key: "alias/a".into(),
                context: None,
            }],
        );
        let mut bad = good.clone();
        bad["continuation"]["sequence"] = json!(MAX_SEQUENCE + 1);
        assert_eq!(
            parse(&bad["continuation"]).expect_err("too deep").location,
            "continuation.sequence"
        );
        let mut bad = good.clone();
        bad["continuation"]["keys"] = json!([]);
        assert_eq!(
            parse(&bad["continuation"]).expect_err("empty").location,
            "continuation.keys"
        );
        let mut bad = good;
        bad["continuation"]["extra"] = json!(1);
        assert_eq!(
            parse(&bad["continuation"]).expect_err("unknown").code,
            "UnknownField"
        );
    }
}
