//! The results document (bench/results/latest.json): run metadata, one section per measurement
//! (sections not measured this time are kept from the previous run), and the targets of issues 5
//! and 13.

pub(crate) mod files;
pub(crate) mod format;
mod incident;
pub(crate) mod render;

use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};

use crate::procfs::loadavg;
use crate::stats::{f, ratio, round};

// Targets of issues 5 and 13 on this machine.
const TARGET_COLD_START_RATIO: f64 = 15.0;
const TARGET_RSS_RATIO: f64 = 4.0;
/// Share of the configured delete rate the function must reach with the full quota available.
pub(crate) const TARGET_FULL_QUOTA_SHARE: f64 = 0.99;
/// Share of the available delete rate it must reach when less than configured is left.
pub(crate) const TARGET_REDUCED_QUOTA_SHARE: f64 = 0.90;
/// The first delete within this many round trips of the first KMS call (key named by ARN).
pub(crate) const TARGET_TTK_ARN_ROUND_TRIPS: f64 = 1.3;
/// The same for a key named by alias (DescribeKey resolves it first).
pub(crate) const TARGET_TTK_ALIAS_ROUND_TRIPS: f64 = 2.3;
/// Two rates paced to the same quota are "equal" within this fraction (pacer timer jitter).
const RATE_TOLERANCE: f64 = 0.005;

pub(crate) struct Report {
    pub(crate) meta: Value,
    sections: serde_json::Map<String, Value>,
}

impl Report {
    /// The previous results: sections not measured this time are kept (each carries its own
    /// date and command).
    pub(crate) fn load(root: &Path) -> Report {
        let previous: Value = std::fs::read_to_string(root.join("bench/results/latest.json"))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or(Value::Null);
        let mut sections = previous
            .get("sections")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        sections.retain(|_, v| v.is_object());
        Report {
            meta: previous.get("meta").cloned().unwrap_or(json!({})),
            sections,
        }
    }

    /// New metadata for a run of `subcommand` (keeping the previous binary and peer facts until
    /// this run records its own).
    pub(crate) fn start(&mut self, root: &Path, subcommand: &str) {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let command = format!("cargo run --release -p bench -- {}", args.join(" "))
            .trim_end()
            .to_owned();
        let git = |a: &[&str]| run_text(Command::new("git").args(a).current_dir(root));
        let dirty = git(&[
            "status",
            "--porcelain",
            "--",
            "src",
            "Cargo.toml",
            "Cargo.lock",
            ".cargo",
        ])
        .is_some_and(|s| !s.is_empty());
        let rustc = run_text(Command::new("rustc").arg("--version").current_dir(root));
        let keep = |k: &str, m: &Value| m.get(k).cloned().unwrap_or(Value::Null);
        let (fb, peer) = (
            keep("function_binary", &self.meta),
            keep("peer", &self.meta),
        );
        self.meta = json!({
            "date": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "commit": git(&["rev-parse", "--short=12", "HEAD"]),
            "function_sources_modified_since_commit": dirty,
            "command": command,
            "subcommand": subcommand,
            "machine": machine(),
            "rustc": rustc,
            "function_binary": fb,
            "peer": peer,
        });
    }

    pub(crate) fn meta_insert(&mut self, k: &str, v: Value) {
        self.meta[k] = v;
    }

    /// Records a section measured in this run, with its date, command, commit and load.
    pub(crate) fn section(&mut self, name: &str, mut value: Value) {
        value["measured_at"] = self.meta["date"].clone();
        value["command"] = self.meta["command"].clone();
        value["commit"] = self.meta["commit"].clone();
        value["loadavg_at_end"] = json!(loadavg());
        self.sections.insert(name.to_owned(), value);
    }

    pub(crate) fn finish(&mut self) {
        self.meta["machine"]["loadavg_at_end"] = json!(loadavg());
    }

    /// The whole document: metadata, targets, sections.
    pub(crate) fn doc(&self) -> Value {
        json!({
            "meta": self.meta,
            "targets": targets(&self.sections),
            "sections": self.sections,
        })
    }
}

/// A command's trimmed stdout.
fn run_text(command: &mut Command) -> Option<String> {
    command
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
}

/// CPU model, cores, memory, kernel and load average of this machine.
fn machine() -> Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned());
    let nproc = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let mem_kib = std::fs::read_to_string("/proc/meminfo").ok().and_then(|m| {
        m.lines()
            .find(|l| l.starts_with("MemTotal:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
    });
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .ok();
    json!({
        "nproc": nproc,
        "cpu_model": cpu,
        "memory_gib": mem_kib.map(|k| round(k as f64 / 1048576.0, 1)),
        "kernel": kernel,
        "summary": format!("{nproc} × {cpu}, {} GiB", mem_kib.map_or(0.0, |k| round(k as f64 / 1048576.0, 0))),
        "loadavg_at_start": loadavg(),
    })
}

/// Each target of issues 5 and 13 with its id, its value and whether it is met.
fn targets(s: &serde_json::Map<String, Value>) -> Value {
    let null = Value::Null;
    let get = |k: &str| s.get(k).unwrap_or(&null);
    let cold = f(get("cold_start"), &["ratio_cold_start_median"]);
    let rss = f(get("memory"), &["runs", "1000", "ratio_peak_rss"]);
    let t = get("throughput");
    let rust_rate = f(t, &["rust", "achieved_rate_per_s"]);
    let peer_rate = f(t, &["peer", "achieved_rate_per_s"]);
    let rust_share = f(t, &["rust", "share_of_configured"]);
    let lost = f(t, &["rust", "keys_lost_or_failed"]);
    let rq = get("reduced_quota");
    let rq_share = f(rq, &["rust", "share_of_available"]);
    let rq_lost = f(rq, &["rust", "keys_lost_or_failed"]);
    let ttk = get("time_to_kill");
    let ttk_arn = f(ttk, &["rust", "arn", "first_delete_round_trips"]);
    let ttk_alias = f(ttk, &["rust", "alias", "first_delete_round_trips"]);
    json!([
        {"id": "cold_start", "target": "cold start >= 15x faster than the peer (median)", "value": cold, "met": cold.map(|c| c >= TARGET_COLD_START_RATIO)},
        {"id": "peak_rss", "target": "peak RSS >= 4x smaller than the peer (1,000 keys)", "value": rss, "met": rss.map(|r| r >= TARGET_RSS_RATIO)},
        {"id": "rate_vs_peer", "target": "throughput at the quota >= the peer's (equal within 0.5%: both are paced to the same quota)", "value": ratio(rust_rate, peer_rate), "met": rust_rate.zip(peer_rate).map(|(a, b)| a >= b * (1.0 - RATE_TOLERANCE))},
        {"id": "full_quota", "target": ">= 99% of the configured delete rate with the full quota available, 0 lost or failed", "value": rust_share, "met": rust_share.zip(lost).map(|(r, l)| r >= TARGET_FULL_QUOTA_SHARE && l == 0.0)},
        {"id": "reduced_quota", "target": ">= 90% of the available delete rate (configured 10/s, 5/s available), 0 lost or failed", "value": rq_share, "met": rq_share.zip(rq_lost).map(|(r, l)| r >= TARGET_REDUCED_QUOTA_SHARE && l == 0.0)},
        {"id": "ttk_arn", "target": "first delete within 1.3 round trips of the first KMS call (key named by ARN, median)", "value": ttk_arn, "met": ttk_arn.map(|r| r <= TARGET_TTK_ARN_ROUND_TRIPS)},
        {"id": "ttk_alias", "target": "first delete within 2.3 round trips of the first KMS call (key named by alias, median)", "value": ttk_alias, "met": ttk_alias.map(|r| r <= TARGET_TTK_ALIAS_ROUND_TRIPS)},
    ])
}
