//! Cold start (process start -> first Runtime API `/next`) and time to first revocation (a cold
//! process with one revocation queued at its spawn), per function, interleaved.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::cli::Options;
use crate::fresh::{cold_start_once, first_invocation};
use crate::kms::{LATENCY_MS, realistic, revoke_request, seed, start_sim};
use crate::launch::Env;
use crate::report::files::print_section;
use crate::stats::{median_of, ms, side_ratio, stats_at};

/// Process start -> first /next, `runs` times per function (interleaved, after one discarded
/// warm-up each); then cold start + one invocation revoking one key at realistic latency.
pub(crate) async fn cold_start(env: &Env, o: &Options) -> Result<Value, String> {
    println!(
        "cold start: {} runs per function (+1 warm-up), interleaved",
        o.cold_runs
    );
    let sim = start_sim(realistic(kms_sim::SimConfig::default())).await?;
    let mut samples: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    let mut idle_rss: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    for run in 0..=o.cold_runs {
        for &kind in &env.kinds {
            let cold = cold_start_once(env.launch(kind).command(&sim.endpoint_url(), "10")).await?;
            let Some(ready) = cold.ready else {
                return Err(format!(
                    "{}: no /next within 60 s; stderr: {:?}",
                    kind.key(),
                    cold.stderr
                ));
            };
            if run > 0 {
                samples.entry(kind.key()).or_default().push(ms(ready));
                if let Some(r) = cold.idle_rss_kib {
                    idle_rss.entry(kind.key()).or_default().push(r);
                }
            }
        }
    }
    let (ttfr, first_invocation) = first_revocations(env, o, &sim).await?;
    let mut out = json!({
        "definition": "cold start = process spawn (just before fork/exec) -> first GET /2018-06-01/runtime/invocation/next on the harness's Runtime API; time to first revocation = spawn -> response of an invocation queued at spawn that revokes 1 key (DescribeKey, ListResourceTags, DeleteImportedKeyMaterial, DescribeKey) against kms-sim with 20-40 ms latency per call",
        "kms_latency_ms": [LATENCY_MS.0, LATENCY_MS.1],
    });
    for &kind in &env.kinds {
        let k = kind.key();
        out[k] = json!({
            "cold_start": stats_at(&samples, &k),
            "time_to_first_revocation": stats_at(&ttfr, &k),
            "first_invocation_duration": stats_at(&first_invocation, &k),
            "idle_rss_after_init_kib": median_of(idle_rss.get(k).map(Vec::as_slice).unwrap_or(&[])),
        });
    }
    out["ratio_cold_start_median"] = json!(side_ratio(
        &out,
        "peer",
        "rust",
        &["cold_start", "median_ms"]
    ));
    out["ratio_time_to_first_revocation_median"] = json!(side_ratio(
        &out,
        "peer",
        "rust",
        &["time_to_first_revocation", "median_ms"]
    ));
    print_section("cold start", &out);
    Ok(out)
}

type Samples = BTreeMap<&'static str, Vec<f64>>;

/// `ttfr_runs` cold processes per function, each revoking one key queued at its spawn: spawn ->
/// response, and the invocation's own duration.
async fn first_revocations(
    env: &Env,
    o: &Options,
    sim: &kms_sim::KmsSim,
) -> Result<(Samples, Samples), String> {
    println!(
        "time to first revocation: {} runs per function, 1 key, KMS latency {}-{} ms",
        o.ttfr_runs, LATENCY_MS.0, LATENCY_MS.1
    );
    let mut ttfr = Samples::new();
    let mut first_invocation_ms = Samples::new();
    for run in 0..o.ttfr_runs {
        for &kind in &env.kinds {
            let keys = seed(sim, 1, &format!("ttfr-{run}-{}", kind.key()))?;
            let command = env.launch(kind).command(&sim.endpoint_url(), "10");
            let (fresh, first) =
                first_invocation(command, revoke_request(&keys, "BENCH-TTFR")).await?;
            fresh.stop().await;
            if !first.revoked_one() {
                return Err(format!(
                    "{}: first revocation failed: {:?} {:?}; stderr {:?}",
                    kind.key(),
                    first.invocation.outcome.as_ref().err(),
                    crate::fresh::outcome_counts(&first.invocation),
                    fresh.function.stderr_lines()
                ));
            }
            ttfr.entry(kind.key()).or_default().push(ms(first.total));
            first_invocation_ms
                .entry(kind.key())
                .or_default()
                .push(ms(first.invocation.duration));
        }
    }
    Ok((ttfr, first_invocation_ms))
}
