//! Numbers from samples: milliseconds, rounding, median/p90/min/max, ratios, and reading a figure
//! back out of a JSON section.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};

/// Milliseconds, to the microsecond.
pub(crate) fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

pub(crate) fn round(x: f64, places: i32) -> f64 {
    let f = 10f64.powi(places);
    (x * f).round() / f
}

/// `{"runs","median_ms","p90_ms","min_ms","max_ms","samples_ms"}`; `null` without samples.
pub(crate) fn stats(samples_ms: &[f64]) -> Value {
    let mut s: Vec<f64> = samples_ms.to_vec();
    s.sort_by(f64::total_cmp);
    if s.is_empty() {
        return Value::Null;
    }
    let pick = |q: f64| -> f64 {
        let idx = ((q * s.len() as f64).ceil() as usize).clamp(1, s.len()) - 1;
        s.get(idx).copied().unwrap_or(f64::NAN)
    };
    let median = if s.len() % 2 == 1 {
        pick(0.5)
    } else {
        let i = s.len() / 2;
        (s.get(i - 1).copied().unwrap_or(0.0) + s.get(i).copied().unwrap_or(0.0)) / 2.0
    };
    json!({
        "runs": s.len(),
        "median_ms": round(median, 3),
        "p90_ms": round(pick(0.9), 3),
        "min_ms": round(s.first().copied().unwrap_or(f64::NAN), 3),
        "max_ms": round(s.last().copied().unwrap_or(f64::NAN), 3),
        "samples_ms": samples_ms.iter().map(|x| round(*x, 3)).collect::<Vec<_>>(),
    })
}

/// [`stats`] of the samples recorded under `key` (none if there are none).
pub(crate) fn stats_at<K: Ord>(samples: &BTreeMap<K, Vec<f64>>, key: &K) -> Value {
    stats(samples.get(key).map(Vec::as_slice).unwrap_or(&[]))
}

/// The median of `values` (the upper one of an even count); `None` without values.
pub(crate) fn median_of(values: &[u64]) -> Option<u64> {
    let mut s = values.to_vec();
    s.sort_unstable();
    s.get(s.len() / 2).copied()
}

/// `num / den` to 2 decimals, when both are there and `den` is positive.
pub(crate) fn ratio(num: Option<f64>, den: Option<f64>) -> Option<f64> {
    match (num, den) {
        (Some(a), Some(b)) if b > 0.0 => Some(round(a / b, 2)),
        _ => None,
    }
}

/// [`ratio`] of the figure at `path` under the sides `num` and `den` of `v` (`"rust"`, `"peer"`).
pub(crate) fn side_ratio(v: &Value, num: &str, den: &str, path: &[&str]) -> Option<f64> {
    let at = |side: &str| {
        let full: Vec<&str> = std::iter::once(side).chain(path.iter().copied()).collect();
        f(v, &full)
    };
    ratio(at(num), at(den))
}

/// The number at `path` in `v`.
pub(crate) fn f(v: &Value, path: &[&str]) -> Option<f64> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    cur.as_f64()
}
