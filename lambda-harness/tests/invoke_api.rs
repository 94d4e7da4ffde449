//! The Lambda Invoke API on the harness port, through the real `aws-sdk-lambda` client and raw
//! HTTP, with the Python fake runtime behind it.

mod common;

use std::time::Duration;

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;
use common::{PATIENCE, api_with_fake_runtime, raw_http, start_api_with};
use lambda_harness::{InvocationSource, RuntimeApi, RuntimeApiOptions};
use serde_json::{Value, json};

/// The real SDK client, pointed at the harness (static test credentials, no profile lookups).
async fn lambda_client(api: &RuntimeApi) -> aws_sdk_lambda::Client {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(api.options().region.clone()))
        .endpoint_url(api.endpoint_url())
        .credentials_provider(aws_sdk_lambda::config::Credentials::new(
            "AKIDLOCALHARNESS",
            "local-harness-secret",
            None,
            None,
            "lambda-harness-tests",
        ))
        .load()
        .await;
    aws_sdk_lambda::Client::new(&config)
}

fn payload(value: &Value) -> Blob {
    Blob::new(value.to_string())
}

#[tokio::test]
async fn sdk_request_response_invoke_returns_the_payload() {
    // GIVEN a fake runtime and the real SDK client pointed at the harness
    let (api, _function) = api_with_fake_runtime(RuntimeApiOptions::default(), &[]).await;
    let client = lambda_client(&api).await;

    // WHEN the function is invoked synchronously by name
    let output = client
        .invoke()
        .function_name("kms-material-guard")
        .payload(payload(&json!({"via": "sdk"})))
        .send()
        .await
        .expect("Invoke succeeds");

    // THEN the SDK sees what real Lambda returns: 200, $LATEST, no function error, the payload
    assert_eq!(output.status_code(), 200);
    assert_eq!(output.executed_version(), Some("$LATEST"));
    assert_eq!(output.function_error(), None);
    let body: Value =
        serde_json::from_slice(output.payload().expect("payload").as_ref()).expect("JSON payload");
    assert_eq!(body["echo"], json!({"via": "sdk"}));
    assert_eq!(
        body["headers"]["function_arn"],
        json!("arn:aws:lambda:us-east-1:111111111111:function:kms-material-guard")
    );
}

#[tokio::test]
async fn sdk_invoke_of_a_failing_function_reports_unhandled() {
    // GIVEN a fake runtime and the SDK client
    let (api, _function) = api_with_fake_runtime(RuntimeApiOptions::default(), &[]).await;
    let client = lambda_client(&api).await;

    // WHEN the invoked function fails, addressed by qualified ARN
    let output = client
        .invoke()
        .function_name("arn:aws:lambda:us-east-1:111111111111:function:kms-material-guard:$LATEST")
        .payload(payload(
            &json!({"fail": {"type": "Boom", "message": "it broke"}}),
        ))
        .send()
        .await
        .expect("Invoke itself succeeds");

    // THEN, like Lambda: 200, X-Amz-Function-Error: Unhandled, the error document as payload
    assert_eq!(output.status_code(), 200);
    assert_eq!(output.function_error(), Some("Unhandled"));
    let body: Value =
        serde_json::from_slice(output.payload().expect("payload").as_ref()).expect("JSON payload");
    assert_eq!(body["errorType"], json!("Boom"));
    assert_eq!(body["errorMessage"], json!("it broke"));
}

#[tokio::test]
async fn sdk_invoke_of_an_unknown_function_is_resource_not_found() {
    // GIVEN a harness (no runtime needed)
    let api = start_api_with(RuntimeApiOptions::default()).await;
    let client = lambda_client(&api).await;

    // WHEN another function is invoked
    let err = client
        .invoke()
        .function_name("someone-else")
        .send()
        .await
        .expect_err("unknown function");

    // THEN the SDK surfaces ResourceNotFoundException
    let service_error = err.into_service_error();
    assert!(
        service_error.is_resource_not_found_exception(),
        "{service_error:?}"
    );
}

#[tokio::test]
async fn sdk_event_invoke_is_accepted_queued_and_delivered() {
    // GIVEN a fake runtime and the SDK client
    let (api, _function) = api_with_fake_runtime(RuntimeApiOptions::default(), &[]).await;
    let client = lambda_client(&api).await;

    // WHEN the function is invoked asynchronously
    let output = client
        .invoke()
        .function_name("kms-material-guard")
        .invocation_type(InvocationType::Event)
        .payload(payload(&json!({"async": 1})))
        .send()
        .await
        .expect("Invoke succeeds");

    // THEN the call is accepted (202) with nothing to read
    assert_eq!(output.status_code(), 202);
    assert!(output.payload().is_none_or(|p| p.as_ref().is_empty()));
    // AND it is recorded, delivered to the runtime, and its result recorded
    let records = api.wait_for_async_results(1, PATIENCE).await;
    assert_eq!(records.len(), 1);
    let record = &records[0];
    assert_eq!(record.payload, json!({"async": 1}));
    assert_eq!(record.function_name, "kms-material-guard");
    let result = record.result.as_ref().expect("delivered and finished");
    assert_eq!(result.source, InvocationSource::Event);
    assert_eq!(result.request_id, record.request_id);
    assert_eq!(
        result.outcome.as_ref().expect("response")["echo"],
        json!({"async": 1})
    );
}

#[tokio::test]
async fn a_function_invoking_itself_asynchronously_gets_the_event_next() {
    // GIVEN a fake runtime whose Lambda endpoint is the harness (AWS_ENDPOINT_URL_LAMBDA)
    let (api, _function) = api_with_fake_runtime(RuntimeApiOptions::default(), &[]).await;

    // WHEN an invocation makes the function invoke itself with an Event
    let first = api
        .invoke(json!({"invoke_async": {"continuation": 2}}), PATIENCE)
        .await;

    // THEN the Invoke API answered 202 to the function
    let response = first.outcome.expect("response");
    assert_eq!(response["async_status"], json!(202));
    // AND the event is recorded with the request id the function was given
    let records = api.wait_for_async_results(1, PATIENCE).await;
    assert_eq!(records.len(), 1);
    assert_eq!(
        response["async_request_id"],
        json!(records[0].request_id.clone())
    );
    // AND it was delivered to the runtime after the first invocation finished
    let result = records[0].result.as_ref().expect("delivered");
    let echoed = result.outcome.as_ref().expect("response");
    assert_eq!(echoed["echo"], json!({"continuation": 2}));
    assert_eq!(echoed["seq"], json!(2));
}

#[tokio::test]
async fn with_auto_delivery_off_async_calls_are_only_recorded() {
    // GIVEN a harness that records Event calls without delivering them
    let options = RuntimeApiOptions {
        auto_deliver_async: false,
        ..RuntimeApiOptions::default()
    };
    let (api, _function) = api_with_fake_runtime(options, &[]).await;
    let client = lambda_client(&api).await;

    // WHEN an Event call arrives, then a direct invocation
    client
        .invoke()
        .function_name("kms-material-guard")
        .invocation_type(InvocationType::Event)
        .payload(payload(&json!({"recorded": true})))
        .send()
        .await
        .expect("Invoke succeeds");
    let direct = api.invoke(json!({"direct": true}), PATIENCE).await;

    // THEN the runtime only saw the direct one; the event is recorded, without result
    assert_eq!(direct.outcome.expect("response")["seq"], json!(1));
    let records = api.async_invocations();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].payload, json!({"recorded": true}));
    assert!(records[0].result.is_none());
}

#[tokio::test]
async fn invoke_api_rejects_bad_requests_like_lambda() {
    // GIVEN a harness
    let api = start_api_with(RuntimeApiOptions::default()).await;
    let path = "/2015-03-31/functions/kms-material-guard/invocations";

    // WHEN the payload is not JSON
    let (status, head, body) = raw_http(api.addr(), "POST", path, &[], b"{not json").await;
    // THEN 400 InvalidRequestContentException
    assert_eq!(status, 400);
    assert!(
        head.to_ascii_lowercase()
            .contains("x-amzn-errortype: invalidrequestcontentexception"),
        "{head}"
    );
    let body: Value = serde_json::from_slice(&body).expect("JSON");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("Could not parse"))
    );

    // WHEN it is a dry run
    let (status, _, _) = raw_http(
        api.addr(),
        "POST",
        path,
        &[("X-Amz-Invocation-Type", "DryRun")],
        b"{}",
    )
    .await;
    // THEN 204 and nothing is queued
    assert_eq!(status, 204);
    assert_eq!(api.queued(), 0);

    // WHEN the invocation type is unknown
    let (status, _, _) = raw_http(
        api.addr(),
        "POST",
        path,
        &[("X-Amz-Invocation-Type", "Sometime")],
        b"{}",
    )
    .await;
    // THEN 400
    assert_eq!(status, 400);

    // WHEN an Event payload exceeds the async limit
    let big = format!("\"{}\"", "x".repeat(api.options().max_async_payload_bytes));
    let (status, head, _) = raw_http(
        api.addr(),
        "POST",
        path,
        &[("X-Amz-Invocation-Type", "Event")],
        big.as_bytes(),
    )
    .await;
    // THEN 413 RequestTooLargeException, nothing recorded
    assert_eq!(status, 413);
    assert!(
        head.to_ascii_lowercase()
            .contains("x-amzn-errortype: requesttoolargeexception"),
        "{head}"
    );
    assert!(api.async_invocations().is_empty());
}

#[tokio::test]
async fn request_response_invoke_waits_for_the_function_timeout() {
    // GIVEN a harness whose function timeout is 200 ms, and a slow function
    let options = RuntimeApiOptions {
        function_timeout: Duration::from_millis(200),
        ..RuntimeApiOptions::default()
    };
    let (api, _function) = api_with_fake_runtime(options, &[]).await;
    let client = lambda_client(&api).await;

    // WHEN it is invoked through the Invoke API and takes 500 ms
    let output = client
        .invoke()
        .function_name("kms-material-guard")
        .payload(payload(&json!({"sleep_ms": 500})))
        .send()
        .await
        .expect("Invoke succeeds");

    // THEN Lambda's timeout error comes back as an Unhandled function error
    assert_eq!(output.function_error(), Some("Unhandled"));
    let body: Value =
        serde_json::from_slice(output.payload().expect("payload").as_ref()).expect("JSON");
    assert_eq!(body["errorType"], json!("Sandbox.Timedout"));
    assert!(
        body["errorMessage"]
            .as_str()
            .is_some_and(|m| m.contains("Task timed out after 0.20 seconds"))
    );
}
