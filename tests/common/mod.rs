//! Shared test support: sample events, the audit schema, a configured [`Guard`].
#![allow(dead_code)]

pub mod bed;

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use kms_material_guard::audit::AuditRecord;
use kms_material_guard::{Config, Guard, MemorySink};
use serde_json::Value;

pub const ACCOUNT: &str = "111111111111";
pub const REGION: &str = "us-east-1";

pub fn repo_path(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// Parses a file of `events/` (the same files `cargo lambda invoke --data-file` uses).
pub fn event(name: &str) -> Value {
    let path = repo_path("events").join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()))
}

/// The function's configuration in tests: own account 111111111111, us-east-1, fast retries.
pub fn config() -> Config {
    let mut c = Config::from_lookup(|k| match k {
        "AWS_REGION" => Some(REGION.into()),
        "MATERIAL_GUARD_ACCOUNT_ID" => Some(ACCOUNT.into()),
        // EMF lines are asserted where metrics are tested; elsewhere they would only be noise.
        "MATERIAL_GUARD_METRICS_NAMESPACE" => Some("off".into()),
        _ => None,
    })
    .expect("test configuration is valid");
    c.deadline_margin = std::time::Duration::from_millis(50);
    c
}

/// A guard around `kms` writing records into the returned sink.
pub fn guard(kms: aws_sdk_kms::Client, config: Config) -> (Guard, Arc<MemorySink>) {
    let sink = Arc::new(MemorySink::new());
    (Guard::new(kms, config, sink.clone()), sink)
}

/// A published schema of `schema/`, parsed.
pub fn published_schema(file: &str) -> Value {
    let text = std::fs::read_to_string(repo_path("schema").join(file)).expect("schema file");
    serde_json::from_str(&text).expect("schema is JSON")
}

/// The published schema made strict: every object that lists its `properties` allows no other.
/// The published schemas allow additional properties (a consumer keeps accepting the records of
/// a later v1, which may add fields); the tests validate against this copy so that every field
/// the function writes must be declared in the schema.
pub fn strict(mut schema: Value) -> Value {
    fn walk(v: &mut Value) {
        match v {
            Value::Object(obj) => {
                if obj.contains_key("properties")
                    && obj
                        .get("additionalProperties")
                        .is_none_or(|a| a == &Value::Bool(true))
                {
                    obj.insert("additionalProperties".into(), Value::Bool(false));
                }
                obj.values_mut().for_each(walk);
            }
            Value::Array(items) => items.iter_mut().for_each(walk),
            _ => {}
        }
    }
    walk(&mut schema);
    schema
}

fn strict_validator(file: &str) -> jsonschema::Validator {
    jsonschema::validator_for(&strict(published_schema(file))).expect("schema compiles")
}

fn validator() -> &'static jsonschema::Validator {
    static V: OnceLock<jsonschema::Validator> = OnceLock::new();
    V.get_or_init(|| strict_validator("audit-record.v1.json"))
}

fn summary_validator() -> &'static jsonschema::Validator {
    static V: OnceLock<jsonschema::Validator> = OnceLock::new();
    V.get_or_init(|| strict_validator("revocation-summary.v1.json"))
}

/// Validates revocation summaries against `schema/revocation-summary.v1.json`, made [`strict`].
pub fn assert_summaries_valid(summaries: &[Value]) {
    for v in summaries {
        let errors: Vec<String> = summary_validator()
            .iter_errors(v)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "summary violates the schema: {errors:?}\n{v:#}"
        );
    }
}

/// Validates one record (as JSON) against `schema/audit-record.v1.json`, made [`strict`].
pub fn assert_schema_value_valid(v: &Value) {
    let errors: Vec<String> = validator()
        .iter_errors(v)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "record violates the schema: {errors:?}\n{v:#}"
    );
}

/// Serialises each record and validates it against `schema/audit-record.v1.json`, made
/// [`strict`]: every field the function writes is declared.
pub fn assert_schema_valid(records: &[AuditRecord]) {
    for r in records {
        let v = serde_json::to_value(r).expect("record serialises");
        let errors: Vec<String> = validator()
            .iter_errors(&v)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "record violates the schema: {errors:?}\n{v:#}"
        );
    }
}

pub fn key_arn(id: &str) -> String {
    format!("arn:aws:kms:{REGION}:{ACCOUNT}:key/{id}")
}
