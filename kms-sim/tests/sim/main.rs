//! kms-sim's test suite: one binary (one link, one process-wide RSA wrapping-key cache).
//! Everything runs on loopback against an in-process simulator. Tests read GIVEN / WHEN / THEN.

mod common;

mod accounts_paging;
mod admin;
mod asymmetric;
mod conformance;
mod conformance_aws_kms;
mod conformance_specs;
mod crypto_import;
mod datakeys;
mod delete_states;
mod events;
mod expiry;
mod faults_quotas;
mod hmac;
mod materials;
mod multi_region;
mod readme_tables;
mod recorded;
mod robustness;
