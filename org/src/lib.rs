//! kms-material-guard at organization scale, locally.
//!
//! - [`router`]: an in-process stand-in for EventBridge's cross-account and cross-Region
//!   delivery (buses by ARN with resource policies, rules with [`pattern`]s, targets with retry
//!   policies and dead-letter queues, Lambda's asynchronous invocation with its own retries).
//! - [`member`]: the real function (`kms_material_guard::Guard`) deployed as one member
//!   (account x Region), with the real SDK clients against the local KMS.
//! - [`local`]: a local organization (the local KMS serving every account and Region, the
//!   members, the router wired like the templates).
//! - [`report`]: the consolidated answer for one incident from the members' audit records and
//!   summaries, against the expected inventory of member accounts and Regions.

pub mod aws;
pub mod local;
pub mod member;
pub mod pattern;
pub mod report;
pub mod router;
pub mod sdk;
