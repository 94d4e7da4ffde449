//! The scheduled sweep's examination of one listed key: a passed `revoke-at` time, the
//! lifecycle policy (staged rotations, crypto-periods) and material about to expire.

use aws_sdk_kms::types::KeyState;
use chrono::{DateTime, Utc};

use super::{Executor, Run, Step, failed};
use crate::config::REVOKE_AT_TAG_KEY;
use crate::domain::text::short;
use crate::domain::{Action, KeyFacts, Outcome, rfc3339};
use crate::guardrails::{self, StateDecision};
use crate::lifecycle::{ON_CRYPTO_PERIOD_TAG, Policy, Verdict};

impl Executor {
    /// Examines one listed key for the scheduled sweep. `None`: nothing to report or do.
    pub async fn scan(&self, run: &Run, listed: &str, now: DateTime<Utc>) -> Option<Step> {
        let mut f = match self.read_listed(run, listed, Action::Sweep).await? {
            Ok(f) => f,
            Err(step) => return Some(step),
        };
        let in_scope = self.in_scope(&f);
        if let Some(value) = f.tag(REVOKE_AT_TAG_KEY).map(str::to_string) {
            match revoke_at(&value) {
                Err(problem) => {
                    f.state_after = f.state_name();
                    return Some(Step::Done(f.fail(
                        Outcome::InvalidRevokeAt,
                        "InvalidRevokeAt",
                        problem,
                    )));
                }
                Ok(when) if when <= now => return scheduled_revocation(f, when, in_scope),
                Ok(_) => {}
            }
        }
        let usable = matches!(f.state, Some(KeyState::Enabled) | Some(KeyState::Disabled));
        if !(in_scope && usable) {
            return None;
        }
        match self.lifecycle_check(run, f, now).await {
            Ok(f) => self.expiring(f, now).map(Step::Done),
            Err(step) => Some(step),
        }
    }

    /// The lifecycle policy of an in-scope key in a usable state: `Ok` to look further (nothing
    /// to do), `Err` with the step the policy asks for.
    async fn lifecycle_check(
        &self,
        run: &Run,
        mut f: KeyFacts,
        now: DateTime<Utc>,
    ) -> Result<KeyFacts, Step> {
        let policy = match Policy::of(&f.tags, &self.config) {
            Ok(p) => p,
            Err(problem) => {
                return Err(Step::Done(f.fail(
                    Outcome::InvalidTag,
                    "InvalidTag",
                    problem,
                )));
            }
        };
        if !policy.needs_materials() {
            return Ok(f);
        }
        let materials = match self.list_materials(run, &mut f).await {
            Ok(m) => m,
            Err(e) => return Err(Step::Done(failed(f, e))),
        };
        let enabled = matches!(f.state, Some(KeyState::Enabled));
        let verdict = policy.judge(&materials, f.created, enabled, now);
        f.materials = Some(materials);
        match verdict {
            Verdict::Fine => Ok(f),
            Verdict::Rotate => Err(Step::Rotate(f)),
            Verdict::Due { age_days, max_days } => {
                f.state_after = f.state_name();
                Err(Step::Done(f.fail(
                    Outcome::RotationDue,
                    "CryptoPeriodExceeded",
                    format!(
                        "the current material is {age_days} days old, past its crypto-period of {max_days} days; \
                         import new material (ImportType NEW_KEY_MATERIAL)"
                    ),
                )))
            }
            Verdict::Revoke { age_days, max_days } => {
                f.action = Action::ScheduledRevoke;
                f.reason = Some(format!(
                    "crypto-period exceeded: current material {age_days} days old, period {max_days} days plus grace \
                     ({ON_CRYPTO_PERIOD_TAG}=revoke)"
                ));
                Err(Step::Revoke(f))
            }
        }
    }

    /// Material expiring within the warning window: reported.
    fn expiring(&self, mut f: KeyFacts, now: DateTime<Utc>) -> Option<crate::domain::KeyResult> {
        let valid_to = f.valid_to?;
        let window = chrono::Duration::from_std(self.config.expiry_warning)
            .unwrap_or(chrono::Duration::days(14));
        if !(valid_to > now && valid_to <= now + window) {
            return None;
        }
        f.state_after = f.state_name();
        let days = (valid_to - now).num_hours() as f64 / 24.0;
        Some(f.fail(
            Outcome::ExpiringSoon,
            "MaterialExpiringSoon",
            format!(
                "imported key material expires at {} (in {days:.1} days); import new material or extend ValidTo",
                rfc3339(valid_to)
            ),
        ))
    }
}

/// The time of a `revoke-at` tag, or why it is not one.
fn revoke_at(value: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(value)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            format!(
                "tag {REVOKE_AT_TAG_KEY}={:?} is not an RFC 3339 time such as 2026-12-31T23:00:00Z ({e}); nothing was done",
                short(value)
            )
        })
}

/// A key whose `revoke-at` time has passed.
fn scheduled_revocation(mut f: KeyFacts, when: DateTime<Utc>, in_scope: bool) -> Option<Step> {
    f.action = Action::ScheduledRevoke;
    f.reason = Some(format!(
        "scheduled revocation: {REVOKE_AT_TAG_KEY} {} has passed",
        rfc3339(when)
    ));
    if !in_scope {
        return Some(Step::Done(f.finish(Outcome::RefusedOutOfScope)));
    }
    match guardrails::decide_state(f.state.as_ref()) {
        StateDecision::Delete => Some(Step::Revoke(f)),
        // Already revoked or pending deletion: reported when it happened, not every sweep.
        StateDecision::Done(_) => None,
        StateDecision::NotReady | StateDecision::Unsupported => {
            let state = f.state_name().unwrap_or_default();
            Some(Step::Done(f.fail(
                Outcome::FailedRetryable,
                "KeyNotReady",
                format!("key is {state}; the next sweep retries"),
            )))
        }
    }
}
