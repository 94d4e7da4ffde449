//! The admin API under `/_sim/`: faults, counters, clock, keys, events, quotas, seeds, reset.

use std::time::Duration;

use http_body_util::{BodyExt, Limited};
use hyper::Method;
use hyper::Request;
use hyper::body::Incoming;
use serde_json::{Value, json};

use crate::clock::{epoch_seconds, from_epoch_seconds, parse_rfc3339, rfc3339};
use crate::faults::FaultRule;
use crate::quotas::Quotas;
use crate::seed::Seed;
use crate::server::{MAX_BODY, Resp, SimState, new_request_id, response};

/// A JSON answer of the admin API.
pub(crate) fn admin_json(status: u16, value: &Value) -> Resp {
    response(
        status,
        "application/json",
        value.to_string().into_bytes(),
        &new_request_id(),
    )
}

/// Serves one `/_sim/...` request.
pub(crate) async fn admin(state: &SimState, req: Request<Incoming>) -> Resp {
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
