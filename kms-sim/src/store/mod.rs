//! The simulated KMS state and its semantics: keys per (account, Region), key materials,
//! aliases, tags, import tokens, the key-state table, lazy expiry and scheduled deletion.
//!
//! Everything is synchronous and behind one mutex; the HTTP layer (`api`) parses requests and
//! calls in here, and tests can call the public [`Store`] methods directly to seed or inspect.

mod admin;
mod asymmetric;
mod crypto_ops;
mod expiry;
mod import;
mod key;
mod labels;
mod lifecycle;
mod listing;
mod mac;
mod replicas;
mod resolve;
mod spec;
mod state;

pub use admin::Store;
pub(crate) use import::check_valid_to;
pub(crate) use replicas::ReplicaRequest;
pub use spec::{Caller, ImportOptions, KeyInfo, KeySpec};
pub(crate) use spec::{CreateKeyRequest, ImportRequest};
pub use state::MAX_ON_DEMAND_ROTATIONS;
