//! Execution against KMS, per key: every KMS call the function makes, through [`crate::kms`].
//!
//! - [`read`]: resolve a named key, select a listed key by tags, confirm events (DescribeKey,
//!   ListResourceTags, ListKeys), applying the guardrails as facts arrive;
//! - [`materials`]: ListKeyRotations, with retries for decisions, best effort for records;
//! - [`sweep`]: the scheduled sweep's examination of one key (revoke-at, lifecycle, expiry);
//! - [`revoke`]: DeleteImportedKeyMaterial, paced, under a per-key single flight, verified;
//! - [`rotate`]: completing staged rotations (RotateKeyOnDemand).
//!
//! Every function here ends a key with exactly one [`KeyResult`] (or, for keys a listing merely
//! passed by, nothing).

mod flight;
mod materials;
mod read;
mod revoke;
mod rotate;
mod sweep;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use aws_sdk_kms::Client;
use aws_sdk_kms::types::KeyMetadata;
use chrono::{DateTime, Utc};
use tokio::time::Instant;

use crate::config::Config;
use crate::domain::{Deadline, KeyFacts, KeyResult, Material};
use crate::keyref::KeyRef;
use crate::kms::{KmsError, RetryPolicy};
use crate::pacing::Pacer;
use flight::Flights;

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
    /// Whether the invocation's first delete is still to come.
    pub first_delete: FirstDelete,
}

/// The invocation's first delete takes a pace slot at once (a responder waits for it); the
/// deletes after it are paced. Shared by the invocation's key pipelines.
#[derive(Debug, Clone, Default)]
pub struct FirstDelete(Arc<AtomicBool>);

impl FirstDelete {
    /// `true` once: for the first caller.
    pub fn take(&self) -> bool {
        !self.0.swap(true, Ordering::SeqCst)
    }
}

impl Run {
    /// Whether new KMS work may start: more than the margin is left before the deadline.
    pub fn has_time(&self) -> bool {
        self.deadline.allows(self.retry.margin)
    }
}

/// A key after its reads: done, or waiting for an action.
#[derive(Debug)]
pub enum Step {
    /// The key ended without an action (refused, reported, failed, already revoked ...).
    Done(KeyResult),
    /// Delete its material (paced, blast radius).
    Revoke(KeyFacts),
    /// Make its staged material current (RotateKeyOnDemand).
    Rotate(KeyFacts),
}

impl Step {
    /// The key's ARN, once known: two spellings of one key are one key.
    pub fn arn(&self) -> Option<&str> {
        match self {
            Step::Done(r) => r.facts.arn.as_deref(),
            Step::Revoke(f) | Step::Rotate(f) => f.arn.as_deref(),
        }
    }
}

/// The long-lived execution engine: the KMS client, the delete and rotation pacers and the
/// per-key single flight, shared by every invocation of the process.
pub struct Executor {
    kms: Client,
    config: Arc<Config>,
    pacer: Pacer,
    /// RotateKeyOnDemand is limited to 5/s per account and Region.
    rotate_pacer: Pacer,
    flights: Flights,
}

impl Executor {
    pub fn new(kms: Client, config: Arc<Config>) -> Self {
        Executor {
            kms,
            pacer: Pacer::new(config.delete_rate),
            rotate_pacer: Pacer::new(config.rotate_rate),
            config,
            flights: Flights::default(),
        }
    }

    /// The delete pacer (its current rate is reported in logs and benchmarks).
    pub fn pacer(&self) -> &Pacer {
        &self.pacer
    }

    /// Ends a step with its action: revoke, rotate, or nothing more.
    pub async fn act(&self, run: &Run, step: Step) -> KeyResult {
        match step {
            Step::Done(r) => r,
            Step::Revoke(f) => self.revoke(run, f).await,
            Step::Rotate(f) => self.rotate(run, f, None).await,
        }
    }
}

/// Ends the key after a KMS error: not found, retryable or final.
pub fn failed(f: KeyFacts, e: KmsError) -> KeyResult {
    f.fail(e.outcome(), e.code, e.message)
}

/// Takes identity and state from DescribeKey's metadata.
fn absorb(f: &mut KeyFacts, md: &KeyMetadata) {
    f.key_id = Some(md.key_id().to_string());
    if let Some(arn) = md.arn() {
        f.arn = Some(arn.to_string());
        if let Ok(k) = KeyRef::parse(arn)
            && let Some((account, region)) = k.location()
        {
            f.account = Some(account.to_string());
            f.region = Some(region.to_string());
        }
    }
    if let Some(a) = md.aws_account_id() {
        f.account = Some(a.to_string());
    }
    f.state = md.key_state().cloned();
    f.valid_to = md.valid_to().and_then(to_chrono);
    f.created = md.creation_date().and_then(to_chrono);
    if f.key_material_id.is_none() {
        f.key_material_id = md.current_key_material_id().map(str::to_string);
    }
    f.described_at = Some(Instant::now());
}

/// An AWS SDK time as chrono.
pub fn to_chrono(t: &aws_sdk_kms::primitives::DateTime) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(t.secs(), t.subsec_nanos())
}

/// One ListKeyRotations entry as the record's [`Material`].
fn material_of(e: &aws_sdk_kms::types::RotationsListEntry) -> Material {
    Material {
        key_material_id: e.key_material_id().map(str::to_string),
        key_material_state: e.key_material_state().map(|s| s.as_str().to_string()),
        import_state: e.import_state().map(|s| s.as_str().to_string()),
        expiration_model: e.expiration_model().map(|s| s.as_str().to_string()),
        valid_to: e.valid_to().and_then(to_chrono).map(crate::domain::rfc3339),
        rotation_date: e
            .rotation_date()
            .and_then(to_chrono)
            .map(crate::domain::rfc3339),
        description: e.key_material_description().map(str::to_string),
    }
}
