//! HTTP side: hyper 1 (HTTP/1.1) routes for the Lambda Runtime API 2018-06-01 and the Lambda
//! Invoke API 2015-03-31, both on one loopback port.

use std::convert::Infallible;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use crate::api::{
    FunctionError, InvocationSource, NextPoll, Poller, Posted, Reject, RuntimeApiOptions, Shared,
    await_invocation,
};

type Resp = Response<Full<Bytes>>;

/// Accept loop. Aborting this task drops the `JoinSet`, which aborts every connection.
pub(crate) async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    // For `/next`: whether the runtime is still there to read its invocation.
                    // Valid while the connection's task (which owns the stream) runs.
                    let fd = stream.as_raw_fd();
                    let shared = shared.clone();
                    connections.spawn(async move {
                        let service = service_fn(move |req| handle(shared.clone(), fd, req));
                        // Canonical header names ("Lambda-Runtime-Aws-Request-Id"), as Lambda's
                        // Go server writes them, for runtime clients that compare case-sensitively.
                        let _ = http1::Builder::new()
                            .title_case_headers(true)
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
                // EMFILE and friends: back off instead of spinning.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn handle(
    shared: Arc<Shared>,
    fd: RawFd,
    req: Request<Incoming>,
) -> Result<Resp, Infallible> {
    let path = req.uri().path().to_owned();
    let response = if let Some(rest) = path.strip_prefix("/2018-06-01/runtime/") {
        runtime_route(&shared, fd, rest, req).await
    } else if let Some(rest) = path.strip_prefix("/2015-03-31/functions/") {
        invoke_route(&shared, rest, req).await
    } else {
        runtime_error(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("no route for {path}"),
        )
    };
    Ok(response)
}

// ------------------------------------------------------------------------------------------
// Runtime API
// ------------------------------------------------------------------------------------------

async fn runtime_route(
    shared: &Arc<Shared>,
    fd: RawFd,
    rest: &str,
    req: Request<Incoming>,
) -> Resp {
    let method = req.method().clone();
    let segments: Vec<&str> = rest.split('/').collect();
    match (segments.as_slice(), method) {
        (["invocation", "next"], Method::GET) => next(shared, fd).await,
        (["invocation", id, "response"], Method::POST) => {
            let id = (*id).to_owned();
            post_response(shared, &id, req).await
        }
        (["invocation", id, "error"], Method::POST) => {
            let id = (*id).to_owned();
            post_error(shared, &id, req).await
        }
        (["init", "error"], Method::POST) => post_init_error(shared, req).await,
        (["invocation", "next"], _)
        | (["invocation", _, "response" | "error"], _)
        | (["init", "error"], _) => runtime_error(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            "method not allowed".to_owned(),
        ),
        _ => runtime_error(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("no runtime API route {rest}"),
        ),
    }
}

/// `GET /runtime/invocation/next`: long poll until an invocation can be delivered.
async fn next(shared: &Arc<Shared>, fd: RawFd) -> Resp {
    let mut changed = shared.changed.subscribe();
    let mut first_check = true;
    let peer_alive = move || peer_alive(fd);
    let mut poller = Poller {
        owners: Vec::new(),
        peer_alive: &peer_alive,
    };
    loop {
        match shared.poll_next(first_check, &mut poller) {
            NextPoll::Deliver(delivery) => {
                let mut resp = Response::new(Full::new(delivery.body));
                let headers = resp.headers_mut();
                headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                set_header(
                    headers,
                    "lambda-runtime-aws-request-id",
                    &delivery.request_id,
                );
                set_header(
                    headers,
                    "lambda-runtime-deadline-ms",
                    &delivery.deadline_ms.to_string(),
                );
                set_header(
                    headers,
                    "lambda-runtime-invoked-function-arn",
                    &delivery.invoked_arn,
                );
                set_header(headers, "lambda-runtime-trace-id", &delivery.trace_id);
                return resp;
            }
            NextPoll::Forbidden => {
                return state_transition_error("Invoking", "Ready");
            }
            NextPoll::Gone => {
                // Nobody will read this; the invocation stays queued for a live runtime.
                return runtime_error(
                    StatusCode::GONE,
                    "RuntimeGone",
                    "the runtime that made this request has exited or closed the connection"
                        .to_owned(),
                );
            }
            NextPoll::Wait => {}
        }
        first_check = false;
        if changed.changed().await.is_err() {
            return runtime_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalServerError",
                "Internal Server Error".to_owned(),
            );
        }
    }
}

async fn post_response(shared: &Arc<Shared>, id: &str, req: Request<Incoming>) -> Resp {
    if let Err(reject) = shared.check_answer(id) {
        return rejected(reject, "InvocationResponse");
    }
    let posted = match read_body(req.into_body(), shared.options.max_response_bytes).await {
        BodyRead::Complete(body) => Posted::Response(body),
        BodyRead::TooLarge => Posted::TooLarge,
        BodyRead::Broken => return truncated(),
    };
    let too_large = matches!(posted, Posted::TooLarge);
    match shared.answer(id, posted) {
        Ok(()) if too_large => payload_too_large(shared.options.max_response_bytes),
        Ok(()) => accepted(),
        Err(reject) => rejected(reject, "InvocationResponse"),
    }
}

async fn post_error(shared: &Arc<Shared>, id: &str, req: Request<Incoming>) -> Resp {
    if let Err(reject) = shared.check_answer(id) {
        return rejected(reject, "InvocationErrorResponse");
    }
    let header_error_type = header_string(&req, "lambda-runtime-function-error-type");
    let posted = match read_body(req.into_body(), shared.options.max_response_bytes).await {
        BodyRead::Complete(body) => Posted::Error {
            body,
            header_error_type,
        },
        BodyRead::TooLarge => Posted::TooLarge,
        BodyRead::Broken => return truncated(),
    };
    let too_large = matches!(posted, Posted::TooLarge);
    match shared.answer(id, posted) {
        Ok(()) if too_large => payload_too_large(shared.options.max_response_bytes),
        Ok(()) => accepted(),
        Err(reject) => rejected(reject, "InvocationErrorResponse"),
    }
}

async fn post_init_error(shared: &Arc<Shared>, req: Request<Incoming>) -> Resp {
    let header_error_type = header_string(&req, "lambda-runtime-function-error-type");
    let body = match read_body(req.into_body(), shared.options.max_response_bytes).await {
        BodyRead::Complete(body) => body,
        BodyRead::TooLarge => return payload_too_large(shared.options.max_response_bytes),
        BodyRead::Broken => return truncated(),
    };
    match shared.init_error(&body, header_error_type) {
        Ok(()) => accepted(),
        Err(_) => state_transition_error("Ready", "InitError"),
    }
}

fn accepted() -> Resp {
    json_response(StatusCode::ACCEPTED, &json!({"status": "OK"}))
}

fn rejected(reject: Reject, to: &str) -> Resp {
    match reject {
        Reject::NotInvoking => state_transition_error("Ready", to),
        Reject::WrongId => runtime_error(
            StatusCode::BAD_REQUEST,
            "InvalidRequestID",
            "Invalid request ID".to_owned(),
        ),
        Reject::TimedOut => runtime_error(
            StatusCode::GONE,
            "InvocationTimedOut",
            "Invocation already timed out: the response is stale".to_owned(),
        ),
    }
}

fn state_transition_error(from: &str, to: &str) -> Resp {
    runtime_error(
        StatusCode::FORBIDDEN,
        "InvalidStateTransition",
        format!(
            "State transition from {from} to {to} failed for runtime. Error: State transition is not allowed"
        ),
    )
}

fn payload_too_large(limit: usize) -> Resp {
    runtime_error(
        StatusCode::PAYLOAD_TOO_LARGE,
        "RequestEntityTooLarge",
        format!("Exceeded maximum allowed payload size ({limit} bytes)."),
    )
}

fn truncated() -> Resp {
    runtime_error(
        StatusCode::BAD_REQUEST,
        "TruncatedHTTPRequest",
        "HTTP request detected as truncated".to_owned(),
    )
}

/// Runtime API error document: `{"errorMessage","errorType"}`.
fn runtime_error(status: StatusCode, error_type: &str, message: String) -> Resp {
    json_response(
        status,
        &json!({"errorMessage": message, "errorType": error_type}),
    )
}

// ------------------------------------------------------------------------------------------
// Invoke API (restJson1, as aws-sdk-lambda speaks it)
// ------------------------------------------------------------------------------------------

async fn invoke_route(shared: &Arc<Shared>, rest: &str, req: Request<Incoming>) -> Resp {
    let Some(encoded_name) = rest.strip_suffix("/invocations") else {
        return aws_error(
            StatusCode::NOT_FOUND,
            "UnknownOperationException",
            "only POST /2015-03-31/functions/{FunctionName}/invocations is served".to_owned(),
        );
    };
    if req.method() != Method::POST {
        return aws_error(
            StatusCode::METHOD_NOT_ALLOWED,
            "UnknownOperationException",
            "Invoke is a POST".to_owned(),
        );
    }
    let Some(name) = percent_decode(encoded_name) else {
        return aws_error(
            StatusCode::BAD_REQUEST,
            "ValidationException",
            "FunctionName is not valid percent-encoded UTF-8".to_owned(),
        );
    };
    let query_qualifier = req.uri().query().and_then(|q| query_param(q, "Qualifier"));
    let qualifier = match resolve_function(&shared.options, &name, query_qualifier) {
        Ok(q) => q,
        Err(resp) => return resp,
    };
    let invocation_type = header_string(&req, "x-amz-invocation-type")
        .unwrap_or_else(|| "RequestResponse".to_owned());
    let trace_id = header_string(&req, "x-amzn-trace-id");
    let limit = if invocation_type == "Event" {
        shared.options.max_async_payload_bytes
    } else {
        shared.options.max_sync_payload_bytes
    };
    let body = match read_body(req.into_body(), limit).await {
        BodyRead::Complete(body) if body.is_empty() => Bytes::from_static(b"{}"),
        BodyRead::Complete(body) => body,
        BodyRead::TooLarge => {
            return aws_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "RequestTooLargeException",
                format!(
                    "Request must be smaller than {limit} bytes for the InvokeFunction operation"
                ),
            );
        }
        BodyRead::Broken => {
            return aws_error(
                StatusCode::BAD_REQUEST,
                "InvalidRequestContentException",
                "the request body could not be read".to_owned(),
            );
        }
    };
    let payload: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return aws_error(
                StatusCode::BAD_REQUEST,
                "InvalidRequestContentException",
                format!("Could not parse request body into json: {e}"),
            );
        }
    };
    let invoked_arn = match &qualifier {
        Some(q) => format!("{}:{q}", shared.options.function_arn()),
        None => shared.options.function_arn(),
    };
    match invocation_type.as_str() {
        "Event" => {
            let request_id =
                shared.record_async(name, qualifier, invoked_arn, trace_id, body, payload);
            let mut resp = Response::new(Full::new(Bytes::new()));
            *resp.status_mut() = StatusCode::ACCEPTED;
            set_header(resp.headers_mut(), "x-amzn-requestid", &request_id);
            resp
        }
        "RequestResponse" => {
            let (request_id, rx) = shared.enqueue(
                body,
                shared.options.function_timeout,
                invoked_arn,
                trace_id,
                InvocationSource::RequestResponse,
            );
            let invocation =
                await_invocation(rx, &request_id, InvocationSource::RequestResponse).await;
            let mut resp = Response::new(Full::new(Bytes::from(invocation.body)));
            let headers = resp.headers_mut();
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            set_header(headers, "x-amzn-requestid", &invocation.request_id);
            set_header(
                headers,
                "x-amz-executed-version",
                &shared.options.function_version,
            );
            if let Err(FunctionError { .. }) = invocation.outcome {
                headers.insert(
                    HeaderName::from_static("x-amz-function-error"),
                    HeaderValue::from_static("Unhandled"),
                );
            }
            resp
        }
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

/// Accepts the configured function by name, `name:qualifier`, partial ARN
/// (`account:function:name[:qualifier]`) or full ARN; returns the qualifier.
#[allow(clippy::result_large_err)]
fn resolve_function(
    options: &RuntimeApiOptions,
    name: &str,
    query_qualifier: Option<String>,
) -> Result<Option<String>, Resp> {
    let parts: Vec<&str> = name.split(':').collect();
    let (region, account, function, name_qualifier) = match parts.as_slice() {
        [
            "arn",
            _partition,
            "lambda",
            region,
            account,
            "function",
            function,
        ] => (Some(*region), Some(*account), *function, None),
        [
            "arn",
            _partition,
            "lambda",
            region,
            account,
            "function",
            function,
            qualifier,
        ] => (Some(*region), Some(*account), *function, Some(*qualifier)),
        [account, "function", function] => (None, Some(*account), *function, None),
        [account, "function", function, qualifier] => {
            (None, Some(*account), *function, Some(*qualifier))
        }
        [function] => (None, None, *function, None),
        [function, qualifier] => (None, None, *function, Some(*qualifier)),
        _ => (None, None, "", None),
    };
    let found = function == options.function_name
        && region.is_none_or(|r| r == options.region)
        && account.is_none_or(|a| a == options.account_id);
    if !found {
        return Err(aws_error(
            StatusCode::NOT_FOUND,
            "ResourceNotFoundException",
            format!(
                "Function not found: arn:aws:lambda:{}:{}:function:{name}",
                options.region, options.account_id
            ),
        ));
    }
    let qualifier = match (name_qualifier, query_qualifier) {
        (Some(a), Some(b)) if a != b => {
            return Err(aws_error(
                StatusCode::BAD_REQUEST,
                "InvalidParameterValueException",
                "The derived qualifier from the function name does not match the specified qualifier."
                    .to_owned(),
            ));
        }
        (Some(a), _) => Some(a.to_owned()),
        (None, b) => b,
    };
    if let Some(q) = &qualifier {
        let valid = !q.is_empty()
            && q.len() <= 128
            && q.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '$' | '_' | '-'));
        if !valid {
            return Err(aws_error(
                StatusCode::BAD_REQUEST,
                "ValidationException",
                format!(
                    "1 validation error detected: Value '{q}' at 'qualifier' failed to satisfy constraint: Member must satisfy regular expression pattern: (|[a-zA-Z0-9$_-]+)"
                ),
            ));
        }
    }
    Ok(qualifier)
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

// ------------------------------------------------------------------------------------------
// Helpers
// ------------------------------------------------------------------------------------------

enum BodyRead {
    Complete(Bytes),
    TooLarge,
    Broken,
}

async fn read_body(body: Incoming, limit: usize) -> BodyRead {
    match Limited::new(body, limit).collect().await {
        Ok(collected) => BodyRead::Complete(collected.to_bytes()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => BodyRead::TooLarge,
        Err(_) => BodyRead::Broken,
    }
}

/// Whether the peer of the connection on `fd` may still read an answer: false once it closed
/// (EOF) or reset the connection. A peek reads nothing and never blocks; pipelined bytes or
/// nothing to read yet both mean "still there".
fn peer_alive(fd: RawFd) -> bool {
    let mut byte = 0u8;
    // SAFETY: `fd` is the connection's socket, open while the connection task that polls this
    // request lives; `byte` is a valid one-byte buffer; MSG_PEEK | MSG_DONTWAIT consumes nothing
    // and does not block.
    let n = unsafe {
        libc::recv(
            fd,
            (&raw mut byte).cast::<libc::c_void>(),
            1,
            libc::MSG_PEEK | libc::MSG_DONTWAIT,
        )
    };
    if n >= 0 {
        return n > 0;
    }
    let err = std::io::Error::last_os_error();
    matches!(
        err.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted
    )
}

fn json_response(status: StatusCode, body: &Value) -> Resp {
    let mut resp = Response::new(Full::new(Bytes::from(body.to_string())));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

fn set_header(headers: &mut hyper::HeaderMap, name: &'static str, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        headers.insert(HeaderName::from_static(name), value);
    }
}

fn header_string<B>(req: &Request<B>, name: &str) -> Option<String> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn query_param(query: &str, key: &str) -> Option<String> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == key)
        .and_then(|(_, v)| percent_decode(v))
}

/// `%XX` decoding; `None` on a malformed escape or invalid UTF-8.
pub(crate) fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes.get(i) {
            Some(b'%') => {
                let hex = s.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            Some(b) => {
                out.push(*b);
                i += 1;
            }
            None => break,
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding_handles_arns_and_rejects_garbage() {
        assert_eq!(
            percent_decode("arn%3Aaws%3Alambda").as_deref(),
            Some("arn:aws:lambda")
        );
        assert_eq!(percent_decode("plain").as_deref(), Some("plain"));
        assert_eq!(percent_decode("bad%4"), None);
        assert_eq!(percent_decode("bad%zz"), None);
        assert_eq!(percent_decode("%ff"), None);
    }

    #[test]
    fn function_names_arns_and_qualifiers_resolve() {
        let o = RuntimeApiOptions::default();
        let ok =
            |name: &str, q: Option<&str>| resolve_function(&o, name, q.map(str::to_owned)).ok();
        assert_eq!(ok("kms-material-guard", None), Some(None));
        assert_eq!(
            ok("kms-material-guard:live", None),
            Some(Some("live".to_owned()))
        );
        assert_eq!(
            ok(
                "arn:aws:lambda:us-east-1:111111111111:function:kms-material-guard",
                None
            ),
            Some(None)
        );
        assert_eq!(
            ok(
                "arn:aws:lambda:us-east-1:111111111111:function:kms-material-guard:$LATEST",
                None
            ),
            Some(Some("$LATEST".to_owned()))
        );
        assert_eq!(
            ok("111111111111:function:kms-material-guard", Some("7")),
            Some(Some("7".to_owned()))
        );
        assert_eq!(ok("other", None), None);
        assert_eq!(
            ok(
                "arn:aws:lambda:eu-west-1:111111111111:function:kms-material-guard",
                None
            ),
            None
        );
        assert_eq!(ok("kms-material-guard:a", Some("b")), None);
        assert_eq!(ok("kms-material-guard", Some("bad qualifier")), None);
    }
}
