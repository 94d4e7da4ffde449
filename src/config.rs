//! Step 1: configuration, read once at init from `MATERIAL_GUARD_*` environment variables.
//!
//! Every variable is documented in the README ("Configuration") with its default. A missing
//! required or malformed variable fails the init phase with an error naming the variable, so a
//! bad deployment is caught before any event is handled.

use std::time::Duration;

/// Default scope tag key: a key is revocable only when it carries this tag (with
/// [`DEFAULT_SCOPE_TAG_VALUE`]), unless the scope is widened to every EXTERNAL key.
pub const DEFAULT_SCOPE_TAG_KEY: &str = "kms-material-guard:revocable";
/// Default value the scope tag must have.
pub const DEFAULT_SCOPE_TAG_VALUE: &str = "true";
/// Tag holding an RFC 3339 time after which the scheduled sweep revokes the key.
pub const REVOKE_AT_TAG_KEY: &str = "kms-material-guard:revoke-at";
/// Default EventBridge source allowed to send incident (revocation) events.
pub const DEFAULT_ALLOWED_SOURCE: &str = "incident-response";

/// Which keys the function may revoke.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScopeMode {
    /// Only keys carrying the scope tag with the configured value (the default).
    Tagged,
    /// Every key with `Origin: EXTERNAL` in the account and Region. Logged at init and stamped on
    /// every audit record (`scope_mode`), never silent.
    AllExternal,
}

impl ScopeMode {
    /// The stable name used in configuration and audit records.
    pub fn as_str(&self) -> &'static str {
        match self {
            ScopeMode::Tagged => "tagged",
            ScopeMode::AllExternal => "all-external",
        }
    }
}

/// The revocation scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub mode: ScopeMode,
    pub tag_key: String,
    pub tag_value: String,
}

/// The function's whole configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The Region the function runs in (`AWS_REGION`); keys of other Regions are refused.
    pub region: String,
    /// The function's own account (`MATERIAL_GUARD_ACCOUNT_ID`); when unset it is taken from
    /// the invoked function ARN of each invocation.
    pub account_id: Option<String>,
    pub scope: Scope,
    /// EventBridge `source` values accepted for incident events.
    pub allowed_sources: Vec<String>,
    /// Accounts (besides the function's own) whose incident events are accepted.
    pub trusted_accounts: Vec<String>,
    /// Maximum number of keys one request may revoke.
    pub blast_radius: usize,
    /// Global dry-run switch: nothing is deleted, outcomes are `would_revoke`.
    pub dry_run: bool,
    /// Sweep warning window for material `ValidTo`.
    pub expiry_warning: Duration,
    /// Pace of DeleteImportedKeyMaterial calls (per second).
    pub delete_rate: f64,
    /// Concurrent per-key pipelines (DescribeKey / ListResourceTags run concurrently).
    pub concurrency: usize,
    /// Attempts per KMS call for retryable errors (1 = no retry).
    pub max_attempts: u32,
    /// Stop starting new deletes when less than this remains before the Lambda deadline.
    pub deadline_margin: Duration,
    /// Timeout of a single KMS call attempt.
    pub call_timeout: Duration,
    /// Pace of RotateKeyOnDemand calls (per second; KMS allows 5).
    pub rotate_rate: f64,
    /// Default crypto-period of current key material (tag `kms-material-guard:max-material-age-days`
    /// overrides per key); `None`: not enforced unless a key's tag sets one.
    pub max_material_age: Option<Duration>,
    /// Grace after the crypto-period before keys tagged `kms-material-guard:on-crypto-period=revoke`
    /// are revoked.
    pub crypto_period_grace: Duration,
    /// EventBridge bus the audit records are published to (name or ARN); `None`: off.
    pub audit_event_bus: Option<String>,
    /// CloudWatch namespace of the EMF metrics; `None`: no metrics.
    pub metrics_namespace: Option<String>,
    /// Lowest Security Hub severity label of an imported finding that revokes its keys;
    /// `None`: imported findings never revoke (custom actions always do).
    pub securityhub_min_severity: Option<crate::findings::Severity>,
    /// GuardDuty finding type patterns mapped to tag selectors; empty: GuardDuty does nothing.
    pub guardduty_mappings: Vec<crate::findings::GuardDutyMapping>,
    /// The function (name or ARN) a large request continues in when the deadline comes;
    /// `None`: no continuation (keys left are `deferred` and the invocation asks for a retry).
    pub continuation_function: Option<String>,
    /// Organizational units (and parents) the account belongs to, for requests targeting OUs.
    pub organizational_units: Vec<String>,
}

/// A configuration variable that is missing or malformed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("environment variable {name} is required but not set")]
    Missing { name: &'static str },
    #[error("environment variable {name}={value:?} is invalid: {problem}")]
    Invalid {
        name: &'static str,
        value: String,
        problem: String,
    },
}

impl Default for Config {
    fn default() -> Self {
        Config {
            region: "us-east-1".to_string(),
            account_id: None,
            scope: Scope {
                mode: ScopeMode::Tagged,
                tag_key: DEFAULT_SCOPE_TAG_KEY.to_string(),
                tag_value: DEFAULT_SCOPE_TAG_VALUE.to_string(),
            },
            allowed_sources: vec![DEFAULT_ALLOWED_SOURCE.to_string()],
            trusted_accounts: Vec::new(),
            blast_radius: 100,
            dry_run: false,
            expiry_warning: Duration::from_secs(14 * 86_400),
            delete_rate: 10.0,
            concurrency: 16,
            max_attempts: 5,
            deadline_margin: Duration::from_millis(5_000),
            call_timeout: Duration::from_millis(5_000),
            rotate_rate: 3.0,
            max_material_age: None,
            crypto_period_grace: Duration::from_secs(7 * 86_400),
            audit_event_bus: None,
            metrics_namespace: Some(crate::metrics::DEFAULT_NAMESPACE.to_string()),
            securityhub_min_severity: None,
            guardduty_mappings: Vec::new(),
            continuation_function: None,
            organizational_units: Vec::new(),
        }
    }
}

impl Config {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup` (the environment, or a map in tests).
    /// Empty values count as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let d = Config::default();

        let region = get("AWS_REGION")
            .or_else(|| get("AWS_DEFAULT_REGION"))
            .ok_or(ConfigError::Missing { name: "AWS_REGION" })?;
        if !is_region(&region) {
            return Err(invalid(
                "AWS_REGION",
                &region,
                "not an AWS Region name such as us-east-1",
            ));
        }

        let account_id = match get("MATERIAL_GUARD_ACCOUNT_ID") {
            None => None,
            Some(v) if is_account(&v) => Some(v),
            Some(v) => {
                return Err(invalid(
                    "MATERIAL_GUARD_ACCOUNT_ID",
                    &v,
                    "must be 12 digits",
                ));
            }
        };

        let mode = match get("MATERIAL_GUARD_SCOPE_MODE").as_deref() {
            None | Some("tagged") => ScopeMode::Tagged,
            Some("all-external") => ScopeMode::AllExternal,
            Some(v) => {
                return Err(invalid(
                    "MATERIAL_GUARD_SCOPE_MODE",
                    v,
                    "must be `tagged` or `all-external`",
                ));
            }
        };
        let tag_key = get("MATERIAL_GUARD_SCOPE_TAG_KEY").unwrap_or(d.scope.tag_key);
        if tag_key.chars().count() > 128 || tag_key.starts_with("aws:") {
            return Err(invalid(
                "MATERIAL_GUARD_SCOPE_TAG_KEY",
                &tag_key,
                "must be a KMS tag key: 1-128 characters, not starting with aws:",
            ));
        }
        let tag_value = get("MATERIAL_GUARD_SCOPE_TAG_VALUE").unwrap_or(d.scope.tag_value);
        if tag_value.chars().count() > 256 {
            return Err(invalid(
                "MATERIAL_GUARD_SCOPE_TAG_VALUE",
                &tag_value,
                "longer than 256 characters",
            ));
        }

        let allowed_sources = match get("MATERIAL_GUARD_ALLOWED_SOURCES") {
            None => d.allowed_sources,
            Some(v) => list("MATERIAL_GUARD_ALLOWED_SOURCES", &v, |s| {
                (!s.starts_with("aws."))
                    .then_some(())
                    .ok_or("sources starting with `aws.` are reserved for AWS services")
            })?,
        };
        let trusted_accounts = match get("MATERIAL_GUARD_TRUSTED_ACCOUNTS") {
            None => Vec::new(),
            Some(v) => list("MATERIAL_GUARD_TRUSTED_ACCOUNTS", &v, |s| {
                is_account(s)
                    .then_some(())
                    .ok_or("each account must be 12 digits")
            })?,
        };

        let blast_radius = number::<usize>(
            "MATERIAL_GUARD_BLAST_RADIUS",
            get("MATERIAL_GUARD_BLAST_RADIUS"),
            d.blast_radius,
        )?;
        if blast_radius == 0 || blast_radius > crate::request::MAX_KEYS_PER_REQUEST {
            return Err(invalid(
                "MATERIAL_GUARD_BLAST_RADIUS",
                &blast_radius.to_string(),
                &format!(
                    "must be between 1 and {}",
                    crate::request::MAX_KEYS_PER_REQUEST
                ),
            ));
        }
        let dry_run = match get("MATERIAL_GUARD_DRY_RUN").as_deref() {
            None | Some("false") => false,
            Some("true") => true,
            Some(v) => {
                return Err(invalid(
                    "MATERIAL_GUARD_DRY_RUN",
                    v,
                    "must be `true` or `false`",
                ));
            }
        };
        let warn_days = number::<u32>(
            "MATERIAL_GUARD_EXPIRY_WARNING_DAYS",
            get("MATERIAL_GUARD_EXPIRY_WARNING_DAYS"),
            14,
        )?;
        if warn_days > 366 {
            return Err(invalid(
                "MATERIAL_GUARD_EXPIRY_WARNING_DAYS",
                &warn_days.to_string(),
                "must be at most 366",
            ));
        }
        let delete_rate = number::<f64>(
            "MATERIAL_GUARD_DELETE_RATE",
            get("MATERIAL_GUARD_DELETE_RATE"),
            d.delete_rate,
        )?;
        if !(delete_rate.is_finite() && delete_rate > 0.0 && delete_rate <= 10_000.0) {
            return Err(invalid(
                "MATERIAL_GUARD_DELETE_RATE",
                &delete_rate.to_string(),
                "must be a rate per second in (0, 10000]",
            ));
        }
        let concurrency = number::<usize>(
            "MATERIAL_GUARD_CONCURRENCY",
            get("MATERIAL_GUARD_CONCURRENCY"),
            d.concurrency,
        )?;
        if !(1..=1024).contains(&concurrency) {
            return Err(invalid(
                "MATERIAL_GUARD_CONCURRENCY",
                &concurrency.to_string(),
                "must be between 1 and 1024",
            ));
        }
        let max_attempts = number::<u32>(
            "MATERIAL_GUARD_MAX_ATTEMPTS",
            get("MATERIAL_GUARD_MAX_ATTEMPTS"),
            d.max_attempts,
        )?;
        if !(1..=20).contains(&max_attempts) {
            return Err(invalid(
                "MATERIAL_GUARD_MAX_ATTEMPTS",
                &max_attempts.to_string(),
                "must be between 1 and 20",
            ));
        }
        let margin_ms = number::<u64>(
            "MATERIAL_GUARD_DEADLINE_MARGIN_MS",
            get("MATERIAL_GUARD_DEADLINE_MARGIN_MS"),
            5_000,
        )?;
        let timeout_ms = number::<u64>(
            "MATERIAL_GUARD_CALL_TIMEOUT_MS",
            get("MATERIAL_GUARD_CALL_TIMEOUT_MS"),
            5_000,
        )?;
        if !(100..=60_000).contains(&timeout_ms) {
            return Err(invalid(
                "MATERIAL_GUARD_CALL_TIMEOUT_MS",
                &timeout_ms.to_string(),
                "must be between 100 and 60000",
            ));
        }

        let rotate_rate = number::<f64>(
            "MATERIAL_GUARD_ROTATE_RATE",
            get("MATERIAL_GUARD_ROTATE_RATE"),
            d.rotate_rate,
        )?;
        if !(rotate_rate.is_finite() && rotate_rate > 0.0 && rotate_rate <= 1_000.0) {
            return Err(invalid(
                "MATERIAL_GUARD_ROTATE_RATE",
                &rotate_rate.to_string(),
                "must be a rate per second in (0, 1000]",
            ));
        }
        let max_material_age = match get("MATERIAL_GUARD_MAX_MATERIAL_AGE_DAYS") {
            None => None,
            Some(v) => {
                let days =
                    number::<u32>("MATERIAL_GUARD_MAX_MATERIAL_AGE_DAYS", Some(v.clone()), 0)?;
                if !(1..=3650).contains(&days) {
                    return Err(invalid(
                        "MATERIAL_GUARD_MAX_MATERIAL_AGE_DAYS",
                        &v,
                        "must be between 1 and 3650 days",
                    ));
                }
                Some(Duration::from_secs(u64::from(days) * 86_400))
            }
        };
        let grace_days = number::<u32>(
            "MATERIAL_GUARD_CRYPTO_PERIOD_GRACE_DAYS",
            get("MATERIAL_GUARD_CRYPTO_PERIOD_GRACE_DAYS"),
            7,
        )?;
        if grace_days > 365 {
            return Err(invalid(
                "MATERIAL_GUARD_CRYPTO_PERIOD_GRACE_DAYS",
                &grace_days.to_string(),
                "must be at most 365",
            ));
        }
        let audit_event_bus = get("MATERIAL_GUARD_AUDIT_EVENT_BUS");
        if let Some(bus) = &audit_event_bus
            && (bus.len() > 1600 || bus.chars().any(|c| c.is_whitespace() || c.is_control()))
        {
            return Err(invalid(
                "MATERIAL_GUARD_AUDIT_EVENT_BUS",
                bus,
                "must be an event bus name or ARN",
            ));
        }
        let metrics_namespace = match get("MATERIAL_GUARD_METRICS_NAMESPACE").as_deref() {
            None => d.metrics_namespace,
            Some("off") => None,
            Some(ns)
                if ns.len() <= 255
                    && !ns.starts_with("AWS/")
                    && ns
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || ".-_/#:".contains(c)) =>
            {
                Some(ns.to_string())
            }
            Some(ns) => {
                return Err(invalid(
                    "MATERIAL_GUARD_METRICS_NAMESPACE",
                    ns,
                    "must be a CloudWatch namespace (not AWS/...), or `off`",
                ));
            }
        };
        let securityhub_min_severity =
            match get("MATERIAL_GUARD_SECURITYHUB_MIN_SEVERITY").as_deref() {
                None | Some("OFF") => None,
                Some(v) => Some(crate::findings::Severity::parse(v).ok_or_else(|| {
                    invalid(
                        "MATERIAL_GUARD_SECURITYHUB_MIN_SEVERITY",
                        v,
                        "must be OFF, INFORMATIONAL, LOW, MEDIUM, HIGH or CRITICAL",
                    )
                })?),
            };
        let guardduty_mappings = match get("MATERIAL_GUARD_GUARDDUTY_MAPPINGS") {
            None => Vec::new(),
            Some(v) => crate::findings::GuardDutyMapping::parse_list(&v)
                .map_err(|problem| invalid("MATERIAL_GUARD_GUARDDUTY_MAPPINGS", &v, &problem))?,
        };

        let continuation_function = match get("MATERIAL_GUARD_CONTINUATION_FUNCTION").as_deref() {
            Some("off") => None,
            Some(f)
                if f.len() <= 170 && !f.chars().any(|c| c.is_whitespace() || c.is_control()) =>
            {
                Some(f.to_string())
            }
            Some(f) => {
                return Err(invalid(
                    "MATERIAL_GUARD_CONTINUATION_FUNCTION",
                    f,
                    "must be a function name or ARN, or `off`",
                ));
            }
            None => get("AWS_LAMBDA_FUNCTION_NAME"),
        };

        let organizational_units = match get("MATERIAL_GUARD_ORGANIZATIONAL_UNITS") {
            None => Vec::new(),
            Some(v) => list("MATERIAL_GUARD_ORGANIZATIONAL_UNITS", &v, |s| {
                crate::request::is_organizational_unit(s)
                    .then_some(())
                    .ok_or("each entry must be an OU id (ou-xxxx-yyyyyyyy) or root id (r-xxxx)")
            })?,
        };

        Ok(Config {
            region,
            account_id,
            scope: Scope {
                mode,
                tag_key,
                tag_value,
            },
            allowed_sources,
            trusted_accounts,
            blast_radius,
            dry_run,
            expiry_warning: Duration::from_secs(u64::from(warn_days) * 86_400),
            delete_rate,
            concurrency,
            max_attempts,
            deadline_margin: Duration::from_millis(margin_ms),
            call_timeout: Duration::from_millis(timeout_ms),
            rotate_rate,
            max_material_age,
            crypto_period_grace: Duration::from_secs(u64::from(grace_days) * 86_400),
            audit_event_bus,
            metrics_namespace,
            securityhub_min_severity,
            guardduty_mappings,
            continuation_function,
            organizational_units,
        })
    }
}

fn invalid(name: &'static str, value: &str, problem: &str) -> ConfigError {
    ConfigError::Invalid {
        name,
        value: value.to_string(),
        problem: problem.to_string(),
    }
}

fn number<T: std::str::FromStr>(
    name: &'static str,
    value: Option<String>,
    default: T,
) -> Result<T, ConfigError> {
    match value {
        None => Ok(default),
        Some(v) => v
            .parse::<T>()
            .map_err(|_| invalid(name, &v, "not a number")),
    }
}

fn list(
    name: &'static str,
    value: &str,
    check: impl Fn(&str) -> Result<(), &'static str>,
) -> Result<Vec<String>, ConfigError> {
    let items: Vec<String> = value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    for item in &items {
        check(item).map_err(|problem| invalid(name, value, problem))?;
    }
    Ok(items)
}

/// A 12-digit AWS account id.
pub fn is_account(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// An AWS Region name such as `us-east-1` or `us-gov-west-1`.
pub fn is_region(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() >= 3
        && s.len() <= 32
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts
            .last()
            .is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn from(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_apply_when_only_the_region_is_set() {
        let c = from(&[("AWS_REGION", "eu-west-1")]).expect("valid");
        assert_eq!(c.region, "eu-west-1");
        assert_eq!(c.scope.mode, ScopeMode::Tagged);
        assert_eq!(c.scope.tag_key, "kms-material-guard:revocable");
        assert_eq!(c.scope.tag_value, "true");
        assert_eq!(c.allowed_sources, vec!["incident-response"]);
        assert!(c.trusted_accounts.is_empty());
        assert_eq!(c.blast_radius, 100);
        assert!(!c.dry_run);
        assert_eq!(c.expiry_warning, Duration::from_secs(14 * 86_400));
        assert_eq!(c.delete_rate, 10.0);
    }

    #[test]
    fn missing_region_names_the_variable() {
        let err = from(&[]).unwrap_err();
        assert_eq!(err, ConfigError::Missing { name: "AWS_REGION" });
        assert!(err.to_string().contains("AWS_REGION"));
    }

    #[test]
    fn each_malformed_variable_is_named() {
        for (name, value) in [
            ("MATERIAL_GUARD_BLAST_RADIUS", "many"),
            ("MATERIAL_GUARD_BLAST_RADIUS", "0"),
            ("MATERIAL_GUARD_DRY_RUN", "yes"),
            ("MATERIAL_GUARD_SCOPE_MODE", "everything"),
            ("MATERIAL_GUARD_ACCOUNT_ID", "12345"),
            ("MATERIAL_GUARD_TRUSTED_ACCOUNTS", "111111111111,abc"),
            ("MATERIAL_GUARD_ALLOWED_SOURCES", "aws.kms"),
            ("MATERIAL_GUARD_DELETE_RATE", "-3"),
            ("MATERIAL_GUARD_EXPIRY_WARNING_DAYS", "9999"),
            ("MATERIAL_GUARD_CONCURRENCY", "0"),
            ("MATERIAL_GUARD_MAX_ATTEMPTS", "0"),
            ("MATERIAL_GUARD_CALL_TIMEOUT_MS", "1"),
            ("MATERIAL_GUARD_SCOPE_TAG_KEY", "aws:reserved"),
            ("MATERIAL_GUARD_ROTATE_RATE", "0"),
            ("MATERIAL_GUARD_MAX_MATERIAL_AGE_DAYS", "0"),
            ("MATERIAL_GUARD_CRYPTO_PERIOD_GRACE_DAYS", "1000"),
            ("MATERIAL_GUARD_METRICS_NAMESPACE", "AWS/KMS"),
            ("MATERIAL_GUARD_SECURITYHUB_MIN_SEVERITY", "SEVERE"),
            (
                "MATERIAL_GUARD_GUARDDUTY_MAPPINGS",
                "[{\"findingType\": 3}]",
            ),
            ("MATERIAL_GUARD_AUDIT_EVENT_BUS", "two words"),
        ] {
            let err = from(&[("AWS_REGION", "us-east-1"), (name, value)]).unwrap_err();
            assert!(err.to_string().contains(name), "{name}={value}: {err}");
        }
        let err = from(&[("AWS_REGION", "not a region")]).unwrap_err();
        assert!(err.to_string().contains("AWS_REGION"));
    }

    #[test]
    fn widening_the_scope_and_lists_parse() {
        let c = from(&[
            ("AWS_REGION", "us-gov-west-1"),
            ("MATERIAL_GUARD_SCOPE_MODE", "all-external"),
            (
                "MATERIAL_GUARD_ALLOWED_SOURCES",
                " incident-response , soc.automation ",
            ),
            (
                "MATERIAL_GUARD_TRUSTED_ACCOUNTS",
                "111111111111,222222222222",
            ),
            ("MATERIAL_GUARD_DRY_RUN", "true"),
            ("MATERIAL_GUARD_DELETE_RATE", "2.5"),
        ])
        .expect("valid");
        assert_eq!(c.scope.mode, ScopeMode::AllExternal);
        assert_eq!(
            c.allowed_sources,
            vec!["incident-response", "soc.automation"]
        );
        assert_eq!(c.trusted_accounts, vec!["111111111111", "222222222222"]);
        assert!(c.dry_run);
        assert_eq!(c.delete_rate, 2.5);
    }
}
