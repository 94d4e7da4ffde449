//! The measurements, one module per section of the results; each returns its section's JSON.

pub(crate) mod cold_start;
pub(crate) mod cpu_share;
pub(crate) mod memory;
pub(crate) mod overhead;
pub(crate) mod reduced_quota;
pub(crate) mod size;
pub(crate) mod throughput;
pub(crate) mod time_to_kill;
pub(crate) mod tls;
mod tls_setup;
pub(crate) mod variants;
