//! The consolidated report of one incident across the organization.
//!
//! Input: the members' audit records (`kms-material-guard/audit/v1`) and per-invocation
//! summaries (`kms-material-guard/summary/v1`), as JSON, in any of these shapes (mixed freely):
//! - bare records, one per line (a log group's messages, the function's stdout);
//! - EventBridge envelopes whose `detail` is the record (an archive, a log group target of the
//!   central bus): `detail-type` `Key Material Audit Record` / `Key Material Revocation Summary`;
//!   `Key Material Revocation Requested` envelopes (the request itself) tell the report which
//!   members the request targets;
//! - several JSON values on one line separated by tabs (`aws logs filter-log-events --query
//!   'events[].message' --output text`), a JSON array of records or of message strings, or the
//!   whole `filter-log-events` answer (`{"events": [{"message": "..."}]}`);
//! - a line that is a JSON string holding a record.
//!
//! Lines that are not JSON objects of these kinds (other log lines, EMF metrics) are counted as
//! ignored. Records are deduplicated (the same record from two sources counts once).
//!
//! The inventory lists the member deployments expected to answer: `{"members": [{"account",
//! "region", "organizationalUnits": [...]}]}`, a bare array of those, or the JSON answer of
//! `aws cloudformation list-stack-instances` (`{"Summaries": [{"Account", "Region",
//! "OrganizationalUnitId", "Status"}]}`).
//!
//! The steps: [`Input`] reads the text (`input`, `records`), [`Inventory`] the expected members
//! (`inventory`); [`build`] selects the incident's records and attributes them to members
//! (`select`), follows each key and request (`track`), gives each member's part
//! (`member_status`) and the organization's verdict; [`Report`] (`model`) prints as JSON or as a
//! table (`table`). The outcome and detail-type names are in `names`.

mod build;
mod input;
mod inventory;
mod member_status;
mod model;
mod names;
mod records;
mod select;
mod table;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_envelope;
mod track;

pub use build::build;
pub use input::{Input, InputStats};
pub use inventory::{Inventory, InventoryMember, ReportError};
pub use model::{
    Disowned, LatestSummary, MemberReport, MemberStatus, OrganizationStatus, PendingKey, Phase,
    Report, ReportOptions,
};
pub use names::{
    AUDIT_DETAIL_TYPE, FAILED_OUTCOMES, PENDING_OUTCOMES, REQUEST_DETAIL_TYPE, SUMMARY_DETAIL_TYPE,
};
pub use records::Targets;
