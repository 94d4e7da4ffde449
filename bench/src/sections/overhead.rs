//! What the handler itself costs per key: CPU and wall time revoking 1,000 keys against a
//! zero-latency, unlimited KMS.

use kms_sim::SimConfig;
use serde_json::{Value, json};

use crate::cli::Options;
use crate::kms::{seed, start_sim};
use crate::launch::{Env, Kind, Launch};
use crate::procfs::clock_ticks;
use crate::report::files::print_section;
use crate::revocation::{Revocation, revoke_unpaced};
use crate::stats::{f, ms, round, side_ratio, stats};

/// One cold process of `launch` revoking `n` keys against a zero-latency, unlimited KMS,
/// checked.
pub(crate) async fn overhead_once(
    launch: &Launch,
    n: usize,
    ticks: f64,
    kind: Kind,
) -> Result<Revocation, String> {
    let sim = start_sim(SimConfig::unlimited()).await?;
    let keys = seed(&sim, n, "overhead")?;
    revoke_unpaced(launch, &sim, &keys, kind, ticks).await
}

/// Microseconds per key of the median of a [`stats`] value over `n` keys.
pub(crate) fn per_key_us(v: &Value, n: usize) -> Option<f64> {
    f(v, &["median_ms"]).map(|m| round(m * 1000.0 / n as f64, 1))
}

/// CPU time (utime + stime of the function process, /proc/<pid>/stat around the invocation) and
/// wall time per key, against a zero-latency unlimited KMS: what the handler itself costs.
pub(crate) async fn overhead(env: &Env, o: &Options) -> Result<Value, String> {
    let ticks = clock_ticks();
    let n = o.overhead_keys;
    let mut out = json!({
        "definition": format!("one invocation revoking {n} keys (4 KMS calls each) against kms-sim with no latency and no quotas, MATERIAL_GUARD_DELETE_RATE=10000; CPU = utime+stime of the function process (all threads) read from /proc/<pid>/stat before and after the invocation (clock tick {} ms); wall = the invocation's duration; median of {} cold processes", 1000.0 / ticks, o.overhead_repeats),
        "keys": n,
    });
    for &kind in &env.kinds {
        let mut cpu = Vec::new();
        let mut wall = Vec::new();
        let mut init = Vec::new();
        for i in 0..o.overhead_repeats {
            println!(
                "overhead: {} revoking {n} keys ({}/{})",
                kind.key(),
                i + 1,
                o.overhead_repeats
            );
            let r = overhead_once(env.launch(kind), n, ticks, kind).await?;
            cpu.extend(r.handler_cpu_ms);
            init.extend(r.init_cpu_ms);
            wall.push(ms(r.invocation.duration));
        }
        let cpu_s = stats(&cpu);
        let wall_s = stats(&wall);
        out[kind.key()] = json!({
            "cpu_ms": cpu_s,
            "wall_ms": wall_s,
            "init_cpu_ms": stats(&init),
            "cpu_us_per_key": per_key_us(&cpu_s, n),
            "wall_us_per_key": per_key_us(&wall_s, n),
        });
    }
    out["ratio_cpu_per_key"] = json!(side_ratio(&out, "peer", "rust", &["cpu_us_per_key"]));
    out["ratio_wall_per_key"] = json!(side_ratio(&out, "peer", "rust", &["wall_us_per_key"]));
    print_section("overhead", &out);
    Ok(out)
}
