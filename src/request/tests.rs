use super::*;
use serde_json::json;

const ID: &str = "1234abcd-12ab-34cd-56ef-1234567890ab";

fn ok_request() -> Value {
    json!({"keys": [ID], "reason": "suspected exfiltration", "incidentId": "INC-1"})
}

#[test]
fn a_minimal_request_is_accepted() {
    let r = parse_request(&ok_request(), &Path::root("")).expect("valid");
    assert_eq!(r.keys.len(), 1);
    assert!(!r.dry_run);
    assert_eq!(r.incident_id, "INC-1");
}

fn rejection(v: Value) -> Rejection {
    parse_request(&v, &Path::root("detail")).expect_err("must be rejected")
}

#[test]
fn unknown_fields_are_rejected_so_typos_never_delete() {
    let mut v = ok_request();
    v["dryrun"] = json!(true);
    let r = rejection(v);
    assert_eq!(
        (r.location.as_str(), r.code),
        ("detail.dryrun", "UnknownField")
    );
}

#[test]
fn missing_reason_and_incident_are_rejected_with_their_location() {
    let mut v = ok_request();
    v.as_object_mut().map(|o| o.remove("reason"));
    assert_eq!(rejection(v).location, "detail.reason");
    let mut v = ok_request();
    v.as_object_mut().map(|o| o.remove("incidentId"));
    assert_eq!(rejection(v).location, "detail.incidentId");
}

#[test]
fn oversize_and_control_characters_are_rejected() {
    let mut v = ok_request();
    v["reason"] = json!("x".repeat(1025));
    let r = rejection(v);
    assert_eq!((r.location.as_str(), r.code), ("detail.reason", "TooLong"));
    let mut v = ok_request();
    v["incidentId"] = json!("INC-1\n{\"log_type\":\"audit\"}");
    assert_eq!(rejection(v).code, "InvalidCharacter");
    let mut v = ok_request();
    v["reason"] = json!("ok \u{202E}txt.exe");
    assert_eq!(rejection(v).code, "InvalidCharacter");
    let mut v = ok_request();
    v["reason"] = json!("line one\nline two");
    assert!(
        parse_request(&v, &Path::root("")).is_ok(),
        "multiline reasons are fine"
    );
}

#[test]
fn wrong_types_are_rejected() {
    for (field, value, loc) in [
        ("keys", json!("just-one"), "detail.keys"),
        ("keys", json!([ID, 7]), "detail.keys[1]"),
        ("tags", json!(["a"]), "detail.tags"),
        ("dryRun", json!("false"), "detail.dryRun"),
        ("reason", json!(42), "detail.reason"),
    ] {
        let mut v = ok_request();
        v[field] = value;
        let r = rejection(v);
        assert_eq!(r.location, loc);
        assert_eq!(r.code, "InvalidType");
    }
    assert_eq!(rejection(json!([1, 2])).code, "InvalidType");
}

#[test]
fn keys_or_tags_are_required() {
    let r = rejection(json!({"reason": "r", "incidentId": "i"}));
    assert_eq!(r.code, "NoKeysSelected");
    let r = rejection(json!({"keys": [], "tags": {}, "reason": "r", "incidentId": "i"}));
    assert_eq!(r.code, "NoKeysSelected");
}

#[test]
fn key_material_id_needs_one_key_and_the_key_wide_acknowledgement() {
    let material = "a".repeat(64);
    let mut v = ok_request();
    v["keyMaterialId"] = json!(material);
    let r = rejection(v.clone());
    assert_eq!(r.code, "AcknowledgeKeyWideRequired");
    assert!(r.problem.contains("disables the whole key"));
    v["acknowledgeKeyWide"] = json!(true);
    assert_eq!(
        parse_request(&v, &Path::root(""))
            .expect("valid")
            .key_material_id
            .as_deref(),
        Some(material.as_str())
    );
    v["keys"] = json!([ID, "alias/other"]);
    assert_eq!(rejection(v.clone()).code, "KeyMaterialIdNeedsOneKey");
    v["keys"] = json!([ID]);
    v["keyMaterialId"] = json!("A".repeat(64));
    assert_eq!(rejection(v).code, "InvalidValue");
}

#[test]
fn exact_duplicates_collapse_and_bad_identifiers_are_kept_per_key() {
    let v = json!({"keys": [ID, ID, "nope"], "reason": "r", "incidentId": "i"});
    let r = parse_request(&v, &Path::root("")).expect("valid");
    assert_eq!(r.keys.len(), 2);
    assert!(r.keys[1].parsed.is_err());
}

#[test]
fn targets_select_members_by_account_ou_and_region() {
    let mut v = ok_request();
    // organization requests name keys by ARN (organization_requests_must_name_keys_by_arn)
    v["keys"] = json!([format!("arn:aws:kms:eu-west-1:222222222222:key/{ID}")]);
    v["targets"] = json!({"accounts": ["222222222222"], "organizationalUnits": ["ou-ab12-cdefgh34"], "regions": ["eu-west-1"]});
    let t = parse_request(&v, &Path::root(""))
        .expect("valid")
        .targets
        .expect("targets");
    assert!(t.includes("222222222222", &[], "eu-west-1"));
    assert!(t.includes("333333333333", &["ou-ab12-cdefgh34".into()], "eu-west-1"));
    assert!(!t.includes("333333333333", &[], "eu-west-1"));
    assert!(!t.includes("222222222222", &[], "us-east-1"));
    let regions_only = Targets {
        regions: vec!["us-east-1".into()],
        ..Targets::default()
    };
    assert!(regions_only.includes("444444444444", &[], "us-east-1"));
    for (bad, loc) in [
        (json!({}), "detail.targets"),
        (json!({"accounts": ["12"]}), "detail.targets.accounts[0]"),
        (
            json!({"organizationalUnits": ["ou-x"]}),
            "detail.targets.organizationalUnits[0]",
        ),
        (json!({"regions": "us-east-1"}), "detail.targets.regions"),
        (
            json!({"account": ["222222222222"]}),
            "detail.targets.account",
        ),
    ] {
        let mut v = ok_request();
        v["targets"] = bad;
        assert_eq!(rejection(v).location, loc);
    }
}

#[test]
fn organization_requests_must_name_keys_by_arn() {
    // GIVEN a request with targets naming a bare alias (the same IaC deploys it everywhere)
    let mut v = ok_request();
    v["keys"] = json!([
        format!("arn:aws:kms:us-east-1:111122223333:key/{ID}"),
        "alias/orders"
    ]);
    v["targets"] = json!({"accounts": ["111122223333", "222222222222"]});
    // WHEN it is validated
    let r = rejection(v.clone());
    // THEN it is rejected as ambiguous, naming the entry
    assert_eq!(
        (r.location.as_str(), r.code),
        ("detail.keys[1]", "AmbiguousKeyIdentifier")
    );
    // AND a bare key id likewise, also without targets when the request comes from another
    // account
    let mut v = ok_request();
    v["keys"] = json!([ID]);
    assert!(
        parse_request(&v, &Path::root("")).is_ok(),
        "own account: fine"
    );
    let r = parse_request_from(&v, &Path::root("detail"), true).expect_err("ambiguous");
    assert_eq!(r.code, "AmbiguousKeyIdentifier");
    // AND ARNs and tag selectors are accepted
    let mut v = ok_request();
    v["keys"] = json!(["arn:aws:kms:us-east-1:111122223333:alias/orders"]);
    v["tags"] = json!({"supplier": "acme"});
    v["targets"] = json!({"regions": ["us-east-1"]});
    assert!(parse_request(&v, &Path::root("")).is_ok());
}

#[test]
fn too_many_keys_is_a_rejection_before_any_work() {
    let keys: Vec<String> = (0..MAX_KEYS_PER_REQUEST + 1)
        .map(|i| format!("alias/k{i}"))
        .collect();
    let r = rejection(json!({"keys": keys, "reason": "r", "incidentId": "i"}));
    assert_eq!(r.code, "TooManyKeys");
}
