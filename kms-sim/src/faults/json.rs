//! The JSON form of fault rules: `--faults` files, `--fault`, `POST /_sim/faults`, listings.

use std::time::Duration;

use serde_json::{Map, Value, json};

use super::{FaultKind, FaultRule, FaultWhen};

impl FaultRule {
    /// Parses the JSON form used by `--faults` files and `POST /_sim/faults` (see README).
    pub fn from_json(v: &Value) -> Result<Self, String> {
        let obj = v.as_object().ok_or("a fault rule must be a JSON object")?;
        let str_field = |name: &str| -> Result<Option<String>, String> {
            match obj.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(format!("'{name}' must be a string")),
            }
        };
        let operation = str_field("operation")?.filter(|o| o != "*" && o != "any");
        if let Some(op) = &operation
            && op != "PutEvents"
            && !crate::api::KMS_OPERATIONS.contains(&op.as_str())
        {
            return Err(format!(
                "unknown operation '{op}' (one of {}, PutEvents, or omit it for any)",
                crate::api::KMS_OPERATIONS.join(", ")
            ));
        }
        let key = str_field("key")?;
        let kind_name = str_field("fault")?
            .or(str_field("kind")?)
            .ok_or("a fault rule needs 'fault' (throttling, dependency_timeout, internal, conflict, kms_error, http500, latency, drop_connection, apply_then_drop, fail_entries)")?;
        let status = match obj.get("status") {
            None => None,
            Some(s) => Some(
                s.as_u64()
                    .and_then(|n| u16::try_from(n).ok())
                    .filter(|n| (400..600).contains(n))
                    .ok_or("'status' must be an HTTP error status (400-599)")?,
            ),
        };
        let message = str_field("message")?;
        let with_overrides = |base: FaultKind| -> FaultKind {
            match base {
                FaultKind::KmsError {
                    code,
                    message: m,
                    status: s,
                } => FaultKind::KmsError {
                    code,
                    message: message.clone().unwrap_or(m),
                    status: status.unwrap_or(s),
                },
                other => other,
            }
        };
        let kind = match kind_name.as_str() {
            "throttling" => with_overrides(FaultKind::throttling()),
            "dependency_timeout" => with_overrides(FaultKind::dependency_timeout()),
            "internal" => with_overrides(FaultKind::internal()),
            "conflict" => with_overrides(FaultKind::conflict()),
            "kms_error" => FaultKind::KmsError {
                code: str_field("code")?.ok_or("'kms_error' needs 'code'")?,
                message: message.clone().unwrap_or_default(),
                status: status.unwrap_or(400),
            },
            "http500" => FaultKind::Http500,
            "drop_connection" => FaultKind::DropConnection,
            "apply_then_drop" => FaultKind::ApplyThenDrop,
            "fail_entries" => FaultKind::FailEntries {
                code: str_field("code")?.unwrap_or_else(|| "InternalFailure".to_string()),
                message: message
                    .clone()
                    .unwrap_or_else(|| "Internal service error.".to_string()),
            },
            "latency" => match obj.get("latency_ms") {
                Some(Value::Number(n)) => FaultKind::Latency(Duration::from_millis(
                    n.as_u64().ok_or("'latency_ms' must be a whole number")?,
                )),
                Some(Value::Array(a)) if a.len() == 2 => {
                    let min = a[0].as_u64().ok_or("'latency_ms' range must be numbers")?;
                    let max = a[1].as_u64().ok_or("'latency_ms' range must be numbers")?;
                    if min > max {
                        return Err("'latency_ms' range must be [min, max]".into());
                    }
                    FaultKind::LatencyRange(Duration::from_millis(min), Duration::from_millis(max))
                }
                _ => return Err("'latency' needs 'latency_ms': n or [min, max]".into()),
            },
            other => return Err(format!("unknown fault '{other}'")),
        };
        let when = if let Some(n) = obj.get("times") {
            FaultWhen::Times(
                n.as_u64()
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or("'times' must be a whole number")?,
            )
        } else if let Some(p) = obj.get("rate") {
            let p = p.as_f64().ok_or("'rate' must be a number")?;
            if !(0.0..=1.0).contains(&p) {
                return Err("'rate' must be between 0 and 1".into());
            }
            FaultWhen::Rate(p)
        } else {
            FaultWhen::Always
        };
        let skip_first = match obj.get("skip_first") {
            None => 0,
            Some(n) => n
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .ok_or("'skip_first' must be a whole number")?,
        };
        Ok(FaultRule {
            operation,
            key,
            kind,
            when,
            skip_first,
        })
    }

    /// The JSON form (inverse of [`FaultRule::from_json`]).
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert(
            "operation".into(),
            self.operation.clone().map_or(Value::Null, Value::String),
        );
        if let Some(k) = &self.key {
            m.insert("key".into(), json!(k));
        }
        match &self.kind {
            FaultKind::KmsError {
                code,
                message,
                status,
            } => {
                m.insert("fault".into(), json!("kms_error"));
                m.insert("code".into(), json!(code));
                m.insert("message".into(), json!(message));
                m.insert("status".into(), json!(status));
            }
            FaultKind::Http500 => {
                m.insert("fault".into(), json!("http500"));
            }
            FaultKind::Latency(d) => {
                m.insert("fault".into(), json!("latency"));
                m.insert("latency_ms".into(), json!(d.as_millis() as u64));
            }
            FaultKind::LatencyRange(a, b) => {
                m.insert("fault".into(), json!("latency"));
                m.insert(
                    "latency_ms".into(),
                    json!([a.as_millis() as u64, b.as_millis() as u64]),
                );
            }
            FaultKind::DropConnection => {
                m.insert("fault".into(), json!("drop_connection"));
            }
            FaultKind::ApplyThenDrop => {
                m.insert("fault".into(), json!("apply_then_drop"));
            }
            FaultKind::FailEntries { code, message } => {
                m.insert("fault".into(), json!("fail_entries"));
                m.insert("code".into(), json!(code));
                m.insert("message".into(), json!(message));
            }
        }
        match self.when {
            FaultWhen::Times(n) => {
                m.insert("times".into(), json!(n));
            }
            FaultWhen::Rate(p) => {
                m.insert("rate".into(), json!(p));
            }
            FaultWhen::Always => {}
        }
        if self.skip_first > 0 {
            m.insert("skip_first".into(), json!(self.skip_first));
        }
        Value::Object(m)
    }
}
