//! The Lambda bootstrap: init logging, read the configuration once, build the SDK clients once
//! (from `bootstrap::sdk_config`: credentials from the environment), serve invocations.
//! Everything else lives in the library.

use std::process::ExitCode;
use std::sync::Arc;

use kms_material_guard::audit::{AuditSink, StdoutSink, Tee};
use kms_material_guard::config::ScopeMode;
use kms_material_guard::continuer::LambdaContinuer;
use kms_material_guard::publish::{EventBridgeSink, client_for_bus};
use kms_material_guard::{Config, Guard};
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;

const USAGE: &str = "\
kms-material-guard: an AWS Lambda function (custom runtime, `bootstrap`) that revokes imported
(BYOK) KMS key material with DeleteImportedKeyMaterial and writes one audit record per key.

It takes no arguments: Lambda (or a local emulator) starts it, it reads its configuration from
MATERIAL_GUARD_* environment variables (docs/reference.md) and serves invocations from the
Lambda Runtime API (AWS_LAMBDA_RUNTIME_API).

Run it locally against the local KMS, without an AWS account (README, \"Run it locally\"):
  cargo run -p kms-sim -- --port 4599 --seed local/estate.json                   # terminal 1
  AWS_ENDPOINT_URL_KMS=http://127.0.0.1:4599 AWS_REGION=us-east-1 \\
  AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local \\
  MATERIAL_GUARD_ACCOUNT_ID=111111111111 cargo lambda watch --invoke-port 9599   # terminal 2
  cargo lambda invoke kms-material-guard --invoke-port 9599 \
    --data-file events/incident-revocation.json                         # terminal 3
";

fn main() -> ExitCode {
    if let Some(arg) = std::env::args().nth(1) {
        print!("{USAGE}");
        return if matches!(arg.as_str(), "--help" | "-h" | "help") {
            ExitCode::SUCCESS
        } else {
            eprintln!("kms-material-guard: unexpected argument {arg:?} (it takes none)");
            ExitCode::from(2)
        };
    }
    // One thread: the work is I/O-bound (KMS calls, paced), and a single-threaded runtime keeps
    // the memory footprint small (bench/README.md, "peak RSS").
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return fail(&format!("cannot start the async runtime: {e}")),
    };
    match runtime.block_on(serve()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

/// Init errors in words (the variable, the value, what is accepted): Lambda shows stderr.
fn fail(problem: &str) -> ExitCode {
    eprintln!("kms-material-guard: {problem}");
    if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_none() {
        eprintln!(
            "(not started by Lambda or an emulator? `kms-material-guard --help` says how to run it)"
        );
    }
    ExitCode::FAILURE
}

async fn serve() -> Result<(), String> {
    kms_material_guard::bootstrap::init_logging();
    let config = Config::from_env().map_err(|e| e.to_string())?;
    if config.scope.mode == ScopeMode::AllExternal {
        tracing::warn!(
            "scope widened: every EXTERNAL key of the account and Region may be revoked (MATERIAL_GUARD_SCOPE_MODE=all-external)"
        );
    }
    let sdk = kms_material_guard::bootstrap::sdk_config(&config)?;
    let kms = kms_material_guard::kms_client(&sdk, &config);
    let stdout: Arc<dyn AuditSink> = Arc::new(StdoutSink);
    let sink: Arc<dyn AuditSink> = match &config.audit_event_bus {
        Some(bus) => Arc::new(Tee(vec![
            stdout,
            Arc::new(EventBridgeSink::new(client_for_bus(&sdk, bus), bus.clone())),
        ])),
        None => stdout,
    };
    let continuation = config.continuation_function.clone();
    let mut guard = Guard::new(kms, config, sink);
    if let Some(function) = continuation {
        let lambda = aws_sdk_lambda::Client::new(&sdk);
        guard = guard.with_continuer(Arc::new(LambdaContinuer::new(lambda, function)));
    }
    let guard = Arc::new(guard);
    kms_material_guard::bootstrap::check_runtime_environment(|name| std::env::var(name).ok())?;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let guard = guard.clone();
        async move { guard.handle(event).await }
    }))
    .await
    .map_err(|e| e.to_string())
}
