//! Time to kill: how soon after an incident revocation arrives its first
//! DeleteImportedKeyMaterial reaches KMS, and its verified audit record is out. KMS answers every
//! call in exactly 50 ms (one round trip), so delays read as round trips; one key named by ARN,
//! then one named by alias, each in a fresh process that has finished its init.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kms_sim::{KeyState, KmsSim, SimConfig};
use lambda_harness::OutputStream;
use serde_json::{Value, json};

use crate::calls::{DELETE_OP, SAMPLE_EVERY, Sampler};
use crate::cli::Options;
use crate::fresh::{Fresh, PATIENCE, outcome_counts};
use crate::kms::{revoke_request, seed_key, start_sim};
use crate::launch::{Env, Kind};
use crate::report::files::print_section;
use crate::report::{TARGET_TTK_ALIAS_ROUND_TRIPS, TARGET_TTK_ARN_ROUND_TRIPS};
use crate::stats::{f, ms, round, side_ratio, stats};

/// Every KMS call takes exactly this long.
const ROUND_TRIP: Duration = Duration::from_millis(50);

/// How the key is named in the request.
#[derive(Clone, Copy)]
enum Naming {
    Arn,
    Alias,
}

impl Naming {
    fn key(self) -> &'static str {
        match self {
            Naming::Arn => "arn",
            Naming::Alias => "alias",
        }
    }

    fn target(self) -> f64 {
        match self {
            Naming::Arn => TARGET_TTK_ARN_ROUND_TRIPS,
            Naming::Alias => TARGET_TTK_ALIAS_ROUND_TRIPS,
        }
    }
}

/// The figures of one run, in ms (keyed by name), and the calls as the sim received them.
struct Run {
    figures: BTreeMap<&'static str, f64>,
    calls: Vec<(&'static str, f64)>,
}

pub(crate) async fn time_to_kill(env: &Env, o: &Options) -> Result<Value, String> {
    println!(
        "time to kill: {} runs per function and naming, KMS latency {} ms per call",
        o.ttk_runs,
        ROUND_TRIP.as_millis()
    );
    let sim = start_sim(SimConfig::unlimited().with_latency(ROUND_TRIP, ROUND_TRIP)).await?;
    let mut out = json!({
        "definition": format!("a fresh process (its init done, waiting on /next) gets one incident revocation of one key, named by ARN or by alias (MATERIAL_GUARD_DELETE_RATE=10); kms-sim without quotas answers every call after exactly {} ms (one round trip). Instants: the harness handing out the event on /next; each KMS call's arrival at the sim (its counters sampled every {} µs); the audit record line read from the function's stdout; the response. Round trips = ms after the first KMS call / {} ms. Median of the runs", ROUND_TRIP.as_millis(), SAMPLE_EVERY.as_micros(), ROUND_TRIP.as_millis()),
        "kms_latency_ms": ms(ROUND_TRIP),
        "runs": o.ttk_runs,
        "target_round_trips": {"arn": TARGET_TTK_ARN_ROUND_TRIPS, "alias": TARGET_TTK_ALIAS_ROUND_TRIPS},
    });
    for naming in [Naming::Arn, Naming::Alias] {
        for &kind in &env.kinds {
            let mut runs = Vec::new();
            for i in 0..o.ttk_runs {
                runs.push(one_run(env, &sim, kind, naming, i).await?);
            }
            out[kind.key()][naming.key()] = summarise(&runs, naming);
        }
        let path = [naming.key(), "first_delete_after_event", "median_ms"];
        out[format!("ratio_first_delete_{}_peer_over_rust", naming.key())] =
            json!(side_ratio(&out, "peer", "rust", &path));
    }
    print_section("time to kill", &out);
    Ok(out)
}

/// Medians (and every sample) of the runs; the calls of the first run; the target verdict.
fn summarise(runs: &[Run], naming: Naming) -> Value {
    let mut v = json!({});
    let names = runs
        .first()
        .map(|r| r.figures.keys().copied().collect::<Vec<_>>())
        .unwrap_or_default();
    for name in names {
        let samples: Vec<f64> = runs
            .iter()
            .filter_map(|r| r.figures.get(name))
            .copied()
            .collect();
        v[name] = stats(&samples);
    }
    let rt = |ms: Option<f64>| ms.map(|m| round(m / self::ms(ROUND_TRIP), 2));
    let first_delete = rt(f(&v, &["first_delete_after_first_call", "median_ms"]));
    v["first_delete_round_trips"] = json!(first_delete);
    v["audit_record_round_trips"] =
        json!(rt(f(&v, &["audit_record_after_first_call", "median_ms"])));
    v["response_round_trips"] = json!(rt(f(&v, &["response_after_first_call", "median_ms"])));
    v["target_round_trips"] = json!(naming.target());
    v["meets_target"] = json!(first_delete.map(|r| r <= naming.target()));
    v["calls_of_first_run_ms_after_first_call"] = json!(
        runs.first()
            .map(|r| r
                .calls
                .iter()
                .map(|(op, t)| json!([op, t]))
                .collect::<Vec<_>>())
            .unwrap_or_default()
    );
    v
}

/// A fresh process revoking one fresh key named by `naming`.
async fn one_run(
    env: &Env,
    sim: &Arc<KmsSim>,
    kind: Kind,
    naming: Naming,
    i: usize,
) -> Result<Run, String> {
    let tag = format!("ttk-{}-{}-{i}", kind.key(), naming.key());
    let alias = format!("alias/bench-{tag}");
    let key = seed_key(sim, i, &tag, Some(&alias))?;
    let name = match naming {
        Naming::Arn => key.arn.clone(),
        Naming::Alias => alias,
    };
    let fresh = Fresh::spawn(
        env.launch(kind).command(&sim.endpoint_url(), "10"),
        PATIENCE,
    )
    .await?;
    let function = &fresh.function;
    if function.wait_ready(PATIENCE).await.is_none() {
        fresh.stop().await;
        return Err(format!(
            "{}: no /next within 60 s: {:?}",
            kind.key(),
            function.stderr_lines()
        ));
    }
    let sampler = Sampler::start(sim.clone());
    let invoked_at = Instant::now();
    let invocation = fresh
        .api
        .invoke(revoke_request(&[name], "BENCH-TTK"), PATIENCE);
    let record = async {
        let line = function
            .wait_for_line(OutputStream::Stdout, PATIENCE, |l| {
                l.contains("\"log_type\":\"audit\"") || l.contains("\"log_type\": \"audit\"")
            })
            .await;
        line.map(|_| Instant::now())
    };
    let (invocation, record_at) = tokio::join!(invocation, record);
    let timeline = sampler.finish()?;
    fresh.stop().await;
    let revoked = outcome_counts(&invocation).get("revoked") == Some(&1)
        && sim
            .store()
            .describe(&key.arn)
            .is_some_and(|v| v.state == KeyState::PendingImport);
    let handed_out = invocation_start(invoked_at, invocation.queued);
    let (Some(first_call), Some(first_delete), Some(record_at), true) = (
        timeline.first_call(),
        timeline.first_call_of(DELETE_OP),
        record_at,
        revoked,
    ) else {
        return Err(format!(
            "{} ({}): the key was not revoked and audited: response {:?}, stderr {:?}",
            kind.key(),
            naming.key(),
            invocation.outcome,
            function.stderr_lines()
        ));
    };
    let response_at = handed_out + invocation.duration;
    let after = |t0: Instant, t: Instant| ms(t.saturating_duration_since(t0));
    let figures = BTreeMap::from([
        ("first_call_after_event", after(handed_out, first_call)),
        ("first_delete_after_event", after(handed_out, first_delete)),
        (
            "first_delete_after_first_call",
            after(first_call, first_delete),
        ),
        ("audit_record_after_event", after(handed_out, record_at)),
        (
            "audit_record_after_first_call",
            after(first_call, record_at),
        ),
        ("response_after_event", after(handed_out, response_at)),
        ("response_after_first_call", after(first_call, response_at)),
    ]);
    Ok(Run {
        figures,
        calls: timeline.calls_after(first_call),
    })
}

/// When the harness handed the event out on `/next`: the invoke call plus its time queued.
fn invocation_start(invoked_at: Instant, queued: Duration) -> Instant {
    invoked_at + queued
}
