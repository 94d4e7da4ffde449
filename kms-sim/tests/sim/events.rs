//! The EventBridge PutEvents recorder (JSON 1.1, `AWSEvents.PutEvents`).

use kms_sim::{FaultKind, FaultRule};
use serde_json::json;

use crate::common::{admin, http, sim};

const AUTH_PROD: &str = "AWS4-HMAC-SHA256 Credential=AKIDPROD/20250101/eu-west-1/events/aws4_request, SignedHeaders=host, Signature=00";

async fn put_events(sim: &kms_sim::KmsSim, body: &serde_json::Value) -> crate::common::Raw {
    http(
        sim,
        "POST",
        "/",
        &[
            ("Content-Type", "application/x-amz-json-1.1"),
            ("X-Amz-Target", "AWSEvents.PutEvents"),
            ("Authorization", AUTH_PROD),
        ],
        &body.to_string(),
    )
    .await
    .expect("response")
}

fn audit_entry(key_arn: &str) -> serde_json::Value {
    json!({
        "Source": "kms-material-guard",
        "DetailType": "Key Material Revoked",
        "Detail": json!({"keyArn": key_arn, "outcome": "deleted"}).to_string(),
        "EventBusName": "audit",
        "Resources": [key_arn],
        "Time": 1767225600.0
    })
}

#[tokio::test]
async fn put_events_records_entries_and_reports_invalid_ones() {
    // GIVEN a simulator that maps AKIDPROD to account 222222222222
    let sim = sim().await;
    sim.add_account("AKIDPROD", "222222222222");
    let arn = "arn:aws:kms:eu-west-1:222222222222:key/5e0c3c1a-0000-4000-8000-000000000001";
    // WHEN two entries are put, the second without DetailType
    let mut bad = audit_entry(arn);
    bad.as_object_mut().map(|o| o.remove("DetailType"));
    let r = put_events(&sim, &json!({"Entries": [audit_entry(arn), bad]})).await;
    // THEN EventBridge's answer: one EventId, one failed entry
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(v["FailedEntryCount"], 1);
    assert!(v["Entries"][0]["EventId"].is_string());
    assert_eq!(v["Entries"][1]["ErrorCode"], "InvalidArgument");
    assert!(r.header("x-amzn-RequestId").is_some());
    // AND the valid entry is recorded with every field, in-process
    let events = sim.events();
    assert_eq!(events.len(), 1);
    let e = &events[0];
    assert_eq!(
        (
            e.source.as_str(),
            e.detail_type.as_str(),
            e.event_bus_name.as_deref()
        ),
        ("kms-material-guard", "Key Material Revoked", Some("audit"))
    );
    assert_eq!(
        (e.account.as_str(), e.region.as_str()),
        ("222222222222", "eu-west-1")
    );
    assert_eq!(e.resources, vec![arn.to_string()]);
    assert_eq!(e.detail_json()["outcome"], "deleted");
    assert!(e.time.is_some());
    assert_eq!(
        Some(e.event_id.as_str()),
        v["Entries"][0]["EventId"].as_str()
    );
    // AND over the admin API
    let (_, listed) = admin(&sim, "GET", "/_sim/events", "").await;
    assert_eq!(listed[0]["detail_type"], "Key Material Revoked");
    admin(&sim, "DELETE", "/_sim/events", "").await;
    assert!(sim.events().is_empty());
    // AND malformed Detail or too many entries are refused like EventBridge
    let mut malformed = audit_entry(arn);
    malformed["Detail"] = json!("not json");
    let v = put_events(&sim, &json!({"Entries": [malformed]}))
        .await
        .json();
    assert_eq!(v["Entries"][0]["ErrorCode"], "MalformedDetail");
    let eleven: Vec<_> = (0..11).map(|_| audit_entry(arn)).collect();
    let r = put_events(&sim, &json!({ "Entries": eleven })).await;
    assert_eq!(
        (r.status, r.json()["__type"].as_str()),
        (400, Some("ValidationException"))
    );
    assert_eq!(sim.counters().calls("PutEvents"), 3);
    sim.shutdown().await;
}

#[tokio::test]
async fn publishing_can_be_made_to_fail() {
    // GIVEN a PutEvents fault: an internal error once, then partial failure once
    let sim = sim().await;
    let arn = "arn:aws:kms:us-east-1:111111111111:key/5e0c3c1a-0000-4000-8000-000000000002";
    sim.faults().add(
        FaultRule::new(
            "PutEvents",
            FaultKind::kms_error("InternalException", "Internal error", 500),
        )
        .times(1),
    );
    sim.faults().add(
        FaultRule::new("PutEvents", FaultKind::fail_entries())
            .for_key(arn)
            .times(1),
    );
    let body = json!({"Entries": [audit_entry(arn)]});
    // WHEN events are put THEN the first call fails with HTTP 500
    let r = put_events(&sim, &body).await;
    assert_eq!(
        (r.status, r.json()["__type"].as_str()),
        (500, Some("InternalException"))
    );
    // AND the second is a partial failure (HTTP 200, FailedEntryCount 1), nothing recorded
    let v = put_events(&sim, &body).await.json();
    assert_eq!(v["FailedEntryCount"], 1);
    assert_eq!(v["Entries"][0]["ErrorCode"], "InternalFailure");
    assert!(sim.events().is_empty());
    // AND the third is recorded
    assert_eq!(put_events(&sim, &body).await.json()["FailedEntryCount"], 0);
    assert_eq!(sim.events().len(), 1);
    assert_eq!(sim.counters().faulted("PutEvents"), 1);
    sim.shutdown().await;
}
