//! What the function does to a key ([`Action`]) and how it ended ([`Outcome`]): stable names,
//! part of the audit record's schema.

use serde::Serialize;

/// What the function was doing for the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// An incident or direct revocation request.
    Revoke,
    /// The sweep revoking a key whose `kms-material-guard:revoke-at` time has passed.
    ScheduledRevoke,
    /// A KMS expiry event: KMS deleted the material itself.
    ObserveExpiry,
    /// The sweep reporting on a key (expiring material, malformed tags, crypto-periods).
    Sweep,
    /// Completing a staged rotation (RotateKeyOnDemand) of imported material.
    Rotate,
    /// A `KMS CMK Rotation` event for an in-scope EXTERNAL key.
    ObserveRotation,
}

impl Action {
    /// The snake_case name used in records, responses and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Revoke => "revoke",
            Action::ScheduledRevoke => "scheduled_revoke",
            Action::ObserveExpiry => "observe_expiry",
            Action::Sweep => "sweep",
            Action::Rotate => "rotate",
            Action::ObserveRotation => "observe_rotation",
        }
    }
}

/// The result for one key (or a rejected request). Stable names: part of the schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Material deleted; DescribeKey confirmed `PendingImport`.
    Revoked,
    /// Material deleted (the delete call succeeded) but the verification DescribeKey failed.
    RevokedUnverified,
    /// A material that was only pending rotation was deleted; the key stays usable.
    MaterialDeleted,
    /// Dry run: everything up to the delete call passed.
    WouldRevoke,
    /// The key was already `PendingImport`; nothing to delete.
    AlreadyRevoked,
    /// The key is pending deletion; deleting material would not change its state.
    UnchangedPendingDeletion,
    /// The key's origin is not EXTERNAL (no imported material to delete).
    SkippedNotExternal,
    /// Another identifier in the same request already named this key.
    SkippedDuplicate,
    /// The key is not in the configured scope.
    RefusedOutOfScope,
    /// The key ARN belongs to another account.
    RefusedCrossAccount,
    /// The key ARN belongs to another Region.
    RefusedOtherRegion,
    /// The request selected more keys than the blast-radius limit; nothing was deleted.
    RefusedBlastRadius,
    /// The event or request was invalid; no KMS call was made.
    Rejected,
    /// The key identifier is malformed; no KMS call was made.
    RejectedInvalidIdentifier,
    /// KMS does not know the key.
    NotFound,
    /// A final KMS error (retrying would not help).
    Failed,
    /// A retryable error persisted within the invocation; the invocation fails so it is retried.
    FailedRetryable,
    /// Not attempted: the invocation's deadline was too close. A retry completes it.
    Deferred,
    /// Not attempted before the deadline; a new invocation of the function continues with it
    /// (`error_message` names it).
    Continued,
    /// KMS deleted expired material (expiry event; DescribeKey confirms `PendingImport`).
    Expired,
    /// An expiry event named a key whose material is imported (DescribeKey: `Enabled` or
    /// `Disabled`): imported again since the event, or the event is stale. Nothing was done.
    NotExpired,
    /// The sweep found material expiring within the warning window.
    ExpiringSoon,
    /// The sweep found a malformed `kms-material-guard:revoke-at` tag; nothing was done.
    InvalidRevokeAt,
    /// A staged (`PENDING_ROTATION`) material was made current with RotateKeyOnDemand.
    Rotated,
    /// Dry run: a staged material would have been made current.
    WouldRotate,
    /// Nothing was pending rotation (already completed, or never staged); nothing was done.
    NothingToRotate,
    /// The current material is older than its crypto-period: new material is needed.
    RotationDue,
    /// KMS reported a rotation of an in-scope EXTERNAL key (`KMS CMK Rotation`).
    RotationObserved,
    /// A tag the function reads (crypto-period, rotation opt-in) is malformed; nothing was done.
    InvalidTag,
}

impl Outcome {
    /// The snake_case name used in records and responses.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Revoked => "revoked",
            Outcome::RevokedUnverified => "revoked_unverified",
            Outcome::MaterialDeleted => "material_deleted",
            Outcome::WouldRevoke => "would_revoke",
            Outcome::AlreadyRevoked => "already_revoked",
            Outcome::UnchangedPendingDeletion => "unchanged_pending_deletion",
            Outcome::SkippedNotExternal => "skipped_not_external",
            Outcome::SkippedDuplicate => "skipped_duplicate",
            Outcome::RefusedOutOfScope => "refused_out_of_scope",
            Outcome::RefusedCrossAccount => "refused_cross_account",
            Outcome::RefusedOtherRegion => "refused_other_region",
            Outcome::RefusedBlastRadius => "refused_blast_radius",
            Outcome::Rejected => "rejected",
            Outcome::RejectedInvalidIdentifier => "rejected_invalid_identifier",
            Outcome::NotFound => "not_found",
            Outcome::Failed => "failed",
            Outcome::FailedRetryable => "failed_retryable",
            Outcome::Deferred => "deferred",
            Outcome::Continued => "continued",
            Outcome::Expired => "expired",
            Outcome::NotExpired => "not_expired",
            Outcome::ExpiringSoon => "expiring_soon",
            Outcome::InvalidRevokeAt => "invalid_revoke_at",
            Outcome::Rotated => "rotated",
            Outcome::WouldRotate => "would_rotate",
            Outcome::NothingToRotate => "nothing_to_rotate",
            Outcome::RotationDue => "rotation_due",
            Outcome::RotationObserved => "rotation_observed",
            Outcome::InvalidTag => "invalid_tag",
        }
    }

    /// Whether this outcome makes the invocation fail so that it is retried.
    pub fn is_retryable(self) -> bool {
        matches!(self, Outcome::FailedRetryable | Outcome::Deferred)
    }
}
