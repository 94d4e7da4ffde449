//! kms-material-guard: revokes imported (BYOK) KMS key material with
//! `DeleteImportedKeyMaterial` and leaves one audit record per key.
//!
//! The modules follow the data's path through one invocation (docs/architecture.md):
//! [`event`] (classify the payload) -> [`request`] (the revocation request contract) ->
//! [`plan`] (what to do, organization targeting) -> [`pipeline`] (the per-key fan-out:
//! [`guardrails`], then [`execute`] against KMS through [`kms`], paced by [`pacing`]) ->
//! [`audit`] (one record per key, the summary) -> [`response`] (the answer or a stable error
//! type). [`handler`] orchestrates one invocation; [`config`] is read once at init; [`domain`]
//! is the vocabulary every layer shares.

pub mod audit;
pub mod bootstrap;
pub mod config;
pub mod continuer;
pub mod domain;
pub mod event;
pub mod execute;
pub mod guardrails;
pub mod handler;
pub mod keyref;
pub mod kms;
pub mod lifecycle;
pub mod metrics;
pub mod pacing;
pub mod pipeline;
pub mod plan;
pub mod publish;
pub mod refusal;
pub mod request;
pub mod response;
pub mod seal;
pub mod validate;

pub use audit::{AuditRecord, AuditSink, MemorySink, StdoutSink};
pub use config::Config;
pub use domain::{Invocation, Outcome};
pub use handler::Guard;
pub use response::{GuardError, Summary};

/// Builds the KMS client the function uses from the shared AWS configuration: SDK retries off
/// (the function retries itself, inside the Lambda deadline), per-attempt timeouts.
pub fn kms_client(sdk: &aws_types::SdkConfig, config: &Config) -> aws_sdk_kms::Client {
    aws_sdk_kms::Client::from_conf(kms::client_config(sdk, config))
}
