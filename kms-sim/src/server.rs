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

use crate::api;
use crate::clock::{epoch_seconds, from_epoch_seconds, parse_rfc3339, rfc3339};
use crate::counters::{Counters, Outcome};
use crate::error::KmsError;
use crate::events::EventRecorder;
use crate::faults::{FaultKind, FaultRule, Faults, random_between};
use crate::quotas::{Quotas, Throttle};
use crate::seed::Seed;
use crate::store::{Caller, Store};

/// Largest request body accepted (KMS requests are small; PutEvents at most 256 KiB).
const MAX_BODY: usize = 1024 * 1024;

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

type Resp = Response<Full<Bytes>>;

fn new_request_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn response(status: u16, content_type: &str, body: Vec<u8>, request_id: &str) -> Resp {
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

fn admin_json(status: u16, value: &Value) -> Resp {
    response(
        status,
        "application/json",
        value.to_string().into_bytes(),
        &new_request_id(),
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
        return Ok(admin(&state, req).await);
    }
    let request_id = new_request_id();
    let target = req
        .headers()
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let Some(target) = target else {
        if req.method() == Method::GET {
            return Ok(admin_json(
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

async fn admin(state: &SimState, req: Request<Incoming>) -> Resp {
    let method = req.method().clone();
    let path = req.uri().path().trim_end_matches('/').to_string();
    let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return admin_json(400, &json!({"error": "request body too large or broken"})),
    };
    let parsed: Result<Value, String> = if body.iter().all(u8::is_ascii_whitespace) {
        Ok(json!({}))
    } else {
        serde_json::from_slice(&body).map_err(|e| format!("invalid JSON: {e}"))
    };
    let body = match parsed {
        Ok(v) => v,
        Err(e) => return admin_json(400, &json!({ "error": e })),
    };
    match admin_route(state, &method, &path, &body) {
        Ok(v) => admin_json(200, &v),
        Err((status, message)) => admin_json(status, &json!({ "error": message })),
    }
}

type AdminResult = Result<Value, (u16, String)>;

fn bad(message: impl Into<String>) -> (u16, String) {
    (400, message.into())
}

fn admin_route(state: &SimState, method: &Method, path: &str, body: &Value) -> AdminResult {
    match (method.as_str(), path) {
        ("GET", "/_sim" | "/_sim/health") => Ok(json!({"ok": true, "service": "kms-sim"})),
        ("GET", "/_sim/faults") => Ok(json!({
            "rules": state.faults.list().into_iter().map(|r| {
                let mut v = r.rule.to_json();
                v["id"] = json!(r.id);
                v["seen"] = json!(r.seen);
                v["fired"] = json!(r.fired);
                v
            }).collect::<Vec<_>>()
        })),
        ("POST", "/_sim/faults") => {
            let rules: Vec<&Value> = match body {
                Value::Array(a) => a.iter().collect(),
                Value::Object(o) if o.contains_key("rules") => match o.get("rules") {
                    Some(Value::Array(a)) => a.iter().collect(),
                    _ => return Err(bad("'rules' must be a list")),
                },
                other => vec![other],
            };
            let parsed = rules
                .into_iter()
                .map(FaultRule::from_json)
                .collect::<Result<Vec<_>, _>>()
                .map_err(bad)?;
            let ids: Vec<u64> = parsed.into_iter().map(|r| state.faults.add(r)).collect();
            Ok(json!({ "ids": ids }))
        }
        ("DELETE", "/_sim/faults") => {
            state.faults.clear();
            Ok(json!({"cleared": true}))
        }
        ("DELETE", p) if p.starts_with("/_sim/faults/") => {
            let id: u64 = p["/_sim/faults/".len()..]
                .parse()
                .map_err(|_| bad("fault rule ids are numbers"))?;
            if state.faults.remove(id) {
                Ok(json!({"removed": id}))
            } else {
                Err((404, format!("no fault rule {id}")))
            }
        }
        ("GET", "/_sim/counters") => {
            serde_json::to_value(state.counters.snapshot()).map_err(|e| (500, e.to_string()))
        }
        ("POST", "/_sim/counters/reset") => {
            state.counters.reset();
            Ok(json!({"reset": true}))
        }
        ("GET", "/_sim/clock") => Ok(clock_json(state)),
        ("POST", "/_sim/clock") => {
            let clock = state.store.clock();
            if let Some(secs) = body.get("advance_seconds") {
                let secs = secs
                    .as_f64()
                    .filter(|s| s.is_finite() && *s >= 0.0 && *s < 1e11)
                    .ok_or_else(|| bad("'advance_seconds' must be a non-negative number"))?;
                clock.advance(Duration::from_secs_f64(secs));
            } else if let Some(to) = body.get("set") {
                let t = match to {
                    Value::Number(n) => n.as_f64().and_then(from_epoch_seconds),
                    Value::String(s) => parse_rfc3339(s),
                    _ => None,
                }
                .ok_or_else(|| bad("'set' must be epoch seconds or an RFC 3339 time"))?;
                clock.set(t);
            } else if body.get("reset").and_then(Value::as_bool) == Some(true) {
                clock.reset();
            } else {
                return Err(bad(
                    "expected {\"advance_seconds\": n}, {\"set\": time} or {\"reset\": true}",
                ));
            }
            Ok(clock_json(state))
        }
        ("GET", "/_sim/keys") => {
            serde_json::to_value(state.store.keys()).map_err(|e| (500, e.to_string()))
        }
        ("GET", "/_sim/events") => {
            serde_json::to_value(state.events.events()).map_err(|e| (500, e.to_string()))
        }
        ("GET", "/_sim/kms-events") => Ok(Value::Array(state.store.kms_events())),
        ("DELETE", "/_sim/kms-events") => {
            state.store.clear_kms_events();
            Ok(json!({"cleared": true}))
        }
        ("DELETE", "/_sim/events") => {
            state.events.clear();
            Ok(json!({"cleared": true}))
        }
        ("GET", "/_sim/quotas") => Ok(quotas_json(&state.throttle.get())),
        ("POST", "/_sim/quotas") => {
            let mut q = if body.get("unlimited").and_then(Value::as_bool) == Some(true) {
                Quotas::unlimited()
            } else if body.get("defaults").and_then(Value::as_bool) == Some(true) {
                Quotas::default()
            } else {
                state.throttle.get()
            };
            if let Some(scale) = body.get("scale") {
                q.scale = scale
                    .as_f64()
                    .filter(|s| s.is_finite() && *s > 0.0)
                    .ok_or_else(|| bad("'scale' must be a positive number"))?;
            }
            if let Some(enabled) = body.get("enabled") {
                q.enabled = enabled
                    .as_bool()
                    .ok_or_else(|| bad("'enabled' must be a boolean"))?;
            }
            if let Some(ops) = body.get("operations") {
                let ops = ops
                    .as_object()
                    .ok_or_else(|| bad("'operations' must map operation names to rps"))?;
                for (op, rps) in ops {
                    let rps = rps
                        .as_f64()
                        .filter(|r| r.is_finite() && *r > 0.0)
                        .ok_or_else(|| bad(format!("quota of {op} must be a positive number")))?;
                    q = q.with(op, rps);
                }
            }
            state.throttle.set(q.clone());
            Ok(quotas_json(&q))
        }
        ("POST", "/_sim/seed") => {
            let seed = Seed::from_json(body).map_err(bad)?;
            let created = seed
                .apply(&state.store, &state.accounts)
                .map_err(|e| bad(e.to_string()))?;
            Ok(json!({
                "keys": created.iter().map(|k| json!({
                    "KeyId": k.key_id, "Arn": k.arn, "Account": k.account, "Region": k.region
                })).collect::<Vec<_>>()
            }))
        }
        ("POST", "/_sim/reset") => {
            state.store.clear();
            state.faults.clear();
            state.counters.reset();
            state.events.clear();
            state.store.clock().reset();
            Ok(json!({"reset": true}))
        }
        _ => Err((404, format!("no admin route {method} {path}"))),
    }
}

fn clock_json(state: &SimState) -> Value {
    let now = state.store.clock().now();
    json!({"now": epoch_seconds(now), "now_rfc3339": rfc3339(now)})
}

fn quotas_json(q: &Quotas) -> Value {
    json!({
        "enabled": q.enabled,
        "scale": q.scale,
        "operations": q.per_operation,
        "other": q.other,
    })
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
