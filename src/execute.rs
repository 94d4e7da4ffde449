//! Step 5: execution against KMS, per key.
//!
//! `resolve` / `select_by_tags` / `scan` read (DescribeKey, ListKeys, ListResourceTags) and apply
//! the guardrails; `revoke` deletes one candidate's material, paced by the [`Pacer`], under a
//! per-key single flight, and verifies the result with DescribeKey. Every function here ends a key
//! with exactly one [`KeyResult`].

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use aws_sdk_kms::Client;
use aws_sdk_kms::types::{KeyMetadata, KeyState, OriginType};
use chrono::{DateTime, Utc};
use tokio::time::Instant;

use crate::audit::{Action, Outcome, rfc3339};
use crate::config::{Config, REVOKE_AT_TAG_KEY};
use crate::guardrails::{self, StateDecision};
use crate::kms::{self, Deadline, ErrorClass, KmsError, RetryPolicy, Trace, codes};
use crate::lifecycle::Lifecycle;
use crate::pacing::Pacer;
use crate::request::{KeyRef, RequestedKey, short};

/// Everything learned about one key during an invocation.
#[derive(Debug, Clone)]
pub struct KeyFacts {
    pub action: Action,
    /// The key as requested (or as listed, for selected keys).
    pub requested: Option<String>,
    pub arn: Option<String>,
    pub key_id: Option<String>,
    pub account: Option<String>,
    pub region: Option<String>,
    pub key_material_id: Option<String>,
    pub state: Option<KeyState>,
    pub state_before: Option<String>,
    pub state_after: Option<String>,
    pub valid_to: Option<DateTime<Utc>>,
    pub tags: Vec<(String, String)>,
    /// A per-key reason overriding the request's (scheduled revocations, findings).
    pub reason: Option<String>,
    /// A per-key incident overriding the request's (one finding per key).
    pub incident_id: Option<String>,
    /// The material current before a rotation.
    pub previous_key_material_id: Option<String>,
    /// The key's materials (ListKeyRotations), when listed.
    pub materials: Option<Vec<crate::audit::Material>>,
    /// `CreationDate` from DescribeKey (age of a never-rotated material).
    pub created: Option<DateTime<Utc>>,
    pub trace: Trace,
    pub started: Instant,
    pub(crate) described_at: Option<Instant>,
}

impl KeyFacts {
    pub fn new(action: Action, requested: Option<String>) -> Self {
        KeyFacts {
            action,
            // Untrusted and possibly huge (a malformed identifier): bounded for the record.
            requested: requested.map(|r| {
                if r.len() <= crate::request::MAX_KEY_IDENTIFIER_CHARS {
                    r
                } else {
                    crate::request::short_n(&r, 2000)
                }
            }),
            arn: None,
            key_id: None,
            account: None,
            region: None,
            key_material_id: None,
            state: None,
            state_before: None,
            state_after: None,
            valid_to: None,
            tags: Vec::new(),
            reason: None,
            incident_id: None,
            previous_key_material_id: None,
            materials: None,
            created: None,
            trace: Trace::default(),
            started: Instant::now(),
            described_at: None,
        }
    }

    /// Takes identity and state from DescribeKey's metadata.
    fn absorb(&mut self, md: &KeyMetadata) {
        self.key_id = Some(md.key_id().to_string());
        if let Some(arn) = md.arn() {
            self.arn = Some(arn.to_string());
            if let Ok(k) = KeyRef::parse(arn)
                && let Some((account, region)) = k.location()
            {
                self.account = Some(account.to_string());
                self.region = Some(region.to_string());
            }
        }
        if let Some(a) = md.aws_account_id() {
            self.account = Some(a.to_string());
        }
        self.state = md.key_state().cloned();
        self.valid_to = md.valid_to().and_then(to_chrono);
        self.created = md.creation_date().and_then(to_chrono);
        if self.key_material_id.is_none() {
            self.key_material_id = md.current_key_material_id().map(str::to_string);
        }
        self.described_at = Some(Instant::now());
    }

    /// The identifier to call KMS with once the key is resolved: its ARN, else its id.
    pub(crate) fn call_id(&self) -> String {
        self.arn
            .clone()
            .or_else(|| self.key_id.clone())
            .unwrap_or_default()
    }

    pub(crate) fn state_name(&self) -> Option<String> {
        self.state.as_ref().map(|s| s.as_str().to_string())
    }

    /// Ends the key with `outcome`.
    pub fn finish(self, outcome: Outcome) -> KeyResult {
        KeyResult {
            duration: self.started.elapsed(),
            facts: self,
            outcome,
            error_code: None,
            error_message: None,
        }
    }

    /// Ends the key with `outcome` and the error that caused it.
    pub fn fail(
        self,
        outcome: Outcome,
        code: impl Into<String>,
        message: impl Into<String>,
    ) -> KeyResult {
        KeyResult {
            duration: self.started.elapsed(),
            facts: self,
            outcome,
            error_code: Some(code.into()),
            error_message: Some(message.into()),
        }
    }

    /// Ends the key after a KMS error: not found, retryable or final.
    pub fn kms_error(self, e: KmsError) -> KeyResult {
        let outcome = if e.code == codes::NOT_FOUND {
            Outcome::NotFound
        } else if e.is_retryable() {
            Outcome::FailedRetryable
        } else {
            Outcome::Failed
        };
        self.fail(outcome, e.code, e.message)
    }
}

/// An AWS SDK time as chrono.
pub fn to_chrono(t: &aws_sdk_kms::primitives::DateTime) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(t.secs(), t.subsec_nanos())
}

/// How one key ended.
#[derive(Debug, Clone)]
pub struct KeyResult {
    pub facts: KeyFacts,
    /// From the first step for this key to its outcome.
    pub duration: std::time::Duration,
    pub outcome: Outcome,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
}

impl KeyResult {
    /// Drops what only the audit record needed (tags, materials, request ids) once the record is
    /// written: a 10,000-key request keeps only what the response and a continuation need.
    pub fn compact(mut self) -> KeyResult {
        self.facts.tags = Vec::new();
        self.facts.materials = None;
        self.facts.trace.request_ids = Vec::new();
        self
    }
}

/// After the read phase: either done, or a candidate for deletion.
#[derive(Debug)]
pub enum Step {
    Done(KeyResult),
    Candidate(KeyFacts),
}

/// What one invocation needs to execute.
#[derive(Debug, Clone)]
pub struct Run {
    /// The function's own account.
    pub account: String,
    pub deadline: Deadline,
    pub retry: RetryPolicy,
    pub dry_run: bool,
    /// Delete exactly this material (single-key requests).
    pub key_material_id: Option<String>,
}

impl Run {
    pub(crate) fn has_time(&self) -> bool {
        self.deadline.allows(self.retry.margin)
    }
}

/// What the scheduled sweep found for one key.
#[derive(Debug)]
pub enum ScanFinding {
    /// Reported without a change (expiring soon, rotation due, malformed tags, refusals, errors).
    Report(KeyResult),
    /// `revoke-at` has passed, or the crypto-period and its grace: revoke (paced, blast radius).
    Revoke(KeyFacts),
    /// A staged material waits and the key opted into automatic rotation completion.
    Rotate(KeyFacts),
}

/// The long-lived execution engine: the KMS client, the delete pacer and the per-key single
/// flight shared by every invocation of the process.
pub struct Executor {
    pub(crate) kms: Client,
    pub(crate) config: Arc<Config>,
    pacer: Pacer,
    /// RotateKeyOnDemand is limited to 5/s per account and Region.
    pub(crate) rotate_pacer: Pacer,
    flights: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Keys whose material this process deleted, and when.
    deleted: Mutex<HashMap<String, Instant>>,
}

impl Executor {
    pub fn new(kms: Client, config: Arc<Config>) -> Self {
        let pacer = Pacer::new(config.delete_rate);
        Executor {
            kms,
            rotate_pacer: Pacer::new(config.rotate_rate),
            config,
            pacer,
            flights: Mutex::new(HashMap::new()),
            deleted: Mutex::new(HashMap::new()),
        }
    }

    /// The delete pacer (its current rate is reported in logs and benchmarks).
    pub fn pacer(&self) -> &Pacer {
        &self.pacer
    }

    pub(crate) async fn describe(
        &self,
        run: &Run,
        f: &mut KeyFacts,
        id: &str,
    ) -> Result<KeyMetadata, KmsError> {
        let out = kms::with_retry(&run.retry, &run.deadline, &mut f.trace, || {
            self.kms.describe_key().key_id(id).send()
        })
        .await?;
        let md = out.key_metadata.ok_or_else(|| KmsError {
            code: codes::RESPONSE.into(),
            message: "DescribeKey returned no KeyMetadata".into(),
            class: ErrorClass::Transient,
        })?;
        f.absorb(&md);
        Ok(md)
    }

    pub(crate) async fn load_tags(&self, run: &Run, f: &mut KeyFacts) -> Result<(), KmsError> {
        let id = f.call_id();
        let mut marker: Option<String> = None;
        let mut tags = Vec::new();
        loop {
            let out = kms::with_retry(&run.retry, &run.deadline, &mut f.trace, || {
                self.kms
                    .list_resource_tags()
                    .key_id(&id)
                    .limit(50)
                    .set_marker(marker.clone())
                    .send()
            })
            .await?;
            tags.extend(
                out.tags()
                    .iter()
                    .map(|t| (t.tag_key().to_string(), t.tag_value().to_string())),
            );
            match out.next_marker() {
                Some(m) if out.truncated() => marker = Some(m.to_string()),
                _ => break,
            }
        }
        f.tags = tags;
        Ok(())
    }

    pub(crate) fn in_scope(&self, f: &KeyFacts) -> bool {
        guardrails::in_scope(
            &self.config.scope,
            f.tags.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        )
    }

    /// Resolves an explicitly named key and applies the guardrails. One DescribeKey (plus
    /// ListResourceTags under the tagged scope); no call at all for malformed identifiers or
    /// ARNs of another account or Region.
    pub async fn resolve(&self, run: &Run, requested: &RequestedKey, action: Action) -> Step {
        let mut f = KeyFacts::new(action, Some(requested.raw.clone()));
        if let Some(ctx) = &requested.context {
            f.incident_id = Some(ctx.incident_id.clone());
            f.reason = Some(ctx.reason.clone());
        }
        let parsed = match &requested.parsed {
            Ok(k) => k,
            Err(problem) => {
                return Step::Done(f.fail(
                    Outcome::RejectedInvalidIdentifier,
                    "InvalidKeyIdentifier",
                    problem.clone(),
                ));
            }
        };
        if let Some((account, region)) = parsed.location() {
            f.account = Some(account.to_string());
            f.region = Some(region.to_string());
            if let KeyRef::KeyArn(_) = parsed {
                f.arn = Some(requested.raw.clone());
            }
        }
        if let Err(outcome) = guardrails::check_location(parsed, &run.account, &self.config.region)
        {
            return Step::Done(f.finish(outcome));
        }
        if !run.has_time() {
            return Step::Done(f.finish(Outcome::Deferred));
        }
        let md = match self.describe(run, &mut f, &requested.raw).await {
            Ok(md) => md,
            Err(e) => return Step::Done(f.kms_error(e)),
        };
        f.state_before = f.state_name();
        let arn = f.arn.clone().unwrap_or_default();
        if let Err(outcome) = guardrails::check_resolved_location(
            md.aws_account_id(),
            &arn,
            &run.account,
            &self.config.region,
        ) {
            return Step::Done(f.finish(outcome));
        }
        if let Err(outcome) = guardrails::check_origin(md.origin()) {
            return Step::Done(f.finish(outcome));
        }
        if guardrails::needs_tags(&self.config.scope)
            && let Err(e) = self.load_tags(run, &mut f).await
        {
            return Step::Done(f.kms_error(e));
        }
        if !self.in_scope(&f) {
            return Step::Done(f.finish(Outcome::RefusedOutOfScope));
        }
        self.state_step(run, f).await
    }

    /// Applies the key-state table; waits out Creating / Updating within the retry budget.
    async fn state_step(&self, run: &Run, mut f: KeyFacts) -> Step {
        let mut attempt = 1;
        loop {
            match guardrails::decide_state(f.state.as_ref()) {
                StateDecision::Delete => {
                    // The tags decided the scope; the record does not carry them.
                    f.tags = Vec::new();
                    return Step::Candidate(f);
                }
                StateDecision::Done(outcome) => {
                    f.state_after = f.state_name();
                    return Step::Done(f.finish(outcome));
                }
                StateDecision::Unsupported => {
                    let state = f.state_name().unwrap_or_else(|| "unknown".into());
                    return Step::Done(f.fail(
                        Outcome::Failed,
                        "UnsupportedKeyState",
                        format!("key state {state} is not one this function acts on"),
                    ));
                }
                StateDecision::NotReady => {
                    let state = f.state_name().unwrap_or_default();
                    let delay = run.retry.backoff(attempt, ErrorClass::Transient);
                    if attempt >= run.retry.max_attempts
                        || !run.deadline.allows(delay + run.retry.margin)
                    {
                        return Step::Done(f.fail(
                            Outcome::FailedRetryable,
                            "KeyNotReady",
                            format!("key is {state}; its material can be deleted once the key leaves this state"),
                        ));
                    }
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                    let id = f.arn.clone().unwrap_or_default();
                    if let Err(e) = self.describe(run, &mut f, &id).await {
                        return Step::Done(f.kms_error(e));
                    }
                }
            }
        }
    }

    /// Lists every key of the account and Region (ListKeys, paginated).
    pub async fn list_keys(&self, run: &Run, trace: &mut Trace) -> Result<Vec<String>, KmsError> {
        let mut marker: Option<String> = None;
        let mut arns = Vec::new();
        loop {
            let out = kms::with_retry(&run.retry, &run.deadline, trace, || {
                self.kms
                    .list_keys()
                    .limit(1000)
                    .set_marker(marker.clone())
                    .send()
            })
            .await?;
            arns.extend(
                out.keys()
                    .iter()
                    .filter_map(|k| k.key_arn().or(k.key_id()).map(str::to_string)),
            );
            match out.next_marker() {
                Some(m) if out.truncated() => marker = Some(m.to_string()),
                _ => break,
            }
        }
        Ok(arns)
    }

    /// Checks one listed key against a tag selector. `None`: not selected (not EXTERNAL, tags
    /// differ, or gone). Selected keys outside the scope are reported `refused_out_of_scope` so
    /// the SOC sees why a matching key was left alone.
    pub async fn select(
        &self,
        run: &Run,
        listed: &str,
        selector: &BTreeMap<String, String>,
        action: Action,
    ) -> Option<Step> {
        let mut f = KeyFacts::new(action, Some(listed.to_string()));
        if !run.has_time() {
            return Some(Step::Done(f.finish(Outcome::Deferred)));
        }
        let md = match self.describe(run, &mut f, listed).await {
            Ok(md) => md,
            Err(e) if e.code == codes::NOT_FOUND => return None,
            Err(e) => return Some(Step::Done(f.kms_error(e))),
        };
        if md.origin() != Some(&OriginType::External) {
            return None;
        }
        f.state_before = f.state_name();
        if let Err(e) = self.load_tags(run, &mut f).await {
            return Some(Step::Done(f.kms_error(e)));
        }
        let matches = selector
            .iter()
            .all(|(k, v)| f.tags.iter().any(|(tk, tv)| tk == k && tv == v));
        if !matches {
            return None;
        }
        if !self.in_scope(&f) {
            return Some(Step::Done(f.finish(Outcome::RefusedOutOfScope)));
        }
        Some(self.state_step(run, f).await)
    }

    /// Examines one listed key for the scheduled sweep.
    pub async fn scan(&self, run: &Run, listed: &str, now: DateTime<Utc>) -> Option<ScanFinding> {
        let mut f = KeyFacts::new(Action::Sweep, Some(listed.to_string()));
        let md = match self.describe(run, &mut f, listed).await {
            Ok(md) => md,
            Err(e) if e.code == codes::NOT_FOUND => return None,
            Err(e) => return Some(ScanFinding::Report(f.kms_error(e))),
        };
        if md.origin() != Some(&OriginType::External) {
            return None;
        }
        f.state_before = f.state_name();
        if let Err(e) = self.load_tags(run, &mut f).await {
            return Some(ScanFinding::Report(f.kms_error(e)));
        }
        let in_scope = self.in_scope(&f);
        let revoke_at = f
            .tags
            .iter()
            .find(|(k, _)| k == REVOKE_AT_TAG_KEY)
            .map(|(_, v)| v.clone());
        if let Some(value) = revoke_at {
            let when = match DateTime::parse_from_rfc3339(&value) {
                Ok(t) => t.with_timezone(&Utc),
                Err(e) => {
                    f.state_after = f.state_name();
                    return Some(ScanFinding::Report(f.fail(
                        Outcome::InvalidRevokeAt,
                        "InvalidRevokeAt",
                        format!(
                            "tag {REVOKE_AT_TAG_KEY}={:?} is not an RFC 3339 time such as 2026-12-31T23:00:00Z ({e}); nothing was done",
                            short(&value)
                        ),
                    )));
                }
            };
            if when <= now {
                f.action = Action::ScheduledRevoke;
                f.reason = Some(format!(
                    "scheduled revocation: {REVOKE_AT_TAG_KEY} {} has passed",
                    rfc3339(when)
                ));
                if !in_scope {
                    return Some(ScanFinding::Report(f.finish(Outcome::RefusedOutOfScope)));
                }
                return match guardrails::decide_state(f.state.as_ref()) {
                    StateDecision::Delete => Some(ScanFinding::Revoke(f)),
                    // Already revoked or pending deletion: reported when it happened, not every sweep.
                    StateDecision::Done(_) => None,
                    StateDecision::NotReady | StateDecision::Unsupported => {
                        let state = f.state_name().unwrap_or_default();
                        Some(ScanFinding::Report(f.fail(
                            Outcome::FailedRetryable,
                            "KeyNotReady",
                            format!("key is {state}; the next sweep retries"),
                        )))
                    }
                };
            }
        }
        let usable = matches!(f.state, Some(KeyState::Enabled) | Some(KeyState::Disabled));
        if !(in_scope && usable) {
            return None;
        }
        let mut f = match self.lifecycle_check(run, f, now).await {
            Lifecycle::Nothing(f) => f,
            Lifecycle::Report(r) => return Some(ScanFinding::Report(r)),
            Lifecycle::Rotate(f) => return Some(ScanFinding::Rotate(f)),
            Lifecycle::Revoke(f) => return Some(ScanFinding::Revoke(f)),
        };
        if let Some(valid_to) = f.valid_to {
            let window = chrono::Duration::from_std(self.config.expiry_warning)
                .unwrap_or(chrono::Duration::days(14));
            if valid_to > now && valid_to <= now + window {
                f.state_after = f.state_name();
                let days = (valid_to - now).num_hours() as f64 / 24.0;
                return Some(ScanFinding::Report(f.fail(
                    Outcome::ExpiringSoon,
                    "MaterialExpiringSoon",
                    format!(
                        "imported key material expires at {} (in {days:.1} days); import new material or extend ValidTo",
                        rfc3339(valid_to)
                    ),
                )));
            }
        }
        None
    }

    /// Confirms a KMS expiry event with DescribeKey.
    pub async fn observe_expiry(
        &self,
        run: &Run,
        key: &str,
        parsed: &KeyRef,
        material: Option<String>,
    ) -> KeyResult {
        let mut f = KeyFacts::new(Action::ObserveExpiry, Some(key.to_string()));
        f.key_material_id = material;
        if let Some((account, region)) = parsed.location() {
            f.account = Some(account.to_string());
            f.region = Some(region.to_string());
        }
        if let Err(outcome) = guardrails::check_location(parsed, &run.account, &self.config.region)
        {
            return f.finish(outcome);
        }
        let reported_material = f.key_material_id.clone();
        match self.describe(run, &mut f, key).await {
            Ok(_) => {
                // The record names the material the event named, not the key's current one.
                f.key_material_id = reported_material;
                f.state_after = f.state_name();
                f.finish(Outcome::Expired)
            }
            Err(e) => f.kms_error(e),
        }
    }

    fn flight(&self, arn: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut flights = match self.flights.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        flights.entry(arn.to_string()).or_default().clone()
    }

    /// Forgets a key's lock once nobody else holds or waits for it (the table stays as small as
    /// the keys in flight, also in a long-lived warm process).
    fn release_flight(&self, arn: &str, flight: Arc<tokio::sync::Mutex<()>>) {
        let mut flights = match self.flights.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        // Two references: the table's and ours. Lookups happen under the table's lock.
        if flights.get(arn).is_some_and(|e| Arc::strong_count(e) <= 2) {
            flights.remove(arn);
        }
        drop(flight);
    }

    fn deleted_since(&self, arn: &str, since: Option<Instant>) -> bool {
        let deleted = match self.deleted.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        match (deleted.get(arn), since) {
            (Some(at), Some(since)) => *at >= since,
            _ => false,
        }
    }

    fn mark_deleted(&self, arn: &str) {
        let mut deleted = match self.deleted.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let now = Instant::now();
        // Only deletes within one Lambda timeout (15 minutes) can race: forget older ones.
        if deleted.len() >= 4096 {
            deleted.retain(|_, at| {
                now.saturating_duration_since(*at) < std::time::Duration::from_secs(900)
            });
        }
        deleted.insert(arn.to_string(), now);
    }

    /// Deletes a candidate's imported material and verifies the key is `PendingImport`.
    ///
    /// Retries: `ThrottlingException` slows the pacer and retries; a timeout, 5xx or broken
    /// connection may have deleted the material, so the key is described before the delete is
    /// repeated (a redelivered or retried request never deletes twice).
    pub async fn revoke(&self, run: &Run, mut f: KeyFacts) -> KeyResult {
        if run.dry_run {
            f.state_after = f.state_before.clone();
            return f.finish(Outcome::WouldRevoke);
        }
        if !run.has_time() {
            f.state_after = f.state_before.clone();
            return f.finish(Outcome::Deferred);
        }
        let Some(arn) = f.arn.clone() else {
            return f.fail(
                Outcome::Failed,
                "MissingKeyArn",
                "DescribeKey returned no key ARN",
            );
        };
        let flight = self.flight(&arn);
        let result = {
            let _guard = flight.lock().await;
            self.revoke_exclusively(run, f, &arn).await
        };
        self.release_flight(&arn, flight);
        result
    }

    /// The delete, verify and retries of one key, while holding its single-flight lock.
    async fn revoke_exclusively(&self, run: &Run, mut f: KeyFacts, arn: &str) -> KeyResult {
        let arn = arn.to_string();
        if self.deleted_since(&arn, f.described_at) {
            f.state_after = Some(KeyState::PendingImport.as_str().to_string());
            return f.finish(Outcome::AlreadyRevoked);
        }
        if let Some(m) = &run.key_material_id {
            f.key_material_id = Some(m.clone());
        }
        let mut last: Option<KmsError> = None;
        for attempt in 1..=run.retry.max_attempts {
            // Never wait for (or take) a pace slot that lies past the deadline.
            let slot = self
                .pacer
                .reserve_by(run.deadline.latest_start(run.retry.margin));
            if let Some(slot) = slot {
                tokio::time::sleep_until(slot).await;
            }
            if slot.is_none() || !run.has_time() {
                return match last {
                    None => {
                        f.state_after = f.state_before.clone();
                        f.finish(Outcome::Deferred)
                    }
                    Some(e) => f.fail(Outcome::FailedRetryable, e.code, e.message),
                };
            }
            let call = self
                .kms
                .delete_imported_key_material()
                .key_id(&arn)
                .set_key_material_id(run.key_material_id.clone())
                .send();
            match kms::once(&mut f.trace, call).await {
                Ok(out) => {
                    self.pacer.on_success();
                    self.mark_deleted(&arn);
                    if let Some(m) = out.key_material_id() {
                        f.key_material_id = Some(m.to_string());
                    }
                    tracing::info!(key_arn = %arn, attempt, "imported key material deleted");
                    return self.verify(run, f, &arn).await;
                }
                Err(e) => {
                    tracing::warn!(key_arn = %arn, attempt, code = %e.code, "DeleteImportedKeyMaterial failed");
                    let transient_state = e.code == codes::INVALID_STATE
                        && (e.message.contains("is creating") || e.message.contains("is updating"));
                    match e.class {
                        ErrorClass::Final if !transient_state => return f.kms_error(e),
                        ErrorClass::Throttled => self.pacer.on_throttle(),
                        _ => {}
                    }
                    let class = e.class;
                    last = Some(e);
                    if attempt == run.retry.max_attempts {
                        break;
                    }
                    let delay = run.retry.backoff(attempt, class);
                    if !run.deadline.allows(delay + run.retry.margin) {
                        break;
                    }
                    tokio::time::sleep(delay).await;
                    if class == ErrorClass::Transient {
                        // The delete may have been applied although the answer was lost.
                        if let Ok(md) = self.describe(run, &mut f, &arn).await
                            && matches!(md.key_state(), Some(KeyState::PendingImport))
                        {
                            self.mark_deleted(&arn);
                            f.state_after = f.state_name();
                            return f.finish(Outcome::Revoked);
                        }
                    }
                }
            }
        }
        match last {
            Some(e) => f.fail(Outcome::FailedRetryable, e.code, e.message),
            None => f.finish(Outcome::Deferred),
        }
    }

    async fn verify(&self, run: &Run, mut f: KeyFacts, arn: &str) -> KeyResult {
        let deleted_material = f.key_material_id.clone();
        let verified = self.describe(run, &mut f, arn).await;
        // Keep the id of the material that was deleted, not the key's current one.
        f.key_material_id = deleted_material;
        let verified = match verified {
            Ok(_) => {
                f.state_after = f.state_name();
                match f.state {
                    Some(KeyState::PendingImport) | Some(KeyState::PendingDeletion) => {
                        Ok(Outcome::Revoked)
                    }
                    Some(KeyState::Enabled) | Some(KeyState::Disabled)
                        if run.key_material_id.is_some() =>
                    {
                        Ok(Outcome::MaterialDeleted)
                    }
                    _ => {
                        let state = f.state_name().unwrap_or_default();
                        return f.fail(
                            Outcome::FailedRetryable,
                            "VerificationFailed",
                            format!("after the delete the key is {state}, expected PendingImport"),
                        );
                    }
                }
            }
            Err(e) => Err(e),
        };
        // Which material was deleted, which remain: for the responder.
        self.attach_materials(run, &mut f).await;
        match verified {
            Ok(outcome) => f.finish(outcome),
            Err(e) => f.fail(
                Outcome::RevokedUnverified,
                e.code,
                format!(
                    "the delete succeeded but the verification DescribeKey failed: {}",
                    e.message
                ),
            ),
        }
    }
}
