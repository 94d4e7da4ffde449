//! Security Hub and GuardDuty findings become revocation requests.
//!
//! - `Security Hub Findings - Custom Action`: a responder picked the custom action (e.g. "Revoke
//!   key material") on findings; every `AwsKmsKey` resource of those findings is revoked.
//! - `Security Hub Findings - Imported`: only when `MATERIAL_GUARD_SECURITYHUB_MIN_SEVERITY` is
//!   set, findings at or above that severity label, active and not suppressed or resolved.
//! - `GuardDuty Finding`: GuardDuty has no KMS key resource type, so the first rule of
//!   `MATERIAL_GUARD_GUARDDUTY_MAPPINGS` whose finding-type pattern and minimum severity match
//!   decides the tag selector. No mapping, or no match: nothing happens.
//!
//! The finding id becomes the key's `incident_id`, the finding's title the `reason`; both pass
//! the same character rules as requests (forbidden characters become spaces).

use std::collections::BTreeMap;

use serde_json::Value;

use serde_json::Map;

use super::envelope::{DETAIL_TYPE_SECURITYHUB_ACTION, Envelope};
use super::{Identity, Trigger};
use crate::config::{Severity, glob};
use crate::domain::text::{clean, short};
use crate::keyref::KeyRef;
use crate::request::{
    KeyContext, MAX_FINDING_ID_CHARS, MAX_KEYS_PER_REQUEST, MAX_REASON_CHARS, RequestedKey,
    RevocationRequest,
};
use crate::validate::partition_of;
use crate::validate::{Path, Rejection, type_name};

/// Most findings read from one event (Security Hub sends at most 100).
pub const MAX_FINDINGS: usize = 100;

/// A Security Hub findings event at this member. A custom action acts only when it is the
/// configured one (`MATERIAL_GUARD_SECURITYHUB_ACTION_ARN`, by default the template's
/// `RevokeKeyMaterial` action of this account and Region).
pub(super) fn from_security_hub(env: &Envelope<'_>) -> Result<Trigger, Rejection> {
    let custom = env.event.detail_type == DETAIL_TYPE_SECURITYHUB_ACTION;
    if custom {
        let expected = action_arn(env.who);
        let named = env.event.resources.as_deref().unwrap_or_default();
        if !named.contains(&expected) {
            return Ok(Trigger::Nothing(format!(
                "the custom action {:?} is not the configured one ({expected}, \
                 MATERIAL_GUARD_SECURITYHUB_ACTION_ARN): nothing revoked",
                named.first().map(|a| short(a)).unwrap_or_default()
            )));
        }
    }
    security_hub(&env.event.detail, custom, env.who).map(FindingsDecision::into_trigger)
}

/// A GuardDuty finding at this member.
pub(super) fn from_guardduty(env: &Envelope<'_>) -> Result<Trigger, Rejection> {
    guardduty(&env.event.detail, env.who).map(FindingsDecision::into_trigger)
}

/// The custom action whose findings revoke.
fn action_arn(who: &Identity<'_>) -> String {
    who.config
        .securityhub_action_arn
        .clone()
        .unwrap_or_else(|| {
            let region = &who.config.region;
            format!(
                "arn:{}:securityhub:{region}:{}:action/custom/RevokeKeyMaterial",
                partition_of(region),
                who.account
            )
        })
}

/// Why a finding or one of its keys was passed over.
#[derive(Default)]
struct Passed {
    /// Below the severity, not active, suppressed or resolved, or a posture check.
    not_qualifying: usize,
    /// From a product outside the allow-list.
    product: usize,
    /// About another account or Region.
    other_member: usize,
    /// Keys (ARNs) of another account, Region or partition.
    foreign_keys: usize,
}

impl Passed {
    fn note(&self, findings: usize) -> String {
        let qualifying = findings - self.not_qualifying - self.product - self.other_member;
        format!(
            "no AwsKmsKey resource of this account and Region in the {qualifying} finding(s) that qualify \
             ({} below the severity, not active, or posture checks; {} from a product not allowed \
             (MATERIAL_GUARD_SECURITYHUB_PRODUCT_ARNS); {} about another account or Region; {} keys of \
             another account, Region or partition)",
            self.not_qualifying, self.product, self.other_member, self.foreign_keys
        )
    }
}

/// Whether a finding may act here: its product is allowed (AWS's own integrations, or a
/// configured pattern) and it is about this account (and Region, when it names one).
fn finding_is_ours(f: &Map<String, Value>, who: &Identity<'_>, passed: &mut Passed) -> bool {
    let region = who.config.region.as_str();
    let aws = format!(
        "arn:{}:securityhub:{region}::product/aws/*",
        partition_of(region)
    );
    let product = f.get("ProductArn").and_then(Value::as_str).unwrap_or("");
    let allowed = std::iter::once(aws.as_str())
        .chain(
            who.config
                .securityhub_product_arns
                .iter()
                .map(String::as_str),
        )
        .any(|p| glob(p, product));
    if !allowed {
        passed.product += 1;
        return false;
    }
    let account = f.get("AwsAccountId").and_then(Value::as_str);
    let finding_region = f.get("Region").and_then(Value::as_str);
    if account != Some(who.account) || finding_region.is_some_and(|r| r != region) {
        passed.other_member += 1;
        return false;
    }
    true
}

/// Whether a key a finding names is one of this member's: an ARN of this account, Region and
/// partition, or an identifier that resolves here. Malformed identifiers are kept: their
/// record says what is wrong, and no KMS call is made.
fn key_is_ours(raw: &str, who: &Identity<'_>) -> bool {
    let Ok(k) = KeyRef::parse(raw) else {
        return true;
    };
    crate::guardrails::check_location(&k, who.account, &who.config.region).is_ok()
}

/// What a findings event asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum FindingsDecision {
    Revoke(RevocationRequest),
    /// A recognised event that selects nothing (why, for the log and the response).
    Nothing(String),
}

impl FindingsDecision {
    fn into_trigger(self) -> Trigger {
        match self {
            FindingsDecision::Revoke(req) => Trigger::Revoke(req),
            FindingsDecision::Nothing(why) => Trigger::Nothing(why),
        }
    }
}

/// Security Hub `Findings - Custom Action` (`custom_action = true`) or `Findings - Imported`.
pub fn security_hub(
    detail: &Value,
    custom_action: bool,
    who: &Identity<'_>,
) -> Result<FindingsDecision, Rejection> {
    let min_severity = who.config.securityhub_min_severity;
    let path = Path::root("detail");
    let findings = match detail.get("findings") {
        Some(Value::Array(f)) if f.len() <= MAX_FINDINGS => f,
        Some(Value::Array(_)) => {
            return Err(path.field("findings").reject(
                "TooManyFindings",
                format!("more than {MAX_FINDINGS} findings"),
            ));
        }
        Some(v) => {
            return Err(path.field("findings").reject(
                "InvalidType",
                format!("must be an array, got {}", type_name(v)),
            ));
        }
        None => return Err(path.field("findings").reject("MissingField", "is required")),
    };
    let action_name = detail
        .get("actionName")
        .and_then(Value::as_str)
        .map(|s| clean(s, 128));
    if !custom_action && min_severity.is_none() {
        return Ok(FindingsDecision::Nothing(
            "imported Security Hub findings do not revoke keys (MATERIAL_GUARD_SECURITYHUB_MIN_SEVERITY=OFF)".into(),
        ));
    }
    let mut keys: Vec<RequestedKey> = Vec::new();
    let mut passed = Passed::default();
    for (i, finding) in findings.iter().enumerate() {
        let fp = path.field("findings").index(i);
        let Value::Object(f) = finding else {
            return Err(fp.reject(
                "InvalidType",
                format!("must be an object, got {}", type_name(finding)),
            ));
        };
        let id = match f.get("Id") {
            Some(Value::String(s)) if !s.is_empty() => clean(s, MAX_FINDING_ID_CHARS),
            _ => {
                return Err(fp
                    .field("Id")
                    .reject("MissingField", "every finding needs an Id"));
            }
        };
        if !finding_is_ours(f, who, &mut passed) {
            continue;
        }
        if !custom_action {
            let label = f
                .get("Severity")
                .and_then(|s| s.get("Label"))
                .and_then(Value::as_str)
                .and_then(Severity::parse);
            let active = f
                .get("RecordState")
                .and_then(Value::as_str)
                .is_none_or(|s| s == "ACTIVE");
            let open = f
                .get("Workflow")
                .and_then(|w| w.get("Status"))
                .and_then(Value::as_str)
                .is_none_or(|s| s != "SUPPRESSED" && s != "RESOLVED");
            // Posture (compliance) findings describe configuration, not an attack: a key
            // misconfiguration must not revoke the key automatically.
            let posture = f.get("Compliance").is_some_and(|c| !c.is_null());
            if posture || !(active && open && label.is_some() && label >= min_severity) {
                passed.not_qualifying += 1;
                continue;
            }
        }
        let title = text_or(finding, "Title", "untitled finding");
        let product = f
            .get("ProductName")
            .and_then(Value::as_str)
            .or_else(|| f.get("ProductArn").and_then(Value::as_str))
            .unwrap_or("Security Hub");
        let reason = match &action_name {
            Some(a) if custom_action => {
                format!("Security Hub custom action \"{a}\" on {product} finding: {title}")
            }
            _ => format!("Security Hub {product} finding: {title}"),
        };
        let resources = match f.get("Resources") {
            Some(Value::Array(r)) => r,
            Some(v) => {
                return Err(fp.field("Resources").reject(
                    "InvalidType",
                    format!("must be an array, got {}", type_name(v)),
                ));
            }
            None => continue,
        };
        for r in resources {
            if r.get("Type").and_then(Value::as_str) != Some("AwsKmsKey") {
                continue;
            }
            let Some(raw) = r.get("Id").and_then(Value::as_str) else {
                continue;
            };
            if keys.iter().any(|k| k.raw == raw) {
                continue;
            }
            if !key_is_ours(raw, who) {
                passed.foreign_keys += 1;
                continue;
            }
            if keys.len() >= MAX_KEYS_PER_REQUEST {
                return Err(fp.reject("TooManyKeys", "the findings name too many keys"));
            }
            keys.push(RequestedKey::new(
                raw.to_string(),
                Some(KeyContext {
                    incident_id: id.clone(),
                    reason: clean(&reason, MAX_REASON_CHARS),
                }),
            ));
        }
    }
    if keys.is_empty() {
        return Ok(FindingsDecision::Nothing(passed.note(findings.len())));
    }
    let first = keys
        .first()
        .and_then(|k| k.context.as_ref())
        .map(|c| c.incident_id.clone())
        .unwrap_or_default();
    Ok(FindingsDecision::Revoke(RevocationRequest {
        keys,
        tags: BTreeMap::new(),
        key_material_id: None,
        reason: if custom_action {
            "Security Hub custom action".into()
        } else {
            "Security Hub finding".into()
        },
        incident_id: first,
        requested_by: Some(match action_name {
            Some(a) if custom_action => clean(&format!("securityhub:custom-action:{a}"), 256),
            _ => "aws.securityhub".into(),
        }),
        dry_run: false,
        targets: None,
    }))
}

/// A `GuardDuty Finding` event, mapped by the first matching rule. Only a finding about this
/// account (`detail.accountId`) and Region (`detail.region`) acts: a delegated administrator
/// forwards every member's findings.
pub fn guardduty(detail: &Value, who: &Identity<'_>) -> Result<FindingsDecision, Rejection> {
    let mappings = &who.config.guardduty_mappings;
    let path = Path::root("detail");
    let finding_type = match detail.get("type") {
        Some(Value::String(s)) => s.as_str(),
        Some(v) => {
            return Err(path.field("type").reject(
                "InvalidType",
                format!("must be a string, got {}", type_name(v)),
            ));
        }
        None => return Err(path.field("type").reject("MissingField", "is required")),
    };
    let severity = match detail.get("severity").and_then(Value::as_f64) {
        Some(s) => s,
        None => {
            return Err(path
                .field("severity")
                .reject("InvalidValue", "must be a number"));
        }
    };
    // The console's "Generate sample findings" produces realistic findings marked as samples.
    let sample = detail
        .get("service")
        .and_then(|s| s.get("additionalInfo"))
        .and_then(|a| a.get("sample"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if sample {
        return Ok(FindingsDecision::Nothing(
            "GuardDuty sample finding (service.additionalInfo.sample): ignored".into(),
        ));
    }
    let account = text_or(detail, "accountId", "");
    let region = text_or(detail, "region", "");
    if account != who.account || region != who.config.region {
        return Ok(FindingsDecision::Nothing(format!(
            "GuardDuty finding about account {:?} in {:?}, not this member ({} in {}): nothing revoked",
            short(account),
            short(region),
            who.account,
            who.config.region
        )));
    }
    let id = text_or(detail, "id", "unknown-finding");
    let title = text_or(detail, "title", finding_type);
    let Some(rule) = mappings.iter().find(|m| m.matches(finding_type, severity)) else {
        return Ok(FindingsDecision::Nothing(format!(
            "no MATERIAL_GUARD_GUARDDUTY_MAPPINGS rule matches {} at severity {severity}",
            short(finding_type)
        )));
    };
    Ok(FindingsDecision::Revoke(RevocationRequest {
        keys: Vec::new(),
        tags: rule.tags.clone(),
        key_material_id: None,
        reason: clean(
            &format!("GuardDuty finding {finding_type} (severity {severity}): {title}"),
            MAX_REASON_CHARS,
        ),
        incident_id: clean(id, MAX_FINDING_ID_CHARS),
        requested_by: Some(format!("aws.guardduty:{}", clean(&rule.finding_type, 200))),
        dry_run: rule.dry_run,
        targets: None,
    }))
}

/// A string field of a finding, or `default`.
fn text_or<'a>(v: &'a Value, field: &str, default: &'a str) -> &'a str {
    v.get(field).and_then(Value::as_str).unwrap_or(default)
}

#[cfg(test)]
mod tests;
