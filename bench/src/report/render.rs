//! bench/results/latest.md: the figures table the README quotes, one group of rows per section.

use serde_json::Value;

use super::format::{bytes, end_to_end, fmt_cpu_ms, kib, med_p90, met_of, x};
use super::incident::{cpu_share_rows, reduced_quota_rows, time_to_kill_rows};

/// bench/results/latest.md from the results document.
pub(crate) fn render(doc: &Value) -> String {
    let s = &doc["sections"];
    let tgt = &doc["targets"];
    let mut out = header(&doc["meta"]);
    out.push_str("| measure | Rust (release) | Python peer | ratio | target | met |\n|---|---:|---:|---:|---|---|\n");
    out.push_str(&cold_start_rows(&s["cold_start"], tgt));
    out.push_str(&tls_rows(&s["tls"]));
    out.push_str(&memory_rows(&s["cold_start"], &s["memory"], tgt));
    out.push_str(&overhead_rows(&s["overhead"]));
    out.push_str(&throughput_rows(&s["throughput"], tgt));
    out.push_str(&reduced_quota_rows(&s["reduced_quota"], tgt));
    out.push_str(&time_to_kill_rows(&s["time_to_kill"], tgt));
    out.push_str(&size_rows(&s["size"]));
    out.push_str(&cpu_share_rows(&s["cpu_share"]));
    out.push_str(&footer(s));
    out
}

/// Date, commit, machine, command, function and peer.
fn header(meta: &Value) -> String {
    let mut out = String::new();
    out.push_str("# Benchmark results (latest)\n\n");
    out.push_str(&format!(
        "- date: {}; commit `{}`{}\n- machine: {} (nproc {}), kernel {}, load average at start {} / end {}\n- command: `{}`\n- function: `{}` ({}), {}\n- peer: Python {} / boto3 {} / awslambdaric {} (`bench/peer/handler.py`)\n\n",
        meta["date"].as_str().unwrap_or("?"),
        meta["commit"].as_str().unwrap_or("?"),
        if meta["function_sources_modified_since_commit"].as_bool() == Some(true) { " (function sources modified since)" } else { "" },
        meta["machine"]["cpu_model"].as_str().unwrap_or("?"),
        meta["machine"]["nproc"],
        meta["machine"]["kernel"].as_str().unwrap_or("?"),
        meta["machine"]["loadavg_at_start"].as_str().unwrap_or("?"),
        meta["machine"]["loadavg_at_end"].as_str().unwrap_or("?"),
        meta["command"].as_str().unwrap_or("?"),
        meta["function_binary"]["path"].as_str().unwrap_or("?"),
        bytes(meta["function_binary"]["bytes"].as_u64()),
        meta["rustc"].as_str().unwrap_or("?"),
        meta["peer"]["python"].as_str().unwrap_or("?"),
        meta["peer"]["boto3"].as_str().unwrap_or("?"),
        meta["peer"]["awslambdaric"].as_str().unwrap_or("?"),
    ));
    out
}

/// Cold start and time to first revocation.
fn cold_start_rows(c: &Value, tgt: &Value) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "| cold start: spawn → first `/next`, median (p90), {} runs | {} | {} | {} faster | ≥ 15x | {} |\n",
        c["rust"]["cold_start"]["runs"],
        med_p90(&c["rust"]["cold_start"]),
        med_p90(&c["peer"]["cold_start"]),
        x(c["ratio_cold_start_median"].as_f64()),
        met_of(tgt, "cold_start"),
    ));
    out.push_str(&format!(
        "| time to first revocation (cold start + 1 key, KMS 20-40 ms), median (p90) | {} | {} | {} faster | | |\n",
        med_p90(&c["rust"]["time_to_first_revocation"]),
        med_p90(&c["peer"]["time_to_first_revocation"]),
        x(c["ratio_time_to_first_revocation_median"].as_f64()),
    ));
    out
}

/// Time to first revocation over TLS and the first connection's cost, when measured.
fn tls_rows(tls: &Value) -> String {
    let mut out = String::new();
    if tls.is_object() {
        out.push_str(&format!(
            "| time to first revocation over TLS (cold start + 1 key; CA store, handshake; KMS 20-40 ms), median (p90) | {} | {} | {} faster | | |\n",
            med_p90(&tls["rust"]["time_to_first_revocation"]),
            med_p90(&tls["peer"]["time_to_first_revocation"]),
            x(tls["ratio_time_to_first_revocation_median"].as_f64()),
        ));
        out.push_str(&format!(
            "| first TLS connection's cost (first minus second 1-key invocation of a process), median (p90) | {} | {} | | | |\n",
            med_p90(&tls["rust"]["first_connection_cost"]),
            med_p90(&tls["peer"]["first_connection_cost"]),
        ));
    }
    out
}

/// RSS after init (from the cold start section) and peak RSS per key count.
fn memory_rows(c: &Value, memory: &Value, tgt: &Value) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "| RSS after init (idle) | {} | {} | | | |\n",
        kib(c["rust"]["idle_rss_after_init_kib"].as_u64()),
        kib(c["peer"]["idle_rss_after_init_kib"].as_u64()),
    ));
    if let Some(runs) = memory["runs"].as_object() {
        let mut keys: Vec<&String> = runs.keys().collect();
        keys.sort_by_key(|k| k.parse::<u64>().unwrap_or(0));
        for k in keys {
            let r = &runs[k.as_str()];
            let is_1000 = k == "1000";
            out.push_str(&format!(
                "| peak RSS revoking {} keys | {} | {} | {} smaller | {} | {} |\n",
                k,
                kib(r["rust"]["peak_rss_kib"].as_u64()),
                kib(r["peer"]["peak_rss_kib"].as_u64()),
                x(r["ratio_peak_rss"].as_f64()),
                if is_1000 { "≥ 4x" } else { "" },
                if is_1000 { met_of(tgt, "peak_rss") } else { "" },
            ));
        }
    }
    out
}

/// CPU and wall time per key, CPU of the init.
fn overhead_rows(o: &Value) -> String {
    let mut out = String::new();
    let us = |v: &Value| {
        v.as_f64()
            .map_or("n/a".to_owned(), |u| format!("{u:.0} µs"))
    };
    out.push_str(&format!(
        "| handler CPU per key ({} keys, zero-latency KMS) | {} | {} | {} less | | |\n",
        o["keys"],
        us(&o["rust"]["cpu_us_per_key"]),
        us(&o["peer"]["cpu_us_per_key"]),
        x(o["ratio_cpu_per_key"].as_f64()),
    ));
    out.push_str(&format!(
        "| wall time per key (same run) | {} | {} | {} less | | |\n",
        us(&o["rust"]["wall_us_per_key"]),
        us(&o["peer"]["wall_us_per_key"]),
        x(o["ratio_wall_per_key"].as_f64()),
    ));
    out.push_str(&format!(
        "| CPU of the init (spawn → ready) | {} | {} | | | |\n",
        o["rust"]["init_cpu_ms"]["median_ms"]
            .as_f64()
            .map_or("n/a".to_owned(), fmt_cpu_ms),
        o["peer"]["init_cpu_ms"]["median_ms"]
            .as_f64()
            .map_or("n/a".to_owned(), fmt_cpu_ms),
    ));
    out
}

/// The delete rate at the quota, losses, the whole invocation.
fn throughput_rows(t: &Value, tgt: &Value) -> String {
    let mut out = String::new();
    let rate = |v: &Value| match (
        v["achieved_rate_per_s"].as_f64(),
        v["share_of_configured"].as_f64(),
    ) {
        (Some(a), Some(sh)) => format!("{a:.2}/s ({:.1}%)", sh * 100.0),
        _ => "n/a".to_owned(),
    };
    out.push_str(&format!(
        "| DeleteImportedKeyMaterial rate, {} keys at the 15/s quota (% of configured 15/s) | {} | {} | {} | ≥ peer (±0.5%); ≥ 99% | {} / {} |\n",
        t["keys"],
        rate(&t["rust"]),
        rate(&t["peer"]),
        t["ratio_rate_rust_over_peer"].as_f64().map_or("n/a".to_owned(), |r| format!("{r:.3}")),
        met_of(tgt, "rate_vs_peer"),
        met_of(tgt, "full_quota"),
    ));
    let n = |v: &Value| v.as_u64().map_or("n/a".to_owned(), |n| n.to_string());
    out.push_str(&format!(
        "| throttled deletes / keys lost or failed | {} / {} | {} / {} | | 0 lost | |\n",
        n(&t["rust"]["delete_throttled"]),
        n(&t["rust"]["keys_lost_or_failed"]),
        n(&t["peer"]["delete_throttled"]),
        n(&t["peer"]["keys_lost_or_failed"]),
    ));
    out.push_str(&format!(
        "| whole invocation, {} keys at the quota (keys revoked per second end to end) | {} | {} | | | |\n",
        t["keys"],
        end_to_end(&t["rust"], &t["keys"]),
        end_to_end(&t["peer"], &t["keys"]),
    ));
    out
}

/// Deployment package per architecture.
fn size_rows(z: &Value) -> String {
    let mut out = String::new();
    for arch in ["arm64", "x86_64"] {
        let a = &z[arch];
        let text = if a["ok"].as_bool() == Some(true) {
            format!(
                "zip {} · binary {}",
                bytes(a["zip_bytes"].as_u64()),
                bytes(a["binary_bytes"].as_u64())
            )
        } else if a.is_null() {
            "n/a".to_owned()
        } else {
            "not built (see latest.json)".to_owned()
        };
        out.push_str(&format!(
            "| deployment package {arch} (`cargo lambda build --release --output-format zip`) | {text} | | | | |\n"
        ));
    }
    out
}

/// Where the definitions are, and when each section was measured.
fn footer(s: &Value) -> String {
    let mut out = String::new();
    out.push_str("\nDefinitions, every sample and the exact command of each section: `bench/results/latest.json`. Each section may come from a different run (see its `measured_at`).\n");
    for (name, v) in s.as_object().into_iter().flatten() {
        out.push_str(&format!(
            "- {name}: {} · `{}`\n",
            v["measured_at"].as_str().unwrap_or("?"),
            v["command"].as_str().unwrap_or("?")
        ));
    }
    out
}
