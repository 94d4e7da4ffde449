//! The delete rate when less quota is left than configured: MATERIAL_GUARD_DELETE_RATE=10, the
//! sim granting DeleteImportedKeyMaterial 5/s (other operations at AWS's quotas), 100 keys.
//! Whether the pacer finds the available rate, how often it is throttled, that no key is lost.

use kms_sim::SimConfig;
use serde_json::{Value, json};

use crate::calls::DELETE_OP;
use crate::cli::Options;
use crate::launch::Env;
use crate::paced::{METHOD, paced_run};
use crate::report::TARGET_REDUCED_QUOTA_SHARE;
use crate::report::files::print_section;
use crate::stats::{f, side_ratio};

/// What the function is configured to pace at.
const CONFIGURED_RATE: f64 = 10.0;
/// What the sim grants (the rest of the account's 15/s taken by other callers).
const AVAILABLE_RATE: f64 = 5.0;

pub(crate) async fn reduced_quota(env: &Env, o: &Options) -> Result<Value, String> {
    let n = o.keys.unwrap_or(100);
    let mut out = json!({
        "definition": format!("one invocation revoking {n} in-scope keys; both functions configured with MATERIAL_GUARD_DELETE_RATE={CONFIGURED_RATE}; kms-sim grants DeleteImportedKeyMaterial only {AVAILABLE_RATE}/s (token bucket with 1 s burst; the other operations at AWS's quotas), 20-40 ms latency per call. {METHOD}; throttled answers per minute = throttled / delete phase. Any key lost or failed fails the run"),
        "keys": n,
        "configured_rate": CONFIGURED_RATE,
        "sim_quota": AVAILABLE_RATE,
        "target_share_of_available": TARGET_REDUCED_QUOTA_SHARE,
    });
    let mut lost = Vec::new();
    for &kind in &env.kinds {
        println!(
            "reduced quota: {} revoking {n} keys, configured {CONFIGURED_RATE}/s, {AVAILABLE_RATE}/s available (about {:.0} s at the available rate)",
            kind.key(),
            n as f64 / AVAILABLE_RATE
        );
        let config = SimConfig::default().with_quota(DELETE_OP, AVAILABLE_RATE);
        let mut side =
            paced_run(env.launch(kind), config, n, CONFIGURED_RATE, AVAILABLE_RATE).await?;
        let share = f(&side, &["share_of_available"]);
        let lost_here = f(&side, &["keys_lost_or_failed"]).unwrap_or(f64::NAN);
        side["meets_target"] =
            json!(share.is_some_and(|s| s >= TARGET_REDUCED_QUOTA_SHARE) && lost_here == 0.0);
        if lost_here != 0.0 {
            lost.push(format!(
                "{}: {lost_here} keys lost or failed (outcomes {})",
                kind.key(),
                side["outcomes"]
            ));
        }
        out[kind.key()] = side;
    }
    out["ratio_rate_rust_over_peer"] =
        json!(side_ratio(&out, "rust", "peer", &["achieved_rate_per_s"]));
    print_section("reduced quota", &out);
    if !lost.is_empty() {
        return Err(format!("reduced quota: {}", lost.join("; ")));
    }
    Ok(out)
}
