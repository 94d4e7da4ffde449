//! Configuration, read once at init from `MATERIAL_GUARD_*` environment variables.
//!
//! Every variable is documented in docs/reference.md with its default. A missing required or
//! malformed variable fails the init phase with an error naming the variable, so a bad
//! deployment is caught before any event is handled.

mod env;
mod findings;
mod readers;

use std::time::Duration;

pub use env::ConfigError;
pub use findings::{GuardDutyMapping, Severity, glob};

use crate::domain::MAX_KEYS_PER_REQUEST;
use crate::validate::{is_account, is_organizational_unit};
use env::{Env, invalid};
use readers::*;

/// Default scope tag key: a key is revocable only when it carries this tag (with
/// [`DEFAULT_SCOPE_TAG_VALUE`]), unless the scope is widened to every EXTERNAL key.
pub const DEFAULT_SCOPE_TAG_KEY: &str = "kms-material-guard:revocable";
/// Default value the scope tag must have.
pub const DEFAULT_SCOPE_TAG_VALUE: &str = "true";
/// Tag holding an RFC 3339 time after which the scheduled sweep revokes the key.
pub const REVOKE_AT_TAG_KEY: &str = "kms-material-guard:revoke-at";
/// Default EventBridge source allowed to send incident (revocation) events.
pub const DEFAULT_ALLOWED_SOURCE: &str = "incident-response";
/// Default CloudWatch namespace of the EMF metrics.
pub const DEFAULT_METRICS_NAMESPACE: &str = "KmsMaterialGuard";
/// Default fallback timeout when the runtime reports no plausible deadline.
/// Default of `MATERIAL_GUARD_ENRICHMENT_TIMEOUT_MS`: a few KMS round trips, so a listing that
/// hangs delays a record by at most this much (it runs beside the verification DescribeKey).
pub const DEFAULT_ENRICHMENT_TIMEOUT_MS: u64 = 500;
pub const DEFAULT_FALLBACK_TIMEOUT: Duration = Duration::from_secs(60);

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
    /// Timeout of the one attempt a best-effort read makes (the materials listing that only
    /// adds context to a record).
    pub enrichment_timeout: Duration,
    /// The invocation's time budget when the runtime reports no plausible deadline (local
    /// emulators): `MATERIAL_GUARD_FALLBACK_TIMEOUT_SECONDS`, else `AWS_LAMBDA_FUNCTION_TIMEOUT`,
    /// else 60 s.
    pub fallback_timeout: Duration,
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
    pub securityhub_min_severity: Option<Severity>,
    /// Security Hub product ARN patterns (`*` matches any run of characters) whose findings may
    /// revoke, besides AWS's own integrations (`arn:<partition>:securityhub:<region>::product/aws/*`).
    pub securityhub_product_arns: Vec<String>,
    /// The Security Hub custom action whose findings revoke; `None`: the template's action,
    /// `arn:<partition>:securityhub:<region>:<account>:action/custom/RevokeKeyMaterial`.
    pub securityhub_action_arn: Option<String>,
    /// GuardDuty finding type patterns mapped to tag selectors; empty: GuardDuty does nothing.
    pub guardduty_mappings: Vec<GuardDutyMapping>,
    /// The function (name or ARN) a large request continues in when the deadline comes;
    /// `None`: no continuation (keys left are `deferred` and the invocation asks for a retry).
    pub continuation_function: Option<String>,
    /// Organizational units (and parents) the account belongs to, for requests targeting OUs.
    pub organizational_units: Vec<String>,
    /// The KMS HMAC key (key ARN or alias ARN) that seals continuation payloads (GenerateMac /
    /// VerifyMac); `None`: continuations are neither started nor accepted.
    pub continuation_key: Option<String>,
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
            expiry_warning: days(14),
            delete_rate: 10.0,
            concurrency: 16,
            max_attempts: 5,
            deadline_margin: Duration::from_millis(5_000),
            call_timeout: Duration::from_millis(5_000),
            enrichment_timeout: Duration::from_millis(DEFAULT_ENRICHMENT_TIMEOUT_MS),
            fallback_timeout: DEFAULT_FALLBACK_TIMEOUT,
            rotate_rate: 3.0,
            max_material_age: None,
            crypto_period_grace: days(7),
            audit_event_bus: None,
            metrics_namespace: Some(DEFAULT_METRICS_NAMESPACE.to_string()),
            securityhub_min_severity: None,
            securityhub_product_arns: Vec::new(),
            securityhub_action_arn: None,
            guardduty_mappings: Vec::new(),
            continuation_function: None,
            organizational_units: Vec::new(),
            continuation_key: None,
        }
    }
}

/// `arn:<partition>:<service>:...` without whitespace or control characters, at most 2048.
fn arn_like(s: &str, service: &str) -> bool {
    let mut parts = s.splitn(4, ':');
    parts.next() == Some("arn")
        && parts.next().is_some_and(|p| p.starts_with("aws"))
        && parts.next() == Some(service)
        && s.len() <= 2048
        && !s.chars().any(|c| c.is_whitespace() || c.is_control())
}

fn days(n: u32) -> Duration {
    Duration::from_secs(u64::from(n) * 86_400)
}

impl Config {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup` (the environment, or a map in tests).
    /// Empty values count as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env { lookup };
        let d = Config::default();
        Ok(Config {
            region: region(&env)?,
            account_id: account_id(&env)?,
            scope: scope(&env)?,
            allowed_sources: match env.get("MATERIAL_GUARD_ALLOWED_SOURCES") {
                None => d.allowed_sources,
                Some(_) => env.list("MATERIAL_GUARD_ALLOWED_SOURCES", |s| {
                    (!s.starts_with("aws."))
                        .then_some(())
                        .ok_or("sources starting with `aws.` are reserved for AWS services")
                })?,
            },
            trusted_accounts: env.list("MATERIAL_GUARD_TRUSTED_ACCOUNTS", |s| {
                is_account(s)
                    .then_some(())
                    .ok_or("each account must be 12 digits")
            })?,
            blast_radius: env.number(
                "MATERIAL_GUARD_BLAST_RADIUS",
                d.blast_radius,
                |n| (1..=MAX_KEYS_PER_REQUEST).contains(n),
                &format!("must be between 1 and {MAX_KEYS_PER_REQUEST}"),
            )?,
            dry_run: env.flag("MATERIAL_GUARD_DRY_RUN", false)?,
            expiry_warning: days(env.number(
                "MATERIAL_GUARD_EXPIRY_WARNING_DAYS",
                14,
                |n| *n <= 366,
                "must be at most 366",
            )?),
            delete_rate: env.number(
                "MATERIAL_GUARD_DELETE_RATE",
                d.delete_rate,
                |r: &f64| r.is_finite() && *r > 0.0 && *r <= 10_000.0,
                "must be a rate per second in (0, 10000]",
            )?,
            concurrency: env.number(
                "MATERIAL_GUARD_CONCURRENCY",
                d.concurrency,
                |n| (1..=1024).contains(n),
                "must be between 1 and 1024",
            )?,
            max_attempts: env.number(
                "MATERIAL_GUARD_MAX_ATTEMPTS",
                d.max_attempts,
                |n| (1..=20).contains(n),
                "must be between 1 and 20",
            )?,
            deadline_margin: Duration::from_millis(env.number(
                "MATERIAL_GUARD_DEADLINE_MARGIN_MS",
                5_000,
                |n| *n <= 600_000,
                "must be at most 600000",
            )?),
            call_timeout: Duration::from_millis(env.number(
                "MATERIAL_GUARD_CALL_TIMEOUT_MS",
                5_000,
                |n| (100..=60_000).contains(n),
                "must be between 100 and 60000",
            )?),
            enrichment_timeout: Duration::from_millis(env.number(
                "MATERIAL_GUARD_ENRICHMENT_TIMEOUT_MS",
                DEFAULT_ENRICHMENT_TIMEOUT_MS,
                |n| (10..=60_000).contains(n),
                "must be between 10 and 60000",
            )?),
            fallback_timeout: fallback_timeout(&env)?,
            rotate_rate: env.number(
                "MATERIAL_GUARD_ROTATE_RATE",
                d.rotate_rate,
                |r: &f64| r.is_finite() && *r > 0.0 && *r <= 1_000.0,
                "must be a rate per second in (0, 1000]",
            )?,
            max_material_age: env
                .optional_number(
                    "MATERIAL_GUARD_MAX_MATERIAL_AGE_DAYS",
                    |n| (1..=3650).contains(n),
                    "must be between 1 and 3650 days",
                )?
                .map(days),
            crypto_period_grace: days(env.number(
                "MATERIAL_GUARD_CRYPTO_PERIOD_GRACE_DAYS",
                7,
                |n| *n <= 365,
                "must be at most 365",
            )?),
            audit_event_bus: audit_event_bus(&env)?,
            metrics_namespace: metrics_namespace(&env)?,
            securityhub_min_severity: securityhub_min_severity(&env)?,
            securityhub_product_arns: env.list("MATERIAL_GUARD_SECURITYHUB_PRODUCT_ARNS", |s| {
                arn_like(s, "securityhub")
                    .then_some(())
                    .ok_or("each entry must be a Security Hub product ARN pattern (arn:<partition>:securityhub:...)")
            })?,
            securityhub_action_arn: match env.get("MATERIAL_GUARD_SECURITYHUB_ACTION_ARN") {
                Some(a) if !arn_like(&a, "securityhub") || a.contains('*') => {
                    return Err(invalid(
                        "MATERIAL_GUARD_SECURITYHUB_ACTION_ARN",
                        &a,
                        "must be a Security Hub custom action ARN (arn:<partition>:securityhub:<region>:<account>:action/custom/<id>)",
                    ));
                }
                a => a,
            },
            guardduty_mappings: match env.get("MATERIAL_GUARD_GUARDDUTY_MAPPINGS") {
                None => Vec::new(),
                Some(v) => GuardDutyMapping::parse_list(&v).map_err(|problem| {
                    invalid("MATERIAL_GUARD_GUARDDUTY_MAPPINGS", &v, &problem)
                })?,
            },
            continuation_function: continuation_function(&env)?,
            organizational_units: env.list("MATERIAL_GUARD_ORGANIZATIONAL_UNITS", |s| {
                is_organizational_unit(s)
                    .then_some(())
                    .ok_or("each entry must be an OU id (ou-xxxx-yyyyyyyy) or root id (r-xxxx)")
            })?,
            continuation_key: match env.get("MATERIAL_GUARD_CONTINUATION_KEY") {
                Some(k) if !arn_like(&k, "kms") => {
                    return Err(invalid(
                        "MATERIAL_GUARD_CONTINUATION_KEY",
                        &k,
                        "must be the ARN of a KMS HMAC key or of its alias",
                    ));
                }
                k => k,
            },
        })
    }
}

#[cfg(test)]
mod tests;
