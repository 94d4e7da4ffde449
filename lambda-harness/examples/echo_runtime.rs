//! A tiny function on the real Rust runtime client (`lambda_runtime` 1.5, the one
//! kms-material-guard uses), so the tests check the harness against the actual client rather
//! than only against our own idea of the protocol. Built by `cargo test` (examples are).
//!
//! Events: `{"refuse": "why"}` returns an error (`errorType` `Refused`), `{"panic": true}`
//! panics (the runtime turns it into an error), anything else is echoed with the context.
//! `ECHO_RUNTIME_FAIL_INIT=1` makes `main` return an error before the runtime starts (the process
//! exits 1, as kms-material-guard does on a bad configuration).

use lambda_runtime::{Diagnostic, Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

#[derive(Debug)]
struct Refused(String);

impl From<Refused> for Diagnostic {
    fn from(refused: Refused) -> Diagnostic {
        Diagnostic {
            error_type: "Refused".to_owned(),
            error_message: refused.0,
        }
    }
}

async fn handler(event: LambdaEvent<Value>) -> Result<Value, Refused> {
    let (payload, context) = event.into_parts();
    if let Some(reason) = payload.get("refuse").and_then(Value::as_str) {
        return Err(Refused(reason.to_owned()));
    }
    if payload.get("panic").and_then(Value::as_bool) == Some(true) {
        panic!("asked to panic");
    }
    Ok(json!({
        "echo": payload,
        "request_id": context.request_id,
        "deadline_ms": context.deadline,
        "function_arn": context.invoked_function_arn,
        "trace_id": context.xray_trace_id,
        "function_name": context.env_config.function_name,
        "memory": context.env_config.memory,
        "version": context.env_config.version,
    }))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    if std::env::var_os("ECHO_RUNTIME_FAIL_INIT").is_some() {
        return Err("configuration refused (ECHO_RUNTIME_FAIL_INIT)".into());
    }
    eprintln!("echo_runtime ready");
    lambda_runtime::run(service_fn(handler)).await
}
