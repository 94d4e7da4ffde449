//! The vocabulary every step shares: what the function does to a key and how that ended
//! ([`Action`], [`Outcome`]), what it learned about the key ([`KeyFacts`], [`KeyResult`],
//! [`Material`], [`Trace`]), where an invocation came from ([`Provenance`], [`Invocation`]) and
//! how long it may run ([`Deadline`]).
//!
//! This module imports nothing of the crate: every other module may import it.

mod deadline;
mod key;
mod outcome;
mod provenance;
pub mod text;

pub use deadline::{Deadline, DeadlineSource};
pub use key::{
    KeyFacts, KeyResult, MAX_KEY_IDENTIFIER_CHARS, MAX_KEYS_PER_REQUEST, Material, Trace,
};
pub use outcome::{Action, Outcome};
pub use provenance::{Invocation, Provenance, SOURCE_DIRECT};

/// RFC 3339 UTC with milliseconds: every time the function writes.
pub fn rfc3339(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
