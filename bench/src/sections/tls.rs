//! Time to first revocation over TLS, and what the first TLS connection costs, per function:
//! kms-sim behind a TLS proxy, a cold process with two one-key invocations.

use std::collections::BTreeMap;

use kms_sim::SimConfig;
use serde_json::{Value, json};

use super::tls_setup::{TlsProxy, make_tls_material};
use crate::cli::Options;
use crate::fresh::{PATIENCE, first_invocation, outcome_counts};
use crate::kms::{LATENCY_MS, realistic, revoke_request, seed, start_sim};
use crate::launch::{Env, Kind};
use crate::report::files::print_section;
use crate::stats::{ms, side_ratio, stats_at};

/// The samples of each measure, per function.
#[derive(Default)]
struct Samples {
    ttfr: BTreeMap<&'static str, Vec<f64>>,
    first: BTreeMap<&'static str, Vec<f64>>,
    second: BTreeMap<&'static str, Vec<f64>>,
    extra: BTreeMap<&'static str, Vec<f64>>,
}

/// Time to first revocation over TLS, and what the first connection costs: a cold process gets
/// two invocations of one key each; the first pays for loading the CA store, the TLS handshake
/// and connection setup, the second reuses the connection.
pub(crate) async fn tls(env: &Env, o: &Options) -> Result<Value, String> {
    println!(
        "tls: {} cold processes per function, 2 invocations of 1 key each, through a TLS proxy (KMS latency {}-{} ms)",
        o.ttfr_runs, LATENCY_MS.0, LATENCY_MS.1
    );
    let dir = env.root.join("target/bench-tls");
    let (bundle, chain, key) = make_tls_material(&dir)?;
    let sim = start_sim(realistic(SimConfig::default())).await?;
    let upstream = sim
        .endpoint_url()
        .rsplit(':')
        .next()
        .and_then(|p| p.trim_end_matches('/').parse::<u16>().ok())
        .ok_or("kms-sim port")?;
    let python = env.root.join("bench/.venv/bin/python");
    let proxy = TlsProxy::start(
        &python,
        &env.root.join("bench/tls/proxy.py"),
        &chain,
        &key,
        upstream,
    )?;
    let url = format!("https://127.0.0.1:{}", proxy.port);
    let mut samples = Samples::default();
    for run in 0..o.ttfr_runs {
        for &kind in &env.kinds {
            let keys = seed(&sim, 2, &format!("tls-{run}-{}", kind.key()))?;
            let command = env
                .launch(kind)
                .command(&url, "10")
                .env("SSL_CERT_FILE", &bundle)
                .env("AWS_CA_BUNDLE", &bundle);
            two_invocations(command, &keys, kind, &mut samples).await?;
        }
    }
    drop(proxy);
    let mut out = json!({
        "definition": "kms-sim behind a TLS-terminating proxy on 127.0.0.1 (bench/tls/proxy.py; RSA 2048 server certificate from a throwaway CA appended to the system CA bundle, given as SSL_CERT_FILE / AWS_CA_BUNDLE, so each function loads a full root store); KMS latency 20-40 ms per call. time to first revocation = spawn -> response of an invocation queued at spawn revoking 1 key; first / second invocation = the first and a second 1-key invocation of the same process; first-connection cost = per-process difference first - second (CA store, TLS handshake, connection setup, plus the random latency difference)",
        "kms_latency_ms": [LATENCY_MS.0, LATENCY_MS.1],
    });
    for &kind in &env.kinds {
        let k = kind.key();
        out[k] = json!({
            "time_to_first_revocation": stats_at(&samples.ttfr, &k),
            "first_invocation_duration": stats_at(&samples.first, &k),
            "second_invocation_duration": stats_at(&samples.second, &k),
            "first_connection_cost": stats_at(&samples.extra, &k),
        });
    }
    out["ratio_time_to_first_revocation_median"] = json!(side_ratio(
        &out,
        "peer",
        "rust",
        &["time_to_first_revocation", "median_ms"]
    ));
    print_section("tls", &out);
    Ok(out)
}

/// A cold process of `command` revoking `keys[0]` (queued at spawn), then `keys[1]`.
async fn two_invocations(
    command: lambda_harness::FunctionCommand,
    keys: &[String],
    kind: Kind,
    samples: &mut Samples,
) -> Result<(), String> {
    let (fresh, a) = first_invocation(command, revoke_request(&keys[..1], "BENCH-TLS-1")).await?;
    let b = fresh
        .api
        .invoke(revoke_request(&keys[1..], "BENCH-TLS-2"), PATIENCE)
        .await;
    fresh.stop().await;
    for (i, inv) in [&a.invocation, &b].into_iter().enumerate() {
        if outcome_counts(inv).get("revoked") != Some(&1) {
            return Err(format!(
                "{}: invocation {} over TLS failed: {:?}; stderr {:?}",
                kind.key(),
                i + 1,
                inv.outcome.as_ref().err(),
                fresh.function.stderr_lines()
            ));
        }
    }
    let k = kind.key();
    samples.ttfr.entry(k).or_default().push(ms(a.total));
    samples
        .first
        .entry(k)
        .or_default()
        .push(ms(a.invocation.duration));
    samples.second.entry(k).or_default().push(ms(b.duration));
    samples
        .extra
        .entry(k)
        .or_default()
        .push(ms(a.invocation.duration) - ms(b.duration));
    Ok(())
}
