//! The reads: DescribeKey, ListResourceTags and ListKeys (ListKeyRotations is in `materials.rs`),
//! and the per-key read steps built on them (resolve a named key, select a listed key by tags,
//! confirm an event), each applying the guardrails as soon as the facts they need are known.

use std::collections::BTreeMap;

use aws_sdk_kms::types::{KeyMetadata, KeyState, OriginType};

use super::{Executor, Run, Step, absorb, failed};
use crate::domain::{Action, KeyFacts, KeyResult, Outcome, Trace};
use crate::guardrails::{self, StateDecision};
use crate::keyref::KeyRef;
use crate::kms::{self, ErrorClass, KmsError, codes};
use crate::request::RequestedKey;

impl Executor {
    /// DescribeKey (with retries), absorbing identity and state into `f`.
    pub(super) async fn describe(
        &self,
        run: &Run,
        f: &mut KeyFacts,
        id: &str,
    ) -> Result<KeyMetadata, KmsError> {
        let md = self.describe_call(run, &mut f.trace, id).await?;
        absorb(f, &md);
        Ok(md)
    }

    /// DescribeKey (with retries), recording into `trace` only: for reads that run beside
    /// another read of the same key.
    pub(super) async fn describe_call(
        &self,
        run: &Run,
        trace: &mut Trace,
        id: &str,
    ) -> Result<KeyMetadata, KmsError> {
        let out = kms::with_retry(&run.retry, &run.deadline, trace, || {
            self.kms.describe_key().key_id(id).send()
        })
        .await?;
        out.key_metadata.ok_or_else(|| KmsError {
            code: codes::RESPONSE.into(),
            message: "DescribeKey returned no KeyMetadata".into(),
            class: ErrorClass::Transient,
        })
    }

    pub(super) async fn load_tags(&self, run: &Run, f: &mut KeyFacts) -> Result<(), KmsError> {
        let id = f.call_id();
        f.tags = self.fetch_tags(run, &mut f.trace, &id).await?;
        Ok(())
    }

    /// Every tag of the key (ListResourceTags, paginated, with retries).
    async fn fetch_tags(
        &self,
        run: &Run,
        trace: &mut Trace,
        id: &str,
    ) -> Result<Vec<(String, String)>, KmsError> {
        let mut marker: Option<String> = None;
        let mut tags = Vec::new();
        loop {
            let out = kms::with_retry(&run.retry, &run.deadline, trace, || {
                self.kms
                    .list_resource_tags()
                    .key_id(id)
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
        Ok(tags)
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

    pub(super) fn in_scope(&self, f: &KeyFacts) -> bool {
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
        // Under the tagged scope a key named by id or ARN is read with DescribeKey and
        // ListResourceTags at once: the delete can follow one round trip after the first call.
        // An alias needs DescribeKey first (ListResourceTags takes no alias).
        let tags_beside = guardrails::needs_tags(&self.config.scope) && !parsed.is_alias();
        let (described, tags) = if tags_beside {
            let mut tag_trace = Trace::default();
            let (described, tags) = tokio::join!(
                self.describe_call(run, &mut f.trace, &requested.raw),
                self.fetch_tags(run, &mut tag_trace, &requested.raw),
            );
            f.trace.absorb(tag_trace);
            (described, Some(tags))
        } else {
            (
                self.describe_call(run, &mut f.trace, &requested.raw).await,
                None,
            )
        };
        let md = match described {
            Ok(md) => md,
            Err(e) => return Step::Done(failed(f, e)),
        };
        absorb(&mut f, &md);
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
        let tags = match tags {
            Some(read_beside) => read_beside.map(|t| f.tags = t),
            None if guardrails::needs_tags(&self.config.scope) => self.load_tags(run, &mut f).await,
            None => Ok(()),
        };
        if let Err(e) = tags {
            return Step::Done(failed(f, e));
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
                    return Step::Revoke(f);
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
                        return Step::Done(failed(f, e));
                    }
                }
            }
        }
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
        let f = match self.read_listed(run, listed, action).await? {
            Ok(f) => f,
            Err(step) => return Some(step),
        };
        let matches = selector.iter().all(|(k, v)| f.tag(k) == Some(v.as_str()));
        if !matches {
            return None;
        }
        if !self.in_scope(&f) {
            return Some(Step::Done(f.finish(Outcome::RefusedOutOfScope)));
        }
        Some(self.state_step(run, f).await)
    }

    /// The first reads of a listed key (DescribeKey, then ListResourceTags): `None` for keys a
    /// listing passes by (gone, or not EXTERNAL); `Err` when the key ends here (no time left,
    /// a KMS error).
    pub(super) async fn read_listed(
        &self,
        run: &Run,
        listed: &str,
        action: Action,
    ) -> Option<Result<KeyFacts, Step>> {
        let mut f = KeyFacts::new(action, Some(listed.to_string()));
        if !run.has_time() {
            return Some(Err(Step::Done(f.finish(Outcome::Deferred))));
        }
        let md = match self.describe(run, &mut f, listed).await {
            Ok(md) => md,
            Err(e) if e.code == codes::NOT_FOUND => return None,
            Err(e) => return Some(Err(Step::Done(failed(f, e)))),
        };
        if md.origin() != Some(&OriginType::External) {
            return None;
        }
        f.state_before = f.state_name();
        if let Err(e) = self.load_tags(run, &mut f).await {
            return Some(Err(Step::Done(failed(f, e))));
        }
        Some(Ok(f))
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
                // The outcome is what DescribeKey reports, not what the event claims.
                match f.state {
                    Some(KeyState::PendingImport) => f.finish(Outcome::Expired),
                    Some(KeyState::PendingDeletion | KeyState::PendingReplicaDeletion) => {
                        f.finish(Outcome::UnchangedPendingDeletion)
                    }
                    _ => {
                        let state = f.state_name().unwrap_or_else(|| "unknown".into());
                        f.fail(
                            Outcome::NotExpired,
                            "MaterialImported",
                            format!(
                                "KMS reported expired material, but DescribeKey shows the key {state}: \
                                 its material was imported again since, or the event is stale"
                            ),
                        )
                    }
                }
            }
            Err(e) => failed(f, e),
        }
    }

    /// Records a `KMS CMK Rotation` event of an in-scope EXTERNAL key; `None` for other keys.
    pub async fn observe_rotation(
        &self,
        run: &Run,
        key: &str,
        previous: Option<String>,
        current: Option<String>,
    ) -> Option<KeyResult> {
        let mut f = KeyFacts::new(Action::ObserveRotation, Some(key.to_string()));
        let parsed = KeyRef::parse(key).ok()?;
        if guardrails::check_location(&parsed, &run.account, &self.config.region).is_err() {
            return None;
        }
        let md = match self.describe(run, &mut f, key).await {
            Ok(md) => md,
            Err(e) => return Some(failed(f, e)),
        };
        if md.origin() != Some(&OriginType::External) {
            return None;
        }
        if let Err(e) = self.load_tags(run, &mut f).await {
            return Some(failed(f, e));
        }
        if !self.in_scope(&f) {
            return None;
        }
        f.state_after = f.state_name();
        f.previous_key_material_id = previous;
        if current.is_some() {
            f.key_material_id = current;
        }
        self.attach_materials(&mut f).await;
        Some(f.finish(Outcome::RotationObserved))
    }
}
