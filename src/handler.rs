//! One invocation, orchestrated: classify the payload -> plan -> run the pipeline -> record ->
//! respond. The [`Guard`] holds what lives as long as the process.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use lambda_runtime::LambdaEvent;
use serde_json::Value;
use tracing::Instrument;

use crate::audit::summary;
use crate::audit::{AuditSink, Recorder};
use crate::config::Config;
use crate::continuer::Continuer;
use crate::domain::{Invocation, KeyFacts, Outcome};
use crate::event::{self, Classified, Identity, Trigger};
use crate::execute::{Executor, FirstDelete, Run};
use crate::kms::RetryPolicy;
use crate::metrics::{self, MetricsWriter};
use crate::pipeline::Pipeline;
use crate::plan::Plan;
use crate::refusal;
use crate::response::{GuardError, Summary};
use crate::seal::{self, Refused, Seal};

/// Time kept back at the end of an invocation for the response (records published until then).
const RESPONSE_RESERVE: std::time::Duration = std::time::Duration::from_millis(300);

/// The function: long-lived state built once per process.
pub struct Guard {
    config: Arc<Config>,
    exec: Executor,
    sink: Arc<dyn AuditSink>,
    metrics: MetricsWriter,
    continuer: Option<Arc<dyn Continuer>>,
    /// Seals and opens continuations (`MATERIAL_GUARD_CONTINUATION_KEY`).
    seal: Option<Seal>,
    now: Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>,
}

impl Guard {
    /// Builds the function around a KMS client (built once, reused by every invocation).
    pub fn new(kms: aws_sdk_kms::Client, config: Config, sink: Arc<dyn AuditSink>) -> Self {
        let config = Arc::new(config);
        let seal = config
            .continuation_key
            .as_ref()
            .map(|key| Seal::new(kms.clone(), key, RetryPolicy::from_config(&config)));
        Guard {
            seal,
            exec: Executor::new(kms, config.clone()),
            config,
            sink,
            metrics: metrics::stdout_writer(),
            continuer: None,
            now: Arc::new(Utc::now),
        }
    }

    /// Replaces the wall clock (tests of time-dependent sweeps).
    pub fn with_clock(mut self, now: impl Fn() -> DateTime<Utc> + Send + Sync + 'static) -> Self {
        self.now = Arc::new(now);
        self
    }

    /// Lets large requests continue in a fresh invocation (Lambda `Invoke`, asynchronous).
    pub fn with_continuer(mut self, continuer: Arc<dyn Continuer>) -> Self {
        self.continuer = Some(continuer);
        self
    }

    /// Replaces where EMF metric lines go (stdout by default).
    pub fn with_metrics_writer(mut self, writer: MetricsWriter) -> Self {
        self.metrics = writer;
        self
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The current DeleteImportedKeyMaterial pace (calls per second); lower than configured
    /// after throttling, recovering with each success.
    pub fn delete_rate(&self) -> f64 {
        self.exec.pacer().rate()
    }

    /// The Lambda entry point. The future is boxed: it keeps the bootstrap's future type
    /// shallow.
    pub fn handle(&self, event: LambdaEvent<Value>) -> Handled<'_> {
        Box::pin(async move {
            let inv = Invocation::from_context(&event.context, self.config.fallback_timeout);
            self.handle_payload(&event.payload, &inv).await
        })
    }

    /// Handles one payload: records, metrics and published records also when it fails.
    pub async fn handle_payload(
        &self,
        payload: &Value,
        inv: &Invocation,
    ) -> Result<Summary, GuardError> {
        let span = tracing::info_span!("invocation", request_id = %inv.request_id);
        let mut rec = Recorder::new(&*self.sink, inv, self.config.scope.mode.as_str());
        rec.dry_run(self.config.dry_run);
        let result = self.invoke(payload, &mut rec).instrument(span).await;
        // Publishing gets what the margin left, less what the response needs.
        let by = inv.deadline.latest_start(RESPONSE_RESERVE);
        let unpublished = self.sink.flush(by).await;
        if let Some(ns) = &self.config.metrics_namespace {
            let samples = rec.into_samples();
            metrics::publish(ns, &samples, &self.metrics, &inv.request_id);
            if self.config.audit_event_bus.is_some() {
                metrics::publish_unpublished(ns, unpublished, &self.metrics, &inv.request_id);
            }
        }
        result
    }

    async fn invoke(&self, payload: &Value, rec: &mut Recorder<'_>) -> Result<Summary, GuardError> {
        let inv = rec.invocation();
        let Some(account) = self.own_account(inv) else {
            let f = KeyFacts::new(crate::domain::Action::Revoke, None);
            let e = GuardError::UnknownAccount;
            rec.record(&f.fail(Outcome::Rejected, "UnknownAccount", e.to_string()));
            return Err(e);
        };
        let who = Identity {
            account: &account,
            config: &self.config,
        };
        let classified = match event::classify(payload, &who) {
            Ok(Classified {
                trigger: Trigger::Sealed(sealed),
                ..
            }) => match self.open(sealed, rec.invocation()).await {
                Ok(c) => c,
                Err(refused) => {
                    return Err(refusal::refused(&self.config, rec, refused, &account));
                }
            },
            Ok(c) => c,
            Err(rejected) => return Err(refusal::rejected(&self.config, rec, *rejected, &account)),
        };
        let p = &classified.provenance;
        tracing::info!(
            source = p.source.as_deref().unwrap_or_default(),
            detail_type = p.detail_type.as_deref().unwrap_or_default(),
            event_id = p.event_id.as_deref().unwrap_or_default(),
            "event accepted"
        );
        rec.provenance(classified.provenance);
        let mut plan = Plan::new(classified.trigger, &self.config, &account, (self.now)());
        rec.dry_run(plan.dry_run);
        if let Some(req) = &plan.request {
            rec.request(req);
        }
        let rec: &Recorder<'_> = rec;
        let pipeline = Pipeline {
            exec: &self.exec,
            config: &self.config,
            continuer: self.continuer.as_deref(),
            seal: self.seal.as_ref(),
            rec,
            run: Run {
                account: account.clone(),
                deadline: rec.invocation().deadline,
                retry: RetryPolicy::from_config(&self.config),
                dry_run: plan.dry_run,
                key_material_id: plan
                    .request
                    .as_ref()
                    .and_then(|r| r.key_material_id.clone()),
                first_delete: FirstDelete::default(),
            },
        };
        let ran = pipeline.run(&mut plan).await;
        let mut summary = Summary::new(
            &rec.invocation().request_id,
            plan.action,
            plan.dry_run,
            plan.request.as_ref().map(|r| r.incident_id.clone()),
            &ran.results,
        );
        summary.keys_examined = ran.examined;
        summary.continued_by = ran.continued_by;
        summary.targeted = plan.targeted;
        summary.skipped_other_members = plan.skipped_other_members;
        summary.note = plan.note;
        let result = summary.into_result(ran.refused.map(|n| (n, self.config.blast_radius)));
        if let (Some(seal), Some((nonce, expires)), false) = (
            &self.seal,
            &plan.continuation,
            matches!(result, Err(GuardError::Retryable { .. })),
        ) {
            seal.complete(nonce, *expires, (self.now)());
        }
        if plan.request.is_some() {
            let member = refusal::member(&self.config, &account, rec);
            if let Some(doc) = summary::of_result(&member, &result) {
                rec.summary(&doc);
            }
        }
        result
    }

    /// Opens a sealed continuation; without a continuation key none is accepted.
    async fn open(
        &self,
        sealed: event::continuation::Sealed,
        inv: &Invocation,
    ) -> Result<Classified, Refused> {
        match &self.seal {
            Some(s) => s.open(sealed, inv, (self.now)()).await,
            None => Err(seal::unconfigured()),
        }
    }

    fn own_account(&self, inv: &Invocation) -> Option<String> {
        self.config
            .account_id
            .as_deref()
            .or_else(|| inv.function_account())
            .map(str::to_string)
    }
}

/// A boxed invocation future.
pub type Handled<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<Summary, GuardError>> + Send + 'a>>;
