//! What the function learns about one key ([`KeyFacts`]) and how the key ended ([`KeyResult`]).

use aws_sdk_kms::types::KeyState;
use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::time::Instant;

use super::outcome::{Action, Outcome};
use super::text::short_n;

/// Longest key identifier (KMS allows 2048 for KeyId).
pub const MAX_KEY_IDENTIFIER_CHARS: usize = 2048;
/// Most keys one request (or continuation) may name: a structural limit above any blast radius.
pub const MAX_KEYS_PER_REQUEST: usize = 10_000;

/// One key material as ListKeyRotations shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Material {
    pub key_material_id: Option<String>,
    /// `CURRENT`, `NON_CURRENT`, `PENDING_ROTATION`, `PENDING_MULTI_REGION_IMPORT_AND_ROTATION`.
    pub key_material_state: Option<String>,
    /// `IMPORTED` or `PENDING_IMPORT` (deleted or expired).
    pub import_state: Option<String>,
    pub expiration_model: Option<String>,
    pub valid_to: Option<String>,
    pub rotation_date: Option<String>,
    pub description: Option<String>,
}

/// The request ids and attempts of every KMS call made for one key.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Trace {
    pub request_ids: Vec<String>,
    pub attempts: u32,
}

impl Trace {
    /// Notes one call attempt and its KMS request id.
    pub fn note(&mut self, request_id: Option<&str>) {
        self.attempts += 1;
        if let Some(id) = request_id.filter(|id| !id.is_empty()) {
            self.request_ids.push(id.to_string());
        }
    }

    /// Adds the calls of another trace (a read that ran concurrently for the same key).
    pub fn absorb(&mut self, other: Trace) {
        self.attempts += other.attempts;
        self.request_ids.extend(other.request_ids);
    }
}

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
    pub materials: Option<Vec<Material>>,
    /// Why `materials` is missing when the record wanted them (the best-effort listing failed).
    pub materials_error: Option<String>,
    /// `CreationDate` from DescribeKey (age of a never-rotated material).
    pub created: Option<DateTime<Utc>>,
    pub trace: Trace,
    pub started: Instant,
    /// When DescribeKey last answered for this key.
    pub described_at: Option<Instant>,
}

impl KeyFacts {
    pub fn new(action: Action, requested: Option<String>) -> Self {
        KeyFacts {
            action,
            // Untrusted and possibly huge (a malformed identifier): bounded for the record.
            requested: requested.map(|r| {
                if r.len() <= MAX_KEY_IDENTIFIER_CHARS {
                    r
                } else {
                    short_n(&r, 2000)
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
            materials_error: None,
            created: None,
            trace: Trace::default(),
            started: Instant::now(),
            described_at: None,
        }
    }

    /// The identifier to call KMS with once the key is resolved: its ARN, else its id.
    pub fn call_id(&self) -> String {
        self.arn
            .clone()
            .or_else(|| self.key_id.clone())
            .unwrap_or_default()
    }

    /// The key state's KMS name (`Enabled`, `PendingImport`, ...).
    pub fn state_name(&self) -> Option<String> {
        self.state.as_ref().map(|s| s.as_str().to_string())
    }

    /// The value of one of the key's tags.
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
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
