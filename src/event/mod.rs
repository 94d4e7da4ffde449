//! Classifying a raw invocation payload: a [`Trigger`] with its [`Provenance`], or a
//! [`Rejected`] event saying what was wrong and where. Never calls KMS; never panics on any JSON.
//!
//! By shape and source (samples in `events/`):
//! - no `source` / `detail-type`: a direct invocation, the payload is the revocation request;
//! - `{"continuation": ...}`: the rest of a large request ([`continuation`]);
//! - an EventBridge envelope ([`envelope`]): incident requests ([`incident`]), KMS and
//!   CloudTrail events ([`kms`]), Security Hub and GuardDuty findings ([`findings`]), the
//!   schedule (the sweep).

pub mod continuation;
mod envelope;
pub mod findings;
mod incident;
mod kms;

use serde_json::Value;

use crate::config::Config;
use crate::domain::Provenance;
use crate::keyref::KeyRef;
use crate::request::RevocationRequest;
use crate::validate::{Path, Rejection, type_name};

pub use envelope::{
    DETAIL_TYPE_CLOUDTRAIL_API, DETAIL_TYPE_CLOUDTRAIL_SERVICE, DETAIL_TYPE_EXPIRATION,
    DETAIL_TYPE_GUARDDUTY, DETAIL_TYPE_REVOCATION, DETAIL_TYPE_ROTATION, DETAIL_TYPE_SCHEDULE,
    DETAIL_TYPE_SECURITYHUB_ACTION, DETAIL_TYPE_SECURITYHUB_IMPORTED,
};

/// What the invocation asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Trigger {
    /// Revoke keys (incident event or direct invocation).
    Revoke(RevocationRequest),
    /// KMS deleted expired material: confirm and record.
    Expiry(ExpiryNotice),
    /// Scheduled sweep over every in-scope EXTERNAL key.
    Sweep,
    /// New material was imported as `NEW_KEY_MATERIAL`: complete the staged rotation.
    CompleteRotation(ImportNotice),
    /// KMS rotated a key: record it for in-scope EXTERNAL keys.
    ObserveRotation(RotationNotice),
    /// A recognised event that asks for nothing (why).
    Nothing(String),
    /// A sealed continuation, not yet opened: nothing in it is trusted before its MAC is
    /// verified (`src/seal.rs`), which turns it into [`Trigger::Continue`].
    Sealed(continuation::Sealed),
    /// The rest of a large request, handed over by an earlier invocation (authenticated).
    Continue {
        request: RevocationRequest,
        meta: Box<continuation::Meta>,
    },
}

/// The key named by a KMS expiry event.
#[derive(Debug, Clone, PartialEq)]
pub struct ExpiryNotice {
    /// The key ARN (from `resources`) or key id (from `detail`).
    pub key: String,
    pub parsed: KeyRef,
    pub key_material_id: Option<String>,
}

/// The key of a successful `ImportKeyMaterial` call with `NEW_KEY_MATERIAL`.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportNotice {
    /// The key as the call named it.
    pub key: String,
    /// The imported material (the staged one).
    pub key_material_id: Option<String>,
}

/// The key of a `KMS CMK Rotation` event and its materials before and after.
#[derive(Debug, Clone, PartialEq)]
pub struct RotationNotice {
    pub key: String,
    pub previous: Option<String>,
    pub current: Option<String>,
}

/// A classified invocation.
#[derive(Debug, Clone, PartialEq)]
pub struct Classified {
    pub trigger: Trigger,
    pub provenance: Provenance,
}

/// A rejected invocation: the reason, and whatever provenance could be read safely.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejected {
    pub rejection: Rejection,
    pub provenance: Provenance,
    /// The request's incident id, when it is a valid single-line string (so the rejection
    /// still reaches the incident's summary); `None` otherwise.
    pub incident_id: Option<String>,
}

impl Rejected {
    pub(crate) fn new(rejection: Rejection, provenance: Provenance) -> Box<Rejected> {
        Box::new(Rejected {
            rejection,
            provenance,
            incident_id: None,
        })
    }
}

/// The identity the function checks events against.
#[derive(Debug, Clone)]
pub struct Identity<'a> {
    pub account: &'a str,
    pub config: &'a Config,
}

/// Classifies a raw payload. Never calls KMS; never panics on any JSON.
pub fn classify(payload: &Value, who: &Identity<'_>) -> Result<Classified, Box<Rejected>> {
    by_shape(payload, who).map_err(|mut rejected| {
        rejected.incident_id = readable_incident(payload);
        rejected
    })
}

fn by_shape(payload: &Value, who: &Identity<'_>) -> Result<Classified, Box<Rejected>> {
    let direct = |result: Result<Trigger, Rejection>| match result {
        Ok(trigger) => Ok(Classified {
            trigger,
            provenance: Provenance::direct(),
        }),
        Err(rejection) => Err(Rejected::new(rejection, Provenance::direct())),
    };
    let Value::Object(obj) = payload else {
        return direct(Err(Rejection::new(
            "payload",
            "InvalidType",
            format!(
                "the payload must be a JSON object (an EventBridge event or a revocation request), got {}",
                type_name(payload)
            ),
        )));
    };
    if let Some(c) = obj.get("continuation") {
        if obj.len() != 1 {
            return direct(Err(Rejection::new(
                "payload",
                "UnknownField",
                "a continuation payload has only the `continuation` field",
            )));
        }
        // Whatever fails to be a sealed continuation was not written by the function.
        return direct(
            continuation::parse_sealed(c)
                .map(Trigger::Sealed)
                .map_err(|r| {
                    Rejection::new(
                        r.location,
                        continuation::NOT_AUTHENTIC,
                        format!("not a sealed continuation: {} ({})", r.problem, r.code),
                    )
                }),
        );
    }
    if !obj.contains_key("detail-type") && !obj.contains_key("source") {
        // Direct invocation: the payload is the request itself.
        return direct(
            crate::request::parse_request(payload, &Path::root("")).map(Trigger::Revoke),
        );
    }
    envelope::classify(payload, who)
}

/// The incident id of a rejected revocation request, when it can be read safely (a valid
/// single-line string); for the rejected record and summary. Never a continuation's.
fn readable_incident(payload: &Value) -> Option<String> {
    let request =
        if payload.get("detail-type").and_then(Value::as_str) == Some(DETAIL_TYPE_REVOCATION) {
            payload.get("detail")?
        } else if payload.get("continuation").is_some() {
            // Nothing in a continuation is trusted before its MAC is verified.
            return None;
        } else {
            payload
        };
    crate::validate::text(
        request.get("incidentId")?,
        &Path::root("incidentId"),
        crate::request::MAX_FINDING_ID_CHARS,
        crate::validate::Text::SingleLine,
    )
    .ok()
}
