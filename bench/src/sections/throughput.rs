//! DeleteImportedKeyMaterial rate at AWS's 15/s quota: 1,000 keys, both functions paced to the
//! quota, the delete phase timed from the sim's counters.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use kms_sim::{KmsSim, SimConfig};
use serde_json::{Value, json};

use crate::cli::Options;
use crate::kms::{realistic, seed, start_sim};
use crate::launch::Env;
use crate::procfs::clock_ticks;
use crate::report::TARGET_RATE_SHARE;
use crate::report::files::print_section;
use crate::revocation::{Revocation, revoke_once};
use crate::stats::{round, side_ratio};

/// AWS's DeleteImportedKeyMaterial quota (requests per second, per account and Region).
const AWS_DELETE_QUOTA: f64 = 15.0;
const DELETE_OP: &str = "DeleteImportedKeyMaterial";

/// When the deletes happened, as sampled: the first call and every success.
struct Timeline {
    first_call: Option<Instant>,
    successes: Vec<Instant>,
}

/// Watches the sim's DeleteImportedKeyMaterial counters every 2 ms: the instants of the first
/// call and of every new success (the sim's counters have no timestamps of their own).
async fn sample_deletes(sim: Arc<KmsSim>, stop: Arc<AtomicBool>) -> Timeline {
    let mut first_call = None;
    let mut successes: Vec<Instant> = Vec::new();
    let mut seen = 0u64;
    loop {
        let now = Instant::now();
        let counters = sim.counters();
        if first_call.is_none() && counters.calls(DELETE_OP) > 0 {
            first_call = Some(now);
        }
        let s = counters.successes(DELETE_OP);
        while seen < s {
            successes.push(now);
            seen += 1;
        }
        if stop.load(Ordering::Relaxed) {
            return Timeline {
                first_call,
                successes,
            };
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

impl Timeline {
    /// First call -> last success.
    fn phase(&self) -> Option<Duration> {
        self.first_call
            .zip(self.successes.last().copied())
            .map(|(a, b)| b.saturating_duration_since(a))
    }

    /// Successes per second between the first and the last success: (n - 1) intervals. A
    /// pacer exactly at the configured rate scores exactly that rate.
    fn achieved(&self) -> Option<f64> {
        let s = &self.successes;
        match (s.first(), s.last()) {
            (Some(a), Some(b)) if b > a && s.len() > 1 => {
                Some((s.len() - 1) as f64 / (*b - *a).as_secs_f64())
            }
            _ => None,
        }
    }

    /// Steady state: the rate over the middle 80% of the successes (no start-up, no tail).
    fn steady(&self) -> Option<f64> {
        let s = &self.successes;
        let lo = s.len() / 10;
        let hi = s.len() * 9 / 10;
        match (s.get(lo), s.get(hi)) {
            (Some(a), Some(b)) if b > a => Some((hi - lo) as f64 / (*b - *a).as_secs_f64()),
            _ => None,
        }
    }
}

pub(crate) async fn throughput(env: &Env, o: &Options) -> Result<Value, String> {
    let n = o.throughput_keys;
    let ticks = clock_ticks();
    let rate = AWS_DELETE_QUOTA;
    let mut out = json!({
        "definition": format!("one invocation revoking {n} in-scope keys; kms-sim with AWS's quotas (DeleteImportedKeyMaterial 15/s, token bucket with 1 s burst) and 20-40 ms latency per call; both functions configured with MATERIAL_GUARD_DELETE_RATE=15. Delete phase = first DeleteImportedKeyMaterial call -> last successful one, from the sim's counters sampled every 2 ms; achieved rate = (successes - 1) / (last success - first success)"),
        "keys": n,
        "configured_rate": rate,
        "sim_quota": rate,
        "target_share_of_configured": TARGET_RATE_SHARE,
    });
    for &kind in &env.kinds {
        println!(
            "throughput: {} revoking {n} keys at {rate}/s (about {:.0} s)",
            kind.key(),
            n as f64 / rate
        );
        let sim = start_sim(realistic(SimConfig::default())).await?;
        let keys = seed(&sim, n, "throughput")?;
        let stop = Arc::new(AtomicBool::new(false));
        let sampler = tokio::spawn(sample_deletes(sim.clone(), stop.clone()));
        let r = revoke_once(
            env.launch(kind),
            &sim,
            &keys,
            &rate.to_string(),
            Duration::from_secs(900),
            ticks,
        )
        .await;
        stop.store(true, Ordering::Relaxed);
        let timeline = sampler.await.map_err(|e| format!("sampler: {e}"))?;
        out[kind.key()] = figures(&r?, &timeline, &sim, n, rate);
    }
    out["ratio_rate_rust_over_peer"] =
        json!(side_ratio(&out, "rust", "peer", &["achieved_rate_per_s"]));
    print_section("throughput", &out);
    Ok(out)
}

/// One function's figures: outcomes, the sim's delete counters, the rates.
fn figures(r: &Revocation, timeline: &Timeline, sim: &KmsSim, n: usize, rate: f64) -> Value {
    let counters = sim.counters();
    let achieved = timeline.achieved();
    let lost_or_failed = r.lost_or_failed(n);
    json!({
        "revoked": r.revoked(),
        "outcomes": r.counts,
        "keys_lost_or_failed": lost_or_failed,
        "audit_records": r.audit_records,
        "pending_import_in_kms": r.revoked_in_kms,
        "invocation_ok": r.invocation.is_ok(),
        "invocation_error": r.invocation.error_type(),
        "delete_calls": counters.calls(DELETE_OP),
        "delete_successes": counters.successes(DELETE_OP),
        "delete_throttled": counters.throttled(DELETE_OP),
        "delete_phase_s": timeline.phase().map(|p| round(p.as_secs_f64(), 3)),
        "achieved_rate_per_s": achieved.map(|a| round(a, 3)),
        "steady_rate_per_s": timeline.steady().map(|a| round(a, 3)),
        "share_of_configured": achieved.map(|a| round(a / rate, 4)),
        "meets_target": achieved.is_some_and(|a| a / rate >= TARGET_RATE_SHARE) && lost_or_failed == 0,
        "invocation_s": round(r.invocation.duration.as_secs_f64(), 3),
        "describe_calls": counters.calls("DescribeKey"),
        "list_resource_tags_calls": counters.calls("ListResourceTags"),
        "peak_rss_kib": r.peak_rss_kib,
        "handler_cpu_ms": r.handler_cpu_ms,
    })
}
