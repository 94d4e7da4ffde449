//! Readers for the variables that need more than a range check: the Region, the account, the
//! scope, the fallback timeout, the audit bus, the metrics namespace, the Security Hub threshold
//! and the continuation function.

use std::time::Duration;

use super::env::{ConfigError, Env, invalid};
use super::findings::Severity;
use super::{
    DEFAULT_FALLBACK_TIMEOUT, DEFAULT_METRICS_NAMESPACE, DEFAULT_SCOPE_TAG_KEY,
    DEFAULT_SCOPE_TAG_VALUE, Scope, ScopeMode,
};
use crate::validate::{is_account, is_region};

pub(super) fn region<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<String, ConfigError> {
    let region = env
        .get("AWS_REGION")
        .or_else(|| env.get("AWS_DEFAULT_REGION"))
        .ok_or(ConfigError::Missing { name: "AWS_REGION" })?;
    if !is_region(&region) {
        return Err(invalid(
            "AWS_REGION",
            &region,
            "not an AWS Region name such as us-east-1",
        ));
    }
    Ok(region)
}

pub(super) fn account_id<F: Fn(&str) -> Option<String>>(
    env: &Env<F>,
) -> Result<Option<String>, ConfigError> {
    match env.get("MATERIAL_GUARD_ACCOUNT_ID") {
        Some(v) if !is_account(&v) => Err(invalid(
            "MATERIAL_GUARD_ACCOUNT_ID",
            &v,
            "must be 12 digits",
        )),
        v => Ok(v),
    }
}

pub(super) fn scope<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Scope, ConfigError> {
    let mode = match env.choice("MATERIAL_GUARD_SCOPE_MODE", &["tagged", "all-external"])? {
        0 => ScopeMode::Tagged,
        _ => ScopeMode::AllExternal,
    };
    let tag_key = env
        .get("MATERIAL_GUARD_SCOPE_TAG_KEY")
        .unwrap_or_else(|| DEFAULT_SCOPE_TAG_KEY.into());
    if tag_key.chars().count() > 128 || tag_key.starts_with("aws:") {
        return Err(invalid(
            "MATERIAL_GUARD_SCOPE_TAG_KEY",
            &tag_key,
            "must be a KMS tag key: 1-128 characters, not starting with aws:",
        ));
    }
    let tag_value = env
        .get("MATERIAL_GUARD_SCOPE_TAG_VALUE")
        .unwrap_or_else(|| DEFAULT_SCOPE_TAG_VALUE.into());
    if tag_value.chars().count() > 256 {
        return Err(invalid(
            "MATERIAL_GUARD_SCOPE_TAG_VALUE",
            &tag_value,
            "longer than 256 characters",
        ));
    }
    Ok(Scope {
        mode,
        tag_key,
        tag_value,
    })
}

/// `MATERIAL_GUARD_FALLBACK_TIMEOUT_SECONDS`, else the emulator's `AWS_LAMBDA_FUNCTION_TIMEOUT`,
/// else [`DEFAULT_FALLBACK_TIMEOUT`].
pub(super) fn fallback_timeout<F: Fn(&str) -> Option<String>>(
    env: &Env<F>,
) -> Result<Duration, ConfigError> {
    let ok = |n: &u64| (1..=900).contains(n);
    let problem = "must be a number of seconds from 1 to 900";
    let seconds =
        match env.optional_number("MATERIAL_GUARD_FALLBACK_TIMEOUT_SECONDS", ok, problem)? {
            Some(s) => Some(s),
            None => env.optional_number("AWS_LAMBDA_FUNCTION_TIMEOUT", ok, problem)?,
        };
    Ok(seconds.map_or(DEFAULT_FALLBACK_TIMEOUT, Duration::from_secs))
}

pub(super) fn audit_event_bus<F: Fn(&str) -> Option<String>>(
    env: &Env<F>,
) -> Result<Option<String>, ConfigError> {
    match env.get("MATERIAL_GUARD_AUDIT_EVENT_BUS") {
        Some(bus)
            if bus.len() > 1600 || bus.chars().any(|c| c.is_whitespace() || c.is_control()) =>
        {
            Err(invalid(
                "MATERIAL_GUARD_AUDIT_EVENT_BUS",
                &bus,
                "must be an event bus name or ARN",
            ))
        }
        bus => Ok(bus),
    }
}

pub(super) fn metrics_namespace<F: Fn(&str) -> Option<String>>(
    env: &Env<F>,
) -> Result<Option<String>, ConfigError> {
    match env.get("MATERIAL_GUARD_METRICS_NAMESPACE").as_deref() {
        None => Ok(Some(DEFAULT_METRICS_NAMESPACE.to_string())),
        Some("off") => Ok(None),
        Some(ns)
            if ns.len() <= 255
                && !ns.starts_with("AWS/")
                && ns
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || ".-_/#:".contains(c)) =>
        {
            Ok(Some(ns.to_string()))
        }
        Some(ns) => Err(invalid(
            "MATERIAL_GUARD_METRICS_NAMESPACE",
            ns,
            "must be a CloudWatch namespace (not AWS/...), or `off`",
        )),
    }
}

pub(super) fn securityhub_min_severity<F: Fn(&str) -> Option<String>>(
    env: &Env<F>,
) -> Result<Option<Severity>, ConfigError> {
    match env
        .get("MATERIAL_GUARD_SECURITYHUB_MIN_SEVERITY")
        .as_deref()
    {
        None | Some("OFF") => Ok(None),
        Some(v) => Severity::parse(v).map(Some).ok_or_else(|| {
            invalid(
                "MATERIAL_GUARD_SECURITYHUB_MIN_SEVERITY",
                v,
                "must be OFF, INFORMATIONAL, LOW, MEDIUM, HIGH or CRITICAL",
            )
        }),
    }
}

/// The function a large request continues in. Unset: the function itself
/// (`AWS_LAMBDA_FUNCTION_NAME`), except when KMS is a local endpoint (`AWS_ENDPOINT_URL_KMS` or
/// `AWS_ENDPOINT_URL` on loopback) and Lambda is not: a local run (`cargo lambda watch`) must
/// never invoke real AWS Lambda.
pub(super) fn continuation_function<F: Fn(&str) -> Option<String>>(
    env: &Env<F>,
) -> Result<Option<String>, ConfigError> {
    match env.get("MATERIAL_GUARD_CONTINUATION_FUNCTION").as_deref() {
        Some("off") => Ok(None),
        Some(f) if f.len() <= 170 && !f.chars().any(|c| c.is_whitespace() || c.is_control()) => {
            Ok(Some(f.to_string()))
        }
        Some(f) => Err(invalid(
            "MATERIAL_GUARD_CONTINUATION_FUNCTION",
            f,
            "must be a function name or ARN, or `off`",
        )),
        None if local_kms_only(env) => Ok(None),
        None => Ok(env.get("AWS_LAMBDA_FUNCTION_NAME")),
    }
}

/// Whether KMS is served on loopback while Lambda would be the real service.
pub(super) fn local_kms_only<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> bool {
    let loopback = |url: &str| {
        ["://127.", "://localhost", "://[::1]"]
            .iter()
            .any(|p| url.to_ascii_lowercase().contains(p))
    };
    let kms = env
        .get("AWS_ENDPOINT_URL_KMS")
        .or_else(|| env.get("AWS_ENDPOINT_URL"));
    let lambda = env
        .get("AWS_ENDPOINT_URL_LAMBDA")
        .or_else(|| env.get("AWS_ENDPOINT_URL"));
    kms.as_deref().is_some_and(loopback) && !lambda.as_deref().is_some_and(loopback)
}
