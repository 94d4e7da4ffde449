//! What the function refuses before any KMS work, recorded: a rejected event, a continuation
//! it did not seal (or an expired or replayed one). One record says why; a summary tells the
//! central account when the request's incident is known.

use crate::audit::Recorder;
use crate::audit::summary::{self, Member};
use crate::config::Config;
use crate::domain::{Action, KeyFacts, KeyResult, Outcome, Provenance};
use crate::event::Rejected;
use crate::event::continuation::NOT_AUTHENTIC;
use crate::response::{GuardError, Summary, error_types};
use crate::seal::Refused;

/// A rejected event: one record saying why, and (when the request names an incident
/// readably) a summary, so the central account sees the rejection.
pub fn rejected(
    config: &Config,
    rec: &mut Recorder<'_>,
    rejected: Rejected,
    account: &str,
) -> GuardError {
    let r = rejected.rejection;
    tracing::warn!(location = %r.location, code = r.code, problem = %r.problem, "event rejected");
    rec.provenance(rejected.provenance);
    let mut facts = KeyFacts::new(Action::Revoke, None);
    facts.incident_id = rejected.incident_id.clone();
    let result = facts.fail(Outcome::Rejected, r.code, r.to_string());
    rec.record(&result);
    if let Some(incident) = rejected.incident_id {
        // Final: a retry is rejected again, so the incident is complete at this member.
        summarise(
            config,
            rec,
            account,
            result,
            incident,
            error_types::REJECTED,
            true,
        );
    }
    if r.code == NOT_AUTHENTIC {
        GuardError::Unauthenticated(r)
    } else {
        GuardError::Rejected(r)
    }
}

/// A continuation not acted on: one record saying why; a summary only when the
/// continuation was authentic (its incident is then known) and its keys stay unfinished.
pub fn refused(
    config: &Config,
    rec: &mut Recorder<'_>,
    refused: Refused,
    account: &str,
) -> GuardError {
    let facts = KeyFacts::new(Action::Revoke, None);
    match refused {
        Refused::NotAuthentic(r) => {
            tracing::warn!(code = r.code, problem = %r.problem, "continuation refused");
            rec.provenance(Provenance::direct());
            rec.record(&facts.fail(Outcome::Rejected, r.code, r.to_string()));
            GuardError::Unauthenticated(r)
        }
        Refused::Stale {
            rejection: r,
            incident_id,
            provenance,
        } => {
            tracing::warn!(code = r.code, problem = %r.problem, "continuation refused");
            rec.provenance(provenance);
            let mut facts = facts;
            facts.incident_id = Some(incident_id.clone());
            let result = facts.fail(Outcome::Rejected, r.code, r.to_string());
            rec.record(&result);
            // Its keys stay unfinished (complete: false), except for a replay: the original
            // completed them.
            if r.code != "ContinuationReplayed" {
                let unauthenticated = error_types::UNAUTHENTICATED;
                summarise(
                    config,
                    rec,
                    account,
                    result,
                    incident_id,
                    unauthenticated,
                    false,
                );
            }
            GuardError::Unauthenticated(r)
        }
        Refused::Unverifiable(e) => {
            rec.provenance(Provenance::direct());
            let result = facts.fail(
                Outcome::FailedRetryable,
                "ContinuationUnverified",
                format!(
                    "VerifyMac failed ({}: {}); a retry verifies it again",
                    e.code, e.message
                ),
            );
            rec.record(&result);
            let summary = Summary::new(
                &rec.invocation().request_id,
                Action::Revoke,
                config.dry_run,
                None,
                &[result],
            );
            GuardError::Retryable {
                summary: Box::new(summary),
            }
        }
    }
}

/// This member, as its summaries name it.
pub fn member<'a>(config: &'a Config, account: &'a str, rec: &'a Recorder<'_>) -> Member<'a> {
    Member {
        account,
        region: &config.region,
        trigger: rec.trigger(),
    }
}

/// The summary of a request refused before any KMS work.
fn summarise(
    config: &Config,
    rec: &Recorder<'_>,
    account: &str,
    result: KeyResult,
    incident: String,
    error_type: &str,
    complete: bool,
) {
    let summary = Summary::new(
        &rec.invocation().request_id,
        Action::Revoke,
        config.dry_run,
        Some(incident),
        &[result],
    );
    let doc = summary::document(
        &member(config, account, rec),
        &summary,
        Some(error_type),
        complete,
    );
    rec.summary(&doc);
}
