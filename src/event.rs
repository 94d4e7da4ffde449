//! Step 2: event parsing. A raw invocation payload becomes a classified [`Trigger`] with its
//! [`Provenance`], or a [`Rejected`] event saying what was wrong and where.
//!
//! Accepted shapes (samples in `events/`):
//! - EventBridge `Key Material Revocation Requested` from an allowed source and trusted account;
//! - a direct invocation whose whole payload is the revocation request;
//! - `aws.kms` `KMS Imported Key Material Expiration`, and its CloudTrail form
//!   (`AWS Service Event via CloudTrail`, `eventName: DeleteExpiredKeyMaterial`);
//! - `aws.events` `Scheduled Event` (an EventBridge rule schedule): the sweep.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use serde::Serialize;
use serde_json::Value;

use crate::config::Config;
use crate::request::{self, KeyRef, Path, Rejection, RevocationRequest, short, type_name};

/// `detail-type` of incident events.
pub const DETAIL_TYPE_REVOCATION: &str = "Key Material Revocation Requested";
/// `detail-type` KMS uses when it deleted expired material.
pub const DETAIL_TYPE_EXPIRATION: &str = "KMS Imported Key Material Expiration";
/// `detail-type` of CloudTrail service events through EventBridge.
pub const DETAIL_TYPE_CLOUDTRAIL_SERVICE: &str = "AWS Service Event via CloudTrail";
/// `detail-type` of an EventBridge rule schedule.
pub const DETAIL_TYPE_SCHEDULE: &str = "Scheduled Event";
/// `detail-type` of KMS's rotation events.
pub const DETAIL_TYPE_ROTATION: &str = "KMS CMK Rotation";
/// `detail-type` of CloudTrail API calls through EventBridge.
pub const DETAIL_TYPE_CLOUDTRAIL_API: &str = "AWS API Call via CloudTrail";
/// `detail-type` of a Security Hub custom action.
pub const DETAIL_TYPE_SECURITYHUB_ACTION: &str = "Security Hub Findings - Custom Action";
/// `detail-type` of imported Security Hub findings.
pub const DETAIL_TYPE_SECURITYHUB_IMPORTED: &str = "Security Hub Findings - Imported";
/// `detail-type` of GuardDuty findings.
pub const DETAIL_TYPE_GUARDDUTY: &str = "GuardDuty Finding";
/// `trigger.source` recorded for direct invocations (no EventBridge envelope).
pub const SOURCE_DIRECT: &str = "direct-invocation";

/// Where an invocation came from: the audit record's `trigger` object.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Provenance {
    pub source: Option<String>,
    pub detail_type: Option<String>,
    pub event_id: Option<String>,
    pub event_account: Option<String>,
    pub event_time: Option<String>,
    pub resources: Vec<String>,
    /// For a continuation invocation: the function request id of the invocation it continues.
    pub continuation_of: Option<String>,
}

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
    CompleteRotation {
        key: String,
        key_material_id: Option<String>,
    },
    /// KMS rotated a key: record it for in-scope EXTERNAL keys.
    ObserveRotation {
        key: String,
        previous: Option<String>,
        current: Option<String>,
    },
    /// A recognised event that asks for nothing (why).
    Nothing(String),
    /// The rest of a large request, handed over by an earlier invocation.
    Continue {
        request: RevocationRequest,
        meta: Box<crate::continuation::Meta>,
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
}

/// The identity the function checks events against.
#[derive(Debug, Clone)]
pub struct Identity<'a> {
    pub account: &'a str,
    pub config: &'a Config,
}

/// Classifies a raw payload. Never calls KMS; never panics on any JSON.
pub fn classify(payload: &Value, who: &Identity<'_>) -> Result<Classified, Box<Rejected>> {
    let Value::Object(obj) = payload else {
        return Err(Box::new(Rejected {
            rejection: Rejection::new(
                "payload",
                "InvalidType",
                format!(
                    "the payload must be a JSON object (an EventBridge event or a revocation request), got {}",
                    type_name(payload)
                ),
            ),
            provenance: Provenance {
                source: Some(SOURCE_DIRECT.into()),
                ..Provenance::default()
            },
        }));
    };
    if let Some(c) = obj.get("continuation") {
        let provenance = Provenance {
            source: Some(SOURCE_DIRECT.into()),
            ..Provenance::default()
        };
        if obj.len() != 1 {
            return Err(Box::new(Rejected {
                rejection: Rejection::new(
                    "payload",
                    "UnknownField",
                    "a continuation payload has only the `continuation` field",
                ),
                provenance,
            }));
        }
        return match crate::continuation::parse(c) {
            Ok((request, meta)) => {
                let mut provenance = meta.provenance.clone();
                provenance.continuation_of = Some(meta.parent_request_id.clone());
                Ok(Classified {
                    trigger: Trigger::Continue {
                        request,
                        meta: Box::new(meta),
                    },
                    provenance,
                })
            }
            Err(rejection) => Err(Box::new(Rejected {
                rejection,
                provenance,
            })),
        };
    }
    if !obj.contains_key("detail-type") && !obj.contains_key("source") {
        // Direct invocation: the payload is the request itself.
        let provenance = Provenance {
            source: Some(SOURCE_DIRECT.into()),
            ..Provenance::default()
        };
        return match request::parse_request(payload, &Path::root("")) {
            Ok(req) => Ok(Classified {
                trigger: Trigger::Revoke(req),
                provenance,
            }),
            Err(rejection) => Err(Box::new(Rejected {
                rejection,
                provenance,
            })),
        };
    }
    classify_envelope(payload, who)
}

fn classify_envelope(payload: &Value, who: &Identity<'_>) -> Result<Classified, Box<Rejected>> {
    let mut provenance = safe_provenance(payload);
    let reject = |provenance: &Provenance, rejection: Rejection| {
        Err(Box::new(Rejected {
            rejection,
            provenance: provenance.clone(),
        }))
    };
    for field in ["source", "detail-type"] {
        match payload.get(field) {
            Some(Value::String(_)) => {}
            Some(other) => {
                return reject(
                    &provenance,
                    Rejection::new(
                        field,
                        "InvalidType",
                        format!("must be a string, got {}", type_name(other)),
                    ),
                );
            }
            None => {
                return reject(
                    &provenance,
                    Rejection::new(field, "MissingField", "is required in an EventBridge event"),
                );
            }
        }
    }
    let event: EventBridgeEvent<Value> = match serde_json::from_value(payload.clone()) {
        Ok(e) => e,
        Err(e) => {
            return reject(
                &provenance,
                Rejection::new(
                    "event",
                    "InvalidEnvelope",
                    format!("not an EventBridge event: {}", short_error(&e)),
                ),
            );
        }
    };
    if let Some(t) = event.time {
        provenance.event_time = Some(t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
    }
    let account = match event.account.as_deref() {
        Some(a) if crate::config::is_account(a) => a,
        Some(a) => {
            return reject(
                &provenance,
                Rejection::new(
                    "account",
                    "InvalidValue",
                    format!("{:?} is not a 12-digit account id", short(a)),
                ),
            );
        }
        None => {
            return reject(
                &provenance,
                Rejection::new(
                    "account",
                    "MissingField",
                    "is required: EventBridge always names the sending account",
                ),
            );
        }
    };
    let own_account = account == who.account;
    let detail_path = Path::root("detail");

    match (event.source.as_str(), event.detail_type.as_str()) {
        (source, DETAIL_TYPE_REVOCATION) => {
            if !who.config.allowed_sources.iter().any(|s| s == source) {
                return reject(
                    &provenance,
                    Rejection::new(
                        "source",
                        "SourceNotAllowed",
                        format!(
                            "{:?} may not request revocations; allowed sources: {} (MATERIAL_GUARD_ALLOWED_SOURCES)",
                            short(source),
                            who.config.allowed_sources.join(", ")
                        ),
                    ),
                );
            }
            if !own_account && !who.config.trusted_accounts.iter().any(|a| a == account) {
                return reject(
                    &provenance,
                    Rejection::new(
                        "account",
                        "AccountNotTrusted",
                        format!(
                            "events from account {account} are not trusted; only the function's own account {} and \
                             MATERIAL_GUARD_TRUSTED_ACCOUNTS may request revocations",
                            who.account
                        ),
                    ),
                );
            }
            match request::parse_request(&event.detail, &detail_path) {
                Ok(req) => Ok(Classified {
                    trigger: Trigger::Revoke(req),
                    provenance,
                }),
                Err(rejection) => reject(&provenance, rejection),
            }
        }
        ("aws.kms", DETAIL_TYPE_EXPIRATION) => {
            require_own_account(own_account, account, who, &provenance)?;
            let key_id = match event.detail.get("key-id") {
                Some(Value::String(s)) => s.clone(),
                Some(v) => {
                    return reject(
                        &provenance,
                        detail_path.field("key-id").reject(
                            "InvalidType",
                            format!("must be a string, got {}", type_name(v)),
                        ),
                    );
                }
                None => {
                    return reject(
                        &provenance,
                        detail_path
                            .field("key-id")
                            .reject("MissingField", "is required"),
                    );
                }
            };
            // Prefer the key ARN from `resources`, which must agree with detail.key-id.
            let key = match event.resources.as_deref() {
                Some([arn, ..]) if arn.ends_with(&format!("key/{key_id}")) => arn.clone(),
                Some([arn, ..]) => {
                    return reject(
                        &provenance,
                        Rejection::new(
                            "resources[0]",
                            "InconsistentEvent",
                            format!(
                                "{:?} does not name detail.key-id {:?}",
                                short(arn),
                                short(&key_id)
                            ),
                        ),
                    );
                }
                _ => key_id,
            };
            let material = optional_material(
                event.detail.get("key-material-id"),
                &detail_path.field("key-material-id"),
            );
            expiry(key, material, provenance)
        }
        ("aws.kms", DETAIL_TYPE_CLOUDTRAIL_SERVICE) => {
            require_own_account(own_account, account, who, &provenance)?;
            let name = event
                .detail
                .get("eventName")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if name != "DeleteExpiredKeyMaterial" {
                return reject(
                    &provenance,
                    detail_path.field("eventName").reject(
                        "UnsupportedEvent",
                        format!(
                            "{:?} is not handled; only DeleteExpiredKeyMaterial",
                            short(name)
                        ),
                    ),
                );
            }
            let details = event.detail.get("serviceEventDetails");
            let from_resources = event
                .detail
                .get("resources")
                .and_then(Value::as_array)
                .and_then(|r| r.iter().find_map(|r| r.get("ARN").and_then(Value::as_str)));
            let from_details = details.and_then(|d| d.get("keyId")).and_then(Value::as_str);
            let Some(key) = from_resources.or(from_details) else {
                return reject(
                    &provenance,
                    detail_path.field("serviceEventDetails.keyId").reject(
                        "MissingField",
                        "the key is named neither in detail.resources[].ARN nor in detail.serviceEventDetails.keyId",
                    ),
                );
            };
            let material = optional_material(
                details.and_then(|d| d.get("keyMaterialId")),
                &detail_path.field("serviceEventDetails.keyMaterialId"),
            );
            expiry(key.to_string(), material, provenance)
        }
        ("aws.kms", DETAIL_TYPE_CLOUDTRAIL_API) => {
            require_own_account(own_account, account, who, &provenance)?;
            let d = &event.detail;
            let name = d
                .get("eventName")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if name != "ImportKeyMaterial" {
                return reject(
                    &provenance,
                    detail_path.field("eventName").reject(
                        "UnsupportedEvent",
                        format!("{:?} is not handled; only ImportKeyMaterial", short(name)),
                    ),
                );
            }
            if d.get("errorCode").is_some_and(|e| !e.is_null()) {
                return ok(
                    Trigger::Nothing(
                        "the ImportKeyMaterial call failed; nothing to complete".into(),
                    ),
                    provenance,
                );
            }
            let params = d.get("requestParameters");
            let import_type = params
                .and_then(|p| p.get("importType"))
                .and_then(Value::as_str);
            if import_type != Some("NEW_KEY_MATERIAL") {
                return ok(
                    Trigger::Nothing(format!(
                        "ImportKeyMaterial with importType {:?}: no rotation to complete",
                        import_type.map(short)
                    )),
                    provenance,
                );
            }
            let Some(key) = params.and_then(|p| p.get("keyId")).and_then(Value::as_str) else {
                return reject(
                    &provenance,
                    detail_path
                        .field("requestParameters.keyId")
                        .reject("MissingField", "is required"),
                );
            };
            let material = optional_material(
                d.get("responseElements")
                    .and_then(|r| r.get("keyMaterialId")),
                &detail_path.field("responseElements.keyMaterialId"),
            );
            match material {
                Ok(key_material_id) => ok(
                    Trigger::CompleteRotation {
                        key: key.to_string(),
                        key_material_id,
                    },
                    provenance,
                ),
                Err(rejection) => reject(&provenance, rejection),
            }
        }
        ("aws.kms", DETAIL_TYPE_ROTATION) => {
            require_own_account(own_account, account, who, &provenance)?;
            let d = &event.detail;
            let Some(key_id) = d.get("key-id").and_then(Value::as_str) else {
                return reject(
                    &provenance,
                    detail_path
                        .field("key-id")
                        .reject("MissingField", "is required"),
                );
            };
            if d.get("key-origin")
                .and_then(Value::as_str)
                .is_some_and(|o| o != "EXTERNAL")
            {
                return ok(
                    Trigger::Nothing("rotation of a key whose origin is not EXTERNAL".into()),
                    provenance,
                );
            }
            let key = match event.resources.as_deref() {
                Some([arn, ..]) if arn.ends_with(&format!("key/{key_id}")) => arn.clone(),
                _ => key_id.to_string(),
            };
            let previous = optional_material(
                d.get("previous-key-material-id"),
                &detail_path.field("previous-key-material-id"),
            );
            let current = optional_material(
                d.get("current-key-material-id"),
                &detail_path.field("current-key-material-id"),
            );
            match (previous, current) {
                (Ok(previous), Ok(current)) => ok(
                    Trigger::ObserveRotation {
                        key,
                        previous,
                        current,
                    },
                    provenance,
                ),
                (Err(r), _) | (_, Err(r)) => reject(&provenance, r),
            }
        }
        (
            "aws.securityhub",
            dt @ (DETAIL_TYPE_SECURITYHUB_ACTION | DETAIL_TYPE_SECURITYHUB_IMPORTED),
        ) => {
            require_trusted_account(own_account, account, who, &provenance)?;
            let custom = dt == DETAIL_TYPE_SECURITYHUB_ACTION;
            match crate::findings::security_hub(
                &event.detail,
                custom,
                who.config.securityhub_min_severity,
            ) {
                Ok(decision) => ok(findings_trigger(decision), provenance),
                Err(rejection) => reject(&provenance, rejection),
            }
        }
        ("aws.guardduty", DETAIL_TYPE_GUARDDUTY) => {
            require_trusted_account(own_account, account, who, &provenance)?;
            match crate::findings::guardduty(&event.detail, &who.config.guardduty_mappings) {
                Ok(decision) => ok(findings_trigger(decision), provenance),
                Err(rejection) => reject(&provenance, rejection),
            }
        }
        ("aws.events", DETAIL_TYPE_SCHEDULE) => {
            require_own_account(own_account, account, who, &provenance)?;
            Ok(Classified {
                trigger: Trigger::Sweep,
                provenance,
            })
        }
        (source, detail_type) => reject(
            &provenance,
            Rejection::new(
                "detail-type",
                "UnsupportedEvent",
                format!(
                    "no handler for source {:?} with detail-type {:?}",
                    short(source),
                    short(detail_type)
                ),
            ),
        ),
    }
}

fn ok(trigger: Trigger, provenance: Provenance) -> Result<Classified, Box<Rejected>> {
    Ok(Classified {
        trigger,
        provenance,
    })
}

fn findings_trigger(decision: crate::findings::FindingsDecision) -> Trigger {
    match decision {
        crate::findings::FindingsDecision::Revoke(req) => Trigger::Revoke(req),
        crate::findings::FindingsDecision::Nothing(why) => Trigger::Nothing(why),
    }
}

/// Findings may come from the own account or a trusted one (a delegated administrator).
fn require_trusted_account(
    own: bool,
    account: &str,
    who: &Identity<'_>,
    provenance: &Provenance,
) -> Result<(), Box<Rejected>> {
    if own || who.config.trusted_accounts.iter().any(|a| a == account) {
        return Ok(());
    }
    Err(Box::new(Rejected {
        rejection: Rejection::new(
            "account",
            "AccountNotTrusted",
            format!(
                "findings from account {account} are not trusted; only the function's own account {} and \
                 MATERIAL_GUARD_TRUSTED_ACCOUNTS",
                who.account
            ),
        ),
        provenance: provenance.clone(),
    }))
}

fn require_own_account(
    own: bool,
    account: &str,
    who: &Identity<'_>,
    provenance: &Provenance,
) -> Result<(), Box<Rejected>> {
    if own {
        return Ok(());
    }
    Err(Box::new(Rejected {
        rejection: Rejection::new(
            "account",
            "AccountNotTrusted",
            format!(
                "AWS service events must come from the function's own account {}, not {account}",
                who.account
            ),
        ),
        provenance: provenance.clone(),
    }))
}

fn expiry(
    key: String,
    key_material_id: Result<Option<String>, Rejection>,
    provenance: Provenance,
) -> Result<Classified, Box<Rejected>> {
    let key_material_id = match key_material_id {
        Ok(m) => m,
        Err(rejection) => {
            return Err(Box::new(Rejected {
                rejection,
                provenance,
            }));
        }
    };
    match KeyRef::parse(&key) {
        Ok(parsed) => Ok(Classified {
            trigger: Trigger::Expiry(ExpiryNotice {
                key,
                parsed,
                key_material_id,
            }),
            provenance,
        }),
        Err(problem) => Err(Box::new(Rejected {
            rejection: Rejection::new("detail.key-id", "InvalidKeyIdentifier", problem),
            provenance,
        })),
    }
}

fn optional_material(v: Option<&Value>, path: &Path) -> Result<Option<String>, Rejection> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if request::is_key_material_id(s) => Ok(Some(s.clone())),
        Some(other) => Err(path.reject(
            "InvalidValue",
            format!(
                "must be a key material id (64 lowercase hex), got {}",
                type_name(other)
            ),
        )),
    }
}

/// Provenance read defensively from an untrusted envelope: only strings, each bounded, at most
/// 20 resources. Used for the audit record even when the event is rejected.
fn safe_provenance(payload: &Value) -> Provenance {
    let s = |k: &str| payload.get(k).and_then(Value::as_str).map(bounded);
    Provenance {
        source: s("source"),
        detail_type: s("detail-type"),
        event_id: s("id"),
        event_account: s("account"),
        event_time: s("time"),
        resources: bounded_list(payload.get("resources")),
        continuation_of: None,
    }
}

fn bounded(s: &str) -> String {
    crate::request::short_n(s, 256)
}

/// At most 20 strings of an untrusted array, each bounded.
pub(crate) fn bounded_list(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|r| {
            r.iter()
                .filter_map(Value::as_str)
                .take(20)
                .map(bounded)
                .collect()
        })
        .unwrap_or_default()
}

fn short_error(e: &serde_json::Error) -> String {
    let msg = e.to_string();
    if msg.len() > 200 {
        format!("{}…", &msg[..msg.floor_char_boundary(200)])
    } else {
        msg
    }
}
