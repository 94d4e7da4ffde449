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

use super::Trigger;
use super::envelope::{DETAIL_TYPE_SECURITYHUB_ACTION, Envelope};
use crate::config::{GuardDutyMapping, Severity};
use crate::domain::text::{clean, short};
use crate::request::{
    KeyContext, MAX_FINDING_ID_CHARS, MAX_KEYS_PER_REQUEST, MAX_REASON_CHARS, RequestedKey,
    RevocationRequest,
};
use crate::validate::{Path, Rejection, type_name};

/// Most findings read from one event (Security Hub sends at most 100).
pub const MAX_FINDINGS: usize = 100;

/// A Security Hub findings event at this member.
pub(super) fn from_security_hub(env: &Envelope<'_>) -> Result<Trigger, Rejection> {
    let custom = env.event.detail_type == DETAIL_TYPE_SECURITYHUB_ACTION;
    security_hub(
        &env.event.detail,
        custom,
        env.who.config.securityhub_min_severity,
    )
    .map(FindingsDecision::into_trigger)
}

/// A GuardDuty finding at this member.
pub(super) fn from_guardduty(env: &Envelope<'_>) -> Result<Trigger, Rejection> {
    guardduty(&env.event.detail, &env.who.config.guardduty_mappings)
        .map(FindingsDecision::into_trigger)
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
    min_severity: Option<Severity>,
) -> Result<FindingsDecision, Rejection> {
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
    let mut skipped = 0usize;
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
                skipped += 1;
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
        return Ok(FindingsDecision::Nothing(format!(
            "no AwsKmsKey resource in the {} finding(s) that qualify ({skipped} below the severity, not active, or posture checks)",
            findings.len() - skipped
        )));
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

/// A `GuardDuty Finding` event, mapped by the first matching rule.
pub fn guardduty(
    detail: &Value,
    mappings: &[GuardDutyMapping],
) -> Result<FindingsDecision, Rejection> {
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
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn imported_findings_are_ignored_unless_a_severity_is_configured() {
        let detail = json!({"findings": [{"Id": "f1", "Severity": {"Label": "CRITICAL"},
            "Resources": [{"Type": "AwsKmsKey", "Id": "arn:aws:kms:us-east-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab"}]}]});
        assert!(matches!(
            security_hub(&detail, false, None),
            Ok(FindingsDecision::Nothing(_))
        ));
        assert!(matches!(
            security_hub(&detail, false, Some(Severity::High)),
            Ok(FindingsDecision::Revoke(_))
        ));
        let mut low = detail.clone();
        low["findings"][0]["Severity"]["Label"] = json!("MEDIUM");
        assert!(matches!(
            security_hub(&low, false, Some(Severity::High)),
            Ok(FindingsDecision::Nothing(_))
        ));
        let mut suppressed = detail.clone();
        suppressed["findings"][0]["Workflow"] = json!({"Status": "SUPPRESSED"});
        assert!(matches!(
            security_hub(&suppressed, false, Some(Severity::Low)),
            Ok(FindingsDecision::Nothing(_))
        ));
        let mut posture = detail;
        posture["findings"][0]["Compliance"] = json!({"Status": "FAILED"});
        assert!(matches!(
            security_hub(&posture, false, Some(Severity::Low)),
            Ok(FindingsDecision::Nothing(_))
        ));
        // a responder's explicit custom action still acts on a posture finding
        assert!(matches!(
            security_hub(&posture, true, None),
            Ok(FindingsDecision::Revoke(_))
        ));
    }

    #[test]
    fn guardduty_sample_findings_never_revoke() {
        let rules = GuardDutyMapping::parse_list(
            r#"[{"findingType": "*", "minSeverity": 0, "tags": {"t": "v"}}]"#,
        )
        .expect("rules");
        let real = json!({"type": "Recon:EC2/Portscan", "severity": 5, "id": "f"});
        assert!(matches!(
            guardduty(&real, &rules),
            Ok(FindingsDecision::Revoke(_))
        ));
        let mut sample = real;
        sample["service"] = json!({"additionalInfo": {"sample": true}});
        assert!(matches!(
            guardduty(&sample, &rules),
            Ok(FindingsDecision::Nothing(_))
        ));
    }
}
