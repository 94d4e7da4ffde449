//! EventBridge envelopes: the envelope's own checks (types, time, the sending account), the
//! provenance read from it, and the dispatch by `source` and `detail-type` to the parser of
//! each event family, with the account each family may come from.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use serde_json::Value;

use super::{Classified, Identity, Rejected, Trigger, findings, incident, kms};
use crate::domain::Provenance;
use crate::domain::text::{short, short_n};
use crate::validate::{Path, Rejection, is_account};

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

/// Which sending accounts (the envelope's `account`, set by EventBridge) an event family
/// accepts.
#[derive(Clone, Copy)]
enum From {
    /// AWS service events about this account: only the function's own account.
    Own,
    /// Incident requests: the own account or `MATERIAL_GUARD_TRUSTED_ACCOUNTS`.
    Requesters,
    /// Findings: the own account or a delegated administrator in `MATERIAL_GUARD_TRUSTED_ACCOUNTS`.
    Finders,
}

/// A parsed envelope, what its parsers need.
pub(super) struct Envelope<'a> {
    pub event: EventBridgeEvent<Value>,
    pub who: &'a Identity<'a>,
    pub detail: Path,
}

/// Classifies an EventBridge envelope.
pub(super) fn classify(payload: &Value, who: &Identity<'_>) -> Result<Classified, Box<Rejected>> {
    let mut provenance = safe_provenance(payload);
    let event = match parse(payload) {
        Ok(e) => e,
        Err(rejection) => return Err(Rejected::new(rejection, provenance)),
    };
    if let Some(t) = event.time {
        provenance.event_time = Some(t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
    }
    let env = Envelope {
        event,
        who,
        detail: Path::root("detail"),
    };
    match route(&env) {
        Ok(trigger) => Ok(Classified {
            trigger,
            provenance,
        }),
        Err(rejection) => Err(Rejected::new(rejection, provenance)),
    }
}

/// The envelope's fields, typed; `source` and `detail-type` checked first so their errors name
/// them.
fn parse(payload: &Value) -> Result<EventBridgeEvent<Value>, Rejection> {
    for field in ["source", "detail-type"] {
        match payload.get(field) {
            Some(Value::String(_)) => {}
            Some(other) => return Err(Path::root(field).wrong_type("a string", other)),
            None => {
                return Err(Path::root(field).missing("is required in an EventBridge event"));
            }
        }
    }
    serde_json::from_value(payload.clone()).map_err(|e| {
        Rejection::new(
            "event",
            "InvalidEnvelope",
            format!("not an EventBridge event: {}", short_n(&e.to_string(), 200)),
        )
    })
}

/// The family's parser, once the sending account is one the family accepts.
fn route(env: &Envelope<'_>) -> Result<Trigger, Rejection> {
    let e = &env.event;
    let account = sending_account(e.account.as_deref())?;
    type Parser = fn(&Envelope<'_>) -> Result<Trigger, Rejection>;
    let (from, parser): (From, Parser) = match (e.source.as_str(), e.detail_type.as_str()) {
        (_, DETAIL_TYPE_REVOCATION) => (From::Requesters, incident::revocation),
        ("aws.kms", DETAIL_TYPE_EXPIRATION) => (From::Own, kms::expiry),
        ("aws.kms", DETAIL_TYPE_CLOUDTRAIL_SERVICE) => (From::Own, kms::expired_via_cloudtrail),
        ("aws.kms", DETAIL_TYPE_CLOUDTRAIL_API) => (From::Own, kms::import),
        ("aws.kms", DETAIL_TYPE_ROTATION) => (From::Own, kms::rotation),
        ("aws.securityhub", DETAIL_TYPE_SECURITYHUB_ACTION | DETAIL_TYPE_SECURITYHUB_IMPORTED) => {
            (From::Finders, findings::from_security_hub)
        }
        ("aws.guardduty", DETAIL_TYPE_GUARDDUTY) => (From::Finders, findings::from_guardduty),
        ("aws.events", DETAIL_TYPE_SCHEDULE) => (From::Own, |_| Ok(Trigger::Sweep)),
        (source, detail_type) => {
            return Err(Rejection::new(
                "detail-type",
                "UnsupportedEvent",
                format!(
                    "no handler for source {:?} with detail-type {:?}",
                    short(source),
                    short(detail_type)
                ),
            ));
        }
    };
    if matches!(from, From::Requesters) {
        incident::check_source(env)?;
    }
    check_trust(env.who, account, from)?;
    parser(env)
}

/// The envelope's `account`: present and 12 digits.
fn sending_account(account: Option<&str>) -> Result<&str, Rejection> {
    match account {
        Some(a) if is_account(a) => Ok(a),
        Some(a) => Err(Rejection::new(
            "account",
            "InvalidValue",
            format!("{:?} is not a 12-digit account id", short(a)),
        )),
        None => Err(Path::root("account")
            .missing("is required: EventBridge always names the sending account")),
    }
}

fn check_trust(who: &Identity<'_>, account: &str, from: From) -> Result<(), Rejection> {
    let own = who.account;
    if account == own {
        return Ok(());
    }
    let trusted = who.config.trusted_accounts.iter().any(|a| a == account);
    match from {
        From::Requesters | From::Finders if trusted => Ok(()),
        From::Requesters => Err(not_trusted(format!(
            "events from account {account} are not trusted; only the function's own account {own} and \
             MATERIAL_GUARD_TRUSTED_ACCOUNTS may request revocations"
        ))),
        From::Finders => Err(not_trusted(format!(
            "findings from account {account} are not trusted; only the function's own account {own} and \
             MATERIAL_GUARD_TRUSTED_ACCOUNTS"
        ))),
        From::Own => Err(not_trusted(format!(
            "AWS service events must come from the function's own account {own}, not {account}"
        ))),
    }
}

fn not_trusted(problem: String) -> Rejection {
    Rejection::new("account", "AccountNotTrusted", problem)
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
    short_n(s, 256)
}

/// At most 20 strings of an untrusted array, each bounded.
pub(super) fn bounded_list(v: Option<&Value>) -> Vec<String> {
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

/// Deserialises the value at `path` into `T`; a failure names the exact path inside it.
pub(super) fn typed<T: serde::de::DeserializeOwned>(
    v: &Value,
    path: &Path,
) -> Result<T, Rejection> {
    serde_path_to_error::deserialize(v).map_err(|e| {
        let inner = e.path().to_string();
        let at = if inner == "." {
            path.clone()
        } else {
            inner.split('.').fold(path.clone(), |p, part| p.field(part))
        };
        let message = short_n(&e.inner().to_string(), 200);
        let code = if message.starts_with("invalid type") {
            "InvalidType"
        } else if message.starts_with("missing field") {
            "MissingField"
        } else {
            "InvalidValue"
        };
        at.reject(code, message)
    })
}
