//! Peak RSS of a cold process revoking 100 and 1,000 keys, per function.

use kms_sim::SimConfig;
use serde_json::{Value, json};

use crate::cli::Options;
use crate::kms::{realistic, seed, start_sim};
use crate::launch::Env;
use crate::procfs::clock_ticks;
use crate::report::files::print_section;
use crate::revocation::revoke_unpaced;
use crate::stats::{ms, side_ratio};

/// Peak RSS of a cold process revoking N keys in one invocation (unlimited KMS with realistic
/// latency, unpaced deletes, so the run is short and the pipelines are all in flight).
pub(crate) async fn memory(env: &Env, o: &Options) -> Result<Value, String> {
    let ticks = clock_ticks();
    let mut out = json!({
        "definition": "peak RSS (max of VmHWM polled from /proc and ru_maxrss from wait4) of a cold function process revoking N in-scope keys in one invocation; kms-sim unlimited quotas, 20-40 ms latency, MATERIAL_GUARD_DELETE_RATE=10000 (no pacing)",
        "runs": {},
    });
    for &n in &o.memory_keys {
        let mut row = json!({});
        for &kind in &env.kinds {
            println!("memory: {} revoking {n} keys", kind.key());
            let sim = start_sim(realistic(SimConfig::unlimited())).await?;
            let keys = seed(&sim, n, &format!("memory-{n}"))?;
            let r = revoke_unpaced(env.launch(kind), &sim, &keys, kind, ticks).await?;
            row[kind.key()] = json!({
                "peak_rss_kib": r.peak_rss_kib,
                "idle_rss_after_init_kib": r.idle_rss_kib,
                "cold_start_ms": r.cold_start.map(ms),
                "invocation_ms": ms(r.invocation.duration),
                "revoked": r.revoked(),
            });
        }
        row["ratio_peak_rss"] = json!(side_ratio(&row, "peer", "rust", &["peak_rss_kib"]));
        out["runs"][n.to_string()] = row;
    }
    print_section("memory", &out);
    Ok(out)
}
