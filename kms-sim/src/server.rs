//! The HTTP side: KMS JSON 1.1 and EventBridge PutEvents on `POST /`, the admin API under
//! `/_sim/`, quotas, fault injection, latency and counters.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{Value, json};

use crate::admin_api;
use crate::api;
use crate::counters::{Counters, Outcome};
use crate::error::KmsError;
use crate::events::EventRecorder;
use crate::faults::{FaultKind, Faults, random_between};
use crate::quotas::Throttle;
use crate::store::{Caller, Store};

/// Largest request body accepted (KMS requests are small; PutEvents at most 256 KiB).
pub(crate) const MAX_BODY: usize = 1024 * 1024;

/// Everything the server shares between connections.
pub(crate) struct SimState {
    pub store: Store,
    pub faults: Faults,
    pub counters: Counters,
    pub events: EventRecorder,
    pub throttle: Throttle,
    pub latency: Mutex<Option<(Duration, Duration)>>,
    pub accounts: Mutex<HashMap<String, String>>,
    pub log_requests: bool,
}

/// Returned by the service to make hyper close the connection without a response.
#[derive(Debug)]
pub(crate) struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by fault injection")
    }
}

impl std::error::Error for Dropped {}

pub(crate) type Resp = Response<Full<Bytes>>;

pub(crate) fn new_request_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

pub(crate) fn response(status: u16, content_type: &str, body: Vec<u8>, request_id: &str) -> Resp {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if let Ok(v) = HeaderValue::from_str(content_type) {
        r.headers_mut().insert(CONTENT_TYPE, v);
    }
    if let Ok(v) = HeaderValue::from_str(request_id) {
        r.headers_mut().insert("x-amzn-RequestId", v);
    }
    r
}

fn json_response(value: &Value, request_id: &str) -> Resp {
    response(
        200,
        "application/x-amz-json-1.1",
        value.to_string().into_bytes(),
        request_id,
    )
}

fn error_response(err: &KmsError, request_id: &str) -> Resp {
    let body = if err.message.is_empty() {
        json!({ "__type": err.code })
    } else {
        json!({ "__type": err.code, "message": err.message })
    };
    response(
        err.status,
        "application/x-amz-json-1.1",
        body.to_string().into_bytes(),
        request_id,
    )
}

/// (access key ID, Region) from a SigV4 `Authorization` header
/// (`... Credential=AKID/20250101/us-east-1/kms/aws4_request, ...`).
pub(crate) fn parse_credential(authorization: &str) -> Option<(String, Option<String>)> {
    let start = authorization.find("Credential=")? + "Credential=".len();
    let rest = &authorization[start..];
    let scope = rest.split([',', ' ']).next()?;
    let mut parts = scope.split('/');
    let akid = parts.next().filter(|s| !s.is_empty())?.to_string();
    let _date = parts.next();
    let region = parts.next().filter(|s| !s.is_empty()).map(str::to_string);
    Some((akid, region))
}

impl SimState {
    fn caller(&self, req: &Request<Incoming>) -> Caller {
        let mut caller = self.store.default_caller();
        let credential = req
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_credential);
        if let Some((akid, region)) = credential {
            if let Some(account) = self
                .accounts
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(&akid)
            {
                caller.account = account.clone();
            }
            if let Some(region) = region {
                caller.region = region;
            }
        }
        caller
    }

    fn latency(&self) -> Duration {
        match *self.latency.lock().unwrap_or_else(|e| e.into_inner()) {
            Some((a, b)) => random_between(a, b),
            None => Duration::ZERO,
        }
    }
}

/// The hyper service.
/// Whether the request says `Content-Type: application/x-amz-json-1.1` (parameters allowed).
fn is_json_11(req: &Request<Incoming>) -> bool {
    req.headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/x-amz-json-1.1"))
}

pub(crate) async fn handle(state: Arc<SimState>, req: Request<Incoming>) -> Result<Resp, Dropped> {
    if req.uri().path().starts_with("/_sim") {
        return Ok(admin_api::admin(&state, req).await);
    }
    let request_id = new_request_id();
    let target = req
        .headers()
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let Some(target) = target else {
        if req.method() == Method::GET {
            return Ok(admin_api::admin_json(
                200,
                &json!({"service": "kms-sim", "admin": "/_sim/health"}),
            ));
        }
        return Ok(error_response(
            &KmsError::client("UnknownOperationException", ""),
            &request_id,
        ));
    };
    let (service, operation) = match target.split_once('.') {
        Some(("TrentService", op)) => (Service::Kms, op.to_string()),
        Some(("AWSEvents", op)) => (Service::Events, op.to_string()),
        _ => {
            return Ok(error_response(
                &KmsError::client("UnknownOperationException", ""),
                &request_id,
            ));
        }
    };
    if !is_json_11(&req) {
        // What AWS's front end answers a JSON-protocol request of another content type.
        return Ok(response(
            404,
            "application/xml",
            b"<UnknownOperationException/>".to_vec(),
            &request_id,
        ));
    }
    let caller = state.caller(&req);
    let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                return Ok(error_response(
                    &KmsError::validation("Request body too large"),
                    &request_id,
                ));
            }
            // The client went away mid-request.
            return Err(Dropped);
        }
    };
    let body: Value = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        match serde_json::from_slice::<Value>(&body) {
            Ok(v @ Value::Object(_)) => v,
            Ok(_) | Err(_) => {
                let err = KmsError::client(
                    "SerializationException",
                    "Start of structure or map found where not expected.",
                );
                state.counters.record_call(&operation, None);
                state
                    .counters
                    .record_outcome(&operation, None, Outcome::Error);
                return Ok(error_response(&err, &request_id));
            }
        }
    };

    let keys = match service {
        Service::Kms => api::keys_named(&state.store, &caller, &operation, &body),
        Service::Events => body
            .get("Entries")
            .and_then(Value::as_array)
            .map(|entries| {
                entries
                    .iter()
                    .filter_map(|e| e.get("Resources").and_then(Value::as_array))
                    .flatten()
                    .filter_map(Value::as_str)
                    .flat_map(|r| [r.to_string(), crate::counters::normalise_key(r)])
                    .collect()
            })
            .unwrap_or_default(),
    };
    let counter_key = match service {
        Service::Kms => keys.first().cloned(),
        Service::Events => None,
    };
    let ck = counter_key.as_deref();
    state.counters.record_call(&operation, ck);
    let shared_quota = match service {
        Service::Kms => api::shared_quota(&state.store, &caller, &operation, ck),
        Service::Events => None,
    };

    let admitted = state
        .throttle
        .admit(&caller.account, &caller.region, &operation, shared_quota);
    let decision = if admitted {
        state.faults.decide(&operation, &keys)
    } else {
        Default::default()
    };
    let delay = state.latency() + decision.latency;
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    if !admitted {
        state
            .counters
            .record_outcome(&operation, ck, Outcome::Throttled);
        let err = match service {
            Service::Kms => KmsError::throttling(),
            Service::Events => KmsError::client("ThrottlingException", "Rate exceeded"),
        };
        log(&state, &operation, ck, err.status);
        return Ok(error_response(&err, &request_id));
    }
    let mut apply_then_drop = false;
    let mut fail_entries = None;
    match decision.fault {
        None => {}
        Some(FaultKind::KmsError {
            code,
            message,
            status,
        }) => {
            state
                .counters
                .record_outcome(&operation, ck, Outcome::Faulted);
            log(&state, &operation, ck, status);
            let err = KmsError {
                code,
                message,
                status,
            };
            return Ok(error_response(&err, &request_id));
        }
        Some(FaultKind::Http500) => {
            state
                .counters
                .record_outcome(&operation, ck, Outcome::Faulted);
            log(&state, &operation, ck, 500);
            return Ok(response(
                500,
                "text/html",
                b"<html><body><h1>500 Internal Server Error</h1></body></html>".to_vec(),
                &request_id,
            ));
        }
        Some(FaultKind::DropConnection) => {
            state
                .counters
                .record_outcome(&operation, ck, Outcome::Faulted);
            log(&state, &operation, ck, 0);
            return Err(Dropped);
        }
        Some(FaultKind::ApplyThenDrop) => apply_then_drop = true,
        Some(f @ FaultKind::FailEntries { .. }) => {
            fail_entries = (service == Service::Events).then_some(f);
        }
        Some(FaultKind::Latency(_) | FaultKind::LatencyRange(..)) => {}
    }

    let result = match service {
        Service::Kms if operation == "GetParametersForImport" => {
            api::get_parameters_for_import(&state.store, &caller, &body).await
        }
        Service::Kms => api::dispatch(&state.store, &caller, &operation, &body),
        Service::Events if operation == "PutEvents" => {
            let now = state.store.clock().now();
            state
                .events
                .put_events(&caller, &body, now, fail_entries.as_ref())
        }
        Service::Events => Err(KmsError::client(
            "UnknownOperationException",
            format!("kms-sim does not implement the EventBridge operation {operation}"),
        )),
    };
    let outcome = if result.is_ok() {
        Outcome::Success
    } else {
        Outcome::Error
    };
    state.counters.record_outcome(&operation, ck, outcome);
    if apply_then_drop {
        state
            .counters
            .record_outcome(&operation, ck, Outcome::Faulted);
        log(&state, &operation, ck, 0);
        return Err(Dropped);
    }
    Ok(match result {
        Ok(v) => {
            log(&state, &operation, ck, 200);
            json_response(&v, &request_id)
        }
        Err(e) => {
            log(&state, &operation, ck, e.status);
            error_response(&e, &request_id)
        }
    })
}

fn log(state: &SimState, operation: &str, key: Option<&str>, status: u16) {
    if state.log_requests {
        let status = if status == 0 {
            "dropped".to_string()
        } else {
            status.to_string()
        };
        eprintln!("kms-sim: {operation} {} -> {status}", key.unwrap_or("-"));
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Service {
    Kms,
    Events,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_scope_gives_access_key_and_region() {
        let h = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20250101/eu-west-1/kms/aws4_request, SignedHeaders=host, Signature=abc";
        assert_eq!(
            parse_credential(h),
            Some(("AKIDEXAMPLE".to_string(), Some("eu-west-1".to_string())))
        );
        assert_eq!(parse_credential("garbage"), None);
        assert_eq!(
            parse_credential("Credential=AK"),
            Some(("AK".to_string(), None))
        );
    }
}
