//! The compiled function binary (`kms-material-guard`, the bootstrap) driven through the Lambda
//! Runtime API by `lambda-harness`, talking to the local KMS over HTTP: the bootstrap starts,
//! answers invocations, reports errors with their `errorType`, writes audit records and EMF
//! metrics to stdout, fails init on bad configuration, and continues a large request in a fresh
//! invocation of itself through the Lambda Invoke API.

mod common;

use std::time::Duration;

use common::bed::material_for;
use kms_sim::{ImportOptions, KeyInfo, KeySpec, KeyState, KeyUsage, KmsKeySpec, KmsSim, SimConfig};
use lambda_harness::{
    FunctionCommand, FunctionProcess, OutputStream, RuntimeApi, RuntimeApiOptions,
};
use serde_json::{Value, json};

const PATIENCE: Duration = Duration::from_secs(30);

fn byok(sim: &KmsSim, alias: Option<&str>) -> KeyInfo {
    let mut spec = KeySpec::external().tag("kms-material-guard:revocable", "true");
    if let Some(a) = alias {
        spec = spec.alias(a);
    }
    let key = sim.store().create_key(spec);
    sim.store()
        .import_material(&key.arn, material_for(&key), ImportOptions::default())
        .expect("import");
    key
}

fn command(sim: &KmsSim, extra: &[(&str, &str)]) -> FunctionCommand {
    let mut c = FunctionCommand::new(env!("CARGO_BIN_EXE_kms-material-guard"))
        .memory_mb(256)
        .env("AWS_ACCESS_KEY_ID", "AKIDLOCAL")
        .env("AWS_SECRET_ACCESS_KEY", "local-secret")
        .env("AWS_ENDPOINT_URL_KMS", sim.endpoint_url())
        .env("MATERIAL_GUARD_ACCOUNT_ID", common::ACCOUNT)
        .env("AWS_LAMBDA_LOG_LEVEL", "warn");
    for (k, v) in extra {
        c = c.env(k, v);
    }
    c
}

/// Audit records the process wrote to stdout, each validated against the schema.
fn audit_records(function: &FunctionProcess) -> Vec<Value> {
    let records: Vec<Value> = function
        .stdout_lines()
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["log_type"] == "audit")
        .collect();
    for r in &records {
        common::assert_schema_value_valid(r);
    }
    records
}

/// Audit records once at least `n` have been read from the process's stdout (the harness reads
/// stdout on its own thread, so the last lines may arrive just after the invocation's response).
async fn wait_for_audit_records(function: &FunctionProcess, n: usize) -> Vec<Value> {
    wait_for_records(function, |records| records.len() >= n).await
}

/// Audit records once `enough` says so (or after [`PATIENCE`]).
async fn wait_for_records(
    function: &FunctionProcess,
    enough: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        let records = audit_records(function);
        if enough(&records) || std::time::Instant::now() > deadline {
            return records;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn start() -> (KmsSim, RuntimeApi) {
    let sim = KmsSim::start(SimConfig::unlimited())
        .await
        .expect("local KMS");
    let api = RuntimeApi::start(RuntimeApiOptions::default())
        .await
        .expect("runtime API");
    (sim, api)
}

#[tokio::test]
async fn the_bootstrap_serves_an_incident_event_and_writes_audit_records() {
    // GIVEN the compiled function started like Lambda does, and two keys of the sample
    let (sim, api) = start().await;
    let orders = byok(&sim, Some("alias/tenant-a/orders"));
    let payments = byok(&sim, Some("alias/tenant-a/payments"));
    let function = FunctionProcess::spawn(&api, command(&sim, &[])).expect("spawn");
    // WHEN the sample incident event is invoked
    let invocation = api
        .invoke(common::event("incident-revocation.json"), PATIENCE)
        .await;
    // THEN the response summarises, the keys are revoked, one audit line per key is on stdout
    let response = invocation.outcome.clone().expect("response");
    assert_eq!(response["counts"]["revoked"], 2, "{response}");
    assert_eq!(response["request_id"], json!(invocation.request_id));
    for k in [&orders, &payments] {
        assert_eq!(
            sim.store().describe(&k.arn).map(|v| v.state),
            Some(KeyState::PendingImport)
        );
    }
    let records = wait_for_audit_records(&function, 2).await;
    assert_eq!(records.len(), 2);
    for r in &records {
        assert_eq!(r["function_request_id"], json!(invocation.request_id));
        assert_eq!(r["outcome"], "revoked");
    }
    // AND an EMF metrics line for the action (written after the records: wait for it)
    let emf = function
        .wait_for_line(OutputStream::Stdout, PATIENCE, |l| {
            serde_json::from_str::<Value>(l).is_ok_and(|v| v.get("_aws").is_some())
        })
        .await
        .and_then(|l| serde_json::from_str::<Value>(&l).ok())
        .expect("EMF line");
    assert_eq!(emf["KeysRevoked"], 2);
    assert!(function.cold_start().is_some());
}

#[tokio::test]
async fn errors_reach_lambda_with_their_stable_error_type() {
    let (sim, api) = start().await;
    let key = byok(&sim, None);
    sim.faults().add(
        kms_sim::FaultRule::new("DeleteImportedKeyMaterial", kms_sim::FaultKind::Http500).always(),
    );
    let function =
        FunctionProcess::spawn(&api, command(&sim, &[("MATERIAL_GUARD_MAX_ATTEMPTS", "2")]))
            .expect("spawn");
    // WHEN a rejected event and a request that keeps failing are invoked
    let rejected = api
        .invoke(common::event("invalid/typo-dryrun.json"), PATIENCE)
        .await;
    let retryable = api
        .invoke(
            json!({"keys": [key.arn], "reason": "r", "incidentId": "i"}),
            PATIENCE,
        )
        .await;
    // THEN each is an invocation error with the documented errorType and message
    let e = rejected.outcome.expect_err("rejected");
    assert_eq!(e.error_type, "KmsMaterialGuard.Rejected");
    assert!(e.error_message.contains("dryrun"), "{}", e.error_message);
    let e = retryable.outcome.expect_err("retryable");
    assert_eq!(e.error_type, "KmsMaterialGuard.Retryable");
    // AND both still wrote their audit record
    let outcomes: Vec<String> = wait_for_audit_records(&function, 2)
        .await
        .iter()
        .map(|r| r["outcome"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(outcomes, vec!["rejected", "failed_retryable"]);
}

#[tokio::test]
async fn a_bad_configuration_fails_the_init_phase_naming_the_variable() {
    let (sim, api) = start().await;
    let function = FunctionProcess::spawn(
        &api,
        command(&sim, &[("MATERIAL_GUARD_BLAST_RADIUS", "lots")]),
    )
    .expect("spawn");
    let status = function.wait_exit(PATIENCE).await.expect("exits");
    assert!(!status.success());
    let stderr = function.stderr_lines().join("\n") + &function.stdout_lines().join("\n");
    assert!(stderr.contains("MATERIAL_GUARD_BLAST_RADIUS"), "{stderr}");
    assert_eq!(api.next_poll_count(), 0, "it never asked for an event");
}

#[tokio::test]
async fn a_large_request_continues_in_a_fresh_invocation_through_the_invoke_api() {
    // GIVEN 30 keys, deletes paced at 10/s, and a 3 s function timeout with a 1 s margin (so
    // about 20 keys fit in one invocation, even on a loaded machine)
    let sim = KmsSim::start(SimConfig::unlimited())
        .await
        .expect("local KMS");
    let timeout = Duration::from_millis(3000);
    let options = RuntimeApiOptions {
        function_timeout: timeout,
        ..RuntimeApiOptions::default()
    };
    let api = RuntimeApi::start(options).await.expect("runtime API");
    let keys: Vec<KeyInfo> = (0..30).map(|_| byok(&sim, None)).collect();
    // AND the continuation key the template creates (continuations are sealed with it)
    let sealing = sim.store().create_key(
        KeySpec::aws_kms()
            .key_spec(KmsKeySpec::Hmac256)
            .key_usage(KeyUsage::GenerateVerifyMac),
    );
    let function = FunctionProcess::spawn(
        &api,
        command(
            &sim,
            &[
                ("MATERIAL_GUARD_DELETE_RATE", "10"),
                ("MATERIAL_GUARD_DEADLINE_MARGIN_MS", "1000"),
                ("MATERIAL_GUARD_CONTINUATION_KEY", &sealing.arn),
            ],
        ),
    )
    .expect("spawn");
    let arns: Vec<&str> = keys.iter().map(|k| k.arn.as_str()).collect();
    // WHEN the request is invoked with that timeout
    let first = api
        .invoke(
            json!({"keys": arns, "reason": "large", "incidentId": "INC-L"}),
            timeout,
        )
        .await;
    // THEN the first invocation hands the rest to an asynchronous invocation of itself, which
    // finishes them: every key revoked, each deleted exactly once
    let response = first.outcome.expect("handed over");
    assert!(response["continued_by"].is_string(), "{response}");
    let continued = api.wait_for_async_results(1, PATIENCE).await;
    assert!(!continued.is_empty(), "a continuation was invoked");
    let mut rounds = 0;
    while keys
        .iter()
        .any(|k| sim.store().describe(&k.arn).map(|v| v.state) != Some(KeyState::PendingImport))
    {
        rounds += 1;
        if rounds >= 10 {
            for a in api.async_invocations() {
                eprintln!("async {:?}", a.result.as_ref().map(|r| &r.outcome));
            }
            for l in function
                .stdout_lines()
                .iter()
                .chain(function.stderr_lines().iter())
            {
                eprintln!("{}", &l[..l.len().min(300)]);
            }
        }
        assert!(rounds < 10, "not finished after {rounds} continuations");
        api.wait_for_async_results(rounds + 1, Duration::from_secs(5))
            .await;
    }
    for k in &keys {
        assert_eq!(
            sim.counters()
                .calls_for_key("DeleteImportedKeyMaterial", &k.key_id),
            1
        );
    }
    // (each key's record is written when it is done; wait for all 30 revoked ones)
    let records = wait_for_records(&function, |rs| {
        rs.iter().filter(|r| r["outcome"] == "revoked").count() >= 30
    })
    .await;
    let revoked = records.iter().filter(|r| r["outcome"] == "revoked").count();
    assert_eq!(revoked, 30);
    assert!(records.iter().any(|r| r["outcome"] == "continued"));
    assert!(
        records
            .iter()
            .filter(|r| r["outcome"] == "revoked")
            .all(|r| r["incident_id"] == "INC-L")
    );
}
