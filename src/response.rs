//! The response: a JSON [`Summary`] for the caller, or a [`GuardError`] whose [`Diagnostic`]
//! `error_type` is stable and says whether a retry helps.

use std::collections::BTreeMap;

use lambda_runtime::Diagnostic;
use serde::Serialize;

use crate::domain::{Action, KeyResult, Outcome};
use crate::validate::Rejection;

/// Schema id of the per-invocation revocation summary (`schema/revocation-summary.v1.json`).
pub const SUMMARY_SCHEMA: &str = "kms-material-guard/summary/v1";

/// `error_type` values. Stable: alarms, Step Functions `Retry`/`Catch` and runbooks match them.
pub mod error_types {
    /// The event or request is invalid. Final: a retry is rejected again.
    pub const REJECTED: &str = "KmsMaterialGuard.Rejected";
    /// More keys than the blast-radius limit; nothing was deleted. Final.
    pub const REFUSED_BLAST_RADIUS: &str = "KmsMaterialGuard.RefusedBlastRadius";
    /// Some keys failed with a retryable error or were deferred by the deadline. Retry the
    /// same event: already revoked keys are recognised.
    pub const RETRYABLE: &str = "KmsMaterialGuard.Retryable";
    /// The function cannot tell its own account. Final until the configuration is fixed.
    pub const CONFIGURATION: &str = "KmsMaterialGuard.Configuration";
    /// A continuation payload the function did not seal (or expired, replayed, for another
    /// function): nothing in it was acted on. Final.
    pub const UNAUTHENTICATED: &str = "KmsMaterialGuard.Unauthenticated";
}

/// One key in the response.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResultLine {
    pub key: Option<String>,
    pub key_arn: Option<String>,
    pub outcome: Outcome,
    pub error_code: Option<String>,
}

/// The invocation's answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    pub request_id: String,
    pub action: Action,
    pub dry_run: bool,
    pub incident_id: Option<String>,
    /// Keys per outcome (only outcomes that occurred).
    pub counts: BTreeMap<Outcome, usize>,
    /// EXTERNAL keys the sweep examined (`null` for other actions).
    pub keys_examined: Option<usize>,
    pub results: Vec<ResultLine>,
    /// Why nothing was done, for recognised events that select no key.
    pub note: Option<String>,
    /// The request id of the invocation that continues with the keys left at the deadline.
    pub continued_by: Option<String>,
    /// Organization requests: whether this member (account, Region) was targeted.
    pub targeted: Option<bool>,
    /// Organization requests: key ARNs of other accounts or Regions left to their owners.
    pub skipped_other_members: usize,
}

impl Summary {
    pub fn new(
        request_id: &str,
        action: Action,
        dry_run: bool,
        incident_id: Option<String>,
        results: &[KeyResult],
    ) -> Self {
        let mut counts = BTreeMap::new();
        for r in results {
            *counts.entry(r.outcome).or_insert(0) += 1;
        }
        Summary {
            request_id: request_id.to_string(),
            action,
            dry_run,
            incident_id,
            counts,
            keys_examined: None,
            results: results
                .iter()
                .map(|r| ResultLine {
                    key: r.facts.requested.clone(),
                    key_arn: r.facts.arn.clone(),
                    outcome: r.outcome,
                    error_code: r.error_code.clone(),
                })
                .collect(),
            note: None,
            continued_by: None,
            targeted: None,
            skipped_other_members: 0,
        }
    }

    /// Keys whose outcome makes the invocation fail for a retry.
    pub fn retryable(&self) -> usize {
        self.counts
            .iter()
            .filter(|(o, _)| o.is_retryable())
            .map(|(_, n)| n)
            .sum()
    }

    /// The invocation's answer: this summary, or the error it makes (`refused`: the number of
    /// keys over the blast radius `limit`).
    pub fn into_result(self, refused: Option<(usize, usize)>) -> Result<Summary, GuardError> {
        tracing::info!(counts = %self.counts_text(), "invocation done");
        if let Some((count, limit)) = refused {
            return Err(GuardError::RefusedBlastRadius {
                count,
                limit,
                summary: Box::new(self),
            });
        }
        if self.retryable() > 0 {
            return Err(GuardError::Retryable {
                summary: Box::new(self),
            });
        }
        Ok(self)
    }

    /// Compact `outcome=count` list for error messages.
    pub fn counts_text(&self) -> String {
        self.counts
            .iter()
            .map(|(o, n)| format!("{}={n}", o.as_str()))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Why an invocation failed.
#[derive(Debug, thiserror::Error)]
pub enum GuardError {
    #[error("request rejected: {0}")]
    Rejected(#[source] Rejection),
    #[error(
        "refused: the request selects {count} keys, more than the blast-radius limit of {limit} \
         (MATERIAL_GUARD_BLAST_RADIUS); nothing was deleted"
    )]
    RefusedBlastRadius {
        count: usize,
        limit: usize,
        summary: Box<Summary>,
    },
    #[error(
        "{} of {} keys need a retry (failed_retryable or deferred); redeliver the same event: \
         keys already revoked are recognised ({})",
        summary.retryable(), summary.results.len(), summary.counts_text()
    )]
    Retryable { summary: Box<Summary> },
    #[error(
        "the function's own account is unknown: set MATERIAL_GUARD_ACCOUNT_ID or invoke it \
         through Lambda (the invoked function ARN names the account)"
    )]
    UnknownAccount,
    #[error("continuation refused: {0}")]
    Unauthenticated(#[source] Rejection),
}

impl GuardError {
    /// The stable `error_type`.
    pub fn error_type(&self) -> &'static str {
        match self {
            GuardError::Rejected(_) => error_types::REJECTED,
            GuardError::RefusedBlastRadius { .. } => error_types::REFUSED_BLAST_RADIUS,
            GuardError::Retryable { .. } => error_types::RETRYABLE,
            GuardError::UnknownAccount => error_types::CONFIGURATION,
            GuardError::Unauthenticated(_) => error_types::UNAUTHENTICATED,
        }
    }

    /// Whether retrying the same event can succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, GuardError::Retryable { .. })
    }

    /// The summary of the keys handled before the failure, when there is one.
    pub fn summary(&self) -> Option<&Summary> {
        match self {
            GuardError::RefusedBlastRadius { summary, .. } | GuardError::Retryable { summary } => {
                Some(summary)
            }
            _ => None,
        }
    }
}

impl From<GuardError> for Diagnostic {
    fn from(e: GuardError) -> Diagnostic {
        Diagnostic {
            error_type: e.error_type().to_string(),
            error_message: e.to_string(),
        }
    }
}
