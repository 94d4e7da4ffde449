//! The fan-out: one pipeline for "many keys". Named keys, tag selections, the sweep and the
//! single-key events differ in where their keys come from, not in how each key is handled:
//!
//! read (resolve / select / scan) -> one key, one outcome (duplicates) -> blast radius ->
//! act (delete / rotate) -> record, each record written as soon as its key is done.
//!
//! Keys the deadline left are handed to a continuation (revocation requests) or recorded as
//! `deferred`, so every key ends with exactly one record.

use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::sync::Mutex;

use futures_util::StreamExt;

use crate::audit::Recorder;
use crate::config::Config;
use crate::continuer::Continuer;
use crate::domain::text::short_n;
use crate::domain::{Action, KeyFacts, KeyResult, Outcome, Trace};
use crate::event::continuation::{self, ContinuedKey, Meta};
use crate::execute::{Executor, Run, Step, failed};
use crate::guardrails;
use crate::plan::{Plan, Work};
use crate::request::{KeyContext, RequestedKey};
use crate::seal::{self, Seal};

/// What running a plan produced.
#[derive(Debug, Default)]
pub struct Ran {
    /// One result per key, in the order the keys were named or listed.
    pub results: Vec<KeyResult>,
    /// Revocation candidates refused because they exceed the blast radius.
    pub refused: Option<usize>,
    /// Keys the sweep examined.
    pub examined: Option<usize>,
    /// The invocation continuing with the keys the deadline left.
    pub continued_by: Option<String>,
}

/// The pipeline of one invocation.
pub struct Pipeline<'a> {
    pub exec: &'a Executor,
    pub config: &'a Config,
    pub continuer: Option<&'a dyn Continuer>,
    /// Seals continuations; without it, none is started.
    pub seal: Option<&'a Seal>,
    pub rec: &'a Recorder<'a>,
    pub run: Run,
}

impl Pipeline<'_> {
    /// Runs the plan's work.
    pub async fn run(&self, plan: &mut Plan) -> Ran {
        let action = plan.action;
        let work = std::mem::replace(&mut plan.work, Work::Nothing);
        let mut ran = match work {
            Work::Nothing => Ran::default(),
            Work::Revoke { named, selector } => self.revoke(named, selector, action).await,
            Work::Sweep(now) => self.sweep(now).await,
            Work::Expiry(n) => {
                let r = self
                    .exec
                    .observe_expiry(&self.run, &n.key, &n.parsed, n.key_material_id)
                    .await;
                self.one(r)
            }
            Work::CompleteRotation(n) => {
                let r = self
                    .exec
                    .complete_rotation(&self.run, &n.key, n.key_material_id)
                    .await;
                self.one(r)
            }
            Work::ObserveRotation(n) => {
                let r = self
                    .exec
                    .observe_rotation(&self.run, &n.key, n.previous, n.current)
                    .await;
                r.map_or_else(Ran::default, |r| self.one(r))
            }
        };
        self.settle_deferred(&mut ran, plan).await;
        ran
    }

    fn one(&self, result: KeyResult) -> Ran {
        Ran {
            results: vec![self.finish(result)],
            ..Ran::default()
        }
    }

    /// Named keys and a tag selector. Named keys alone are pipelined (each key goes from its
    /// resolution straight to its delete; the pace keeps the rate): the blast radius is checked
    /// on their number before any call. A selector needs every read first, to count.
    async fn revoke(
        &self,
        named: Vec<RequestedKey>,
        selector: BTreeMap<String, String>,
        action: Action,
    ) -> Ran {
        let limit = self.config.blast_radius;
        if guardrails::check_blast_radius(named.len(), limit).is_err() {
            let count = named.len();
            let results = named
                .into_iter()
                .map(|k| KeyFacts::new(action, Some(k.raw)))
                .map(|f| self.finish(f.finish(Outcome::RefusedBlastRadius)))
                .collect();
            return Ran {
                results,
                refused: Some(count),
                ..Ran::default()
            };
        }
        let claims = Claims::default();
        let resolve = |k: RequestedKey| {
            let claims = &claims;
            async move { claims.claim(self.exec.resolve(&self.run, &k, action).await) }
        };
        if selector.is_empty() {
            let results = fan_out(named, self.config.concurrency, |k| async move {
                let step = resolve(k).await;
                self.finish(self.exec.act(&self.run, step).await)
            })
            .await;
            return Ran {
                results,
                ..Ran::default()
            };
        }
        let mut steps = fan_out(named, self.config.concurrency, resolve).await;
        let label = selector_text(&selector);
        let listed = self.listed(Some(label), action, &mut steps).await;
        let selected = fan_out(listed, self.config.concurrency, |arn| {
            let (claims, selector) = (&claims, &selector);
            async move {
                let step = self.exec.select(&self.run, &arn, selector, action).await;
                step.map(|s| claims.claim(s))
            }
        })
        .await;
        steps.extend(selected.into_iter().flatten());
        self.act_all(steps).await
    }

    /// The scheduled sweep: every listed key examined, then acted on.
    async fn sweep(&self, now: chrono::DateTime<chrono::Utc>) -> Ran {
        let mut steps = Vec::new();
        let listed = self.listed(None, Action::Sweep, &mut steps).await;
        let examined = listed.len();
        let scanned = fan_out(listed, self.config.concurrency, |arn| async move {
            self.exec.scan(&self.run, &arn, now).await
        })
        .await;
        steps.extend(scanned.into_iter().flatten());
        Ran {
            examined: Some(examined),
            ..self.act_all(steps).await
        }
    }

    /// Every key of the account and Region except those already in `steps`; a failed listing
    /// ends as one result in `steps` (named by `label`).
    async fn listed(
        &self,
        label: Option<String>,
        action: Action,
        steps: &mut Vec<Step>,
    ) -> Vec<String> {
        let mut trace = Trace::default();
        match self.exec.list_keys(&self.run, &mut trace).await {
            Ok(listed) => {
                let named: HashSet<&str> = steps.iter().filter_map(Step::arn).collect();
                listed
                    .into_iter()
                    .filter(|arn| !named.contains(arn.as_str()))
                    .collect()
            }
            Err(e) => {
                let mut f = KeyFacts::new(action, label);
                f.trace = trace;
                steps.push(Step::Done(failed(f, e)));
                Vec::new()
            }
        }
    }

    /// After every read: the blast radius on what is really selected, then every action.
    async fn act_all(&self, steps: Vec<Step>) -> Ran {
        let candidates = steps
            .iter()
            .filter(|s| matches!(s, Step::Revoke(_)))
            .count();
        let refused = guardrails::check_blast_radius(candidates, self.config.blast_radius)
            .is_err()
            .then_some(candidates);
        let steps = steps.into_iter().map(|s| match s {
            Step::Revoke(f) if refused.is_some() => {
                Step::Done(f.finish(Outcome::RefusedBlastRadius))
            }
            s => s,
        });
        let results = fan_out(steps, self.config.concurrency, |s| async move {
            self.finish(self.exec.act(&self.run, s).await)
        })
        .await;
        Ran {
            results,
            refused,
            ..Ran::default()
        }
    }

    /// A key is done: its record is written now and only what the summary needs is kept. A
    /// `deferred` key is left whole: it may still be handed to a continuation.
    fn finish(&self, result: KeyResult) -> KeyResult {
        if result.outcome == Outcome::Deferred {
            return result;
        }
        self.rec.record(&result);
        result.compact()
    }

    /// Keys the deadline left: a fresh invocation continues with them (revocation requests that
    /// were not refused), or they are recorded as `deferred` for a retry.
    async fn settle_deferred(&self, ran: &mut Ran, plan: &Plan) {
        let deferred: Vec<usize> = (0..ran.results.len())
            .filter(|i| ran.results[*i].outcome == Outcome::Deferred)
            .collect();
        if deferred.is_empty() {
            return;
        }
        if ran.refused.is_none() {
            let progressed = deferred.len() < ran.results.len();
            let keys = deferred.iter().map(|i| &ran.results[*i]);
            ran.continued_by = self.hand_over(plan, progressed, keys).await;
        }
        for i in deferred {
            let r = &mut ran.results[i];
            let settled = match &ran.continued_by {
                Some(id) => r.facts.clone().fail(
                    Outcome::Continued,
                    "ContinuedInNewInvocation",
                    format!("not attempted before the deadline; continued by invocation {id}"),
                ),
                None if r.error_code.is_none() => r.facts.clone().fail(
                    Outcome::Deferred,
                    "DeadlineReached",
                    "not attempted before the Lambda deadline; a retry of the same event completes it",
                ),
                None => r.clone(),
            };
            self.rec.record(&settled);
            *r = settled.compact();
        }
    }

    /// Starts a continuation invocation for the deferred keys of a revocation request. Returns
    /// its request id (or `"unknown"`) when the invocation was accepted; `None` when there is no
    /// continuation (not a request, not configured, chain too long, no progress, payload too
    /// large, sealing or Invoke failed).
    async fn hand_over<'r>(
        &self,
        plan: &Plan,
        progressed: bool,
        deferred: impl Iterator<Item = &'r KeyResult>,
    ) -> Option<String> {
        let (continuer, req) = (self.continuer?, plan.request.as_ref()?);
        let Some(seal) = self.seal else {
            tracing::warn!("no continuation: MATERIAL_GUARD_CONTINUATION_KEY is not set");
            return None;
        };
        let next = plan.sequence + 1;
        if next > continuation::MAX_SEQUENCE || (plan.sequence > 0 && !progressed) {
            tracing::warn!(
                sequence = plan.sequence,
                progressed,
                "no continuation: chain too long or no progress"
            );
            return None;
        }
        let keys: Vec<ContinuedKey> = deferred.map(continued_key).collect();
        let inv = self.rec.invocation();
        let issued_at = chrono::Utc::now();
        let meta = Meta {
            sequence: next,
            parent_request_id: inv.request_id.clone(),
            action: plan.action,
            provenance: crate::domain::Provenance {
                continuation_of: None,
                ..self.rec.trigger().clone()
            },
            nonce: seal::nonce(),
            issued_at,
            expires_at: issued_at + continuation::VALIDITY,
            function: (!inv.invoked_function_arn.is_empty())
                .then(|| inv.invoked_function_arn.clone()),
        };
        let body = continuation::body(&meta, req, &keys);
        if body.len() > continuation::MAX_PAYLOAD_BYTES {
            tracing::warn!(
                keys = keys.len(),
                "continuation payload too large; relying on redelivery"
            );
            return None;
        }
        // Sealing needs a KMS call: a deadline too close leaves it to the retry.
        let sealed = match seal.seal(body, &self.run.deadline).await {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(code = %e.code, "could not seal the continuation; relying on redelivery");
                return None;
            }
        };
        match continuer.start(&continuation::payload(&sealed)).await {
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
}

/// A deferred key as the continuation names it: its ARN when resolved, else as requested.
fn continued_key(r: &KeyResult) -> ContinuedKey {
    ContinuedKey {
        key: r
            .facts
            .arn
            .clone()
            .or_else(|| r.facts.requested.clone())
            .unwrap_or_default(),
        context: match (&r.facts.incident_id, &r.facts.reason) {
            (Some(i), Some(reason)) => Some(KeyContext {
                incident_id: i.clone(),
                reason: reason.clone(),
            }),
            _ => None,
        },
    }
}

/// One key, one outcome: the first step to claim a key's ARN keeps the key; a later spelling
/// of the same key is a duplicate.
#[derive(Default)]
struct Claims(Mutex<HashSet<String>>);

impl Claims {
    fn claim(&self, step: Step) -> Step {
        let duplicate = step.arn().is_some_and(|a| {
            !self
                .0
                .lock()
                .map(|mut c| c.insert(a.to_string()))
                .unwrap_or(true)
        });
        match step {
            Step::Done(r) if duplicate => Step::Done(r.facts.finish(Outcome::SkippedDuplicate)),
            Step::Revoke(f) | Step::Rotate(f) if duplicate => {
                Step::Done(f.finish(Outcome::SkippedDuplicate))
            }
            step => step,
        }
    }
}

/// Runs `f` over `items`, at most `limit` at a time; the results in the items' order.
async fn fan_out<T, R, F, Fut>(items: impl IntoIterator<Item = T>, limit: usize, f: F) -> Vec<R>
where
    F: Fn(T) -> Fut,
    Fut: Future<Output = R>,
{
    let mut done: Vec<(usize, R)> = futures_util::stream::iter(items.into_iter().enumerate())
        .map(|(i, item)| {
            let fut = f(item);
            async move { (i, fut.await) }
        })
        .buffer_unordered(limit)
        .collect()
        .await;
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, r)| r).collect()
}

/// The selector as the record's `key` (at most 2048 characters).
fn selector_text(selector: &BTreeMap<String, String>) -> String {
    let tags: Vec<String> = selector.iter().map(|(k, v)| format!("{k}={v}")).collect();
    short_n(&format!("tags:{}", tags.join(",")), 2000)
}
