//! Guardrails: pure decisions, no I/O. They run before any delete and each refusal has its own
//! outcome: own account and Region, origin, scope tag, key state, blast radius, and whether an
//! organization request targets this member at all.

use aws_sdk_kms::types::{KeyState, OriginType};

use crate::config::{Scope, ScopeMode};
use crate::domain::Outcome;
use crate::keyref::KeyRef;
use crate::request::{RequestedKey, Targets};
use crate::validate::partition_of;

/// Refuses an ARN of another account, Region or partition before any KMS call (an ARN of
/// another partition names a Region this function does not serve, even when the Region's name is
/// the same: refused as `refused_other_region`). Key ids and alias names resolve in the
/// function's own account and Region.
pub fn check_location(key: &KeyRef, own_account: &str, own_region: &str) -> Result<(), Outcome> {
    match key.arn() {
        Some(a) if a.account != own_account => Err(Outcome::RefusedCrossAccount),
        Some(a) if a.region != own_region || a.partition != partition_of(own_region) => {
            Err(Outcome::RefusedOtherRegion)
        }
        _ => Ok(()),
    }
}

/// Same check for a resolved key (DescribeKey's `AWSAccountId` / ARN Region): guards against an
/// alias or id that somehow resolves elsewhere.
pub fn check_resolved_location(
    account: Option<&str>,
    arn: &str,
    own_account: &str,
    own_region: &str,
) -> Result<(), Outcome> {
    if account.is_some_and(|a| a != own_account) {
        return Err(Outcome::RefusedCrossAccount);
    }
    match KeyRef::parse(arn) {
        Ok(k) => check_location(&k, own_account, own_region),
        // An ARN KMS itself returned is trusted to be well-formed; a malformed one is refused.
        Err(_) => Err(Outcome::RefusedOtherRegion),
    }
}

/// Only keys with imported material can be revoked.
pub fn check_origin(origin: Option<&OriginType>) -> Result<(), Outcome> {
    match origin {
        Some(OriginType::External) => Ok(()),
        _ => Err(Outcome::SkippedNotExternal),
    }
}

/// Whether the key's tags put it in scope.
pub fn in_scope<'a>(scope: &Scope, mut tags: impl Iterator<Item = (&'a str, &'a str)>) -> bool {
    match scope.mode {
        ScopeMode::AllExternal => true,
        ScopeMode::Tagged => tags.any(|(k, v)| k == scope.tag_key && v == scope.tag_value),
    }
}

/// Whether the scope decision needs the key's tags (a ListResourceTags call).
pub fn needs_tags(scope: &Scope) -> bool {
    scope.mode == ScopeMode::Tagged
}

/// What the key's state means for a revocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateDecision {
    /// Enabled or Disabled: delete the material.
    Delete,
    /// A final outcome without a delete call.
    Done(Outcome),
    /// Creating / Updating: retry later.
    NotReady,
    /// A state this function does not act on (e.g. Unavailable).
    Unsupported,
}

/// The key-state table of the facts sheet.
pub fn decide_state(state: Option<&KeyState>) -> StateDecision {
    match state {
        Some(KeyState::Enabled) | Some(KeyState::Disabled) => StateDecision::Delete,
        Some(KeyState::PendingImport) => StateDecision::Done(Outcome::AlreadyRevoked),
        Some(KeyState::PendingDeletion) | Some(KeyState::PendingReplicaDeletion) => {
            StateDecision::Done(Outcome::UnchangedPendingDeletion)
        }
        Some(KeyState::Creating) | Some(KeyState::Updating) => StateDecision::NotReady,
        _ => StateDecision::Unsupported,
    }
}

/// An organization request at this member: `None` when the member (account, its OUs, Region)
/// is not targeted; otherwise the number of named keys left to other members (ARNs of another
/// account or Region), which are removed from `keys`: each member acts only on its own keys.
pub fn check_targets(
    targets: &Targets,
    keys: &mut Vec<RequestedKey>,
    account: &str,
    units: &[String],
    region: &str,
) -> Option<usize> {
    if !targets.includes(account, units, region) {
        return None;
    }
    let before = keys.len();
    keys.retain(|k| match &k.parsed {
        Ok(parsed) => parsed
            .location()
            .is_none_or(|(a, r)| a == account && r == region),
        Err(_) => true,
    });
    Some(before - keys.len())
}

/// Whether `count` keys fit the blast radius.
pub fn check_blast_radius(count: usize, limit: usize) -> Result<(), Outcome> {
    if count > limit {
        Err(Outcome::RefusedBlastRadius)
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "1234abcd-12ab-34cd-56ef-1234567890ab";

    #[test]
    fn arns_of_other_accounts_and_regions_are_refused() {
        let own = |s: &str| {
            check_location(
                &KeyRef::parse(s).expect("valid"),
                "111122223333",
                "us-east-1",
            )
        };
        assert_eq!(own(ID), Ok(()));
        assert_eq!(own("alias/x"), Ok(()));
        assert_eq!(
            own(&format!("arn:aws:kms:us-east-1:111122223333:key/{ID}")),
            Ok(())
        );
        assert_eq!(
            own(&format!("arn:aws:kms:us-east-1:999999999999:key/{ID}")),
            Err(Outcome::RefusedCrossAccount)
        );
        assert_eq!(
            own(&format!("arn:aws:kms:eu-west-1:111122223333:key/{ID}")),
            Err(Outcome::RefusedOtherRegion)
        );
        assert_eq!(
            own("arn:aws:kms:eu-west-1:999999999999:alias/x"),
            Err(Outcome::RefusedCrossAccount)
        );
    }

    #[test]
    fn arns_of_another_partition_are_refused_even_with_the_same_region_name() {
        // GIVEN a function in us-east-1 (partition aws) of account 111122223333
        let own = |s: &str| {
            check_location(
                &KeyRef::parse(s).expect("valid"),
                "111122223333",
                "us-east-1",
            )
        };
        // WHEN an ARN names the same account and Region name in another partition
        // THEN it is refused before any KMS call
        for partition in ["aws-us-gov", "aws-cn", "aws-iso"] {
            assert_eq!(
                own(&format!(
                    "arn:{partition}:kms:us-east-1:111122223333:key/{ID}"
                )),
                Err(Outcome::RefusedOtherRegion),
                "{partition}"
            );
        }
        // AND a GovCloud function accepts its own partition's ARNs only
        let gov = |s: &str| {
            check_location(
                &KeyRef::parse(s).expect("valid"),
                "111122223333",
                "us-gov-west-1",
            )
        };
        assert_eq!(
            gov(&format!(
                "arn:aws-us-gov:kms:us-gov-west-1:111122223333:key/{ID}"
            )),
            Ok(())
        );
        assert_eq!(
            gov(&format!("arn:aws:kms:us-gov-west-1:111122223333:key/{ID}")),
            Err(Outcome::RefusedOtherRegion)
        );
    }

    #[test]
    fn only_external_origin_passes() {
        assert_eq!(check_origin(Some(&OriginType::External)), Ok(()));
        for o in [
            OriginType::AwsKms,
            OriginType::AwsCloudhsm,
            OriginType::ExternalKeyStore,
        ] {
            assert_eq!(check_origin(Some(&o)), Err(Outcome::SkippedNotExternal));
        }
        assert_eq!(check_origin(None), Err(Outcome::SkippedNotExternal));
    }

    #[test]
    fn scope_needs_the_exact_tag_unless_widened() {
        let mut scope = Scope {
            mode: ScopeMode::Tagged,
            tag_key: "kms-material-guard:revocable".into(),
            tag_value: "true".into(),
        };
        let tagged = [("kms-material-guard:revocable", "true")];
        let wrong_value = [("kms-material-guard:revocable", "TRUE")];
        assert!(in_scope(&scope, tagged.iter().copied()));
        assert!(!in_scope(&scope, wrong_value.iter().copied()));
        assert!(!in_scope(&scope, std::iter::empty()));
        scope.mode = ScopeMode::AllExternal;
        assert!(in_scope(&scope, std::iter::empty()));
        assert!(!needs_tags(&scope));
    }

    #[test]
    fn every_key_state_has_a_decision() {
        use StateDecision::*;
        assert_eq!(decide_state(Some(&KeyState::Enabled)), Delete);
        assert_eq!(decide_state(Some(&KeyState::Disabled)), Delete);
        assert_eq!(
            decide_state(Some(&KeyState::PendingImport)),
            Done(Outcome::AlreadyRevoked)
        );
        assert_eq!(
            decide_state(Some(&KeyState::PendingDeletion)),
            Done(Outcome::UnchangedPendingDeletion)
        );
        assert_eq!(
            decide_state(Some(&KeyState::PendingReplicaDeletion)),
            Done(Outcome::UnchangedPendingDeletion)
        );
        assert_eq!(decide_state(Some(&KeyState::Creating)), NotReady);
        assert_eq!(decide_state(Some(&KeyState::Updating)), NotReady);
        assert_eq!(decide_state(Some(&KeyState::Unavailable)), Unsupported);
        assert_eq!(decide_state(None), Unsupported);
    }

    #[test]
    fn blast_radius_is_inclusive() {
        assert_eq!(check_blast_radius(100, 100), Ok(()));
        assert_eq!(
            check_blast_radius(101, 100),
            Err(Outcome::RefusedBlastRadius)
        );
    }
}
