//! DeleteImportedKeyMaterial rate at AWS's 15/s quota: 1,000 keys, both functions paced to the
//! quota, the delete phase timed from the sim's counters.

use kms_sim::SimConfig;
use serde_json::{Value, json};

use crate::cli::Options;
use crate::kms::AWS_DELETE_QUOTA;
use crate::launch::Env;
use crate::paced::{METHOD, paced_run};
use crate::report::TARGET_FULL_QUOTA_SHARE;
use crate::report::files::print_section;
use crate::stats::{f, side_ratio};

pub(crate) async fn throughput(env: &Env, o: &Options) -> Result<Value, String> {
    let n = o.keys.unwrap_or(1000);
    let rate = AWS_DELETE_QUOTA;
    let mut out = json!({
        "definition": format!("one invocation revoking {n} in-scope keys; kms-sim with AWS's quotas (DeleteImportedKeyMaterial 15/s, token bucket with 1 s burst) and 20-40 ms latency per call; both functions configured with MATERIAL_GUARD_DELETE_RATE=15. {METHOD}"),
        "keys": n,
        "configured_rate": rate,
        "sim_quota": rate,
        "target_share_of_configured": TARGET_FULL_QUOTA_SHARE,
    });
    for &kind in &env.kinds {
        println!(
            "throughput: {} revoking {n} keys at {rate}/s (about {:.0} s)",
            kind.key(),
            n as f64 / rate
        );
        let mut side = paced_run(env.launch(kind), SimConfig::default(), n, rate, rate).await?;
        let share = f(&side, &["share_of_configured"]);
        let lost = f(&side, &["keys_lost_or_failed"]);
        side["meets_target"] =
            json!(share.is_some_and(|s| s >= TARGET_FULL_QUOTA_SHARE) && lost == Some(0.0));
        out[kind.key()] = side;
    }
    out["ratio_rate_rust_over_peer"] =
        json!(side_ratio(&out, "rust", "peer", &["achieved_rate_per_s"]));
    print_section("throughput", &out);
    Ok(out)
}
