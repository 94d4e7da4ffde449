//! The key-material lifecycle policy for keys with several materials: pure decisions from a
//! key's tags, its materials and the configuration (the KMS calls live in `execute`).
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

use aws_sdk_kms::types::KeyMaterialState;
use chrono::{DateTime, Duration as ChronoDuration, Utc};

use crate::config::Config;
use crate::domain::Material;
use crate::domain::text::short;

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

pub fn pending(materials: &[Material]) -> Option<&Material> {
    materials.iter().find(|m| {
        m.key_material_state.as_deref() == Some(KeyMaterialState::PendingRotation.as_str())
            && m.import_state.as_deref() == Some("IMPORTED")
    })
}

pub fn current_id(materials: &[Material]) -> Option<String> {
    materials
        .iter()
        .find(|m| m.key_material_state.as_deref() == Some(KeyMaterialState::Current.as_str()))
        .and_then(|m| m.key_material_id.clone())
}

/// What the sweep's lifecycle check concludes for a key, once its materials are known.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Nothing to do.
    Fine,
    /// A staged material waits and the key opted in: complete the rotation.
    Rotate,
    /// The crypto-period has passed: report.
    Due { age_days: i64, max_days: i64 },
    /// The crypto-period and its grace have passed and the key says revoke.
    Revoke { age_days: i64, max_days: i64 },
}

/// A key's lifecycle policy, from its tags and the configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub auto_rotate: bool,
    pub period: Option<CryptoPeriod>,
}

impl Policy {
    /// Reads the policy; a malformed tag is an error (reported, never guessed).
    pub fn of(tags: &[(String, String)], config: &Config) -> Result<Policy, String> {
        Ok(Policy {
            auto_rotate: auto_rotate(tags)?,
            period: crypto_period(tags, config)?,
        })
    }

    /// Whether the key's materials need to be listed to judge it.
    pub fn needs_materials(&self) -> bool {
        self.auto_rotate || self.period.is_some()
    }

    /// The verdict for a key whose materials are `materials` (`created`: the key's creation,
    /// the age of a never-rotated material; `enabled`: whether the key can rotate now).
    pub fn judge(
        &self,
        materials: &[Material],
        created: Option<DateTime<Utc>>,
        enabled: bool,
        now: DateTime<Utc>,
    ) -> Verdict {
        if self.auto_rotate && enabled && pending(materials).is_some() {
            return Verdict::Rotate;
        }
        let (Some(period), Some(since)) = (&self.period, current_since(materials, created)) else {
            return Verdict::Fine;
        };
        match judge_period(period, since, now) {
            PeriodVerdict::Fine => Verdict::Fine,
            PeriodVerdict::Due { age_days, max_days } => Verdict::Due { age_days, max_days },
            PeriodVerdict::Revoke { age_days, max_days } => Verdict::Revoke { age_days, max_days },
        }
    }
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
