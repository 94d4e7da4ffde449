//! DeleteImportedKeyMaterial for one candidate: paced, under the key's single flight, never
//! repeated blind after a lost answer, and verified with DescribeKey.

use aws_sdk_kms::types::KeyState;

use super::materials::keep_materials;
use super::{Executor, Run, absorb, failed};
use crate::domain::{KeyFacts, KeyResult, Outcome, Trace};
use crate::kms::{self, ErrorClass, KmsError, codes};

impl Executor {
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
        let flight = self.flights.flight(&arn);
        let result = {
            let _guard = flight.lock().await;
            self.revoke_exclusively(run, f, &arn).await
        };
        self.flights.release(&arn, flight);
        result
    }

    /// The delete, verify and retries of one key, while holding its single-flight lock.
    async fn revoke_exclusively(&self, run: &Run, mut f: KeyFacts, arn: &str) -> KeyResult {
        if self.flights.deleted_since(arn, f.described_at) {
            f.state_after = Some(KeyState::PendingImport.as_str().to_string());
            return f.finish(Outcome::AlreadyRevoked);
        }
        if let Some(m) = &run.key_material_id {
            f.key_material_id = Some(m.clone());
        }
        let mut last: Option<KmsError> = None;
        for attempt in 1..=run.retry.max_attempts {
            // The invocation's first delete goes at once (a responder waits for it); the others
            // never wait for (or take) a pace slot that lies past the deadline.
            let slot = if attempt == 1 && run.first_delete.take() {
                Some(self.pacer.take_now())
            } else {
                self.pacer
                    .wait(run.deadline.latest_start(run.retry.margin))
                    .await
            };
            let Some(slot) = slot.filter(|_| run.has_time()) else {
                break;
            };
            let call = self
                .kms
                .delete_imported_key_material()
                .key_id(arn)
                .set_key_material_id(run.key_material_id.clone())
                .send();
            match kms::once(&mut f.trace, call).await {
                Ok(out) => {
                    self.pacer.on_success();
                    self.flights.mark_deleted(arn);
                    if let Some(m) = out.key_material_id() {
                        f.key_material_id = Some(m.to_string());
                    }
                    tracing::info!(key_arn = %arn, attempt, "imported key material deleted");
                    return self.verify(run, f, arn).await;
                }
                Err(e) => {
                    tracing::warn!(key_arn = %arn, attempt, code = %e.code, "DeleteImportedKeyMaterial failed");
                    let transient_state = e.code == codes::INVALID_STATE
                        && (e.message.contains("is creating") || e.message.contains("is updating"));
                    match e.class {
                        ErrorClass::Final if !transient_state => return failed(f, e),
                        ErrorClass::Throttled => self.pacer.on_throttle(&slot),
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
                        // The delete may have been applied although the answer was lost: look
                        // before repeating it, and never repeat it blind.
                        match self.applied(run, &mut f, arn).await {
                            Ok(Some(outcome)) => {
                                self.flights.mark_deleted(arn);
                                f.state_after = f.state_name();
                                return f.finish(outcome);
                            }
                            Ok(None) => {}
                            Err(e) => {
                                let lost = last.as_ref().map(|l| l.code.as_str()).unwrap_or("");
                                return f.fail(
                                    Outcome::FailedRetryable,
                                    "DeleteOutcomeUnknown",
                                    format!(
                                        "the delete's answer was lost ({lost}) and the DescribeKey that would tell \
                                         whether it took effect failed ({}: {}); the key's state is unknown and the \
                                         delete was not repeated: a retry describes the key first",
                                        e.code, e.message
                                    ),
                                );
                            }
                        }
                    }
                }
            }
        }
        match last {
            Some(e) => f.fail(Outcome::FailedRetryable, e.code, e.message),
            None => {
                f.state_after = f.state_before.clone();
                f.finish(Outcome::Deferred)
            }
        }
    }

    /// Whether a delete whose answer was lost took effect: the key is `PendingImport`, or (a
    /// delete by key material id) that material's import state is `PENDING_IMPORT`. `Err`: the
    /// state could not be read.
    async fn applied(
        &self,
        run: &Run,
        f: &mut KeyFacts,
        arn: &str,
    ) -> Result<Option<Outcome>, KmsError> {
        let md = self.describe(run, f, arn).await?;
        if matches!(md.key_state(), Some(KeyState::PendingImport)) {
            return Ok(Some(Outcome::Revoked));
        }
        let Some(material) = &run.key_material_id else {
            return Ok(None);
        };
        let materials = self.list_materials(run, f).await?;
        let deleted = materials.iter().any(|m| {
            m.key_material_id.as_deref() == Some(material.as_str())
                && m.import_state.as_deref() == Some("PENDING_IMPORT")
        });
        Ok(deleted.then_some(Outcome::MaterialDeleted))
    }

    /// DescribeKey and the materials listing, side by side, after the delete: the state decides
    /// the outcome; the materials (best effort) only add context to the record.
    async fn verify(&self, run: &Run, mut f: KeyFacts, arn: &str) -> KeyResult {
        let mut list_trace = Trace::default();
        let (verified, listed) = tokio::join!(
            self.describe_call(run, &mut f.trace, arn),
            self.materials_for_record(&mut list_trace, arn),
        );
        f.trace.absorb(list_trace);
        keep_materials(&mut f, listed);
        // Keep the id of the material that was deleted, not the key's current one.
        let deleted_material = f.key_material_id.clone();
        let md = match verified {
            Ok(md) => md,
            Err(e) => {
                return f.fail(
                    Outcome::RevokedUnverified,
                    e.code,
                    format!(
                        "the delete succeeded but the verification DescribeKey failed: {}",
                        e.message
                    ),
                );
            }
        };
        absorb(&mut f, &md);
        f.key_material_id = deleted_material;
        f.state_after = f.state_name();
        match f.state {
            Some(KeyState::PendingImport) | Some(KeyState::PendingDeletion) => {
                f.finish(Outcome::Revoked)
            }
            Some(KeyState::Enabled) | Some(KeyState::Disabled) if run.key_material_id.is_some() => {
                f.finish(Outcome::MaterialDeleted)
            }
            _ => {
                let state = f.state_name().unwrap_or_default();
                f.fail(
                    Outcome::FailedRetryable,
                    "VerificationFailed",
                    format!("after the delete the key is {state}, expected PendingImport"),
                )
            }
        }
    }
}
