//! From a classified trigger to a [`Plan`]: what the invocation will do, to which keys, under
//! which request, before any KMS call. Organization targeting is decided here (a guardrail that
//! needs no KMS call): a member acts only when targeted, and only on its own keys.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::config::Config;
use crate::domain::Action;
use crate::event::{ExpiryNotice, ImportNotice, RotationNotice, Trigger};
use crate::guardrails;
use crate::request::{RequestedKey, RevocationRequest};

/// What one invocation does.
#[derive(Debug)]
pub struct Plan {
    pub action: Action,
    pub dry_run: bool,
    pub work: Work,
    /// Revocation requests: the request (its keys moved into `work`); records, the summary and
    /// continuations name it.
    pub request: Option<RevocationRequest>,
    /// The position of this invocation in a continuation chain (0: the first).
    pub sequence: u64,
    /// Organization requests: whether this member is targeted.
    pub targeted: Option<bool>,
    /// Organization requests: key ARNs of other accounts or Regions left to their owners.
    pub skipped_other_members: usize,
    /// Why nothing is done, when nothing is.
    pub note: Option<String>,
    /// A continuation's identity (nonce) and expiry: once it completes, a replay is refused.
    pub continuation: Option<(String, DateTime<Utc>)>,
}

/// Where the plan's keys come from.
#[derive(Debug)]
pub enum Work {
    /// No key (a recognised event that asks for nothing; a request for other members).
    Nothing,
    /// Keys a request names, and every in-scope key carrying all of `selector`'s tags.
    Revoke {
        named: Vec<RequestedKey>,
        selector: BTreeMap<String, String>,
    },
    /// The scheduled sweep over every key, at `now`.
    Sweep(DateTime<Utc>),
    /// KMS deleted expired material of one key.
    Expiry(ExpiryNotice),
    /// A staged rotation to complete.
    CompleteRotation(ImportNotice),
    /// KMS rotated a key.
    ObserveRotation(RotationNotice),
}

impl Plan {
    /// The plan for `trigger` at this member (`account`, the configured Region and OUs).
    pub fn new(trigger: Trigger, config: &Config, account: &str, now: DateTime<Utc>) -> Plan {
        let plan = |action, dry_run, work| Plan {
            action,
            dry_run,
            work,
            request: None,
            sequence: 0,
            targeted: None,
            skipped_other_members: 0,
            note: None,
            continuation: None,
        };
        match trigger {
            Trigger::Revoke(req) => Plan::revocation(req, Action::Revoke, 0, config, account),
            Trigger::Continue { request, meta } => Plan {
                continuation: Some((meta.nonce.clone(), meta.expires_at)),
                ..Plan::revocation(request, meta.action, meta.sequence, config, account)
            },
            // The handler opens sealed continuations first; one that reaches here acts on nothing.
            Trigger::Sealed(_) => Plan {
                note: Some("a sealed continuation that was not opened: nothing done".into()),
                ..plan(Action::Revoke, config.dry_run, Work::Nothing)
            },
            Trigger::Sweep => plan(Action::Sweep, config.dry_run, Work::Sweep(now)),
            Trigger::Expiry(notice) => plan(Action::ObserveExpiry, false, Work::Expiry(notice)),
            Trigger::CompleteRotation(n) => {
                plan(Action::Rotate, config.dry_run, Work::CompleteRotation(n))
            }
            Trigger::ObserveRotation(n) => {
                plan(Action::ObserveRotation, false, Work::ObserveRotation(n))
            }
            Trigger::Nothing(why) => {
                tracing::info!(why = %why, "event accepted; nothing to do");
                Plan {
                    note: Some(why),
                    ..plan(Action::Revoke, config.dry_run, Work::Nothing)
                }
            }
        }
    }

    fn revocation(
        mut req: RevocationRequest,
        action: Action,
        sequence: u64,
        config: &Config,
        account: &str,
    ) -> Plan {
        let dry_run = req.dry_run || config.dry_run;
        let mut targeted = None;
        let mut skipped_other_members = 0;
        let mut note = None;
        let mut work = Work::Nothing;
        let region = config.region.as_str();
        let reach = match &req.targets {
            None => Some(0),
            Some(t) => guardrails::check_targets(
                t,
                &mut req.keys,
                account,
                &config.organizational_units,
                region,
            ),
        };
        match reach {
            None => {
                tracing::info!(
                    account,
                    region,
                    "organization request not targeted at this member"
                );
                targeted = Some(false);
                note = Some(format!(
                    "account {account} in {region} is not among the request's targets"
                ));
            }
            Some(skipped) => {
                if req.targets.is_some() {
                    targeted = Some(true);
                }
                skipped_other_members = skipped;
                // The named keys move into the work (no second copy of a 10,000-key list).
                work = Work::Revoke {
                    named: std::mem::take(&mut req.keys),
                    selector: std::mem::take(&mut req.tags),
                };
            }
        }
        Plan {
            action,
            dry_run,
            work,
            request: Some(req),
            sequence,
            targeted,
            skipped_other_members,
            note,
            continuation: None,
        }
    }
}
