//! One invocation, end to end: event -> request -> guardrails -> KMS -> audit -> response.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use lambda_runtime::LambdaEvent;
use serde_json::Value;
use tracing::Instrument;

use crate::audit::{Action, AuditRecord, AuditSink, LOG_TYPE, Outcome, SCHEMA, rfc3339};
use crate::config::Config;
use crate::event::{self, Classified, Identity, Provenance, Trigger};
use crate::execute::{Executor, KeyFacts, KeyResult, Run, ScanFinding, Step};
use crate::guardrails;
use crate::kms::{Deadline, RetryPolicy, Trace};
use crate::metrics::Sample;
use crate::request::{Rejection, RevocationRequest};
use crate::response::{GuardError, Summary, error_types};

/// What the Lambda context tells about one invocation.
#[derive(Debug, Clone)]
pub struct Invocation {
    pub request_id: String,
    pub xray_trace_id: Option<String>,
    pub invoked_function_arn: String,
    pub deadline: Deadline,
}

impl Invocation {
    pub fn from_context(ctx: &lambda_runtime::Context) -> Self {
        Invocation {
            request_id: ctx.request_id.clone(),
            xray_trace_id: ctx.xray_trace_id.clone(),
            invoked_function_arn: ctx.invoked_function_arn.clone(),
            deadline: Deadline::from_epoch_millis(ctx.deadline),
        }
    }

    /// An invocation without a Lambda context (tests, the drill).
    pub fn local(request_id: &str) -> Self {
        Invocation {
            request_id: request_id.to_string(),
            xray_trace_id: None,
            invoked_function_arn: String::new(),
            deadline: Deadline::none(),
        }
    }
}

/// The request-level fields every record of an invocation shares.
struct RecordContext<'a> {
    collected: &'a Mutex<Vec<Sample>>,
    inv: &'a Invocation,
    provenance: &'a Provenance,
    dry_run: bool,
    reason: Option<&'a str>,
    incident_id: Option<&'a str>,
    requested_by: Option<&'a str>,
}

/// The function: long-lived state built once per process.
pub struct Guard {
    config: Arc<Config>,
    exec: Executor,
    sink: Arc<dyn AuditSink>,
    metrics: crate::metrics::MetricsWriter,
    continuer: Option<Arc<dyn crate::continuation::Continuer>>,
    now: Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>,
}

impl Guard {
    /// Builds the function around a KMS client (built once, reused by every invocation).
    pub fn new(kms: aws_sdk_kms::Client, config: Config, sink: Arc<dyn AuditSink>) -> Self {
        let config = Arc::new(config);
        Guard {
            exec: Executor::new(kms, config.clone()),
            config,
            sink,
            metrics: crate::metrics::stdout_writer(),
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
    pub fn with_continuer(mut self, continuer: Arc<dyn crate::continuation::Continuer>) -> Self {
        self.continuer = Some(continuer);
        self
    }

    /// Replaces where EMF metric lines go (stdout by default).
    pub fn with_metrics_writer(mut self, writer: crate::metrics::MetricsWriter) -> Self {
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

    /// The Lambda entry point.
    /// The future is boxed: it keeps the bootstrap's future type shallow.
    pub fn handle(&self, event: LambdaEvent<Value>) -> Handled<'_> {
        erase(async move {
            let inv = Invocation::from_context(&event.context);
            self.handle_payload(&event.payload, &inv).await
        })
    }

    /// Handles one payload.
    pub async fn handle_payload(
        &self,
        payload: &Value,
        inv: &Invocation,
    ) -> Result<Summary, GuardError> {
        let span = tracing::info_span!("invocation", request_id = %inv.request_id);
        let collected = Mutex::new(Vec::new());
        let result = self
            .dispatch(payload, inv, &collected)
            .instrument(span)
            .await;
        // Metrics and published records, also when the invocation fails.
        let records = collected.into_inner().unwrap_or_else(|p| p.into_inner());
        if let Some(ns) = &self.config.metrics_namespace {
            crate::metrics::publish(ns, &records, &self.metrics);
        }
        self.sink.flush().await;
        result
    }

    async fn dispatch(
        &self,
        payload: &Value,
        inv: &Invocation,
        collected: &Mutex<Vec<Sample>>,
    ) -> Result<Summary, GuardError> {
        let account = match self.own_account(inv) {
            Some(a) => a,
            None => {
                let provenance = Provenance::default();
                let ctx = self.ctx(collected, inv, &provenance, false, None);
                self.emit(
                    &ctx,
                    &KeyFacts::new(Action::Revoke, None).fail(
                        Outcome::Rejected,
                        "UnknownAccount",
                        GuardError::UnknownAccount.to_string(),
                    ),
                );
                return Err(GuardError::UnknownAccount);
            }
        };
        let who = Identity {
            account: &account,
            config: &self.config,
        };
        let Classified {
            trigger,
            provenance,
        } = match event::classify(payload, &who) {
            Ok(c) => c,
            Err(rejected) => {
                let incident = best_effort_incident(payload);
                return Err(self.reject(
                    collected,
                    inv,
                    &rejected.provenance,
                    rejected.rejection,
                    &account,
                    incident,
                ));
            }
        };
        tracing::info!(
            source = provenance.source.as_deref().unwrap_or_default(),
            detail_type = provenance.detail_type.as_deref().unwrap_or_default(),
            event_id = provenance.event_id.as_deref().unwrap_or_default(),
            "event accepted"
        );
        match trigger {
            Trigger::Revoke(req) => {
                let result = self
                    .revoke(
                        collected,
                        inv,
                        &provenance,
                        &account,
                        req,
                        Action::Revoke,
                        0,
                    )
                    .await;
                self.emit_summary(&provenance, &account, &result);
                result
            }
            Trigger::Continue { request, meta } => {
                let result = self
                    .revoke(
                        collected,
                        inv,
                        &provenance,
                        &account,
                        request,
                        meta.action,
                        meta.sequence,
                    )
                    .await;
                self.emit_summary(&provenance, &account, &result);
                result
            }
            Trigger::Expiry(notice) => {
                let run = self.run(inv, &account, false, None);
                let result = self
                    .exec
                    .observe_expiry(
                        &run,
                        &notice.key,
                        &notice.parsed,
                        notice.key_material_id.clone(),
                    )
                    .await;
                let ctx = self.ctx(collected, inv, &provenance, false, None);
                self.emit(&ctx, &result);
                self.finish(inv, Action::ObserveExpiry, false, None, vec![result], None)
            }
            Trigger::Sweep => self.sweep(collected, inv, &provenance, &account).await,
            Trigger::CompleteRotation {
                key,
                key_material_id,
            } => {
                let dry_run = self.config.dry_run;
                let run = self.run(inv, &account, dry_run, None);
                let result = self
                    .exec
                    .complete_rotation(&run, &key, key_material_id)
                    .await;
                let ctx = self.ctx(collected, inv, &provenance, dry_run, None);
                self.emit(&ctx, &result);
                self.finish(inv, Action::Rotate, dry_run, None, vec![result], None)
            }
            Trigger::ObserveRotation {
                key,
                previous,
                current,
            } => {
                let run = self.run(inv, &account, false, None);
                let ctx = self.ctx(collected, inv, &provenance, false, None);
                let results: Vec<KeyResult> = self
                    .exec
                    .observe_rotation(&run, &key, previous, current)
                    .await
                    .into_iter()
                    .collect();
                for r in &results {
                    self.emit(&ctx, r);
                }
                self.finish(inv, Action::ObserveRotation, false, None, results, None)
            }
            Trigger::Nothing(why) => {
                tracing::info!(why = %why, "event accepted; nothing to do");
                let mut summary = Summary::new(
                    &inv.request_id,
                    Action::Revoke,
                    self.config.dry_run,
                    None,
                    &[],
                );
                summary.note = Some(why);
                Ok(summary)
            }
        }
    }

    fn own_account(&self, inv: &Invocation) -> Option<String> {
        if let Some(a) = &self.config.account_id {
            return Some(a.clone());
        }
        // arn:aws:lambda:<region>:<account>:function:<name>
        inv.invoked_function_arn
            .split(':')
            .nth(4)
            .filter(|a| crate::config::is_account(a))
            .map(str::to_string)
    }

    fn run(
        &self,
        inv: &Invocation,
        account: &str,
        dry_run: bool,
        key_material_id: Option<String>,
    ) -> Run {
        Run {
            account: account.to_string(),
            deadline: inv.deadline,
            retry: RetryPolicy::from_config(&self.config),
            dry_run,
            key_material_id,
        }
    }

    fn ctx<'a>(
        &self,
        collected: &'a Mutex<Vec<Sample>>,
        inv: &'a Invocation,
        provenance: &'a Provenance,
        dry_run: bool,
        req: Option<&'a RevocationRequest>,
    ) -> RecordContext<'a> {
        RecordContext {
            collected,
            inv,
            provenance,
            dry_run,
            reason: req.map(|r| r.reason.as_str()),
            incident_id: req.map(|r| r.incident_id.as_str()),
            requested_by: req.and_then(|r| r.requested_by.as_deref()),
        }
    }

    fn reject(
        &self,
        collected: &Mutex<Vec<Sample>>,
        inv: &Invocation,
        provenance: &Provenance,
        rejection: Rejection,
        account: &str,
        incident_id: Option<String>,
    ) -> GuardError {
        tracing::warn!(location = %rejection.location, code = rejection.code, problem = %rejection.problem, "event rejected");
        let ctx = self.ctx(collected, inv, provenance, self.config.dry_run, None);
        let mut facts = KeyFacts::new(Action::Revoke, None);
        facts.incident_id = incident_id.clone();
        let result = facts.fail(Outcome::Rejected, rejection.code, rejection.to_string());
        self.emit(&ctx, &result);
        // A rejected revocation request still answers the central account: summary with the
        // incident (when the request named one readably) and error type Rejected.
        if incident_id.is_some() {
            let summary = Summary::new(
                &inv.request_id,
                Action::Revoke,
                self.config.dry_run,
                incident_id,
                &[result],
            );
            self.sink.emit_summary(&self.summary_doc(
                provenance,
                account,
                &summary,
                Some(error_types::REJECTED),
                true,
            ));
        }
        GuardError::Rejected(rejection)
    }

    #[allow(clippy::too_many_arguments)]
    async fn revoke(
        &self,
        collected: &Mutex<Vec<Sample>>,
        inv: &Invocation,
        provenance: &Provenance,
        account: &str,
        req: RevocationRequest,
        action: Action,
        sequence: u64,
    ) -> Result<Summary, GuardError> {
        let mut req = req;
        let dry_run = req.dry_run || self.config.dry_run;
        // Organization request: act only if this member is targeted, and only on its own keys.
        let mut skipped_other_members = 0;
        if let Some(targets) = &req.targets {
            let region = self.config.region.as_str();
            if !targets.includes(account, &self.config.organizational_units, region) {
                tracing::info!(
                    account,
                    region,
                    "organization request not targeted at this member"
                );
                let mut summary = Summary::new(
                    &inv.request_id,
                    action,
                    dry_run,
                    Some(req.incident_id.clone()),
                    &[],
                );
                summary.targeted = Some(false);
                summary.note = Some(format!(
                    "account {account} in {region} is not among the request's targets"
                ));
                return Ok(summary);
            }
            let before = req.keys.len();
            req.keys.retain(|k| match &k.parsed {
                Ok(parsed) => parsed
                    .location()
                    .is_none_or(|(a, r)| a == account && r == region),
                Err(_) => true,
            });
            skipped_other_members = before - req.keys.len();
        }
        // The named keys are consumed by the read phase (no second copy of a 10,000-key list).
        let named = std::mem::take(&mut req.keys);
        let req = req;
        let run = self.run(inv, account, dry_run, req.key_material_id.clone());
        let ctx = self.ctx(collected, inv, provenance, dry_run, Some(&req));
        let limit = self.config.blast_radius;

        // Blast radius, before any KMS call, on the keys named explicitly.
        if guardrails::check_blast_radius(named.len(), limit).is_err() {
            let results: Vec<KeyResult> = named
                .iter()
                .map(|k| {
                    KeyFacts::new(action, Some(k.raw.clone())).finish(Outcome::RefusedBlastRadius)
                })
                .collect();
            return Err(self.refuse_blast_radius(&ctx, &req, results, named.len()));
        }

        let mut results: Vec<KeyResult> = if req.tags.is_empty() {
            // Named keys only: the blast radius was checked on them already, so each key goes
            // from its resolution straight to its delete instead of waiting for every read; the
            // pace keeps the rate. Two spellings of one key: the first resolved keeps it.
            let claimed = Mutex::new(HashSet::new());
            let mut done: Vec<(usize, KeyResult)> =
                futures_util::stream::iter(named.into_iter().enumerate())
                    .map(|(i, k)| {
                        let run = &run;
                        let claimed = &claimed;
                        async move {
                            let step = self.exec.resolve(run, &k, action).await;
                            let duplicate = step_arn(&step).is_some_and(|a| {
                                !claimed.lock().map(|mut c| c.insert(a)).unwrap_or(true)
                            });
                            let r = match step {
                                Step::Done(r) if duplicate => {
                                    r.facts.finish(Outcome::SkippedDuplicate)
                                }
                                Step::Candidate(f) if duplicate => {
                                    f.finish(Outcome::SkippedDuplicate)
                                }
                                Step::Done(r) => r,
                                Step::Candidate(f) => self.exec.revoke(run, f).await,
                            };
                            (i, r)
                        }
                    })
                    .buffer_unordered(self.config.concurrency)
                    .map(|(i, r)| (i, self.finish_key(&ctx, r)))
                    .collect()
                    .await;
            done.sort_by_key(|(i, _)| *i);
            done.into_iter().map(|(_, r)| r).collect()
        } else {
            // Read phase: resolve named keys concurrently, then order by request position.
            let mut steps: Vec<(usize, Step)> =
                futures_util::stream::iter(named.into_iter().enumerate())
                    .map(|(i, k)| {
                        let run = &run;
                        async move { (i, self.exec.resolve(run, &k, action).await) }
                    })
                    .buffer_unordered(self.config.concurrency)
                    .collect()
                    .await;
            steps.sort_by_key(|(i, _)| *i);
            let mut steps: Vec<Step> = steps.into_iter().map(|(_, s)| s).collect();

            // Tag selector: every in-scope EXTERNAL key carrying all the tags.
            let mut trace = Trace::default();
            match self.exec.list_keys(&run, &mut trace).await {
                Ok(listed) => {
                    let named: HashSet<String> = steps.iter().filter_map(step_arn).collect();
                    let unnamed: Vec<String> = listed
                        .into_iter()
                        .filter(|arn| !named.contains(arn))
                        .collect();
                    let mut selected: Vec<(usize, Step)> =
                        futures_util::stream::iter(unnamed.into_iter().enumerate())
                            .map(|(i, arn)| {
                                let run = &run;
                                let tags = &req.tags;
                                async move { (i, self.exec.select(run, &arn, tags, action).await) }
                            })
                            .buffer_unordered(self.config.concurrency)
                            .filter_map(|(i, s)| async move { s.map(|s| (i, s)) })
                            .collect()
                            .await;
                    selected.sort_by_key(|(i, _)| *i);
                    steps.extend(selected.into_iter().map(|(_, s)| s));
                }
                Err(e) => {
                    let mut f = KeyFacts::new(action, Some(selector_text(&req)));
                    f.trace = trace;
                    steps.push(Step::Done(f.kms_error(e)));
                }
            }

            // Different spellings of one key: the first keeps the key, later ones are duplicates.
            let mut seen = HashSet::new();
            let mut results: Vec<KeyResult> = Vec::new();
            let mut candidates: Vec<(usize, KeyFacts)> = Vec::new();
            for step in steps {
                let arn = step_arn(&step);
                let duplicate = arn.as_ref().is_some_and(|a| !seen.insert(a.clone()));
                match step {
                    Step::Done(r) if duplicate => {
                        results.push(r.facts.finish(Outcome::SkippedDuplicate))
                    }
                    Step::Candidate(f) if duplicate => {
                        results.push(f.finish(Outcome::SkippedDuplicate))
                    }
                    Step::Done(r) => results.push(r),
                    Step::Candidate(f) => {
                        // Placeholder (replaced by the delete phase's result): no copy of the facts.
                        results.push(KeyFacts::new(action, None).finish(Outcome::Deferred));
                        candidates.push((results.len() - 1, f));
                    }
                }
            }
            // Deferred keys are written once it is known whether a continuation takes them.
            let candidate_slots: HashSet<usize> = candidates.iter().map(|(c, _)| *c).collect();
            let mut results: Vec<KeyResult> = results
                .into_iter()
                .enumerate()
                .map(|(i, r)| {
                    if candidate_slots.contains(&i) {
                        r
                    } else {
                        self.finish_key(&ctx, r)
                    }
                })
                .collect();

            // Blast radius again, on what the request really selects.
            if guardrails::check_blast_radius(candidates.len(), limit).is_err() {
                let count = candidates.len();
                for (i, f) in candidates {
                    let r = f.finish(Outcome::RefusedBlastRadius);
                    self.emit(&ctx, &r);
                    results[i] = r;
                }
                return Err(GuardError::RefusedBlastRadius {
                    count,
                    limit,
                    summary: Box::new(Summary::new(
                        &inv.request_id,
                        action,
                        dry_run,
                        Some(req.incident_id.clone()),
                        &results,
                    )),
                });
            }

            // Delete phase: paced, concurrent, each record written as soon as the key is done.
            let done: Vec<(usize, KeyResult)> = futures_util::stream::iter(candidates)
                .map(|(i, f)| {
                    let run = &run;
                    async move { (i, self.exec.revoke(run, f).await) }
                })
                .buffer_unordered(self.config.concurrency)
                .map(|(i, r)| (i, self.finish_key(&ctx, r)))
                .collect()
                .await;
            for (i, r) in done {
                results[i] = r;
            }
            results
        };

        // Keys the deadline left: a fresh invocation continues with them.
        let deferred: Vec<usize> = (0..results.len())
            .filter(|i| results[*i].outcome == Outcome::Deferred)
            .collect();
        let mut continuation = None;
        if !deferred.is_empty() {
            let progressed = deferred.len() < results.len();
            continuation = self
                .hand_over(
                    inv,
                    provenance,
                    &req,
                    action,
                    sequence,
                    progressed,
                    deferred.iter().map(|i| &results[*i]),
                )
                .await;
            for i in deferred {
                if let Some(id) = &continuation {
                    let r = results[i].facts.clone().fail(
                        Outcome::Continued,
                        "ContinuedInNewInvocation",
                        format!("not attempted before the deadline; continued by invocation {id}"),
                    );
                    results[i] = r;
                } else if results[i].error_code.is_none() {
                    let r = results[i].facts.clone().fail(
                        Outcome::Deferred,
                        "DeadlineReached",
                        "not attempted before the Lambda deadline; a retry of the same event completes it",
                    );
                    results[i] = r;
                }
                self.emit(&ctx, &results[i]);
            }
        }
        let mut outcome = self.finish(
            inv,
            action,
            dry_run,
            Some(req.incident_id.clone()),
            results,
            None,
        );
        let organization = req.targets.is_some();
        match &mut outcome {
            Ok(s) => {
                s.continued_by = continuation;
                if organization {
                    s.targeted = Some(true);
                }
                s.skipped_other_members = skipped_other_members;
            }
            Err(GuardError::Retryable { summary }) => {
                if organization {
                    summary.targeted = Some(true);
                }
                summary.skipped_other_members = skipped_other_members;
            }
            Err(_) => {}
        }
        outcome
    }

    /// The per-invocation summary of a revocation request (stdout and the audit bus): lets a
    /// central account see when every member is done with an incident.
    fn emit_summary(
        &self,
        provenance: &Provenance,
        account: &str,
        result: &Result<Summary, GuardError>,
    ) {
        let (summary, error_type) = match result {
            Ok(s) => (s, None),
            Err(e) => match e.summary() {
                Some(s) => (s, Some(e.error_type())),
                None => return,
            },
        };
        let complete = summary.retryable() == 0
            && summary.continued_by.is_none()
            && !matches!(result, Err(GuardError::Retryable { .. }));
        self.sink
            .emit_summary(&self.summary_doc(provenance, account, summary, error_type, complete));
    }

    fn summary_doc(
        &self,
        provenance: &Provenance,
        account: &str,
        summary: &Summary,
        error_type: Option<&str>,
        complete: bool,
    ) -> Value {
        serde_json::json!({
            "log_type": "summary",
            "schema": crate::response::SUMMARY_SCHEMA,
            "timestamp": rfc3339(Utc::now()),
            "account": account,
            "region": self.config.region,
            "function_request_id": summary.request_id,
            "incident_id": summary.incident_id,
            "action": summary.action,
            "dry_run": summary.dry_run,
            "targeted": summary.targeted.unwrap_or(true),
            "trigger": provenance,
            "counts": summary.counts,
            "keys": summary.results.iter().filter(|r| r.outcome != Outcome::Rejected).count(),
            "skipped_other_members": summary.skipped_other_members,
            "continued_by": summary.continued_by,
            "complete": complete,
            "error_type": error_type,
        })
    }

    /// Starts a continuation invocation for `deferred` keys. Returns its request id (or
    /// `"unknown"`) when the invocation was accepted; `None` when there is no continuation (not
    /// configured, chain too long, no progress, or Invoke failed).
    #[allow(clippy::too_many_arguments)]
    async fn hand_over<'r>(
        &self,
        inv: &Invocation,
        provenance: &Provenance,
        req: &RevocationRequest,
        action: Action,
        sequence: u64,
        progressed: bool,
        deferred: impl Iterator<Item = &'r KeyResult>,
    ) -> Option<String> {
        let continuer = self.continuer.as_ref()?;
        let next = sequence + 1;
        if next > crate::continuation::MAX_SEQUENCE || (sequence > 0 && !progressed) {
            tracing::warn!(
                sequence,
                progressed,
                "no continuation: chain too long or no progress"
            );
            return None;
        }
        let keys: Vec<crate::continuation::ContinuedKey> = deferred
            .map(|r| crate::continuation::ContinuedKey {
                key: r
                    .facts
                    .arn
                    .clone()
                    .or_else(|| r.facts.requested.clone())
                    .unwrap_or_default(),
                context: match (&r.facts.incident_id, &r.facts.reason) {
                    (Some(i), Some(reason)) => Some(crate::request::KeyContext {
                        incident_id: i.clone(),
                        reason: reason.clone(),
                    }),
                    _ => None,
                },
            })
            .collect();
        let meta = crate::continuation::Meta {
            sequence: next,
            parent_request_id: inv.request_id.clone(),
            action,
            provenance: Provenance {
                continuation_of: None,
                ..provenance.clone()
            },
        };
        let payload = crate::continuation::payload(&meta, req, &keys);
        if payload.to_string().len() > crate::continuation::MAX_PAYLOAD_BYTES {
            tracing::warn!(
                keys = keys.len(),
                "continuation payload too large; relying on redelivery"
            );
            return None;
        }
        match continuer.start(&payload).await {
            Ok(id) => {
                let id = id.unwrap_or_else(|| "unknown".into());
                tracing::info!(keys = keys.len(), sequence = next, continuation = %id, "continuing in a new invocation");
                Some(id)
            }
            Err(e) => {
                tracing::error!(error = %e, keys = keys.len(), "could not start the continuation invocation");
                None
            }
        }
    }

    fn refuse_blast_radius(
        &self,
        ctx: &RecordContext<'_>,
        req: &RevocationRequest,
        results: Vec<KeyResult>,
        count: usize,
    ) -> GuardError {
        for r in &results {
            self.emit(ctx, r);
        }
        GuardError::RefusedBlastRadius {
            count,
            limit: self.config.blast_radius,
            summary: Box::new(Summary::new(
                &ctx.inv.request_id,
                Action::Revoke,
                ctx.dry_run,
                Some(req.incident_id.clone()),
                &results,
            )),
        }
    }

    async fn sweep(
        &self,
        collected: &Mutex<Vec<Sample>>,
        inv: &Invocation,
        provenance: &Provenance,
        account: &str,
    ) -> Result<Summary, GuardError> {
        let dry_run = self.config.dry_run;
        let run = self.run(inv, account, dry_run, None);
        let ctx = self.ctx(collected, inv, provenance, dry_run, None);
        let now = (self.now)();
        let mut trace = Trace::default();
        let listed = match self.exec.list_keys(&run, &mut trace).await {
            Ok(l) => l,
            Err(e) => {
                let mut f = KeyFacts::new(Action::Sweep, None);
                f.trace = trace;
                let r = f.kms_error(e);
                self.emit(&ctx, &r);
                return self.finish(inv, Action::Sweep, dry_run, None, vec![r], Some(0));
            }
        };
        let examined = listed.len();
        let scanned: Vec<(usize, ScanFinding)> =
            futures_util::stream::iter(listed.into_iter().enumerate())
                .map(|(i, arn)| {
                    let run = &run;
                    async move { (i, self.exec.scan(run, &arn, now).await) }
                })
                .buffer_unordered(self.config.concurrency)
                .filter_map(|(i, s)| async move { s.map(|s| (i, s)) })
                .collect()
                .await;
        let mut scanned = scanned;
        scanned.sort_by_key(|(i, _)| *i);
        let mut results = Vec::new();
        let mut due = Vec::new();
        let mut rotations = Vec::new();
        for (_, s) in scanned {
            match s {
                ScanFinding::Report(report) => {
                    self.emit(&ctx, &report);
                    results.push(report);
                }
                ScanFinding::Revoke(f) => due.push(f),
                ScanFinding::Rotate(f) => rotations.push(f),
            }
        }
        // Staged rotations of opted-in keys, paced at the RotateKeyOnDemand quota.
        let rotated: Vec<KeyResult> = futures_util::stream::iter(rotations)
            .map(|f| {
                let run = &run;
                async move { self.exec.rotate(run, f, None).await }
            })
            .buffer_unordered(self.config.concurrency)
            .inspect(|r| self.emit(&ctx, r))
            .collect()
            .await;
        results.extend(rotated);
        if guardrails::check_blast_radius(due.len(), self.config.blast_radius).is_err() {
            let count = due.len();
            for f in due {
                let r = f.finish(Outcome::RefusedBlastRadius);
                self.emit(&ctx, &r);
                results.push(r);
            }
            let mut summary = Summary::new(&inv.request_id, Action::Sweep, dry_run, None, &results);
            summary.keys_examined = Some(examined);
            return Err(GuardError::RefusedBlastRadius {
                count,
                limit: self.config.blast_radius,
                summary: Box::new(summary),
            });
        }
        let revoked: Vec<KeyResult> = futures_util::stream::iter(due)
            .map(|f| {
                let run = &run;
                async move { self.exec.revoke(run, f).await }
            })
            .buffer_unordered(self.config.concurrency)
            .inspect(|r| self.emit(&ctx, r))
            .collect()
            .await;
        results.extend(revoked);
        self.finish(inv, Action::Sweep, dry_run, None, results, Some(examined))
    }

    fn finish(
        &self,
        inv: &Invocation,
        action: Action,
        dry_run: bool,
        incident_id: Option<String>,
        results: Vec<KeyResult>,
        keys_examined: Option<usize>,
    ) -> Result<Summary, GuardError> {
        let mut summary = Summary::new(&inv.request_id, action, dry_run, incident_id, &results);
        summary.keys_examined = keys_examined;
        tracing::info!(counts = %summary.counts_text(), "invocation done");
        if summary.retryable() > 0 {
            Err(GuardError::Retryable {
                summary: Box::new(summary),
            })
        } else {
            Ok(summary)
        }
    }

    /// A key of the delete phase is done: its record is written now (not at the end of the
    /// invocation) and only what the summary needs is kept. A `deferred` key is left whole: it
    /// may still be handed to a continuation, which writes its record.
    fn finish_key(&self, ctx: &RecordContext<'_>, result: KeyResult) -> KeyResult {
        if result.outcome == Outcome::Deferred {
            return result;
        }
        self.emit(ctx, &result);
        result.compact()
    }

    fn emit(&self, ctx: &RecordContext<'_>, result: &KeyResult) {
        tracing::info!(
            key = result.facts.requested.as_deref().unwrap_or_default(),
            key_arn = result.facts.arn.as_deref().unwrap_or_default(),
            outcome = result.outcome.as_str(),
            error_code = result.error_code.as_deref().unwrap_or_default(),
            "key done"
        );
        let record = self.record(ctx, result);
        self.sink.emit(&record);
        if let Ok(mut c) = ctx.collected.lock() {
            c.push(Sample {
                action: record.action,
                outcome: record.outcome,
                duration_ms: record.duration_ms,
            });
        }
    }

    fn record(&self, ctx: &RecordContext<'_>, r: &KeyResult) -> AuditRecord {
        let f = &r.facts;
        AuditRecord {
            log_type: LOG_TYPE,
            schema: SCHEMA,
            timestamp: rfc3339(Utc::now()),
            action: f.action,
            outcome: r.outcome,
            dry_run: ctx.dry_run,
            scope_mode: self.config.scope.mode.as_str(),
            key: f.requested.clone(),
            key_arn: f.arn.clone(),
            key_id: f.key_id.clone(),
            account: f.account.clone(),
            region: f.region.clone(),
            key_material_id: f.key_material_id.clone(),
            state_before: f.state_before.clone(),
            state_after: f.state_after.clone(),
            valid_to: f.valid_to.map(rfc3339),
            reason: f.reason.clone().or_else(|| ctx.reason.map(str::to_string)),
            incident_id: f
                .incident_id
                .clone()
                .or_else(|| ctx.incident_id.map(str::to_string)),
            requested_by: ctx.requested_by.map(str::to_string),
            trigger: ctx.provenance.clone(),
            function_request_id: ctx.inv.request_id.clone(),
            xray_trace_id: ctx.inv.xray_trace_id.clone(),
            kms_request_ids: f.trace.request_ids.clone(),
            attempts: f.trace.attempts,
            duration_ms: r.duration.as_millis() as u64,
            error_code: r.error_code.clone(),
            error_message: r.error_message.clone(),
            previous_key_material_id: f.previous_key_material_id.clone(),
            materials: f.materials.clone(),
        }
    }
}

/// A boxed invocation future.
pub type Handled<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<Summary, GuardError>> + Send + 'a>>;

/// Type-erases a deep future (stream combinators over async blocks) so the bootstrap's future
/// type stays shallow enough for the compiler's layout computation.
fn erase<'a>(
    f: impl std::future::Future<Output = Result<Summary, GuardError>> + Send + 'a,
) -> Handled<'a> {
    Box::pin(f)
}

/// The incident id of a rejected revocation request, when it can be read safely (a valid
/// single-line string); for the rejected record and summary.
fn best_effort_incident(payload: &Value) -> Option<String> {
    let request = if payload.get("detail-type").and_then(Value::as_str)
        == Some(event::DETAIL_TYPE_REVOCATION)
    {
        payload.get("detail")?
    } else if let Some(c) = payload.get("continuation") {
        c
    } else {
        payload
    };
    let id = request.get("incidentId")?;
    crate::request::text(
        id,
        &crate::request::Path::root("incidentId"),
        crate::findings::MAX_FINDING_ID_CHARS,
        crate::request::Text::SingleLine,
    )
    .ok()
}

fn step_arn(step: &Step) -> Option<String> {
    match step {
        Step::Done(r) => r.facts.arn.clone(),
        Step::Candidate(f) => f.arn.clone(),
    }
}

fn selector_text(req: &RevocationRequest) -> String {
    let tags: Vec<String> = req.tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
    // The record's `key` holds at most 2048 characters.
    crate::request::short_n(&format!("tags:{}", tags.join(",")), 2000)
}
