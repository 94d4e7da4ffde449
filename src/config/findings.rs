//! The findings rules of the configuration: the Security Hub severity threshold and the
//! GuardDuty finding-type mappings (`MATERIAL_GUARD_GUARDDUTY_MAPPINGS`).

use std::collections::BTreeMap;

use serde_json::Value;

use crate::validate::{Path, Rejection, reject_unknown, type_name};

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
