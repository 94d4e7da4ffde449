//! Release-profile variants (bench/profiles.sh): cold start, time to first revocation, CPU per
//! key, peak RSS and size of several builds of the function, and their Markdown table.

use std::collections::BTreeMap;
use std::path::PathBuf;

use kms_sim::{KmsSim, SimConfig};
use serde_json::{Value, json};

use super::overhead::{overhead_once, per_key_us};
use crate::cli::Options;
use crate::fresh::{cold_start_once, first_invocation};
use crate::kms::{realistic, revoke_request, seed, start_sim};
use crate::launch::{Kind, Launch};
use crate::procfs::clock_ticks;
use crate::report::format::{bytes, kib, med_p90};
use crate::stats::{median_of, ms, stats_at};

/// A build to compare: its label, how to start it, its path.
type Variant = (String, Launch, PathBuf);

/// Per variant label, the samples of one measure.
type Samples<T> = BTreeMap<String, Vec<T>>;

pub(crate) async fn variants(o: &Options) -> Result<Value, String> {
    let sim = start_sim(realistic(SimConfig::default())).await?;
    let launches: Vec<Variant> = o
        .variants
        .iter()
        .map(|(l, p)| (l.clone(), Launch::Rust(p.clone()), p.clone()))
        .collect();
    for (label, _, p) in &launches {
        if !p.exists() {
            return Err(format!("variant {label}: {} does not exist", p.display()));
        }
    }
    let cold = cold_starts(o, &sim, &launches).await?;
    let ttfr = first_revocations(o, &sim, &launches).await?;
    let (cpu, rss) = revocations(o, &launches).await?;
    let n = o.overhead_keys;
    let mut out = serde_json::Map::new();
    for (label, _, path) in &launches {
        let cpu_s = stats_at(&cpu, label);
        out.insert(
            label.clone(),
            json!({
                "binary": path.display().to_string(),
                "binary_bytes": std::fs::metadata(path).map(|m| m.len()).ok(),
                "cold_start": stats_at(&cold, label),
                "time_to_first_revocation": stats_at(&ttfr, label),
                "cpu_ms_1000_keys": cpu_s,
                "cpu_us_per_key": per_key_us(&cpu_s, n),
                "peak_rss_kib_median": median_of(rss.get(label).map(Vec::as_slice).unwrap_or(&[])),
            }),
        );
    }
    Ok(Value::Object(out))
}

/// Cold starts, `cold_runs` per variant, interleaved, after one discarded warm-up each.
async fn cold_starts(
    o: &Options,
    sim: &KmsSim,
    launches: &[Variant],
) -> Result<Samples<f64>, String> {
    println!(
        "variants: cold start {} runs each (+1 warm-up), interleaved",
        o.cold_runs
    );
    let mut cold = Samples::new();
    for run in 0..=o.cold_runs {
        for (label, launch, _) in launches {
            let c = cold_start_once(launch.command(&sim.endpoint_url(), "10")).await?;
            if run > 0 {
                cold.entry(label.clone())
                    .or_default()
                    .extend(c.ready.map(ms));
            }
        }
    }
    Ok(cold)
}

/// Times to first revocation (one key queued at spawn), `ttfr_runs` per variant.
async fn first_revocations(
    o: &Options,
    sim: &KmsSim,
    launches: &[Variant],
) -> Result<Samples<f64>, String> {
    println!(
        "variants: time to first revocation {} runs each",
        o.ttfr_runs
    );
    let mut ttfr = Samples::new();
    for run in 0..o.ttfr_runs {
        for (label, launch, _) in launches {
            let keys = seed(sim, 1, &format!("variant-{label}-{run}"))?;
            let command = launch.command(&sim.endpoint_url(), "10");
            let (fresh, first) =
                first_invocation(command, revoke_request(&keys, "BENCH-TTFR")).await?;
            fresh.stop().await;
            if !first.revoked_one() {
                return Err(format!("variant {label}: the first revocation failed"));
            }
            ttfr.entry(label.clone()).or_default().push(ms(first.total));
        }
    }
    Ok(ttfr)
}

/// Handler CPU and peak RSS revoking `overhead_keys` keys, `overhead_repeats` per variant.
async fn revocations(
    o: &Options,
    launches: &[Variant],
) -> Result<(Samples<f64>, Samples<u64>), String> {
    let ticks = clock_ticks();
    let n = o.overhead_keys;
    let mut cpu = Samples::new();
    let mut rss = Samples::new();
    for i in 0..o.overhead_repeats {
        for (label, launch, _) in launches {
            println!(
                "variants: {label} revoking {n} keys ({}/{})",
                i + 1,
                o.overhead_repeats
            );
            let r = overhead_once(launch, n, ticks, Kind::Rust).await?;
            cpu.entry(label.clone())
                .or_default()
                .extend(r.handler_cpu_ms);
            rss.entry(label.clone()).or_default().extend(r.peak_rss_kib);
        }
    }
    Ok((cpu, rss))
}

/// bench/results/profiles.md: one row per variant.
pub(crate) fn render_variants(v: &Value, meta: &Value) -> String {
    let mut s = String::new();
    s.push_str("# Release build variants\n\n");
    s.push_str(&format!(
        "{} · {} · commit {} · `{}`\n\n",
        meta["date"].as_str().unwrap_or("?"),
        meta["machine"]["summary"].as_str().unwrap_or("?"),
        meta["commit"].as_str().unwrap_or("?"),
        meta["command"].as_str().unwrap_or("?"),
    ));
    s.push_str("| variant | binary | cold start median (p90) | first revocation median (p90) | CPU per key | peak RSS, 1,000 keys |\n|---|---:|---:|---:|---:|---:|\n");
    if let Some(map) = v.as_object() {
        for (label, x) in map {
            s.push_str(&format!(
                "| {label} | {} | {} | {} | {} | {} |\n",
                bytes(x["binary_bytes"].as_u64()),
                med_p90(&x["cold_start"]),
                med_p90(&x["time_to_first_revocation"]),
                x["cpu_us_per_key"]
                    .as_f64()
                    .map_or("n/a".to_owned(), |c| format!("{c:.0} µs")),
                kib(x["peak_rss_kib_median"].as_u64()),
            ));
        }
    }
    s
}
