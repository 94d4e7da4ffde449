//! Step 5 (continued): the key-material lifecycle for keys with several materials.
//!
//! - **Materials**: ListKeyRotations with `IncludeKeyMaterial=ALL_KEY_MATERIAL` names every
//!   material (current, non-current, pending rotation; imported or deleted). Revocation, rotation
//!   and crypto-period records carry the list, so a responder sees what a key still holds.
//! - **Completing staged rotations**: new material imported as `NEW_KEY_MATERIAL` waits as
//!   `PENDING_ROTATION` until RotateKeyOnDemand makes it current. For keys tagged
//!   `kms-material-guard:auto-rotate=true` the function does that (on the CloudTrail
//!   ImportKeyMaterial event, or when the sweep finds a pending material).
//! - **Crypto-periods**: a maximum age for the current material (tag
//!   `kms-material-guard:max-material-age-days`, or `MATERIAL_GUARD_MAX_MATERIAL_AGE_DAYS`); past
//!   it the sweep reports `rotation_due`, and revokes keys tagged
//!   `kms-material-guard:on-crypto-period=revoke` once the grace period has also passed.

use aws_sdk_kms::types::{IncludeKeyMaterial, KeyMaterialState, KeyState, OriginType};
use chrono::{DateTime, Duration as ChronoDuration, Utc};

use crate::audit::{Action, Material, Outcome, rfc3339};
use crate::config::Config;
use crate::execute::{Executor, KeyFacts, KeyResult, Run, to_chrono};
use crate::guardrails;
use crate::kms::{self, ErrorClass, KmsError, codes};
use crate::request::{KeyRef, short};

/// Tag opting a key into automatic completion of staged rotations (`true`).
pub const AUTO_ROTATE_TAG: &str = "kms-material-guard:auto-rotate";
/// Tag setting the key's crypto-period in days.
pub const MAX_AGE_TAG: &str = "kms-material-guard:max-material-age-days";
/// Tag choosing what happens past the crypto-period: `report` (default) or `revoke`.
pub const ON_CRYPTO_PERIOD_TAG: &str = "kms-material-guard:on-crypto-period";

/// A key's crypto-period policy.
#[derive(Debug, Clone, PartialEq)]
pub struct CryptoPeriod {
    pub max_age: ChronoDuration,
    /// Revoke after `max_age + grace` (tag `on-crypto-period=revoke`).
    pub revoke: bool,
    pub grace: ChronoDuration,
}

fn tag<'a>(tags: &'a [(String, String)], key: &str) -> Option<&'a str> {
    tags.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// Whether the key opted into automatic rotation completion. A malformed value is an error.
pub fn auto_rotate(tags: &[(String, String)]) -> Result<bool, String> {
    match tag(tags, AUTO_ROTATE_TAG) {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(v) => Err(format!(
            "tag {AUTO_ROTATE_TAG}={:?} must be true or false",
            short(v)
        )),
    }
}

/// The key's crypto-period from its tags and the configuration. A malformed tag is an error
/// (reported, never guessed).
pub fn crypto_period(
    tags: &[(String, String)],
    config: &Config,
) -> Result<Option<CryptoPeriod>, String> {
    let max_age = match tag(tags, MAX_AGE_TAG) {
        Some(v) => match v.parse::<u32>() {
            Ok(days) if (1..=3650).contains(&days) => Some(ChronoDuration::days(i64::from(days))),
            _ => {
                return Err(format!(
                    "tag {MAX_AGE_TAG}={:?} must be a whole number of days from 1 to 3650",
                    short(v)
                ));
            }
        },
        None => config
            .max_material_age
            .and_then(|d| ChronoDuration::from_std(d).ok()),
    };
    let revoke = match tag(tags, ON_CRYPTO_PERIOD_TAG) {
        None | Some("report") => false,
        Some("revoke") => true,
        Some(v) => {
            return Err(format!(
                "tag {ON_CRYPTO_PERIOD_TAG}={:?} must be report or revoke",
                short(v)
            ));
        }
    };
    Ok(max_age.map(|max_age| CryptoPeriod {
        max_age,
        revoke,
        grace: ChronoDuration::from_std(config.crypto_period_grace)
            .unwrap_or(ChronoDuration::days(7)),
    }))
}

/// What the crypto-period check concluded for the current material.
#[derive(Debug, Clone, PartialEq)]
pub enum PeriodVerdict {
    Fine,
    /// Older than the crypto-period: report.
    Due {
        age_days: i64,
        max_days: i64,
    },
    /// Older than the crypto-period plus grace, and the key says revoke.
    Revoke {
        age_days: i64,
        max_days: i64,
    },
}

/// Judges the current material's age. `since`: when it became current (its rotation date, or
/// the key's creation for the first material).
pub fn judge_period(
    period: &CryptoPeriod,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
) -> PeriodVerdict {
    let age = now - since;
    let (age_days, max_days) = (age.num_days(), period.max_age.num_days());
    if age <= period.max_age {
        PeriodVerdict::Fine
    } else if period.revoke && age > period.max_age + period.grace {
        PeriodVerdict::Revoke { age_days, max_days }
    } else {
        PeriodVerdict::Due { age_days, max_days }
    }
}

fn material_of(e: &aws_sdk_kms::types::RotationsListEntry) -> Material {
    Material {
        key_material_id: e.key_material_id().map(str::to_string),
        key_material_state: e.key_material_state().map(|s| s.as_str().to_string()),
        import_state: e.import_state().map(|s| s.as_str().to_string()),
        expiration_model: e.expiration_model().map(|s| s.as_str().to_string()),
        valid_to: e.valid_to().and_then(to_chrono).map(rfc3339),
        rotation_date: e.rotation_date().and_then(to_chrono).map(rfc3339),
        description: e.key_material_description().map(str::to_string),
    }
}

/// When the current material became current.
pub fn current_since(
    materials: &[Material],
    created: Option<DateTime<Utc>>,
) -> Option<DateTime<Utc>> {
    let current = materials
        .iter()
        .find(|m| m.key_material_state.as_deref() == Some(KeyMaterialState::Current.as_str()))?;
    current
        .rotation_date
        .as_deref()
        .and_then(|d| DateTime::parse_from_rfc3339(d).ok())
        .map(|d| d.with_timezone(&Utc))
        .or(created)
}

fn pending(materials: &[Material]) -> Option<&Material> {
    materials.iter().find(|m| {
        m.key_material_state.as_deref() == Some(KeyMaterialState::PendingRotation.as_str())
            && m.import_state.as_deref() == Some("IMPORTED")
    })
}

fn current_id(materials: &[Material]) -> Option<String> {
    materials
        .iter()
        .find(|m| m.key_material_state.as_deref() == Some(KeyMaterialState::Current.as_str()))
        .and_then(|m| m.key_material_id.clone())
}

impl Executor {
    /// Every material of the key (ListKeyRotations, ALL_KEY_MATERIAL, paginated).
    pub(crate) async fn list_materials(
        &self,
        run: &Run,
        f: &mut KeyFacts,
    ) -> Result<Vec<Material>, KmsError> {
        let id = f.call_id();
        let mut marker: Option<String> = None;
        let mut materials = Vec::new();
        loop {
            let out = kms::with_retry(&run.retry, &run.deadline, &mut f.trace, || {
                self.kms
                    .list_key_rotations()
                    .key_id(&id)
                    .include_key_material(IncludeKeyMaterial::AllKeyMaterial)
                    .limit(1000)
                    .set_marker(marker.clone())
                    .send()
            })
            .await?;
            materials.extend(out.rotations().iter().map(material_of));
            match out.next_marker() {
                Some(m) if out.truncated() => marker = Some(m.to_string()),
                _ => break,
            }
        }
        Ok(materials)
    }

    /// Lists the materials into the record; a failure only leaves them out (never fails the
    /// action the record is about).
    pub(crate) async fn attach_materials(&self, run: &Run, f: &mut KeyFacts) {
        match self.list_materials(run, f).await {
            Ok(m) => f.materials = Some(m),
            Err(e) => {
                tracing::warn!(code = %e.code, "could not list the key's materials for the audit record")
            }
        }
    }

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
        let md = match self.describe(run, &mut f, key).await {
            Ok(md) => md,
            Err(e) => return f.kms_error(e),
        };
        f.state_before = f.state_name();
        if md.origin() != Some(&OriginType::External) {
            return f.finish(Outcome::SkippedNotExternal);
        }
        if let Err(e) = self.load_tags(run, &mut f).await {
            return f.kms_error(e);
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
    pub(crate) async fn rotate(
        &self,
        run: &Run,
        mut f: KeyFacts,
        event_material: Option<String>,
    ) -> KeyResult {
        f.action = Action::Rotate;
        let materials = match self.list_materials(run, &mut f).await {
            Ok(m) => m,
            Err(e) => return f.kms_error(e),
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
            self.rotate_pacer.acquire().await;
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
                        self.rotate_pacer.on_throttle();
                    }
                    let delay = run.retry.backoff(attempt, e.class);
                    if !run.deadline.allows(delay + run.retry.margin) {
                        return f.kms_error(e);
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
                Err(e) => return f.kms_error(e),
            }
        }
        match self.list_materials(run, &mut f).await {
            Ok(after) => {
                f.key_material_id = current_id(&after).or(Some(staged));
                f.materials = Some(after);
            }
            Err(_) => f.key_material_id = Some(staged),
        }
        if let Ok(md) = self.describe(run, &mut f, &arn).await {
            f.state_after = md.key_state().map(|s| s.as_str().to_string());
        }
        tracing::info!(key_arn = %arn, "rotation completed");
        f.finish(Outcome::Rotated)
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
            Err(e) => return Some(f.kms_error(e)),
        };
        if md.origin() != Some(&OriginType::External) {
            return None;
        }
        if let Err(e) = self.load_tags(run, &mut f).await {
            return Some(f.kms_error(e));
        }
        if !self.in_scope(&f) {
            return None;
        }
        f.state_after = f.state_name();
        f.previous_key_material_id = previous;
        if current.is_some() {
            f.key_material_id = current;
        }
        self.attach_materials(run, &mut f).await;
        Some(f.finish(Outcome::RotationObserved))
    }

    /// The sweep's lifecycle checks for an in-scope EXTERNAL key in a usable state.
    pub(crate) async fn lifecycle_check(
        &self,
        run: &Run,
        mut f: KeyFacts,
        now: DateTime<Utc>,
    ) -> Lifecycle {
        let rotate = match auto_rotate(&f.tags) {
            Ok(r) => r,
            Err(problem) => {
                return Lifecycle::Report(f.fail(Outcome::InvalidTag, "InvalidTag", problem));
            }
        };
        let period = match crypto_period(&f.tags, &self.config) {
            Ok(p) => p,
            Err(problem) => {
                return Lifecycle::Report(f.fail(Outcome::InvalidTag, "InvalidTag", problem));
            }
        };
        if !rotate && period.is_none() {
            return Lifecycle::Nothing(f);
        }
        let materials = match self.list_materials(run, &mut f).await {
            Ok(m) => m,
            Err(e) => return Lifecycle::Report(f.kms_error(e)),
        };
        let has_pending = pending(&materials).is_some();
        let since = current_since(&materials, f.created);
        f.materials = Some(materials);
        if rotate && has_pending && matches!(f.state, Some(KeyState::Enabled)) {
            return Lifecycle::Rotate(f);
        }
        let (Some(period), Some(since)) = (period, since) else {
            return Lifecycle::Nothing(f);
        };
        match judge_period(&period, since, now) {
            PeriodVerdict::Fine => Lifecycle::Nothing(f),
            PeriodVerdict::Due { age_days, max_days } => {
                f.state_after = f.state_name();
                Lifecycle::Report(f.fail(
                    Outcome::RotationDue,
                    "CryptoPeriodExceeded",
                    format!(
                        "the current material is {age_days} days old, past its crypto-period of {max_days} days; \
                         import new material (ImportType NEW_KEY_MATERIAL)"
                    ),
                ))
            }
            PeriodVerdict::Revoke { age_days, max_days } => {
                f.action = Action::ScheduledRevoke;
                f.reason = Some(format!(
                    "crypto-period exceeded: current material {age_days} days old, period {max_days} days plus grace \
                     ({ON_CRYPTO_PERIOD_TAG}=revoke)"
                ));
                Lifecycle::Revoke(f)
            }
        }
    }
}

/// What the sweep's lifecycle check asks for.
#[derive(Debug)]
pub enum Lifecycle {
    Nothing(KeyFacts),
    Report(KeyResult),
    Rotate(KeyFacts),
    Revoke(KeyFacts),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn crypto_period_comes_from_the_tag_or_the_default() {
        let mut config = Config::default();
        assert_eq!(crypto_period(&tags(&[]), &config), Ok(None));
        config.max_material_age = Some(std::time::Duration::from_secs(90 * 86_400));
        assert_eq!(
            crypto_period(&tags(&[]), &config)
                .ok()
                .flatten()
                .map(|p| p.max_age.num_days()),
            Some(90)
        );
        let p = crypto_period(
            &tags(&[(MAX_AGE_TAG, "30"), (ON_CRYPTO_PERIOD_TAG, "revoke")]),
            &config,
        )
        .ok()
        .flatten()
        .expect("period");
        assert_eq!((p.max_age.num_days(), p.revoke), (30, true));
        assert!(crypto_period(&tags(&[(MAX_AGE_TAG, "thirty")]), &config).is_err());
        assert!(crypto_period(&tags(&[(ON_CRYPTO_PERIOD_TAG, "delete")]), &config).is_err());
    }

    #[test]
    fn material_age_is_judged_against_period_and_grace() {
        let now = DateTime::parse_from_rfc3339("2026-11-29T00:00:00Z")
            .expect("t")
            .with_timezone(&Utc);
        let p = CryptoPeriod {
            max_age: ChronoDuration::days(30),
            revoke: true,
            grace: ChronoDuration::days(7),
        };
        assert_eq!(
            judge_period(&p, now - ChronoDuration::days(29), now),
            PeriodVerdict::Fine
        );
        assert_eq!(
            judge_period(&p, now - ChronoDuration::days(33), now),
            PeriodVerdict::Due {
                age_days: 33,
                max_days: 30
            }
        );
        assert_eq!(
            judge_period(&p, now - ChronoDuration::days(40), now),
            PeriodVerdict::Revoke {
                age_days: 40,
                max_days: 30
            }
        );
        let report_only = CryptoPeriod { revoke: false, ..p };
        assert!(matches!(
            judge_period(&report_only, now - ChronoDuration::days(400), now),
            PeriodVerdict::Due { .. }
        ));
    }

    #[test]
    fn auto_rotate_tag_is_strict() {
        assert_eq!(auto_rotate(&tags(&[])), Ok(false));
        assert_eq!(auto_rotate(&tags(&[(AUTO_ROTATE_TAG, "true")])), Ok(true));
        assert!(auto_rotate(&tags(&[(AUTO_ROTATE_TAG, "yes")])).is_err());
    }

    #[test]
    fn the_current_material_dates_from_its_rotation_or_the_key() {
        let m = |state: &str, date: Option<&str>| Material {
            key_material_id: Some("m".into()),
            key_material_state: Some(state.into()),
            import_state: Some("IMPORTED".into()),
            expiration_model: None,
            valid_to: None,
            rotation_date: date.map(str::to_string),
            description: None,
        };
        let created = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .expect("t")
            .with_timezone(&Utc);
        assert_eq!(
            current_since(&[m("CURRENT", None)], Some(created)),
            Some(created)
        );
        let rotated = current_since(
            &[
                m("NON_CURRENT", None),
                m("CURRENT", Some("2026-06-01T00:00:00.000Z")),
            ],
            Some(created),
        );
        assert_eq!(
            rotated.map(|d| d.to_rfc3339()),
            Some("2026-06-01T00:00:00+00:00".into())
        );
    }
}
