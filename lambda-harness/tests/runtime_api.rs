//! The Runtime API as a runtime sees it, driven by the stdlib-only Python fake runtime
//! (tests/fixtures/fake_runtime.py) and, for misbehaviour, by raw HTTP.

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{PATIENCE, api_with_fake_runtime, raw_http, start_api};
use lambda_harness::{InvocationSource, OutputStream, RuntimeApiOptions, error_types};
use serde_json::{Value, json};

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[tokio::test]
async fn invoke_returns_the_function_response() {
    // GIVEN a fake runtime attached to the harness
    let (api, _function) = api_with_fake_runtime(RuntimeApiOptions::default(), &[]).await;

    // WHEN a payload is invoked
    let invocation = api.invoke(json!({"hello": "world"}), PATIENCE).await;

    // THEN the response is the function's, tied to the request id the runtime was given
    let response = invocation.outcome.as_ref().expect("a response");
    assert_eq!(response["echo"], json!({"hello": "world"}));
    assert_eq!(
        response["headers"]["request_id"],
        json!(invocation.request_id)
    );
    assert_eq!(
        response["headers"]["content_type"],
        json!("application/json")
    );
    assert_eq!(invocation.source, InvocationSource::Direct);
    assert!(invocation.duration > Duration::ZERO);
    assert!(invocation.deadline_ms.is_some());
    assert_eq!(
        serde_json::from_slice::<Value>(&invocation.body)
            .ok()
            .as_ref(),
        Some(response)
    );
}

#[tokio::test]
async fn function_error_carries_its_error_type_and_message() {
    // GIVEN a fake runtime
    let (api, _function) = api_with_fake_runtime(RuntimeApiOptions::default(), &[]).await;

    // WHEN the function fails the invocation
    let invocation = api
        .invoke(
            json!({"fail": {"type": "KeyStateError", "message": "key pending deletion"}}),
            PATIENCE,
        )
        .await;

    // THEN the error type and message come from the posted body, the header is kept too
    let error = invocation.outcome.expect_err("an error");
    assert_eq!(error.error_type, "KeyStateError");
    assert_eq!(error.error_message, "key pending deletion");
    assert_eq!(error.header_error_type.as_deref(), Some("KeyStateError"));
    assert_eq!(error.body["stackTrace"], json!(["fake_runtime.py"]));
}

#[tokio::test]
async fn init_error_is_recorded_and_fails_the_waiting_invocation() {
    // GIVEN a runtime that reports an init error and exits
    let api = start_api().await;
    let pending = api.invoke(json!({"too": "early"}), PATIENCE);
    let function = lambda_harness::FunctionProcess::spawn(
        &api,
        common::fake_runtime_command(&[("FAKE_INIT_ERROR", "1")]),
    )
    .expect("spawn");

    // WHEN the invocation that was waiting for init completes
    let invocation = pending.await;

    // THEN it failed with the init error, which the harness also exposes
    let error = invocation.outcome.expect_err("init error");
    assert_eq!(error.error_type, "Runtime.FakeInitError");
    assert_eq!(error.error_message, "init failed on purpose");
    let init_error = api.init_error().expect("init error recorded");
    assert_eq!(init_error.error_type, "Runtime.FakeInitError");
    assert_eq!(
        init_error.header_error_type.as_deref(),
        Some("Runtime.FakeInitError")
    );
    // AND the runtime never reached /next, so there is no cold start
    assert_eq!(
        function.wait_exit(PATIENCE).await.and_then(|s| s.code()),
        Some(1)
    );
    assert_eq!(function.cold_start(), None);
}

#[tokio::test]
async fn next_carries_deadline_arn_and_trace_headers() {
    // GIVEN a harness for a named function in another region
    let options = RuntimeApiOptions {
        region: "eu-west-1".to_owned(),
        ..RuntimeApiOptions::new("guard-under-test")
    };
    let (api, _function) = api_with_fake_runtime(options, &[]).await;
    let timeout = Duration::from_secs(7);

    // WHEN an invocation with a 7 s timeout is delivered
    let before = now_ms();
    let invocation = api.invoke(json!({}), timeout).await;
    let after = now_ms();

    // THEN the deadline header is delivery time + 7 s, in Unix milliseconds
    let response = invocation.outcome.expect("response");
    let headers = &response["headers"];
    let deadline: u64 = headers["deadline_ms"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("numeric deadline");
    assert!(deadline >= before + 7_000, "{deadline} < {before} + 7000");
    assert!(deadline <= after + 7_000, "{deadline} > {after} + 7000");
    assert_eq!(invocation.deadline_ms, Some(deadline));
    // AND the ARN and an X-Ray style trace header are there
    assert_eq!(
        headers["function_arn"],
        json!("arn:aws:lambda:eu-west-1:111111111111:function:guard-under-test")
    );
    let trace = headers["trace_id"].as_str().expect("trace header");
    assert!(
        trace.starts_with("Root=1-") && trace.contains(";Parent="),
        "{trace}"
    );
}

#[tokio::test]
async fn concurrent_invokes_are_served_fifo_one_at_a_time() {
    // GIVEN a fake runtime and five invocations started at once, each taking 60 ms
    let (api, _function) = api_with_fake_runtime(RuntimeApiOptions::default(), &[]).await;
    let futures: Vec<_> = (0..5)
        .map(|i| api.invoke(json!({"n": i, "sleep_ms": 60}), PATIENCE))
        .collect();
    assert_eq!(api.queued() + usize::from(api.in_flight().is_some()), 5);

    // WHEN they all complete
    let mut handles = Vec::new();
    for fut in futures {
        handles.push(tokio::spawn(fut));
    }
    let mut results = Vec::new();
    for handle in handles {
        results.push(handle.await.expect("join"));
    }

    // THEN they ran in call order, and never overlapped
    let responses: Vec<Value> = results
        .iter()
        .map(|r| r.outcome.clone().expect("response"))
        .collect();
    let order: Vec<i64> = responses
        .iter()
        .map(|r| r["echo"]["n"].as_i64().unwrap_or(-1))
        .collect();
    assert_eq!(order, vec![0, 1, 2, 3, 4]);
    let seqs: Vec<i64> = responses
        .iter()
        .map(|r| r["seq"].as_i64().unwrap_or(-1))
        .collect();
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "{seqs:?}");
    for pair in responses.windows(2) {
        let prev_end = pair[0]["ended"].as_f64().unwrap_or(f64::MAX);
        let next_start = pair[1]["started"].as_f64().unwrap_or(0.0);
        assert!(next_start >= prev_end, "overlap: {prev_end} > {next_start}");
    }
    // AND the later ones waited in the queue
    assert!(results[4].queued > results[0].queued);
}

#[tokio::test]
async fn an_invocation_past_its_deadline_times_out_and_its_late_response_is_gone() {
    // GIVEN a fake runtime
    let (api, function) = api_with_fake_runtime(RuntimeApiOptions::default(), &[]).await;

    // WHEN the function takes 600 ms with a 200 ms timeout
    let invocation = api
        .invoke(json!({"sleep_ms": 600}), Duration::from_millis(200))
        .await;

    // THEN the invocation fails like Lambda's timeout
    let error = invocation.outcome.clone().expect_err("timeout");
    assert_eq!(error.error_type, error_types::TIMEOUT);
    assert!(
        error
            .error_message
            .contains("Task timed out after 0.20 seconds"),
        "{}",
        error.error_message
    );
    assert!(invocation.duration >= Duration::from_millis(200));
    // AND the late response is refused with 410 Gone
    let line = function
        .wait_for_line(OutputStream::Stdout, PATIENCE, |l| {
            l.contains("response posted")
        })
        .await
        .expect("the late response was posted");
    assert!(line.contains("\"status\": 410"), "{line}");
    // AND the runtime goes on serving
    assert!(api.invoke(json!({"after": 1}), PATIENCE).await.is_ok());
}

#[tokio::test]
async fn a_runtime_that_dies_mid_invocation_fails_it_with_runtime_exit_error() {
    // GIVEN a fake runtime
    let (api, function) = api_with_fake_runtime(RuntimeApiOptions::default(), &[]).await;

    // WHEN the function process exits with status 3 during the invocation
    let invocation = api.invoke(json!({"exit": 3}), PATIENCE).await;

    // THEN the invocation fails with Runtime.ExitError, worded like Lambda's
    let error = invocation.outcome.expect_err("exit error");
    assert_eq!(error.error_type, error_types::EXIT_ERROR);
    assert!(
        error
            .error_message
            .ends_with("Error: Runtime exited with error: exit status 3"),
        "{}",
        error.error_message
    );
    assert_eq!(
        function.wait_exit(PATIENCE).await.and_then(|s| s.code()),
        Some(3)
    );
    // AND later invocations fail fast instead of waiting for a runtime that is gone
    let later = api.invoke(json!({}), PATIENCE).await;
    assert_eq!(later.error_type(), Some(error_types::EXIT_ERROR));
    assert!(later.total() < Duration::from_secs(1));
}

#[tokio::test]
async fn the_runtime_state_machine_refuses_out_of_order_calls() {
    // GIVEN a fake runtime busy with a 1 s invocation
    let (api, function) = api_with_fake_runtime(RuntimeApiOptions::default(), &[]).await;
    let busy = api.invoke(json!({"sleep_ms": 1000, "post_twice": true}), PATIENCE);
    let busy = tokio::spawn(busy);
    let in_flight = loop {
        if let Some(id) = api.in_flight() {
            break id;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let addr = api.addr();

    // WHEN another /next arrives while the invocation is in flight
    let (status, _, body) =
        raw_http(addr, "GET", "/2018-06-01/runtime/invocation/next", &[], b"").await;
    // THEN it is an invalid state transition (403), as in Lambda
    assert_eq!(status, 403);
    let body: Value = serde_json::from_slice(&body).expect("JSON error");
    assert_eq!(body["errorType"], json!("InvalidStateTransition"));

    // WHEN a response is posted for another request id
    let (status, _, body) = raw_http(
        addr,
        "POST",
        "/2018-06-01/runtime/invocation/not-the-one/response",
        &[],
        b"{}",
    )
    .await;
    // THEN it is an invalid request id (400)
    assert_eq!(status, 400);
    let body: Value = serde_json::from_slice(&body).expect("JSON error");
    assert_eq!(body["errorType"], json!("InvalidRequestID"));

    // WHEN init/error is posted after the runtime is up
    let (status, _, _) = raw_http(addr, "POST", "/2018-06-01/runtime/init/error", &[], b"{}").await;
    // THEN it is refused (403)
    assert_eq!(status, 403);

    // AND the real invocation still completes, and its second response post is refused (403)
    let invocation = busy.await.expect("join");
    assert_eq!(invocation.request_id, in_flight);
    assert!(invocation.is_ok());
    let second = function
        .wait_for_line(OutputStream::Stdout, PATIENCE, |l| {
            l.contains("second post")
        })
        .await
        .expect("second post logged");
    assert!(second.contains("\"status\": 403"), "{second}");
    assert!(second.contains("InvalidStateTransition"), "{second}");
}

#[tokio::test]
async fn responses_that_are_not_json_or_too_large_are_errors() {
    // GIVEN a harness that accepts at most 1000-byte responses
    let options = RuntimeApiOptions {
        max_response_bytes: 1000,
        ..RuntimeApiOptions::default()
    };
    let (api, _function) = api_with_fake_runtime(options, &[]).await;

    // WHEN the function answers with text that is not JSON
    let invocation = api.invoke(json!({"raw": "plain text"}), PATIENCE).await;
    // THEN the outcome is an error but the raw body is kept
    assert_eq!(
        invocation.error_type(),
        Some(error_types::RESPONSE_NOT_JSON)
    );
    assert_eq!(invocation.body, b"plain text");

    // WHEN the function answers with more than 1000 bytes
    let invocation = api.invoke(json!({"big": "x".repeat(2000)}), PATIENCE).await;
    // THEN the invocation fails like Lambda's oversized response
    assert_eq!(
        invocation.error_type(),
        Some(error_types::RESPONSE_TOO_LARGE)
    );

    // AND the runtime keeps serving
    assert!(api.invoke(json!({"small": true}), PATIENCE).await.is_ok());
}

#[tokio::test]
async fn an_invocation_nobody_takes_fails_after_the_queue_timeout() {
    // GIVEN a harness with no runtime and a 100 ms queue timeout
    let api = common::start_api_with(RuntimeApiOptions {
        queue_timeout: Duration::from_millis(100),
        ..RuntimeApiOptions::default()
    })
    .await;

    // WHEN something is invoked
    let invocation = api.invoke(json!({}), PATIENCE).await;

    // THEN it fails with the harness's queue timeout, never delivered
    assert_eq!(invocation.error_type(), Some(error_types::QUEUE_TIMEOUT));
    assert_eq!(invocation.deadline_ms, None);
    assert_eq!(api.queued(), 0);
}

#[tokio::test]
async fn a_poll_whose_connection_closed_is_not_given_the_next_invocation() {
    // GIVEN a /next long poll pending on the harness
    let api = start_api().await;
    let mut stale = tokio::net::TcpStream::connect(api.addr())
        .await
        .expect("connect");
    tokio::io::AsyncWriteExt::write_all(
        &mut stale,
        b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: runtime\r\n\r\n",
    )
    .await
    .expect("send /next");
    let deadline = std::time::Instant::now() + PATIENCE;
    while api.next_poll_count() == 0 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(api.next_poll_count(), 1);

    // WHEN its runtime goes away and, before the harness's connection task has run again, an
    // invocation is queued (the blocking sleep lets the kernel process the close while this
    // single-threaded test runtime polls nothing)
    drop(stale);
    std::thread::sleep(Duration::from_millis(50));
    let invocation = api.invoke(json!({"n": 1}), PATIENCE);

    // THEN a live runtime asking next gets the invocation, and can answer it
    let (status, head, body) = raw_http(
        api.addr(),
        "GET",
        "/2018-06-01/runtime/invocation/next",
        &[],
        b"",
    )
    .await;
    assert_eq!(status, 200, "{head}");
    assert_eq!(
        serde_json::from_slice::<Value>(&body).ok(),
        Some(json!({"n": 1}))
    );
    let request_id = head
        .lines()
        .find_map(|l| l.strip_prefix("Lambda-Runtime-Aws-Request-Id: "))
        .expect("request id header")
        .trim()
        .to_owned();
    let (status, _, _) = raw_http(
        api.addr(),
        "POST",
        &format!("/2018-06-01/runtime/invocation/{request_id}/response"),
        &[],
        b"{\"ok\": true}",
    )
    .await;
    assert_eq!(status, 202);
    assert_eq!(invocation.await.outcome.ok(), Some(json!({"ok": true})));
}
