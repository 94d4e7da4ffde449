//! kms-material-guard: revokes imported (BYOK) KMS key material with
//! `DeleteImportedKeyMaterial` and leaves one audit record per key.
//!
//! The modules follow the data's path through one invocation:
//! [`event`] (classify the payload) -> [`request`] (validate the revocation request) ->
//! [`guardrails`] (scope, account, Region, origin, blast radius) -> [`execute`] (KMS calls,
//! paced by [`pacing`], retried by [`kms`]) -> [`audit`] (one record per key) ->
//! [`response`] (summary or a stable error type). [`handler`] wires them together;
//! [`config`] is read once at init.

pub mod audit;
pub mod config;
pub mod continuation;
pub mod event;
pub mod execute;
pub mod findings;
pub mod guardrails;
pub mod handler;
pub mod kms;
pub mod lifecycle;
pub mod metrics;
pub mod pacing;
pub mod publish;
pub mod request;
pub mod response;

pub use audit::{AuditRecord, AuditSink, MemorySink, Outcome, StdoutSink};
pub use config::Config;
pub use handler::{Guard, Invocation};
pub use response::{GuardError, Summary};

/// Builds the KMS client the function uses from the shared AWS configuration: SDK retries off
/// (the function retries itself, inside the Lambda deadline), per-attempt timeouts.
pub fn kms_client(sdk: &aws_config::SdkConfig, config: &Config) -> aws_sdk_kms::Client {
    aws_sdk_kms::Client::from_conf(kms::client_config(sdk, config))
}
