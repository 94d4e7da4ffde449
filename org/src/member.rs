//! One member deployment (account x Region): the real function (`kms_material_guard::Guard`)
//! configured as the StackSet deploys it, with the real `aws-sdk-kms` and `aws-sdk-eventbridge`
//! clients pointed at the local KMS with the member's own credentials, wrapped as a
//! [`Function`] the router invokes.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_kms::config::interceptors::BeforeSerializationInterceptorContextRef;
use aws_sdk_kms::config::{ConfigBag, Intercept};
use kms_material_guard::audit::{AuditRecord, AuditSink, MemorySink, Tee};
use kms_material_guard::continuer::Continuer;
use kms_material_guard::domain::Deadline;
use kms_material_guard::publish::EventBridgeSink;
use kms_material_guard::{Config, Guard, Invocation};
use serde_json::Value;

use crate::aws::{MemberId, function_arn};
use crate::router::{BoxFuture, Function, InvokeError, LambdaContext, WeakRouter};
use crate::sdk::local_sdk_config;

/// The function's name in every member (the StackSet's stack creates it).
pub const FUNCTION_NAME: &str = "kms-material-guard";
/// The function timeout the member template sets by default (seconds).
pub const FUNCTION_TIMEOUT: Duration = Duration::from_secs(900);

/// How a member deployment answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Availability {
    /// Normal.
    Up,
    /// The Invoke API does not take events (not deployed yet, being updated, the Region
    /// impaired): EventBridge retries the delivery.
    Down,
    /// The function starts but fails before handling the event (a crash): Lambda retries the
    /// asynchronous event.
    Crashing,
}

/// What the member template and the StackSet parameters give one deployment.
#[derive(Debug, Clone)]
pub struct MemberSpec {
    pub id: MemberId,
    /// `OrganizationalUnits`: its OU and the parents.
    pub organizational_units: Vec<String>,
    /// The access key id the local KMS maps to the account.
    pub access_key_id: String,
    /// Extra or overriding environment variables (`MATERIAL_GUARD_*`).
    pub env: Vec<(String, String)>,
    /// The function timeout (the template's `Timeout`, 900 s by default).
    pub timeout: Duration,
}

/// The KMS calls a member's client made: operation and the key it named (an interceptor on the
/// member's own client, so calls are attributed to the member that made them).
#[derive(Debug, Default)]
pub struct KmsCalls {
    calls: Mutex<Vec<(String, Option<String>)>>,
}

impl KmsCalls {
    /// Every call (each attempt counts).
    pub fn all(&self) -> Vec<(String, Option<String>)> {
        self.calls.lock().map(|c| c.clone()).unwrap_or_default()
    }

    pub fn total(&self) -> usize {
        self.calls.lock().map(|c| c.len()).unwrap_or(0)
    }

    /// Calls of one operation.
    pub fn of(&self, operation: &str) -> usize {
        self.calls
            .lock()
            .map(|c| c.iter().filter(|(op, _)| op == operation).count())
            .unwrap_or(0)
    }

    /// Keys (as named in the calls) of one operation.
    pub fn keys_of(&self, operation: &str) -> Vec<String> {
        self.calls
            .lock()
            .map(|c| {
                c.iter()
                    .filter(|(op, _)| op == operation)
                    .filter_map(|(_, k)| k.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    fn push(&self, op: &str, key: Option<String>) {
        if let Ok(mut c) = self.calls.lock() {
            c.push((op.to_string(), key));
        }
    }
}

#[derive(Debug)]
struct CallCounter(Arc<KmsCalls>);

impl Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "org-kms-call-counter"
    }

    fn read_before_execution(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        _cfg: &mut ConfigBag,
    ) -> Result<(), aws_sdk_kms::error::BoxError> {
        use aws_sdk_kms::operation as op;
        let input = context.input();
        let named = |k: Option<&str>| k.map(str::to_string);
        let (name, key) =
            if let Some(i) = input.downcast_ref::<op::describe_key::DescribeKeyInput>() {
                ("DescribeKey", named(i.key_id()))
            } else if let Some(i) = input
                .downcast_ref::<op::delete_imported_key_material::DeleteImportedKeyMaterialInput>(
            ) {
                ("DeleteImportedKeyMaterial", named(i.key_id()))
            } else if let Some(i) =
                input.downcast_ref::<op::list_resource_tags::ListResourceTagsInput>()
            {
                ("ListResourceTags", named(i.key_id()))
            } else if let Some(i) =
                input.downcast_ref::<op::list_key_rotations::ListKeyRotationsInput>()
            {
                ("ListKeyRotations", named(i.key_id()))
            } else if let Some(i) =
                input.downcast_ref::<op::rotate_key_on_demand::RotateKeyOnDemandInput>()
            {
                ("RotateKeyOnDemand", named(i.key_id()))
            } else if input
                .downcast_ref::<op::list_keys::ListKeysInput>()
                .is_some()
            {
                ("ListKeys", None)
            } else {
                ("Other", None)
            };
        self.0.push(name, key);
        Ok(())
    }
}

/// Starts continuations as Lambda would: an asynchronous invocation of the same function.
struct RouterContinuer {
    router: WeakRouter,
    function: String,
}

impl Continuer for RouterContinuer {
    fn start<'a>(
        &'a self,
        payload: &'a Value,
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Option<String>, String>> + Send + 'a>,
    > {
        Box::pin(async move {
            let router = self
                .router
                .upgrade()
                .ok_or_else(|| "the router is gone".to_string())?;
            router
                .invoke_async(&self.function, payload.clone())
                .map(Some)
                .map_err(|e| e.to_string())
        })
    }
}

/// One deployed member function.
pub struct Member {
    id: MemberId,
    arn: String,
    organizational_units: Vec<String>,
    guard: Guard,
    log: Arc<MemorySink>,
    publisher: Arc<EventBridgeSink>,
    kms_calls: Arc<KmsCalls>,
    availability: AtomicU8,
    /// Reserved concurrency 1 (the template's default): one invocation at a time.
    reserved: tokio::sync::Mutex<()>,
    timeout: Duration,
}

impl std::fmt::Debug for Member {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Member").field("id", &self.id).finish()
    }
}

/// Why a member could not be deployed.
#[derive(Debug, thiserror::Error)]
#[error("member {member}: {problem}")]
pub struct DeployError {
    pub member: MemberId,
    pub problem: String,
}

/// The function's configuration as the member template sets it (trusted central account,
/// audit bus = the member's own incident bus, whose rule forwards to the central bus; its OUs),
/// with the spec's overrides.
fn member_config(
    spec: &MemberSpec,
    central_account: &str,
    audit_bus: &str,
) -> Result<Config, DeployError> {
    let id = &spec.id;
    let units = spec.organizational_units.join(",");
    let mut env: Vec<(String, String)> = vec![
        ("AWS_REGION".into(), id.region.clone()),
        ("AWS_LAMBDA_FUNCTION_NAME".into(), FUNCTION_NAME.into()),
        ("MATERIAL_GUARD_ACCOUNT_ID".into(), id.account.clone()),
        (
            "MATERIAL_GUARD_TRUSTED_ACCOUNTS".into(),
            central_account.into(),
        ),
        ("MATERIAL_GUARD_AUDIT_EVENT_BUS".into(), audit_bus.into()),
        ("MATERIAL_GUARD_ORGANIZATIONAL_UNITS".into(), units),
    ];
    for (k, v) in &spec.env {
        env.retain(|(key, _)| key != k);
        env.push((k.clone(), v.clone()));
    }
    Config::from_lookup(|k| {
        env.iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
            .filter(|v| !v.is_empty())
    })
    .map_err(|e| DeployError {
        member: id.clone(),
        problem: format!("configuration: {e}"),
    })
}

impl Member {
    /// Deploys the function for `spec`: configuration as the member template sets it (trusted
    /// central account, audit bus = `audit_bus`, the name of its own incident bus; its OUs), KMS
    /// and EventBridge clients against `endpoint` with the member's credentials, continuations
    /// through `router`.
    pub async fn deploy(
        spec: &MemberSpec,
        central_account: &str,
        audit_bus: &str,
        endpoint: &str,
        router: WeakRouter,
    ) -> Result<Member, DeployError> {
        let id = spec.id.clone();
        let config = member_config(spec, central_account, audit_bus)?;
        // The bus the configuration names (the spec may override the template's).
        let bus = config
            .audit_event_bus
            .clone()
            .unwrap_or_else(|| audit_bus.to_string());
        let sdk = local_sdk_config(&id.region, endpoint, &spec.access_key_id).await;
        let kms_calls = Arc::new(KmsCalls::default());
        let kms = kms_material_guard::kms_client(&sdk, &config);
        let kms = aws_sdk_kms::Client::from_conf(
            kms.config()
                .to_builder()
                .interceptor(CallCounter(kms_calls.clone()))
                .build(),
        );
        let publisher = Arc::new(EventBridgeSink::new(
            kms_material_guard::publish::client_for_bus(&sdk, &bus),
            bus,
        ));
        let log = Arc::new(MemorySink::new());
        let sink: Arc<dyn AuditSink> = Arc::new(Tee(vec![log.clone(), publisher.clone()]));
        let arn = function_arn(&id, FUNCTION_NAME);
        let continuation = config.continuation_function.clone();
        let mut guard = Guard::new(kms, config, sink).with_metrics_writer(Arc::new(|_: &str| {}));
        if continuation.is_some() {
            guard = guard.with_continuer(Arc::new(RouterContinuer {
                router,
                function: arn.clone(),
            }));
        }
        Ok(Member {
            id,
            arn,
            organizational_units: spec.organizational_units.clone(),
            guard,
            log,
            publisher,
            kms_calls,
            availability: AtomicU8::new(0),
            reserved: tokio::sync::Mutex::new(()),
            timeout: spec.timeout,
        })
    }

    pub fn id(&self) -> &MemberId {
        &self.id
    }

    pub fn organizational_units(&self) -> &[String] {
        &self.organizational_units
    }

    pub fn config(&self) -> &Config {
        self.guard.config()
    }

    /// Flips the member up, down or crashing.
    pub fn set_availability(&self, a: Availability) {
        let v = match a {
            Availability::Up => 0,
            Availability::Down => 1,
            Availability::Crashing => 2,
        };
        self.availability.store(v, Ordering::SeqCst);
    }

    pub fn availability(&self) -> Availability {
        match self.availability.load(Ordering::SeqCst) {
            1 => Availability::Down,
            2 => Availability::Crashing,
            _ => Availability::Up,
        }
    }

    /// The audit records in the member's own log group.
    pub fn records(&self) -> Vec<AuditRecord> {
        self.log.records()
    }

    /// The summaries in the member's own log group.
    pub fn summaries(&self) -> Vec<Value> {
        self.log.summaries()
    }

    /// KMS calls this member's client made.
    pub fn kms_calls(&self) -> &KmsCalls {
        &self.kms_calls
    }

    /// Audit records and summaries published to its incident bus (forwarded to the central bus)
    /// / lost after every retry.
    pub fn published(&self) -> (u64, u64) {
        (self.publisher.published(), self.publisher.lost())
    }
}

impl Function for Member {
    fn arn(&self) -> &str {
        &self.arn
    }

    fn accepting(&self) -> Result<(), InvokeError> {
        match self.availability() {
            Availability::Down => Err(InvokeError::NotAccepted {
                code: "ServiceException".into(),
                message: format!("{} is not available (switched down)", self.arn),
            }),
            _ => Ok(()),
        }
    }

    fn timeout(&self) -> Duration {
        self.timeout
    }

    fn invoke(
        &self,
        payload: Value,
        ctx: LambdaContext,
    ) -> BoxFuture<'_, Result<Value, InvokeError>> {
        Box::pin(async move {
            self.accepting()?;
            // Reserved concurrency 1: Lambda runs one invocation at a time, the others wait in
            // its queue; the timeout starts when the invocation does.
            let queued = Instant::now();
            let _slot = self.reserved.lock().await;
            let deadline = ctx.deadline + queued.elapsed();
            if self.availability() == Availability::Crashing {
                return Err(InvokeError::Function {
                    error_type: "Runtime.ExitError".into(),
                    error_message: "RequestId: {} Error: Runtime exited with error: signal: killed"
                        .replace("{}", &ctx.request_id),
                });
            }
            let inv = Invocation {
                request_id: ctx.request_id.clone(),
                xray_trace_id: None,
                invoked_function_arn: ctx.invoked_function_arn.clone(),
                deadline: Deadline::after(deadline.saturating_duration_since(Instant::now())),
            };
            match self.guard.handle_payload(&payload, &inv).await {
                Ok(summary) => Ok(serde_json::to_value(summary).unwrap_or(Value::Null)),
                Err(e) => Err(InvokeError::Function {
                    error_type: e.error_type().to_string(),
                    error_message: e.to_string(),
                }),
            }
        })
    }
}
