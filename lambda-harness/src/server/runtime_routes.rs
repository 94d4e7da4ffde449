//! Lambda Runtime API 2018-06-01 routes: `/next` long polls, `/response`, `/error` and
//! `/init/error` posts, with the status codes and error documents Lambda's server answers.

use std::os::fd::RawFd;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::json;

use super::wire::{BodyRead, Resp, header_string, json_response, read_body, set_header};
use crate::sandbox::{Delivery, NextPoll, Poller, Posted, Reject, Shared};

pub(super) async fn route(
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
            post_answer(shared, &id, req, "InvocationResponse", Posted::Response).await
        }
        (["invocation", id, "error"], Method::POST) => {
            let id = (*id).to_owned();
            let header_error_type = header_string(&req, "lambda-runtime-function-error-type");
            let posted = move |body| Posted::Error {
                body,
                header_error_type,
            };
            post_answer(shared, &id, req, "InvocationErrorResponse", posted).await
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
    let mut changed = shared.changes.subscribe();
    let mut first_check = true;
    let peer_alive = move || peer_alive(fd);
    let mut poller = Poller {
        owners: Vec::new(),
        peer_alive: &peer_alive,
    };
    loop {
        match shared.poll_next(first_check, &mut poller) {
            NextPoll::Deliver(delivery) => return delivered(delivery),
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

/// The `/next` answer: the event, and the invocation's context in Lambda's headers.
fn delivered(delivery: Delivery) -> Resp {
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
    resp
}

/// `/response` and `/error` (`to` names the state in refusals): the body, up to the response
/// limit, answers the invocation in flight as `posted(body)`.
async fn post_answer(
    shared: &Arc<Shared>,
    id: &str,
    req: Request<Incoming>,
    to: &str,
    posted: impl FnOnce(Bytes) -> Posted,
) -> Resp {
    if let Err(reject) = shared.check_answer(id) {
        return rejected(reject, to);
    }
    let posted = match read_body(req.into_body(), shared.options.max_response_bytes).await {
        BodyRead::Complete(body) => posted(body),
        BodyRead::TooLarge => Posted::TooLarge,
        BodyRead::Broken => return truncated(),
    };
    let too_large = matches!(posted, Posted::TooLarge);
    match shared.answer(id, posted) {
        Ok(()) if too_large => payload_too_large(shared.options.max_response_bytes),
        Ok(()) => accepted(),
        Err(reject) => rejected(reject, to),
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
pub(super) fn runtime_error(status: StatusCode, error_type: &str, message: String) -> Resp {
    json_response(
        status,
        &json!({"errorMessage": message, "errorType": error_type}),
    )
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
