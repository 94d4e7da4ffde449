//! Lambda Invoke API 2015-03-31 (`POST /functions/{name}/invocations`, restJson1 as
//! aws-sdk-lambda speaks it): resolves the function name, queues `RequestResponse` calls and
//! waits for them, records `Event` calls, answers `DryRun`.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{Value, json};

use super::function_name::{percent_decode, query_param, resolve_function};
use super::wire::{BodyRead, Resp, header_string, json_response, read_body, set_header};
use crate::invocation::InvocationSource;
use crate::options::RuntimeApiOptions;
use crate::sandbox::{Shared, await_invocation};

/// One Invoke call, parsed and validated.
struct InvokeCall {
    /// The function name as the caller addressed it (decoded).
    name: String,
    qualifier: Option<String>,
    invocation_type: String,
    trace_id: Option<String>,
    body: Bytes,
    payload: Value,
}

pub(super) async fn route(shared: &Arc<Shared>, rest: &str, req: Request<Incoming>) -> Resp {
    let call = match parse_call(&shared.options, rest, req).await {
        Ok(call) => call,
        Err(resp) => return resp,
    };
    let invoked_arn = match &call.qualifier {
        Some(q) => format!("{}:{q}", shared.options.function_arn()),
        None => shared.options.function_arn(),
    };
    match call.invocation_type.as_str() {
        "Event" => {
            let request_id = shared.record_async(
                call.name,
                call.qualifier,
                invoked_arn,
                call.trace_id,
                call.body,
                call.payload,
            );
            let mut resp = Response::new(Full::new(Bytes::new()));
            *resp.status_mut() = StatusCode::ACCEPTED;
            set_header(resp.headers_mut(), "x-amzn-requestid", &request_id);
            resp
        }
        "RequestResponse" => invoke_and_wait(shared, invoked_arn, call).await,
        "DryRun" => {
            let mut resp = Response::new(Full::new(Bytes::new()));
            *resp.status_mut() = StatusCode::NO_CONTENT;
            resp
        }
        other => aws_error(
            StatusCode::BAD_REQUEST,
            "InvalidParameterValueException",
            format!(
                "Unsupported invocation type {other}: expected RequestResponse, Event or DryRun"
            ),
        ),
    }
}

/// The route, function name, headers and JSON payload of an Invoke call, or the AWS error.
#[allow(clippy::result_large_err)]
async fn parse_call(
    options: &RuntimeApiOptions,
    rest: &str,
    req: Request<Incoming>,
) -> Result<InvokeCall, Resp> {
    let Some(encoded_name) = rest.strip_suffix("/invocations") else {
        return Err(aws_error(
            StatusCode::NOT_FOUND,
            "UnknownOperationException",
            "only POST /2015-03-31/functions/{FunctionName}/invocations is served".to_owned(),
        ));
    };
    if req.method() != Method::POST {
        return Err(aws_error(
            StatusCode::METHOD_NOT_ALLOWED,
            "UnknownOperationException",
            "Invoke is a POST".to_owned(),
        ));
    }
    let Some(name) = percent_decode(encoded_name) else {
        return Err(aws_error(
            StatusCode::BAD_REQUEST,
            "ValidationException",
            "FunctionName is not valid percent-encoded UTF-8".to_owned(),
        ));
    };
    let query_qualifier = req.uri().query().and_then(|q| query_param(q, "Qualifier"));
    let qualifier = resolve_function(options, &name, query_qualifier)
        .map_err(|r| aws_error(r.status, r.error_type, r.message))?;
    let invocation_type = header_string(&req, "x-amz-invocation-type")
        .unwrap_or_else(|| "RequestResponse".to_owned());
    let trace_id = header_string(&req, "x-amzn-trace-id");
    let limit = if invocation_type == "Event" {
        options.max_async_payload_bytes
    } else {
        options.max_sync_payload_bytes
    };
    let (body, payload) = read_payload(req.into_body(), limit).await?;
    Ok(InvokeCall {
        name,
        qualifier,
        invocation_type,
        trace_id,
        body,
        payload,
    })
}

/// The body (`{}` when empty) up to `limit` bytes, and it as JSON.
#[allow(clippy::result_large_err)]
async fn read_payload(body: Incoming, limit: usize) -> Result<(Bytes, Value), Resp> {
    let body = match read_body(body, limit).await {
        BodyRead::Complete(body) if body.is_empty() => Bytes::from_static(b"{}"),
        BodyRead::Complete(body) => body,
        BodyRead::TooLarge => {
            return Err(aws_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "RequestTooLargeException",
                format!(
                    "Request must be smaller than {limit} bytes for the InvokeFunction operation"
                ),
            ));
        }
        BodyRead::Broken => {
            return Err(aws_error(
                StatusCode::BAD_REQUEST,
                "InvalidRequestContentException",
                "the request body could not be read".to_owned(),
            ));
        }
    };
    match serde_json::from_slice(&body) {
        Ok(payload) => Ok((body, payload)),
        Err(e) => Err(aws_error(
            StatusCode::BAD_REQUEST,
            "InvalidRequestContentException",
            format!("Could not parse request body into json: {e}"),
        )),
    }
}

/// `RequestResponse`: queues the call and answers with what the runtime posted.
async fn invoke_and_wait(shared: &Arc<Shared>, invoked_arn: String, call: InvokeCall) -> Resp {
    let source = InvocationSource::RequestResponse;
    let (request_id, rx) = shared.enqueue(
        call.body,
        shared.options.function_timeout,
        invoked_arn,
        call.trace_id,
        source,
    );
    let invocation = await_invocation(rx, &request_id, source).await;
    let mut resp = Response::new(Full::new(Bytes::from(invocation.body)));
    let headers = resp.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    set_header(headers, "x-amzn-requestid", &invocation.request_id);
    set_header(
        headers,
        "x-amz-executed-version",
        &shared.options.function_version,
    );
    if invocation.outcome.is_err() {
        headers.insert(
            HeaderName::from_static("x-amz-function-error"),
            HeaderValue::from_static("Unhandled"),
        );
    }
    resp
}

/// restJson1 error: `X-Amzn-ErrorType` header and `{"Type":"User","message"}` body.
fn aws_error(status: StatusCode, error_type: &'static str, message: String) -> Resp {
    let mut resp = json_response(status, &json!({"Type": "User", "message": message}));
    resp.headers_mut().insert(
        HeaderName::from_static("x-amzn-errortype"),
        HeaderValue::from_static(error_type),
    );
    resp
}
