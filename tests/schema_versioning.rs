//! The schemas' versioning promise: within v1 fields are only added and consumers ignore fields
//! they do not know. So the published schemas (`schema/`) accept a record or summary carrying a
//! field a later v1 adds, while the strict copy every other test validates against
//! (`common::strict`) rejects it: every field the function writes must be declared.

mod common;

use common::bed::default_bed;
use serde_json::{Value, json};

fn validator(schema: &Value) -> jsonschema::Validator {
    jsonschema::validator_for(schema).expect("schema compiles")
}

/// The published schema `file` of `schema/` and the tests' strict copy of it, as validators.
fn published_and_strict(file: &str) -> (jsonschema::Validator, jsonschema::Validator) {
    let published = common::published_schema(file);
    (validator(&published), validator(&common::strict(published)))
}

/// One revocation's audit record and summary, as the function writes them (JSON).
async fn written() -> (Value, Value) {
    let b = default_bed().await;
    let key = b.byok(&[], &[]);
    let mut event = common::event("incident-revocation.json");
    event["detail"]["keys"] = json!([key.arn]);
    let (result, records) = b.handle(&event).await;
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(records.len(), 1);
    let record = serde_json::to_value(&records[0]).expect("record serialises");
    assert!(
        record["materials"]
            .as_array()
            .is_some_and(|m| !m.is_empty()),
        "a revocation lists the key's materials: {record:#}"
    );
    let summaries = b.sink.summaries();
    assert_eq!(summaries.len(), 1);
    (record, summaries[0].clone())
}

#[tokio::test]
async fn a_later_v1_record_with_added_fields_still_validates_against_the_published_schema() {
    // GIVEN an audit record the function writes, and the published schema and its strict copy
    let (record, _) = written().await;
    let (published, strict) = published_and_strict("audit-record.v1.json");
    assert!(published.is_valid(&record) && strict.is_valid(&record));
    for place in ["", "/trigger", "/materials/0"] {
        // WHEN a later v1 adds a field there (the record itself, trigger, a material)
        let mut newer = record.clone();
        newer
            .pointer_mut(place)
            .and_then(Value::as_object_mut)
            .expect("an object")
            .insert("added_in_a_later_v1".into(), json!("x"));
        // THEN a consumer validating with the published schema still accepts the record
        assert!(published.is_valid(&newer), "{place}: {newer:#}");
        // AND the tests' strict copy rejects it: a field the function writes must be declared
        assert!(!strict.is_valid(&newer), "{place}: {newer:#}");
    }
}

#[tokio::test]
async fn the_published_record_schema_still_enforces_what_it_declares() {
    // GIVEN an audit record the function writes and the published schema
    let (record, _) = written().await;
    let published = validator(&common::published_schema("audit-record.v1.json"));
    // WHEN a declared field is missing, or has a value v1 does not define
    let mut missing = record.clone();
    missing.as_object_mut().expect("object").remove("outcome");
    let mut unknown_outcome = record.clone();
    unknown_outcome["outcome"] = json!("deleted_maybe");
    let mut wrong_type = record.clone();
    wrong_type["attempts"] = json!("two");
    // THEN the published schema rejects each: adding fields is allowed, changing them is not
    for bad in [missing, unknown_outcome, wrong_type] {
        assert!(!published.is_valid(&bad), "{bad:#}");
    }
}

#[tokio::test]
async fn a_later_v1_summary_with_added_fields_still_validates_against_the_published_schema() {
    // GIVEN a revocation summary the function writes, and the published schema and its strict copy
    let (_, summary) = written().await;
    let (published, strict) = published_and_strict("revocation-summary.v1.json");
    assert!(published.is_valid(&summary) && strict.is_valid(&summary));
    // WHEN a later v1 adds a field
    let mut newer = summary.clone();
    newer["added_in_a_later_v1"] = json!({"any": "value"});
    // THEN the published schema accepts it, the strict copy does not
    assert!(published.is_valid(&newer), "{newer:#}");
    assert!(!strict.is_valid(&newer), "{newer:#}");
    // AND a summary without a declared field is rejected by both
    let mut missing = summary.clone();
    missing.as_object_mut().expect("object").remove("complete");
    assert!(!published.is_valid(&missing) && !strict.is_valid(&missing));
}
