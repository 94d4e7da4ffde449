//! The names the report reads: the EventBridge detail-types of records, summaries and
//! requests, and which outcomes and error types leave a key pending, revoke it, or are final.

/// `detail-type` of audit records on EventBridge.
pub const AUDIT_DETAIL_TYPE: &str = "Key Material Audit Record";
/// `detail-type` of per-invocation summaries on EventBridge.
pub const SUMMARY_DETAIL_TYPE: &str = "Key Material Revocation Summary";
/// `detail-type` of revocation requests.
pub const REQUEST_DETAIL_TYPE: &str = "Key Material Revocation Requested";

/// Outcomes that leave a key waiting for another invocation.
pub const PENDING_OUTCOMES: [&str; 3] = ["failed_retryable", "deferred", "continued"];
/// Outcomes that revoke a key; a later `already_revoked` does not replace them (the same
/// revocation seen again).
pub(super) const REVOKING_OUTCOMES: [&str; 3] =
    ["revoked", "revoked_unverified", "material_deleted"];
/// Outcomes that need a human (final errors).
pub const FAILED_OUTCOMES: [&str; 3] = ["failed", "not_found", "refused_blast_radius"];

/// A summary's `error_type` that no retry fixes.
pub(super) const FINAL_ERROR_TYPES: [&str; 3] = [
    "KmsMaterialGuard.Rejected",
    "KmsMaterialGuard.RefusedBlastRadius",
    "KmsMaterialGuard.Configuration",
];
