//! The continuation payload: the rest of a large request, handed to a fresh invocation of the
//! function, sealed so that only the function itself can write one.
//!
//! DeleteImportedKeyMaterial allows 15 calls per second per account and Region, so 10,000 keys
//! need about 11 minutes at the full quota: more than one invocation can always give. When the
//! deadline stops the work, the keys not yet attempted are handed to a new asynchronous
//! invocation of the function itself (Lambda `Invoke`, `InvocationType=Event`) with this payload:
//!
//! ```json
//! {"continuation": {"version": 2, "body": "<JSON text>", "mac": "<64 hex>"}}
//! ```
//!
//! `body` is the JSON text of the request's rest: `sequence`, `parentRequestId`, `action`,
//! `reason`, `incidentId`, `requestedBy`, `dryRun`, `keyMaterialId`, `acknowledgeKeyWide`,
//! `targets`, `trigger` (the original provenance), `keys` (`[{"key", "incidentId"?,
//! "reason"?}]`), and the seal's `nonce`, `issuedAt`, `expiresAt` and `function`. `mac` is an
//! HMAC-SHA-256 computed by KMS (GenerateMac, with the key in `MATERIAL_GUARD_CONTINUATION_KEY`
//! that only the function's role may use) over a digest of exactly those bytes (`src/seal.rs`):
//! no field can be altered, and a payload the function did not write is rejected.
//!
//! The continuation passes every guardrail again (each key is described again, the scope and
//! the blast radius are checked again); its records keep the original trigger, so the SOC joins
//! them to the original event. A chain stops after [`MAX_SEQUENCE`] continuations or when an
//! invocation made no progress; then the function returns a retryable error as without
//! continuation.

mod body;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::domain::{Action, Provenance, rfc3339};
use crate::request::{KeyContext, RevocationRequest};
use crate::validate::{Path, Rejection, reject_unknown, type_name};

pub use body::parse;

/// The error code of a continuation the function did not write (or cannot verify as its own).
pub const NOT_AUTHENTIC: &str = "ContinuationNotAuthentic";

/// Payload format version.
pub const VERSION: u64 = 2;
/// Longest chain of continuations for one request.
pub const MAX_SEQUENCE: u64 = 50;
/// Largest continuation payload (Lambda accepts 1 MB for asynchronous invocations).
pub const MAX_PAYLOAD_BYTES: usize = 900_000;
/// How long a continuation is valid after it was issued: as long as Lambda keeps an
/// asynchronous event (the template's `MaximumEventAgeInSeconds`, 21600, Lambda's maximum), so a
/// continuation queued behind a busy function or retried after an error is not refused.
pub const VALIDITY: chrono::Duration = chrono::Duration::hours(6);

/// What the continuation carries besides the keys.
#[derive(Debug, Clone, PartialEq)]
pub struct Meta {
    pub sequence: u64,
    pub parent_request_id: String,
    pub action: Action,
    pub provenance: Provenance,
    /// A fresh random value: the continuation's identity (a replay carries the same nonce).
    pub nonce: String,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// The function that issued it (its invoked ARN), when known.
    pub function: Option<String>,
}

/// One key to continue with.
#[derive(Debug, Clone, PartialEq)]
pub struct ContinuedKey {
    /// The key ARN when resolved, else the identifier as requested.
    pub key: String,
    pub context: Option<KeyContext>,
}

/// A sealed continuation: the body's exact text and its MAC (hex).
#[derive(Debug, Clone, PartialEq)]
pub struct Sealed {
    pub body: String,
    pub mac: String,
}

/// The body's JSON text.
pub fn body(meta: &Meta, req: &RevocationRequest, keys: &[ContinuedKey]) -> String {
    json!({
        "sequence": meta.sequence,
        "parentRequestId": meta.parent_request_id,
        "action": meta.action.as_str(),
        "reason": req.reason,
        "incidentId": req.incident_id,
        "requestedBy": req.requested_by,
        "dryRun": req.dry_run,
        "keyMaterialId": req.key_material_id,
        "acknowledgeKeyWide": req.key_material_id.is_some(),
        "targets": req.targets,
        "trigger": meta.provenance,
        "nonce": meta.nonce,
        "issuedAt": rfc3339(meta.issued_at),
        "expiresAt": rfc3339(meta.expires_at),
        "function": meta.function,
        "keys": keys.iter().map(|k| match &k.context {
            Some(c) => json!({"key": k.key, "incidentId": c.incident_id, "reason": c.reason}),
            None => json!({"key": k.key}),
        }).collect::<Vec<_>>(),
    })
    .to_string()
}

/// The invocation payload of a sealed continuation.
pub fn payload(sealed: &Sealed) -> Value {
    json!({"continuation": {"version": VERSION, "body": sealed.body, "mac": sealed.mac}})
}

/// Reads the sealed envelope (the value of the `continuation` field); nothing in the body is
/// trusted before its MAC is verified.
pub fn parse_sealed(value: &Value) -> Result<Sealed, Rejection> {
    let path = Path::root("continuation");
    let Value::Object(obj) = value else {
        return Err(path.wrong_type("an object", value));
    };
    reject_unknown(obj, &path, &["version", "body", "mac"])?;
    if obj.get("version").and_then(Value::as_u64) != Some(VERSION) {
        return Err(path.field("version").reject(
            "UnsupportedVersion",
            format!("must be {VERSION} (a sealed continuation)"),
        ));
    }
    let body = match obj.get("body") {
        Some(Value::String(b)) if b.len() <= MAX_PAYLOAD_BYTES => b.clone(),
        Some(Value::String(_)) => {
            return Err(path.field("body").reject("TooLong", "too large"));
        }
        Some(v) => return Err(path.field("body").wrong_type("a string", v)),
        None => return Err(path.field("body").missing("is required")),
    };
    let mac = match obj.get("mac") {
        Some(Value::String(m)) if m.len() == 64 && m.bytes().all(|b| b.is_ascii_hexdigit()) => {
            m.to_ascii_lowercase()
        }
        Some(v) => {
            return Err(path.field("mac").reject(
                "InvalidValue",
                format!("must be 64 hex characters, got {}", type_name(v)),
            ));
        }
        None => return Err(path.field("mac").missing("is required")),
    };
    Ok(Sealed { body, mac })
}

#[cfg(test)]
mod tests;
