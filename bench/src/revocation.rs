//! One cold process revoking N keys in one invocation: its cold start, idle and peak RSS, CPU
//! of the init and of the handler, and the checks that every key was revoked and audited.

use std::collections::BTreeMap;
use std::time::Duration;

use kms_sim::{KeyState, KmsSim};
use lambda_harness::{FunctionProcess, Invocation};

use crate::fresh::{Fresh, PATIENCE, outcome_counts};
use crate::kms::{UNPACED_RATE, revoke_request};
use crate::launch::{Kind, Launch};
use crate::procfs::cpu_ms;

/// Audit records on the function's stdout so far.
fn audit_lines(function: &FunctionProcess) -> usize {
    function
        .stdout_lines()
        .iter()
        .filter(|l| l.contains("\"log_type\":\"audit\"") || l.contains("\"log_type\": \"audit\""))
        .count()
}

/// Outcome of one cold process revoking `keys` in one invocation.
pub(crate) struct Revocation {
    pub(crate) cold_start: Option<Duration>,
    pub(crate) invocation: Invocation,
    pub(crate) counts: BTreeMap<String, u64>,
    pub(crate) audit_records: usize,
    pub(crate) revoked_in_kms: usize,
    pub(crate) peak_rss_kib: Option<u64>,
    pub(crate) idle_rss_kib: Option<u64>,
    pub(crate) init_cpu_ms: Option<f64>,
    pub(crate) handler_cpu_ms: Option<f64>,
    pub(crate) stderr_tail: Vec<String>,
}

impl Revocation {
    pub(crate) fn revoked(&self) -> u64 {
        self.counts.get("revoked").copied().unwrap_or(0)
    }

    pub(crate) fn lost_or_failed(&self, expected: usize) -> u64 {
        let bad: u64 = self
            .counts
            .iter()
            .filter(|(k, _)| {
                k.starts_with("failed")
                    || *k == "deferred"
                    || *k == "not_found"
                    || *k == "revoked_unverified"
            })
            .map(|(_, v)| *v)
            .sum();
        let answered: u64 = self.counts.values().sum();
        bad + (expected as u64).saturating_sub(answered)
    }

    pub(crate) fn check(&self, kind: Kind, expected: usize) -> Result<(), String> {
        let ok = self.invocation.is_ok()
            && self.revoked() == expected as u64
            && self.audit_records == expected
            && self.revoked_in_kms == expected;
        if ok {
            return Ok(());
        }
        Err(format!(
            "{}: expected {expected} revoked keys, got response {:?} counts {:?}, {} audit records, {} keys PendingImport in the KMS; stderr tail: {:?}",
            kind.key(),
            self.invocation.error_type(),
            self.counts,
            self.audit_records,
            self.revoked_in_kms,
            self.stderr_tail
        ))
    }
}

/// Spawns a cold process, waits for its first /next, invokes one revocation of `keys`, then
/// terminates it (peak RSS is final only after the exit).
pub(crate) async fn revoke_once(
    launch: &Launch,
    sim: &KmsSim,
    keys: &[String],
    delete_rate: &str,
    timeout: Duration,
    ticks: f64,
) -> Result<Revocation, String> {
    let fresh = Fresh::spawn(launch.command(&sim.endpoint_url(), delete_rate), timeout).await?;
    let function = &fresh.function;
    let cold_start = function.wait_ready(PATIENCE).await;
    // Let the process settle after init before reading its idle footprint.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let idle_rss_kib = function.peak_rss().vm_hwm_kib;
    let cpu_before = cpu_ms(function.pid(), ticks);
    let invocation = fresh
        .api
        .invoke(revoke_request(keys, "BENCH-RUN"), timeout)
        .await;
    let cpu_after = cpu_ms(function.pid(), ticks);
    let audit_records = wait_for_audit_lines(function, keys.len()).await;
    function.terminate(Duration::from_secs(2)).await;
    let stderr = function.stderr_lines();
    Ok(Revocation {
        cold_start,
        counts: outcome_counts(&invocation),
        invocation,
        audit_records,
        revoked_in_kms: pending_import(sim, keys),
        peak_rss_kib: function.peak_rss().max_kib(),
        idle_rss_kib,
        init_cpu_ms: cpu_before,
        handler_cpu_ms: cpu_before.zip(cpu_after).map(|(a, b)| b - a),
        stderr_tail: stderr.iter().rev().take(5).rev().cloned().collect(),
    })
}

/// [`revoke_once`] with unpaced deletes and a 900 s timeout, checked: every key revoked,
/// audited and `PendingImport`.
pub(crate) async fn revoke_unpaced(
    launch: &Launch,
    sim: &KmsSim,
    keys: &[String],
    kind: Kind,
    ticks: f64,
) -> Result<Revocation, String> {
    let timeout = Duration::from_secs(900);
    let r = revoke_once(launch, sim, keys, UNPACED_RATE, timeout, ticks).await?;
    r.check(kind, keys.len())?;
    Ok(r)
}

/// Audit records are flushed before the response; gives the reader threads up to 5 s to
/// capture `want` of them. Returns how many there are.
async fn wait_for_audit_lines(function: &FunctionProcess, want: usize) -> usize {
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        while audit_lines(function) < want {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    audit_lines(function)
}

/// How many of `keys` are `PendingImport` (revoked) in the KMS.
fn pending_import(sim: &KmsSim, keys: &[String]) -> usize {
    keys.iter()
        .filter(|k| {
            sim.store()
                .describe(k)
                .is_some_and(|v| v.state == KeyState::PendingImport)
        })
        .count()
}
