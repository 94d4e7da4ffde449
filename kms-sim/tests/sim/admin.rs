//! The admin API under `/_sim/`, the raw wire format botocore / the AWS CLI see, the example
//! seed file and the binary.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use kms_sim::{KeySpec, Seed};
use serde_json::{Value, json};

use crate::common::{DEFAULT_AKID, admin, external_key_with_material, http, kms_raw, sim};

const EXAMPLE_SEED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/seed.json");

#[tokio::test]
async fn faults_can_be_added_listed_and_cleared_over_http() {
    // GIVEN a key
    let sim = sim().await;
    let (key, _) = external_key_with_material(&sim, [1; 32]);
    // WHEN a fault rule is posted
    let (status, body) = admin(
        &sim,
        "POST",
        "/_sim/faults",
        &json!({"operation": "DescribeKey", "key": key.arn, "fault": "dependency_timeout", "times": 1})
            .to_string(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    // THEN the next DescribeKey gets it, with KMS's wire format
    let describe = json!({"KeyId": key.key_id}).to_string();
    let r = kms_raw(&sim, DEFAULT_AKID, "us-east-1", "DescribeKey", &describe).await;
    assert_eq!(r.status, 500);
    assert_eq!(r.json()["__type"], "DependencyTimeoutException");
    // AND the rule is listed as fired once
    let (_, rules) = admin(&sim, "GET", "/_sim/faults", "").await;
    assert_eq!(rules["rules"][0]["fired"], 1);
    assert_eq!(rules["rules"][0]["fault"], "kms_error");
    // WHEN a list of rules is posted and then all are cleared THEN calls pass again
    let (status, body) = admin(
        &sim,
        "POST",
        "/_sim/faults",
        r#"[{"operation": "DescribeKey", "fault": "http500"}, {"fault": "latency", "latency_ms": [1, 2]}]"#,
    )
    .await;
    assert_eq!(
        (status, body["ids"].as_array().map(Vec::len)),
        (200, Some(2))
    );
    assert_eq!(
        kms_raw(&sim, DEFAULT_AKID, "us-east-1", "DescribeKey", &describe)
            .await
            .status,
        500
    );
    let (status, _) = admin(&sim, "DELETE", "/_sim/faults", "").await;
    assert_eq!(status, 200);
    assert_eq!(
        kms_raw(&sim, DEFAULT_AKID, "us-east-1", "DescribeKey", &describe)
            .await
            .status,
        200
    );
    // AND bad rules are refused with a reason
    let (status, body) = admin(&sim, "POST", "/_sim/faults", r#"{"fault": "meteor"}"#).await;
    assert_eq!(status, 400);
    assert!(body["error"].as_str().is_some_and(|e| e.contains("meteor")));
    sim.shutdown().await;
}

#[tokio::test]
async fn a_dropped_connection_closes_without_any_response() {
    // GIVEN a drop-connection rule posted over HTTP
    let sim = sim().await;
    admin(
        &sim,
        "POST",
        "/_sim/faults",
        r#"{"operation": "ListKeys", "fault": "drop_connection", "times": 1}"#,
    )
    .await;
    // WHEN ListKeys is called over a raw connection THEN the server closes it without a byte
    let target = [
        ("X-Amz-Target", "TrentService.ListKeys"),
        ("Content-Type", "application/x-amz-json-1.1"),
    ];
    let r = http(&sim, "POST", "/", &target, "{}").await;
    assert!(r.is_err(), "{r:?}");
    // AND the next call is answered
    assert_eq!(
        http(&sim, "POST", "/", &target, "{}")
            .await
            .map(|r| r.status)
            .ok(),
        Some(200)
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn counters_and_clock_are_readable_and_settable_over_http() {
    // GIVEN a key whose material expires in an hour, described twice
    let sim = sim().await;
    let key = sim.store().create_key(KeySpec::external());
    sim.store()
        .import_material(
            &key.arn,
            [3; 32],
            kms_sim::ImportOptions {
                valid_to: Some(sim.clock().now() + std::time::Duration::from_secs(3600)),
                ..Default::default()
            },
        )
        .expect("import");
    let body = json!({"KeyId": key.arn}).to_string();
    for _ in 0..2 {
        kms_raw(&sim, DEFAULT_AKID, "us-east-1", "DescribeKey", &body).await;
    }
    // WHEN the counters are read THEN they show both calls, also per key ID
    let (_, c) = admin(&sim, "GET", "/_sim/counters", "").await;
    assert_eq!(c["calls"]["DescribeKey"], 2);
    assert_eq!(c["successes"]["DescribeKey"], 2);
    assert_eq!(c["calls_by_key"]["DescribeKey"][&key.key_id], 2);
    // WHEN they are reset THEN they are empty
    admin(&sim, "POST", "/_sim/counters/reset", "").await;
    let (_, c) = admin(&sim, "GET", "/_sim/counters", "").await;
    assert_eq!(c["calls"], json!({}));
    // WHEN the clock is advanced two hours THEN the material has expired
    let (_, before) = admin(&sim, "GET", "/_sim/clock", "").await;
    let (status, after) = admin(&sim, "POST", "/_sim/clock", r#"{"advance_seconds": 7200}"#).await;
    assert_eq!(status, 200);
    let moved = after["now"].as_f64().unwrap_or(0.0) - before["now"].as_f64().unwrap_or(0.0);
    assert!((7199.0..7300.0).contains(&moved), "{moved}");
    let r = kms_raw(&sim, DEFAULT_AKID, "us-east-1", "DescribeKey", &body).await;
    assert_eq!(r.json()["KeyMetadata"]["KeyState"], "PendingImport");
    // AND /_sim/keys shows the material as PENDING_IMPORT
    let (_, keys) = admin(&sim, "GET", "/_sim/keys", "").await;
    assert_eq!(keys[0]["materials"][0]["import_state"], "PENDING_IMPORT");
    assert_eq!(keys[0]["state"], "PendingImport");
    sim.shutdown().await;
}

#[tokio::test]
async fn quotas_and_seeds_can_be_changed_at_runtime() {
    // GIVEN an unlimited simulator
    let sim = sim().await;
    // WHEN the example seed is posted
    let seed = std::fs::read_to_string(EXAMPLE_SEED).expect("example seed");
    let (status, created) = admin(&sim, "POST", "/_sim/seed", &seed).await;
    assert_eq!(status, 200, "{created}");
    // THEN its keys exist, in their accounts and Regions
    assert_eq!(created["keys"].as_array().map(Vec::len), Some(12));
    let (_, keys) = admin(&sim, "GET", "/_sim/keys", "").await;
    let states: Vec<&str> = keys
        .as_array()
        .expect("keys")
        .iter()
        .filter_map(|k| k["state"].as_str())
        .collect();
    assert_eq!(
        &states[..6],
        &[
            "Enabled",
            "Enabled",
            "Enabled",
            "PendingImport",
            "PendingDeletion",
            "Enabled"
        ]
    );
    let r = kms_raw(&sim, "AKIDPRODEXAMPLE", "eu-west-1", "ListKeys", "{}").await;
    assert_eq!(r.json()["Keys"].as_array().map(Vec::len), Some(1));
    // WHEN a quota of 1 rps is set for ListKeys THEN the second call is throttled
    let (status, _) = admin(
        &sim,
        "POST",
        "/_sim/quotas",
        r#"{"defaults": true, "operations": {"ListKeys": 1}}"#,
    )
    .await;
    assert_eq!(status, 200);
    let first = kms_raw(&sim, DEFAULT_AKID, "us-east-1", "ListKeys", "{}").await;
    let second = kms_raw(&sim, DEFAULT_AKID, "us-east-1", "ListKeys", "{}").await;
    assert_eq!((first.status, second.status), (200, 400));
    assert_eq!(second.json()["__type"], "ThrottlingException");
    // WHEN quotas are lifted THEN calls pass
    admin(&sim, "POST", "/_sim/quotas", r#"{"unlimited": true}"#).await;
    assert_eq!(
        kms_raw(&sim, DEFAULT_AKID, "us-east-1", "ListKeys", "{}")
            .await
            .status,
        200
    );
    // AND unknown routes are 404, bad bodies 400
    assert_eq!(admin(&sim, "GET", "/_sim/nothing", "").await.0, 404);
    assert_eq!(
        admin(&sim, "POST", "/_sim/clock", r#"{"advance_seconds": -1}"#)
            .await
            .0,
        400
    );
    assert_eq!(
        admin(&sim, "POST", "/_sim/seed", r#"{"keys": [{"bogus": 1}]}"#)
            .await
            .0,
        400
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn the_wire_format_is_what_botocore_expects() {
    // GIVEN a key (requests below carry no Authorization header at all, like an unsigned
    // client: they land in the default account and Region)
    let sim = sim().await;
    let (key, _) = external_key_with_material(&sim, [1; 32]);
    let headers = |op: &'static str| {
        vec![
            ("Content-Type", "application/x-amz-json-1.1"),
            ("X-Amz-Target", op),
        ]
    };
    // WHEN DescribeKey is called
    let r = http(
        &sim,
        "POST",
        "/",
        &headers("TrentService.DescribeKey"),
        &json!({"KeyId": key.key_id}).to_string(),
    )
    .await
    .expect("response");
    // THEN JSON 1.1 with a request ID and epoch-second timestamps
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/x-amz-json-1.1"));
    assert!(r.header("x-amzn-RequestId").is_some_and(|v| v.len() == 36));
    let m = &r.json()["KeyMetadata"];
    assert!(m["CreationDate"].is_number(), "{m}");
    assert_eq!(m["AWSAccountId"], "111111111111");
    assert_eq!(m["Arn"], Value::String(key.arn.clone()));
    // WHEN an error happens THEN {"__type", "message"} with HTTP 400 and a request ID
    let r = http(
        &sim,
        "POST",
        "/",
        &headers("TrentService.DescribeKey"),
        r#"{"KeyId": "alias/none"}"#,
    )
    .await
    .expect("response");
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json(),
        json!({"__type": "NotFoundException", "message": "Alias arn:aws:kms:us-east-1:111111111111:alias/none is not found."})
    );
    assert!(r.header("x-amzn-RequestId").is_some());
    // WHEN the body is not JSON, a member is missing, or the operation unknown
    let bad = http(
        &sim,
        "POST",
        "/",
        &headers("TrentService.DescribeKey"),
        "{nope",
    )
    .await
    .expect("response");
    assert_eq!(bad.json()["__type"], "SerializationException");
    let missing = http(
        &sim,
        "POST",
        "/",
        &headers("TrentService.DescribeKey"),
        "{}",
    )
    .await
    .expect("response");
    assert_eq!(
        missing.json()["message"],
        "1 validation error detected: Value null at 'keyId' failed to satisfy constraint: Member must not be null"
    );
    let unknown = http(
        &sim,
        "POST",
        "/",
        &headers("TrentService.CreateGrant"),
        "{}",
    )
    .await
    .expect("response");
    assert_eq!(unknown.json()["__type"], "UnknownOperationException");
    sim.shutdown().await;
}

#[tokio::test]
async fn the_example_seed_parses_and_applies_in_process() {
    // GIVEN the example seed file
    let seed = Seed::from_file(std::path::Path::new(EXAMPLE_SEED)).expect("seed parses");
    // WHEN a simulator starts with it
    let sim = kms_sim::KmsSim::start(kms_sim::SimConfig::unlimited().with_seed(seed))
        .await
        .expect("start");
    // THEN the fixed-ID key is there with its alias, tags and material description
    let k = sim
        .store()
        .describe("alias/payments")
        .expect("payments key");
    assert_eq!(k.key_id, "0b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d");
    assert!(
        k.tags
            .contains(&("team".to_string(), "payments".to_string()))
    );
    assert_eq!(
        k.materials[0].description.as_deref(),
        Some("HSM batch 2026-01")
    );
    assert_eq!(sim.seeded_keys().len(), 12);
    // AND the rotated key has a NON_CURRENT and a CURRENT material
    let rotated = &sim.store().keys()[2];
    assert_eq!(rotated.materials.len(), 2);
    assert_eq!(rotated.on_demand_rotations, 1);
    sim.shutdown().await;
}

/// Kills the child on drop so a failing assertion leaves no process behind.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_binary_serves_the_example_seed() {
    // GIVEN the kms-sim binary started on a free port with the example seed
    let mut child = Child(
        Command::new(env!("CARGO_BIN_EXE_kms-sim"))
            .args(["--port", "0", "--seed", EXAMPLE_SEED, "--latency-ms", "1-2"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn kms-sim"),
    );
    let stdout = child.0.stdout.take().expect("stdout");
    let mut first = String::new();
    BufReader::new(stdout)
        .read_line(&mut first)
        .expect("first line");
    // THEN it prints its endpoint
    let endpoint = first
        .trim()
        .strip_prefix("kms-sim listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line: {first}"))
        .to_string();
    // WHEN ListKeys is sent to it THEN the default account's seeded keys are listed
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let body = rt.block_on(async {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::TcpStream::connect(&endpoint).await.expect("connect");
        let req = format!(
            "POST / HTTP/1.1\r\nHost: {endpoint}\r\nConnection: close\r\nX-Amz-Target: TrentService.ListKeys\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: 2\r\n\r\n{{}}"
        );
        s.write_all(req.as_bytes()).await.expect("write");
        let mut out = String::new();
        s.read_to_string(&mut out).await.expect("read");
        out
    });
    let json = body.split("\r\n\r\n").nth(1).unwrap_or_default();
    let v: Value = serde_json::from_str(json).expect("JSON");
    assert_eq!(v["Keys"].as_array().map(Vec::len), Some(11), "{v}");
    assert_eq!(v["Truncated"], false);
}
