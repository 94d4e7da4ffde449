//! The Lambda bootstrap: init tracing, read the configuration once, build the KMS client once,
//! serve invocations. Everything else lives in the library.

use std::sync::Arc;

use kms_material_guard::audit::{AuditSink, Tee};
use kms_material_guard::continuation::LambdaContinuer;
use kms_material_guard::publish::EventBridgeSink;
use kms_material_guard::{Config, Guard, StdoutSink};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

// One thread: the work is I/O-bound (KMS calls, paced), and a single-threaded runtime keeps the
// memory footprint small (bench/README.md, "peak RSS").
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = Config::from_env()?;
    if config.scope.mode == kms_material_guard::config::ScopeMode::AllExternal {
        tracing::warn!(
            "scope widened: every EXTERNAL key of the account and Region may be revoked (MATERIAL_GUARD_SCOPE_MODE=all-external)"
        );
    }
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::v2026_01_12())
        .region(aws_config::Region::new(config.region.clone()))
        .load()
        .await;
    let kms = kms_material_guard::kms_client(&sdk, &config);
    let sink: Arc<dyn AuditSink> = match &config.audit_event_bus {
        Some(bus) => Arc::new(Tee(vec![
            Arc::new(StdoutSink),
            Arc::new(EventBridgeSink::new(
                kms_material_guard::publish::client_for_bus(&sdk, bus),
                bus.clone(),
            )),
        ])),
        None => Arc::new(StdoutSink),
    };
    let continuation = config.continuation_function.clone();
    let mut guard = Guard::new(kms, config, sink);
    if let Some(function) = continuation {
        let lambda = aws_sdk_lambda::Client::new(&sdk);
        guard = guard.with_continuer(Arc::new(LambdaContinuer::new(lambda, function)));
    }
    let guard = Arc::new(guard);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let guard = guard.clone();
        async move { guard.handle(event).await }
    }))
    .await
}
