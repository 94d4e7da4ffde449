//! Incident requests: `Key Material Revocation Requested` events from an allowed source, whose
//! `detail` is the revocation request.

use super::Trigger;
use super::envelope::Envelope;
use crate::domain::text::short;
use crate::request::parse_request_from;
use crate::validate::Rejection;

/// The event's `source` must be one of `MATERIAL_GUARD_ALLOWED_SOURCES`.
pub(super) fn check_source(env: &Envelope<'_>) -> Result<(), Rejection> {
    let allowed = &env.who.config.allowed_sources;
    let source = env.event.source.as_str();
    if allowed.iter().any(|s| s == source) {
        return Ok(());
    }
    Err(Rejection::new(
        "source",
        "SourceNotAllowed",
        format!(
            "{:?} may not request revocations; allowed sources: {} (MATERIAL_GUARD_ALLOWED_SOURCES)",
            short(source),
            allowed.join(", ")
        ),
    ))
}

/// The revocation request in the event's `detail`. A request from another (trusted) account is
/// an organization request: it must name keys by ARN.
pub(super) fn revocation(env: &Envelope<'_>) -> Result<Trigger, Rejection> {
    let foreign = env.event.account.as_deref() != Some(env.who.account);
    parse_request_from(&env.event.detail, &env.detail, foreign).map(Trigger::Revoke)
}
