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
        ("MATERIAL_GUARD_CONTINUATION_KEY", "my-key"),
        (
            "MATERIAL_GUARD_SECURITYHUB_ACTION_ARN",
            "arn:aws:iam::1:role/x",
        ),
        ("MATERIAL_GUARD_SECURITYHUB_PRODUCT_ARNS", "product/aws/*"),
        ("MATERIAL_GUARD_DEADLINE_MARGIN_MS", "999999"),
    ] {
        let err = from(&[("AWS_REGION", "us-east-1"), (name, value)]).unwrap_err();
        assert!(err.to_string().contains(name), "{name}={value}: {err}");
    }
    let err = from(&[("AWS_REGION", "not a region")]).unwrap_err();
    assert!(err.to_string().contains("AWS_REGION"));
}

#[test]
fn a_local_kms_never_continues_through_real_lambda() {
    // GIVEN cargo lambda watch's environment: a function name and a local KMS endpoint
    let local = [
        ("AWS_REGION", "us-east-1"),
        ("AWS_LAMBDA_FUNCTION_NAME", "kms-material-guard"),
        ("AWS_ENDPOINT_URL_KMS", "http://127.0.0.1:4599"),
    ];
    // WHEN the configuration is read
    let c = from(&local).expect("valid");
    // THEN no continuation would call the real Lambda service
    assert_eq!(c.continuation_function, None);
    // AND in Lambda (no endpoint override) the function continues in itself
    let c = from(&local[..2]).expect("valid");
    assert_eq!(
        c.continuation_function.as_deref(),
        Some("kms-material-guard")
    );
    // AND a local Lambda endpoint (the test harness) or an explicit choice keeps it
    let mut harness = local.to_vec();
    harness.push(("AWS_ENDPOINT_URL_LAMBDA", "http://localhost:9101"));
    assert!(
        from(&harness)
            .expect("valid")
            .continuation_function
            .is_some()
    );
    let mut explicit = local.to_vec();
    explicit.push(("MATERIAL_GUARD_CONTINUATION_FUNCTION", "guard-2"));
    assert_eq!(
        from(&explicit)
            .expect("valid")
            .continuation_function
            .as_deref(),
        Some("guard-2")
    );
}

#[test]
fn the_fallback_timeout_comes_from_the_variable_the_emulator_or_the_default() {
    let region = ("AWS_REGION", "us-east-1");
    assert_eq!(
        from(&[region]).expect("valid").fallback_timeout,
        DEFAULT_FALLBACK_TIMEOUT
    );
    assert_eq!(
        from(&[region, ("AWS_LAMBDA_FUNCTION_TIMEOUT", "30")])
            .expect("valid")
            .fallback_timeout,
        Duration::from_secs(30)
    );
    assert_eq!(
        from(&[
            region,
            ("AWS_LAMBDA_FUNCTION_TIMEOUT", "30"),
            ("MATERIAL_GUARD_FALLBACK_TIMEOUT_SECONDS", "120"),
        ])
        .expect("valid")
        .fallback_timeout,
        Duration::from_secs(120)
    );
    let err = from(&[region, ("MATERIAL_GUARD_FALLBACK_TIMEOUT_SECONDS", "0")]).unwrap_err();
    assert!(
        err.to_string()
            .contains("MATERIAL_GUARD_FALLBACK_TIMEOUT_SECONDS")
    );
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
