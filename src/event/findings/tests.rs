use super::*;
use crate::config::{Config, GuardDutyMapping};
use serde_json::json;

const ACCOUNT: &str = "111111111111";

/// Runs `f` with this member's identity (account 111111111111, us-east-1) under `config`.
fn with_member<T>(config: Config, f: impl FnOnce(&Identity<'_>) -> T) -> T {
    f(&Identity {
        account: ACCOUNT,
        config: &config,
    })
}

fn severity(min: Option<Severity>) -> Config {
    Config {
        securityhub_min_severity: min,
        ..Config::default()
    }
}

fn hub(detail: &Value, custom: bool, min: Option<Severity>) -> Result<FindingsDecision, Rejection> {
    with_member(severity(min), |who| security_hub(detail, custom, who))
}

fn finding() -> Value {
    json!({"findings": [{"Id": "f1", "Severity": {"Label": "CRITICAL"},
        "ProductArn": "arn:aws:securityhub:us-east-1::product/aws/guardduty",
        "AwsAccountId": ACCOUNT,
        "Resources": [{"Type": "AwsKmsKey", "Id": "arn:aws:kms:us-east-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab"}]}]})
}

#[test]
fn imported_findings_are_ignored_unless_a_severity_is_configured() {
    let detail = finding();
    assert!(matches!(
        hub(&detail, false, None),
        Ok(FindingsDecision::Nothing(_))
    ));
    assert!(matches!(
        hub(&detail, false, Some(Severity::High)),
        Ok(FindingsDecision::Revoke(_))
    ));
    let mut low = detail.clone();
    low["findings"][0]["Severity"]["Label"] = json!("MEDIUM");
    assert!(matches!(
        hub(&low, false, Some(Severity::High)),
        Ok(FindingsDecision::Nothing(_))
    ));
    let mut suppressed = detail.clone();
    suppressed["findings"][0]["Workflow"] = json!({"Status": "SUPPRESSED"});
    assert!(matches!(
        hub(&suppressed, false, Some(Severity::Low)),
        Ok(FindingsDecision::Nothing(_))
    ));
    let mut posture = detail;
    posture["findings"][0]["Compliance"] = json!({"Status": "FAILED"});
    assert!(matches!(
        hub(&posture, false, Some(Severity::Low)),
        Ok(FindingsDecision::Nothing(_))
    ));
    // a responder's explicit custom action still acts on a posture finding
    assert!(matches!(
        hub(&posture, true, None),
        Ok(FindingsDecision::Revoke(_))
    ));
}

#[test]
fn findings_act_only_from_allowed_products_about_this_member_and_its_keys() {
    // GIVEN a CRITICAL finding that would revoke, and revocation at HIGH
    let min = Some(Severity::High);
    // WHEN its product is a custom product imported with BatchImportFindings
    let mut custom_product = finding();
    custom_product["findings"][0]["ProductArn"] =
        json!("arn:aws:securityhub:us-east-1:111111111111:product/111111111111/default");
    // THEN nothing is revoked, and the note says why
    let Ok(FindingsDecision::Nothing(why)) = hub(&custom_product, false, min) else {
        panic!("a custom product's finding revoked")
    };
    assert!(why.contains("1 from a product not allowed"), "{why}");
    // AND a configured pattern admits that product
    let cfg = Config {
        securityhub_product_arns: vec![
            "arn:aws:securityhub:us-east-1:111111111111:product/111111111111/*".into(),
        ],
        ..severity(min)
    };
    assert!(matches!(
        with_member(cfg, |who| security_hub(&custom_product, false, who)),
        Ok(FindingsDecision::Revoke(_))
    ));
    // WHEN the finding is about another account, or another Region
    for (field, value) in [("AwsAccountId", "222222222222"), ("Region", "eu-west-1")] {
        let mut other = finding();
        other["findings"][0][field] = json!(value);
        // THEN nothing is revoked
        assert!(
            matches!(hub(&other, false, min), Ok(FindingsDecision::Nothing(_))),
            "{field}"
        );
    }
    // WHEN the finding names keys of another account, Region or partition
    let mut foreign = finding();
    foreign["findings"][0]["Resources"] = json!([
        {"Type": "AwsKmsKey", "Id": "arn:aws:kms:us-east-1:222222222222:key/1234abcd-12ab-34cd-56ef-1234567890ab"},
        {"Type": "AwsKmsKey", "Id": "arn:aws:kms:eu-west-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab"},
        {"Type": "AwsKmsKey", "Id": "arn:aws-us-gov:kms:us-east-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab"}
    ]);
    // THEN none of them is requested
    let Ok(FindingsDecision::Nothing(why)) = hub(&foreign, true, None) else {
        panic!("a foreign key was requested")
    };
    assert!(why.contains("3 keys of another account"), "{why}");
}

#[test]
fn finding_titles_cannot_forge_lines_or_reverse_text() {
    // GIVEN a finding whose title carries a line separator and a bidi override
    let mut f = finding();
    f["findings"][0]["Title"] = json!("ok\u{2028}{\"log_type\":\"audit\"}\u{202E}gpj.exe");
    // WHEN it becomes a request
    let Ok(FindingsDecision::Revoke(req)) = hub(&f, true, None) else {
        panic!("not a revocation")
    };
    // THEN the key's reason keeps the text without the forbidden characters
    let reason = &req.keys[0].context.as_ref().expect("context").reason;
    assert!(
        !reason.contains('\u{2028}') && !reason.contains('\u{202E}'),
        "{reason:?}"
    );
    assert!(reason.contains("ok "), "{reason:?}");
}

fn rules() -> Config {
    Config {
        guardduty_mappings: GuardDutyMapping::parse_list(
            r#"[{"findingType": "*", "minSeverity": 0, "tags": {"t": "v"}}]"#,
        )
        .expect("rules"),
        ..Config::default()
    }
}

#[test]
fn guardduty_sample_findings_never_revoke() {
    let real = json!({"type": "Recon:EC2/Portscan", "severity": 5, "id": "f",
        "accountId": ACCOUNT, "region": "us-east-1"});
    assert!(matches!(
        with_member(rules(), |who| guardduty(&real, who)),
        Ok(FindingsDecision::Revoke(_))
    ));
    let mut sample = real;
    sample["service"] = json!({"additionalInfo": {"sample": true}});
    assert!(matches!(
        with_member(rules(), |who| guardduty(&sample, who)),
        Ok(FindingsDecision::Nothing(_))
    ));
}

#[test]
fn guardduty_findings_about_another_member_never_revoke_here() {
    // GIVEN a finding a delegated administrator forwarded, about another account or Region
    for (account, region) in [("222222222222", "us-east-1"), (ACCOUNT, "eu-west-1")] {
        let f = json!({"type": "Recon:EC2/Portscan", "severity": 8, "id": "f",
            "accountId": account, "region": region});
        // WHEN it is mapped
        let d = with_member(rules(), |who| guardduty(&f, who));
        // THEN nothing is revoked here
        assert!(
            matches!(d, Ok(FindingsDecision::Nothing(_))),
            "{account} {region}: {d:?}"
        );
    }
}
