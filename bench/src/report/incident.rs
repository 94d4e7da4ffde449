//! The rows of issue 13's sections in latest.md: the delete rate with a reduced quota, time to
//! kill (first delete and first verified record, in ms and round trips), and the figures under
//! Lambda's CPU share per memory size.

use serde_json::Value;

use super::format::{fmt_ms, med_p90, met_of, x};

/// The rate with less quota left than configured; throttling and losses.
pub(crate) fn reduced_quota_rows(r: &Value, tgt: &Value) -> String {
    if !r.is_object() {
        return String::new();
    }
    let rate = |v: &Value| match (
        v["achieved_rate_per_s"].as_f64(),
        v["share_of_available"].as_f64(),
    ) {
        (Some(a), Some(sh)) => format!("{a:.2}/s ({:.1}%)", sh * 100.0),
        _ => "n/a".to_owned(),
    };
    let throttled = |v: &Value| {
        let n = |x: &Value| x.as_f64().map_or("n/a".to_owned(), |n| format!("{n}"));
        format!(
            "{} ({}/min) / {}",
            n(&v["delete_throttled"]),
            n(&v["delete_throttled_per_minute"]),
            n(&v["keys_lost_or_failed"])
        )
    };
    let mut out = format!(
        "| DeleteImportedKeyMaterial rate, {} keys, configured {}/s, {}/s available (% of available) | {} | {} | {} | ≥ 90% of available, 0 lost | {} |\n",
        r["keys"],
        r["configured_rate"].as_f64().unwrap_or(f64::NAN),
        r["sim_quota"].as_f64().unwrap_or(f64::NAN),
        rate(&r["rust"]),
        rate(&r["peer"]),
        r["ratio_rate_rust_over_peer"]
            .as_f64()
            .map_or("n/a".to_owned(), |x| format!("{x:.2}")),
        met_of(tgt, "reduced_quota"),
    );
    out.push_str(&format!(
        "| throttled deletes (per minute of the delete phase) / keys lost or failed, same run | {} | {} | | few / 0 lost | |\n",
        throttled(&r["rust"]),
        throttled(&r["peer"]),
    ));
    out
}

/// `median ms (round trips)` of a time-to-kill figure.
fn ms_rt(side: &Value, figure: &str, rt: &str) -> String {
    match (side[figure]["median_ms"].as_f64(), side[rt].as_f64()) {
        (Some(m), Some(r)) => format!("{} ({r:.2} RT)", fmt_ms(m)),
        _ => "n/a".to_owned(),
    }
}

/// First delete and first verified record, per naming.
pub(crate) fn time_to_kill_rows(t: &Value, tgt: &Value) -> String {
    let mut out = String::new();
    if !t.is_object() {
        return out;
    }
    let latency = t["kms_latency_ms"].as_f64().unwrap_or(f64::NAN);
    for (naming, label, target, id) in [
        ("arn", "ARN", "≤ 1.3 RT", "ttk_arn"),
        ("alias", "alias", "≤ 2.3 RT", "ttk_alias"),
    ] {
        let (r, p) = (&t["rust"][naming], &t["peer"][naming]);
        out.push_str(&format!(
            "| time to kill, key by {label} (KMS {latency:.0} ms per call): first KMS call → first delete, median (round trips) | {} | {} | | {target} | {} |\n",
            ms_rt(r, "first_delete_after_first_call", "first_delete_round_trips"),
            ms_rt(p, "first_delete_after_first_call", "first_delete_round_trips"),
            met_of(tgt, id),
        ));
        out.push_str(&format!(
            "| time to kill, key by {label}: event handed out → first delete, median (p90) | {} | {} | {} faster | | |\n",
            med_p90(&r["first_delete_after_event"]),
            med_p90(&p["first_delete_after_event"]),
            x(t[format!("ratio_first_delete_{naming}_peer_over_rust")].as_f64()),
        ));
        out.push_str(&format!(
            "| time to kill, key by {label}: first KMS call → verified audit record, median (round trips); event → record, median | {} · {} | {} · {} | | | |\n",
            ms_rt(r, "audit_record_after_first_call", "audit_record_round_trips"),
            med_ms(&r["audit_record_after_event"]),
            ms_rt(p, "audit_record_after_first_call", "audit_record_round_trips"),
            med_ms(&p["audit_record_after_event"]),
        ));
    }
    out
}

fn med_ms(v: &Value) -> String {
    v["median_ms"].as_f64().map_or("n/a".to_owned(), fmt_time)
}

/// Milliseconds, as seconds from 10 s up.
fn fmt_time(m: f64) -> String {
    if m >= 10_000.0 {
        format!("{:.1} s", m / 1000.0)
    } else {
        fmt_ms(m)
    }
}

/// One row per memory size: cold start · first delete · all keys revoked (medians).
pub(crate) fn cpu_share_rows(c: &Value) -> String {
    if !c.is_object() {
        return String::new();
    }
    if c["available"].as_bool() != Some(true) {
        return format!(
            "| under Lambda's CPU share | not measured: {} | | | | |\n",
            c["reason"].as_str().unwrap_or("?").replace('|', "\\|")
        );
    }
    let mut out = String::new();
    let mut sizes: Vec<(&String, &Value)> = c["sizes"].as_object().into_iter().flatten().collect();
    sizes.sort_by_key(|(k, _)| k.parse::<u32>().unwrap_or(0));
    let side = |v: &Value| {
        format!(
            "{} · {} · {}",
            med_ms(&v["cold_start"]),
            med_ms(&v["first_delete"]),
            med_ms(&v["revoke_all"])
        )
    };
    for (mb, row) in sizes {
        out.push_str(&format!(
            "| {mb} MB ({:.3} vCPU, cgroup CPU quota; the cgroup's shell adds {} ms): cold start · spawn → first delete · spawn → {} keys revoked, median of {} | {} | {} | {} · {} · {} faster | | |\n",
            row["cpu_share"].as_f64().unwrap_or(f64::NAN),
            c["prefix_cost_ms"],
            c["keys"],
            c["runs"],
            side(&row["rust"]),
            side(&row["peer"]),
            x(row["ratio_cold_start"].as_f64()),
            x(row["ratio_first_delete"].as_f64()),
            x(row["ratio_revoke_all"].as_f64()),
        ));
    }
    out
}
