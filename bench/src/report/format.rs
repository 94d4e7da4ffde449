//! How figures read in the Markdown tables: milliseconds, MiB, ratios, verdicts.

use serde_json::Value;

/// `median (p90)` of a [`stats`](crate::stats::stats) value.
pub(crate) fn med_p90(v: &Value) -> String {
    match (v["median_ms"].as_f64(), v["p90_ms"].as_f64()) {
        (Some(m), Some(p)) => format!("{} ({})", fmt_ms(m), fmt_ms(p)),
        _ => "n/a".to_owned(),
    }
}

/// Milliseconds, one decimal below 100 ms.
pub(crate) fn fmt_ms(x: f64) -> String {
    if x >= 100.0 {
        format!("{x:.0} ms")
    } else {
        format!("{x:.1} ms")
    }
}

/// CPU from /proc counts in 10 ms clock ticks: zero means less than one tick.
pub(crate) fn fmt_cpu_ms(x: f64) -> String {
    if x <= 0.0 {
        "< 10 ms (one clock tick)".to_owned()
    } else {
        fmt_ms(x)
    }
}

/// KiB as MiB.
pub(crate) fn kib(k: Option<u64>) -> String {
    k.map_or("n/a".to_owned(), |k| {
        format!("{:.1} MiB", k as f64 / 1024.0)
    })
}

/// Bytes as MiB, with the exact count.
pub(crate) fn bytes(b: Option<u64>) -> String {
    b.map_or("n/a".to_owned(), |b| {
        format!("{:.2} MiB ({b} B)", b as f64 / 1_048_576.0)
    })
}

/// A ratio as `N.Nx`.
pub(crate) fn x(r: Option<f64>) -> String {
    r.map_or("n/a".to_owned(), |r| format!("{r:.1}x"))
}

/// An invocation's seconds and keys per second.
pub(crate) fn end_to_end(side: &Value, keys: &Value) -> String {
    match (side["invocation_s"].as_f64(), keys.as_f64()) {
        (Some(s), Some(k)) if s > 0.0 => format!("{s:.1} s ({:.2}/s)", k / s),
        _ => "n/a".to_owned(),
    }
}

/// A target's verdict.
pub(crate) fn met(m: &Value) -> &'static str {
    match m.as_bool() {
        Some(true) => "yes",
        Some(false) => "**no**",
        None => "n/a",
    }
}

/// The verdict of the target with `id` in the document's targets.
pub(crate) fn met_of(targets: &Value, id: &str) -> &'static str {
    let found = targets
        .as_array()
        .and_then(|a| a.iter().find(|t| t["id"].as_str() == Some(id)));
    found.map_or("n/a", |t| met(&t["met"]))
}
