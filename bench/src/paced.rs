//! One cold process revoking N keys at a configured delete rate against kms-sim with quotas
//! (the throughput and reduced-quota sections): the delete phase timed from the sim's counters
//! and the figures of the run.

use std::time::Duration;

use kms_sim::{KmsSim, SimConfig};
use serde_json::{Value, json};

use crate::calls::{DELETE_OP, Sampler, Timeline};
use crate::kms::{realistic, seed, start_sim};
use crate::launch::Launch;
use crate::procfs::clock_ticks;
use crate::revocation::{Revocation, revoke_once};
use crate::stats::round;

/// How the delete phase is timed (the `definition` of both sections).
pub(crate) const METHOD: &str = "delete phase = first DeleteImportedKeyMaterial call -> last successful one, from the sim's counters sampled every 0.5 ms; achieved rate = (successes - 1) / (last success - first success), as KMS counts successful deletes";

/// A cold process of `launch` revokes `n` fresh keys in one invocation against a sim made from
/// `config` (plus 20-40 ms latency), configured with `MATERIAL_GUARD_DELETE_RATE=rate`.
/// Returns the run's figures; `available` is the delete quota the sim grants (for the share).
pub(crate) async fn paced_run(
    launch: &Launch,
    config: SimConfig,
    n: usize,
    rate: f64,
    available: f64,
) -> Result<Value, String> {
    let sim = start_sim(realistic(config)).await?;
    let keys = seed(&sim, n, "paced")?;
    let sampler = Sampler::start(sim.clone());
    let r = revoke_once(
        launch,
        &sim,
        &keys,
        &rate.to_string(),
        Duration::from_secs(900),
        clock_ticks(),
    )
    .await;
    let timeline = sampler.finish()?;
    Ok(figures(&r?, &timeline, &sim, n, rate, available))
}

/// One function's figures: outcomes, the sim's delete counters, the rates.
fn figures(
    r: &Revocation,
    timeline: &Timeline,
    sim: &KmsSim,
    n: usize,
    rate: f64,
    available: f64,
) -> Value {
    let counters = sim.counters();
    let achieved = timeline.achieved(DELETE_OP);
    let phase = timeline.phase(DELETE_OP);
    let throttled = counters.throttled(DELETE_OP);
    let per_minute = phase
        .filter(|p| !p.is_zero())
        .map(|p| round(throttled as f64 * 60.0 / p.as_secs_f64(), 1));
    json!({
        "revoked": r.revoked(),
        "outcomes": r.counts,
        "keys_lost_or_failed": r.lost_or_failed(n),
        "audit_records": r.audit_records,
        "pending_import_in_kms": r.revoked_in_kms,
        "invocation_ok": r.invocation.is_ok(),
        "invocation_error": r.invocation.error_type(),
        "delete_calls": counters.calls(DELETE_OP),
        "delete_successes": counters.successes(DELETE_OP),
        "delete_throttled": throttled,
        "delete_throttled_per_minute": per_minute,
        "delete_throttled_sampled": timeline.throttled(DELETE_OP),
        "delete_phase_s": phase.map(|p| round(p.as_secs_f64(), 3)),
        "achieved_rate_per_s": achieved.map(|a| round(a, 3)),
        "steady_rate_per_s": timeline.steady(DELETE_OP).map(|a| round(a, 3)),
        "share_of_configured": achieved.map(|a| round(a / rate, 4)),
        "share_of_available": achieved.map(|a| round(a / available, 4)),
        "invocation_s": round(r.invocation.duration.as_secs_f64(), 3),
        "describe_calls": counters.calls("DescribeKey"),
        "list_resource_tags_calls": counters.calls("ListResourceTags"),
        "peak_rss_kib": r.peak_rss_kib,
        "handler_cpu_ms": r.handler_cpu_ms,
    })
}
