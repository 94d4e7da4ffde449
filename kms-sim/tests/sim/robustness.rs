//! No input makes the simulator panic or hang: every operation answers hostile bodies with a
//! KMS error (or success), never a dropped connection.

use kms_sim::{KMS_OPERATIONS, KeySpec};
use serde_json::{Value, json};

use crate::common::{DEFAULT_AKID, admin, external_key_with_material, http, kms_raw, sim};

fn hostile_bodies(arn: &str) -> Vec<String> {
    let long = "é".repeat(3000);
    let mut deep = String::new();
    for _ in 0..200 {
        deep.push('[');
    }
    let mut bodies: Vec<String> = vec![
        String::new(),
        "null".into(),
        "[]".into(),
        "\"KeyId\"".into(),
        "{\"KeyId\":".into(),
        deep,
    ];
    let values = [
        json!({}),
        json!({"KeyId": 5}),
        json!({"KeyId": ""}),
        json!({"KeyId": "arn:"}),
        json!({"KeyId": "arn:aws:kms:::key/"}),
        json!({"KeyId": "arn:aws:kms:us-east-1:111111111111:alias/"}),
        json!({"KeyId": "alias/"}),
        json!({"KeyId": long}),
        json!({"KeyId": "é"}),
        json!({"KeyId": arn, "Limit": -1}),
        json!({"KeyId": arn, "Limit": 1e30}),
        json!({"KeyId": arn, "Limit": "ten"}),
        json!({"KeyId": arn, "Marker": "é"}),
        json!({"KeyId": arn, "Marker": "a2Ftcy1zaW06a2V5czp4"}),
        json!({"KeyId": arn, "Plaintext": "!!!"}),
        json!({"KeyId": arn, "Plaintext": ""}),
        json!({"CiphertextBlob": "AAAA"}),
        json!({"CiphertextBlob": "S1NJTQH//w=="}),
        json!({"KeyId": arn, "EncryptionContext": {"a": 1}}),
        json!({"KeyId": arn, "EncryptionContext": [1]}),
        json!({"KeyId": arn, "ValidTo": 1e300, "ImportToken": "AA==", "EncryptedKeyMaterial": "AA=="}),
        json!({"KeyId": arn, "ValidTo": "yesterday", "ImportToken": "AA==", "EncryptedKeyMaterial": "AA=="}),
        json!({"KeyId": arn, "ExpirationModel": "SOMETIMES"}),
        json!({"KeyId": arn, "ImportToken": "not base64", "EncryptedKeyMaterial": "AA=="}),
        json!({"KeyId": arn, "KeyMaterialId": "é".repeat(32)}),
        json!({"KeyId": arn, "KeyMaterialId": 7}),
        json!({"KeyId": arn, "Tags": [1]}),
        json!({"KeyId": arn, "Tags": [{"TagKey": "é".repeat(200), "TagValue": ""}]}),
        json!({"KeyId": arn, "TagKeys": "t"}),
        json!({"KeyId": arn, "PendingWindowInDays": 9_999_999_999u64}),
        json!({"KeyId": arn, "WrappingAlgorithm": "RSAES_PKCS1_V1_5", "WrappingKeySpec": "RSA_2048"}),
        json!({"KeyId": arn, "WrappingAlgorithm": "X", "WrappingKeySpec": "RSA_2048"}),
        json!({"AliasName": "alias/aws/x", "TargetKeyId": arn}),
        json!({"AliasName": "nope", "TargetKeyId": arn}),
        json!({"Origin": "AWS_CLOUDHSM"}),
        json!({"KeySpec": "RSA_4096"}),
        json!({"Description": long}),
        json!({"IncludeKeyMaterial": "SOME", "KeyId": arn}),
    ];
    bodies.extend(values.iter().map(Value::to_string));
    bodies
}

#[tokio::test]
async fn hostile_bodies_get_kms_errors_never_a_panic() {
    // GIVEN a key
    let sim = sim().await;
    let (key, _) = external_key_with_material(&sim, [1; 32]);
    sim.store().create_key(KeySpec::aws_kms());
    // WHEN every operation gets every hostile body
    for op in KMS_OPERATIONS
        .iter()
        .chain(["PutEvents", "NoSuchOperation"].iter())
    {
        for body in hostile_bodies(&key.arn) {
            let target = if *op == "PutEvents" {
                "AWSEvents.PutEvents".to_string()
            } else {
                format!("TrentService.{op}")
            };
            let r = http(
                &sim,
                "POST",
                "/",
                &[
                    ("Content-Type", "application/x-amz-json-1.1"),
                    ("X-Amz-Target", &target),
                ],
                &body,
            )
            .await
            .unwrap_or_else(|e| panic!("{op} {body:.80}: connection dropped: {e}"));
            // THEN the answer is a success or a KMS-shaped client error
            match r.status {
                200 => {}
                400 => {
                    let v = r.json();
                    assert!(
                        v["__type"].as_str().is_some_and(|t| !t.is_empty()),
                        "{op} {body:.80}: {v}"
                    );
                }
                other => panic!("{op} {body:.80}: HTTP {other}: {}", r.body),
            }
        }
    }
    // AND the simulator still serves normally
    let r = kms_raw(
        &sim,
        DEFAULT_AKID,
        "us-east-1",
        "DescribeKey",
        &json!({"KeyId": key.arn}).to_string(),
    )
    .await;
    assert_eq!(r.status, 200);
    // AND hostile admin bodies are refused cleanly too
    for (method, path, body) in [
        ("POST", "/_sim/faults", "[1, 2]"),
        (
            "POST",
            "/_sim/faults",
            "{\"fault\": \"latency\", \"latency_ms\": [5, 1]}",
        ),
        ("POST", "/_sim/clock", "{\"set\": \"soon\"}"),
        ("POST", "/_sim/clock", "{\"advance_seconds\": 1e300}"),
        ("POST", "/_sim/quotas", "{\"scale\": -1}"),
        ("POST", "/_sim/seed", "{\"keys\": [{\"count\": 1000000}]}"),
        (
            "POST",
            "/_sim/seed",
            "{\"keys\": [{\"material\": \"abc\"}]}",
        ),
        ("DELETE", "/_sim/faults/abc", ""),
        ("POST", "/_sim/counters/reset", "not json"),
    ] {
        let (status, v) = admin(&sim, method, path, body).await;
        assert!(
            status == 400 || status == 404,
            "{method} {path} {body}: {status} {v}"
        );
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn requests_of_another_content_type_are_unknown_operations_like_aws() {
    // GIVEN a simulator
    let sim = sim().await;
    for content_type in [None, Some("application/json"), Some("text/plain")] {
        let mut headers = vec![("X-Amz-Target", "TrentService.ListKeys")];
        if let Some(ct) = content_type {
            headers.push(("Content-Type", ct));
        }
        // WHEN ListKeys arrives without the JSON 1.1 content type
        let r = http(&sim, "POST", "/", &headers, "{}")
            .await
            .expect("response");
        // THEN AWS's front-end answer: 404 with an UnknownOperationException body
        assert_eq!(r.status, 404, "{content_type:?}");
        assert_eq!(r.body, "<UnknownOperationException/>");
    }
    // AND the content type with a charset parameter is accepted
    let ok = http(
        &sim,
        "POST",
        "/",
        &[
            ("X-Amz-Target", "TrentService.ListKeys"),
            ("Content-Type", "application/x-amz-json-1.1; charset=utf-8"),
        ],
        "{}",
    )
    .await
    .expect("response");
    assert_eq!(ok.status, 200);
}
