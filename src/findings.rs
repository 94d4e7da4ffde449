//! Step 2 (continued): Security Hub and GuardDuty findings become revocation requests.
//!
//! - `Security Hub Findings - Custom Action`: a responder picked the custom action (e.g. "Revoke
//!   key material") on findings; every `AwsKmsKey` resource of those findings is revoked.
//! - `Security Hub Findings - Imported`: only when `MATERIAL_GUARD_SECURITYHUB_MIN_SEVERITY` is
//!   set, findings at or above that severity label, active and not suppressed or resolved.
//! - `GuardDuty Finding`: GuardDuty has no KMS key resource type, so the first rule of
//!   `MATERIAL_GUARD_GUARDDUTY_MAPPINGS` whose finding-type pattern and minimum severity match
//!   decides the tag selector. No mapping, or no match: nothing happens.
//!
//! The finding id becomes the key's `incident_id`, the finding's title the `reason`.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::request::{
    KeyContext, KeyRef, Path, Rejection, RequestedKey, RevocationRequest, reject_unknown, short,
    type_name,
};

/// Longest incident id taken from a finding (finding ids are ARNs).
pub const MAX_FINDING_ID_CHARS: usize = 512;
/// Most findings read from one event (Security Hub sends at most 100).
pub const MAX_FINDINGS: usize = 100;

/// Security Hub severity labels, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Informational,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn parse(s: &str) -> Option<Severity> {
        Some(match s {
            "INFORMATIONAL" => Severity::Informational,
            "LOW" => Severity::Low,
            "MEDIUM" => Severity::Medium,
            "HIGH" => Severity::High,
            "CRITICAL" => Severity::Critical,
            _ => return None,
        })
    }
}

/// One GuardDuty mapping rule.
#[derive(Debug, Clone, PartialEq)]
pub struct GuardDutyMapping {
    /// Finding type pattern; `*` matches any run of characters
    /// (e.g. `UnauthorizedAccess:IAMUser/*`).
    pub finding_type: String,
    /// Lowest GuardDuty severity (0-10) that triggers the rule.
    pub min_severity: f64,
    /// The tag selector of the revocation.
    pub tags: BTreeMap<String, String>,
    /// Only report what would be revoked.
    pub dry_run: bool,
}

impl GuardDutyMapping {
    /// Parses the JSON array of `MATERIAL_GUARD_GUARDDUTY_MAPPINGS`.
    pub fn parse_list(text: &str) -> Result<Vec<GuardDutyMapping>, String> {
        let v: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
        let Value::Array(items) = v else {
            return Err("must be a JSON array of mapping rules".into());
        };
        if items.len() > 100 {
            return Err("at most 100 mapping rules".into());
        }
        items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                Self::parse(item, &Path::root("mappings").index(i)).map_err(|r| r.to_string())
            })
            .collect()
    }

    fn parse(item: &Value, path: &Path) -> Result<GuardDutyMapping, Rejection> {
        let Value::Object(obj) = item else {
            return Err(path.reject(
                "InvalidType",
                format!("must be an object, got {}", type_name(item)),
            ));
        };
        reject_unknown(obj, path, &["findingType", "minSeverity", "tags", "dryRun"])?;
        let finding_type = match obj.get("findingType") {
            Some(Value::String(s)) if !s.is_empty() && s.len() <= 256 => s.clone(),
            _ => {
                return Err(path
                    .field("findingType")
                    .reject("InvalidValue", "must be a pattern of 1-256 characters"));
            }
        };
        let min_severity = match obj.get("minSeverity") {
            None => 7.0,
            Some(v) => match v.as_f64() {
                Some(n) if (0.0..=10.0).contains(&n) => n,
                _ => {
                    return Err(path
                        .field("minSeverity")
                        .reject("InvalidValue", "must be a number from 0 to 10"));
                }
            },
        };
        let tags = match obj.get("tags") {
            Some(Value::Object(m)) if !m.is_empty() && m.len() <= 50 => {
                let mut tags = BTreeMap::new();
                for (k, v) in m {
                    let Value::String(val) = v else {
                        return Err(path
                            .field("tags")
                            .reject("InvalidType", "tag values must be strings"));
                    };
                    if k.is_empty() || k.chars().count() > 128 || val.chars().count() > 256 {
                        return Err(path.field("tags").reject(
                            "InvalidValue",
                            "tag keys have 1-128, values 0-256 characters",
                        ));
                    }
                    tags.insert(k.clone(), val.clone());
                }
                tags
            }
            _ => {
                return Err(path
                    .field("tags")
                    .reject("InvalidValue", "must be an object of 1-50 tags"));
            }
        };
        let dry_run = match obj.get("dryRun") {
            None => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                return Err(path
                    .field("dryRun")
                    .reject("InvalidType", "must be true or false"));
            }
        };
        Ok(GuardDutyMapping {
            finding_type,
            min_severity,
            tags,
            dry_run,
        })
    }

    /// Whether this rule applies to a finding.
    pub fn matches(&self, finding_type: &str, severity: f64) -> bool {
        severity >= self.min_severity && glob(&self.finding_type, finding_type)
    }
}

/// `*` matches any run of characters; everything else literally.
pub fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] != '*' && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// What a findings event asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum FindingsDecision {
    Revoke(RevocationRequest),
    /// A recognised event that selects nothing (why, for the log and the response).
    Nothing(String),
}

fn bounded(s: &str, max: usize) -> String {
    let cleaned: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if cleaned.chars().count() <= max {
        cleaned
    } else {
        let mut t: String = cleaned.chars().take(max - 1).collect();
        t.push('…');
        t
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
        .map(|s| bounded(s, 128));
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
            Some(Value::String(s)) if !s.is_empty() => bounded(s, MAX_FINDING_ID_CHARS),
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
        let title = f
            .get("Title")
            .and_then(Value::as_str)
            .unwrap_or("untitled finding");
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
            if keys.len() >= crate::request::MAX_KEYS_PER_REQUEST {
                return Err(fp.reject("TooManyKeys", "the findings name too many keys"));
            }
            keys.push(RequestedKey {
                raw: raw.to_string(),
                parsed: KeyRef::parse(raw),
                context: Some(KeyContext {
                    incident_id: id.clone(),
                    reason: bounded(&reason, crate::request::MAX_REASON_CHARS),
                }),
            });
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
            Some(a) if custom_action => bounded(&format!("securityhub:custom-action:{a}"), 256),
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
    let id = detail
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or("unknown-finding");
    let title = detail
        .get("title")
        .and_then(Value::as_str)
        .unwrap_or(finding_type);
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
        reason: bounded(
            &format!("GuardDuty finding {finding_type} (severity {severity}): {title}"),
            crate::request::MAX_REASON_CHARS,
        ),
        incident_id: bounded(id, MAX_FINDING_ID_CHARS),
        requested_by: Some(format!(
            "aws.guardduty:{}",
            bounded(&rule.finding_type, 200)
        )),
        dry_run: rule.dry_run,
        targets: None,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn glob_matches_like_a_shell() {
        assert!(glob(
            "UnauthorizedAccess:IAMUser/*",
            "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS"
        ));
        assert!(glob(
            "*Exfiltration*",
            "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS"
        ));
        assert!(glob("Exact:Type", "Exact:Type"));
        assert!(!glob("Exact:Type", "Exact:Type2"));
        assert!(!glob("Recon:*", "UnauthorizedAccess:IAMUser/X"));
        assert!(glob("*", ""));
    }

    #[test]
    fn mappings_are_validated_with_their_position() {
        let ok = GuardDutyMapping::parse_list(
            r#"[{"findingType": "Recon:*", "tags": {"tenant": "a"}}]"#,
        )
        .expect("valid");
        assert_eq!(ok[0].min_severity, 7.0);
        let err = GuardDutyMapping::parse_list(
            r#"[{"findingType": "x", "tags": {"t": "a"}}, {"findingType": "y", "tags": {}}]"#,
        )
        .expect_err("empty tags");
        assert!(err.contains("mappings[1].tags"), "{err}");
        let err = GuardDutyMapping::parse_list(
            r#"[{"findingType": "x", "tags": {"t": "a"}, "severity": 3}]"#,
        )
        .expect_err("unknown");
        assert!(err.contains("unknown field"), "{err}");
    }

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
