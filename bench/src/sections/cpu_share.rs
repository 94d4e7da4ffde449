//! Under Lambda's CPU share: each function run in a CPU-limited cgroup matching a Lambda memory
//! size (128, 256, 512, 1769 MB: MB / 1769 of one CPU), a cold process with a revocation of 100
//! keys queued at its spawn (KMS 20-40 ms, AWS's quotas, MATERIAL_GUARD_DELETE_RATE=15): its cold
//! start, its time to the first delete, its time to revoke them all.

use std::collections::BTreeMap;
use std::time::Duration;

use kms_sim::{KeyState, SimConfig};
use serde_json::{Value, json};

use crate::calls::{DELETE_OP, Sampler};
use crate::cgroup::{CpuGroup, FULL_VCPU_MB, probe, quota_us};
use crate::cli::Options;
use crate::fresh::{Fresh, outcome_counts};
use crate::kms::{AWS_DELETE_QUOTA, realistic, revoke_request, seed, start_sim};
use crate::launch::{Env, Kind};
use crate::procfs::{clock_ticks, cpu_ms};
use crate::report::files::print_section;
use crate::stats::{ms, side_ratio, stats};

/// How long one run may take (the peer at 128 MB is slow).
const RUN_TIMEOUT: Duration = Duration::from_secs(600);

pub(crate) async fn cpu_share(env: &Env, o: &Options) -> Result<Value, String> {
    let n = o.cpu_keys;
    let mut out = json!({
        "definition": format!("each function in a cgroup v1 cpu group with cpu.cfs_quota_us = 100 ms * MB / {FULL_VCPU_MB} per 100 ms period (Lambda: one vCPU at {FULL_VCPU_MB} MB, proportionally less below), AWS_LAMBDA_FUNCTION_MEMORY_SIZE=MB; a cold process with one invocation revoking {n} in-scope keys queued at its spawn; kms-sim with AWS's quotas and 20-40 ms latency; MATERIAL_GUARD_DELETE_RATE=15. cold start = spawn -> first /next; first delete = spawn -> first DeleteImportedKeyMaterial reaching the sim (counters sampled every 0.5 ms); revoke all = spawn -> response; cpu = utime + stime of the process at the response. Median of the runs"),
        "keys": n,
        "runs": o.cpu_runs,
    });
    let method = match probe() {
        Ok(m) => m,
        Err(e) => {
            println!("cpu share: not measured: {e}");
            out["available"] = json!(false);
            out["reason"] = json!(e);
            print_section("cpu share", &out);
            return Ok(out);
        }
    };
    out["available"] = json!(true);
    out["method"] = method["method"].clone();
    out["prefix_cost_ms"] = method["prefix_cost_ms"].clone();
    out["prefix_cost_definition"] = method["prefix_cost_definition"].clone();
    for &mb in &o.memory_sizes {
        let mut row = json!({"quota_us_per_100ms": quota_us(mb), "cpu_share": f64::from(mb) / f64::from(FULL_VCPU_MB)});
        for &kind in &env.kinds {
            println!(
                "cpu share: {} at {mb} MB ({:.3} CPU), {} runs of {n} keys",
                kind.key(),
                f64::from(mb) / f64::from(FULL_VCPU_MB),
                o.cpu_runs
            );
            let mut samples: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
            let mut throttling = Vec::new();
            for _ in 0..o.cpu_runs {
                let (figures, stat) = one_run(env, kind, mb, n).await?;
                for (k, v) in figures {
                    samples.entry(k).or_default().push(v);
                }
                throttling.push(stat);
            }
            let mut side = json!({"cgroup_cpu_stat": throttling});
            for (k, v) in &samples {
                side[*k] = stats(v);
            }
            row[kind.key()] = side;
        }
        for (name, path) in [
            ("ratio_cold_start", "cold_start"),
            ("ratio_first_delete", "first_delete"),
            ("ratio_revoke_all", "revoke_all"),
        ] {
            row[name] = json!(side_ratio(&row, "peer", "rust", &[path, "median_ms"]));
        }
        out["sizes"][mb.to_string()] = row;
    }
    print_section("cpu share", &out);
    Ok(out)
}

/// One cold process of `kind` in a group for `mb`: its figures (ms) and the group's cpu.stat.
async fn one_run(
    env: &Env,
    kind: Kind,
    mb: u32,
    n: usize,
) -> Result<(Vec<(&'static str, f64)>, Value), String> {
    let group = CpuGroup::create(mb)?;
    let sim = start_sim(realistic(SimConfig::default())).await?;
    let keys = seed(&sim, n, &format!("cpu-{mb}"))?;
    let command = env.launch(kind).command_with(
        &sim.endpoint_url(),
        &AWS_DELETE_QUOTA.to_string(),
        &group.prefix(),
        mb,
    );
    let sampler = Sampler::start(sim.clone());
    let fresh = Fresh::spawn(command, RUN_TIMEOUT).await?;
    let function = &fresh.function;
    let invocation = fresh
        .api
        .invoke(revoke_request(&keys, "BENCH-CPU"), RUN_TIMEOUT)
        .await;
    let total = function.spawned_at().elapsed();
    let cpu = cpu_ms(function.pid(), clock_ticks());
    let timeline = sampler.finish()?;
    let stat = group.stat();
    fresh.stop().await;
    let revoked_in_kms = keys
        .iter()
        .filter(|k| {
            sim.store()
                .describe(k)
                .is_some_and(|v| v.state == KeyState::PendingImport)
        })
        .count();
    let revoked = outcome_counts(&invocation).get("revoked").copied();
    let (Some(cold), Some(first_delete), true) = (
        function.cold_start(),
        timeline.first_call_of(DELETE_OP),
        revoked == Some(n as u64) && revoked_in_kms == n,
    ) else {
        return Err(format!(
            "{} at {mb} MB: expected {n} keys revoked, got {revoked:?} ({revoked_in_kms} PendingImport), response {:?}, stderr {:?}",
            kind.key(),
            invocation.outcome.as_ref().err(),
            function.stderr_lines()
        ));
    };
    let spawned = function.spawned_at();
    let mut figures = vec![
        ("cold_start", ms(cold)),
        (
            "first_delete",
            ms(first_delete.saturating_duration_since(spawned)),
        ),
        ("revoke_all", ms(total)),
        ("invocation", ms(invocation.duration)),
    ];
    if let Some(c) = cpu {
        figures.push(("cpu", c));
    }
    Ok((figures, stat))
}
