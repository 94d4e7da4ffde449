//! Shared support of the organization tests: a local organization, requests, schema checks.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::OnceLock;

use org::aws::MemberId;
use org::local::{COMPROMISED, LocalOrg, MemberEstate, OrgSpec};
use serde_json::{Value, json};

/// The 3 accounts x 2 Regions organization with its estate (3 compromised keys, 1 out of scope,
/// 2 of another supplier per member).
pub async fn org_with(spec: OrgSpec) -> (LocalOrg, BTreeMap<MemberId, MemberEstate>) {
    let org = LocalOrg::start(spec)
        .await
        .expect("the local organization starts");
    let estate = org.seed(3, 1, 2).expect("estate seeded");
    (org, estate)
}

pub async fn org() -> (LocalOrg, BTreeMap<MemberId, MemberEstate>) {
    org_with(OrgSpec::three_by_two()).await
}

/// The tag-selector request of the compromised supplier.
pub fn request(incident: &str, dry_run: bool, targets: Value) -> Value {
    json!({"tags": {COMPROMISED.0: COMPROMISED.1}, "targets": targets,
           "reason": "supplier acme-hsm compromised", "incidentId": incident,
           "requestedBy": "responder@example.com", "dryRun": dry_run})
}

pub fn member(account: &str, region: &str) -> MemberId {
    MemberId::new(account, region)
}

fn schema(name: &str) -> &'static jsonschema::Validator {
    static AUDIT: OnceLock<jsonschema::Validator> = OnceLock::new();
    static SUMMARY: OnceLock<jsonschema::Validator> = OnceLock::new();
    let cell = if name.starts_with("audit") {
        &AUDIT
    } else {
        &SUMMARY
    };
    cell.get_or_init(|| {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../schema")
            .join(name);
        let text = std::fs::read_to_string(&path).expect("schema file");
        let v: Value = serde_json::from_str(&text).expect("schema is JSON");
        jsonschema::validator_for(&v).expect("schema compiles")
    })
}

/// Every audit record and summary on the central bus's log group is valid against its schema,
/// and every line is an EventBridge event from a member account.
pub fn assert_central_log_valid(org: &LocalOrg) {
    let audit = schema("audit-record.v1.json");
    let summary = schema("revocation-summary.v1.json");
    for line in org.audit_log() {
        let event: Value = serde_json::from_str(&line).expect("log line is JSON");
        assert_eq!(event["source"], "kms-material-guard");
        let validator = match event["detail-type"].as_str() {
            Some("Key Material Audit Record") => audit,
            Some("Key Material Revocation Summary") => summary,
            other => panic!("unexpected detail-type {other:?}"),
        };
        let errors: Vec<String> = validator
            .iter_errors(&event["detail"])
            .map(|e| format!("{e} at {}", e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{errors:?}\n{:#}", event["detail"]);
    }
}
