//! Incident requests: `Key Material Revocation Requested` events from an allowed source, whose
//! `detail` is the revocation request.

use super::Trigger;
use super::envelope::Envelope;
use crate::domain::text::short;
use crate::request::parse_request;
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

/// The revocation request in the event's `detail`.
pub(super) fn revocation(env: &Envelope<'_>) -> Result<Trigger, Rejection> {
    parse_request(&env.event.detail, &env.detail).map(Trigger::Revoke)
}
