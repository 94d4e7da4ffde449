//! Completing staged rotations: RotateKeyOnDemand for an opted-in, in-scope EXTERNAL key whose
//! new material waits as `PENDING_ROTATION`, paced at the rotation quota, within the deadline.

use aws_sdk_kms::types::OriginType;

use super::materials::keep_materials;
use super::{Executor, Run, failed};
use crate::domain::{Action, KeyFacts, KeyResult, Outcome, Trace};
use crate::guardrails;
use crate::keyref::KeyRef;
use crate::kms::{self, ErrorClass, codes};
use crate::lifecycle::{AUTO_ROTATE_TAG, auto_rotate, current_id, pending};

impl Executor {
    /// Completes a staged rotation of an opted-in, in-scope EXTERNAL key: from the CloudTrail
    /// ImportKeyMaterial event (`key` as the event named it) or the sweep.
    pub async fn complete_rotation(
        &self,
        run: &Run,
        key: &str,
        event_material: Option<String>,
    ) -> KeyResult {
        let mut f = KeyFacts::new(Action::Rotate, Some(key.to_string()));
        let parsed = match KeyRef::parse(key) {
            Ok(k) => k,
            Err(problem) => {
                return f.fail(
                    Outcome::RejectedInvalidIdentifier,
                    "InvalidKeyIdentifier",
                    problem,
                );
            }
        };
        if let Err(outcome) = guardrails::check_location(&parsed, &run.account, &self.config.region)
        {
            return f.finish(outcome);
        }
        if !run.has_time() {
            return f.finish(Outcome::Deferred);
        }
        let md = match self.describe(run, &mut f, key).await {
            Ok(md) => md,
            Err(e) => return failed(f, e),
        };
        f.state_before = f.state_name();
        if md.origin() != Some(&OriginType::External) {
            return f.finish(Outcome::SkippedNotExternal);
        }
        if let Err(e) = self.load_tags(run, &mut f).await {
            return failed(f, e);
        }
        if !self.in_scope(&f) {
            return f.finish(Outcome::RefusedOutOfScope);
        }
        match auto_rotate(&f.tags) {
            Ok(true) => {}
            Ok(false) => {
                return f.fail(
                    Outcome::RefusedOutOfScope,
                    "RotationNotOptedIn",
                    format!("the key does not carry {AUTO_ROTATE_TAG}=true; the staged material stays pending"),
                );
            }
            Err(problem) => return f.fail(Outcome::InvalidTag, "InvalidTag", problem),
        }
        self.rotate(run, f, event_material).await
    }

    /// RotateKeyOnDemand for a checked key; `f` has been described and tagged.
    pub(super) async fn rotate(
        &self,
        run: &Run,
        mut f: KeyFacts,
        event_material: Option<String>,
    ) -> KeyResult {
        f.action = Action::Rotate;
        let materials = match self.list_materials(run, &mut f).await {
            Ok(m) => m,
            Err(e) => return failed(f, e),
        };
        f.previous_key_material_id = current_id(&materials);
        let staged = pending(&materials).and_then(|m| m.key_material_id.clone());
        f.materials = Some(materials);
        let Some(staged) = staged else {
            f.state_after = f.state_name();
            f.key_material_id = event_material.or(f.previous_key_material_id.clone());
            return f.fail(
                Outcome::NothingToRotate,
                "NothingPending",
                "no material is pending rotation",
            );
        };
        if run.dry_run {
            f.key_material_id = Some(staged);
            f.state_after = f.state_name();
            return f.finish(Outcome::WouldRotate);
        }
        let arn = f.arn.clone().unwrap_or_default();
        let mut attempt = 1;
        loop {
            // Like deletes: never wait for (or take) a pace slot past the deadline.
            let slot = self
                .rotate_pacer
                .wait(run.deadline.latest_start(run.retry.margin))
                .await;
            let Some(slot) = slot.filter(|_| run.has_time()) else {
                f.state_after = f.state_before.clone();
                return f.finish(Outcome::Deferred);
            };
            match kms::once(
                &mut f.trace,
                self.kms.rotate_key_on_demand().key_id(&arn).send(),
            )
            .await
            {
                Ok(_) => {
                    self.rotate_pacer.on_success();
                    break;
                }
                Err(e) if e.code == codes::INVALID_STATE => {
                    // Nothing pending any more (completed meanwhile) or the key cannot rotate now.
                    f.state_after = f.state_name();
                    return f.fail(Outcome::NothingToRotate, e.code, e.message);
                }
                Err(e) if e.code == "ConflictException" => {
                    // An automatic rotation runs or is due within 20 minutes: retry later.
                    return f.fail(Outcome::FailedRetryable, e.code, e.message);
                }
                Err(e) if e.is_retryable() && attempt < run.retry.max_attempts => {
                    if e.class == ErrorClass::Throttled {
                        self.rotate_pacer.on_throttle(&slot);
                    }
                    let delay = run.retry.backoff(attempt, e.class);
                    if !run.deadline.allows(delay + run.retry.margin) {
                        return failed(f, e);
                    }
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                    // A lost answer may hide a completed rotation: look before repeating it.
                    if e.class == ErrorClass::Transient
                        && let Ok(m) = self.list_materials(run, &mut f).await
                        && current_id(&m).as_deref() == Some(staged.as_str())
                    {
                        break;
                    }
                }
                // LimitExceededException (25 on-demand rotations per key), DisabledException, ...
                Err(e) => return failed(f, e),
            }
        }
        // The materials and the state after the rotation, side by side; the materials are
        // context (best effort): the rotation succeeded whatever they say.
        let mut list_trace = Trace::default();
        let (described, listed) = tokio::join!(
            self.describe_call(run, &mut f.trace, &arn),
            self.materials_for_record(&mut list_trace, &arn),
        );
        f.trace.absorb(list_trace);
        f.key_material_id = listed
            .as_ref()
            .ok()
            .and_then(|after| current_id(after))
            .or(Some(staged));
        keep_materials(&mut f, listed);
        if let Ok(md) = described {
            f.state_after = md.key_state().map(|s| s.as_str().to_string());
        }
        tracing::info!(key_arn = %arn, "rotation completed");
        f.finish(Outcome::Rotated)
    }
}
