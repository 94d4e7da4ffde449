//! CPU shares like Lambda's: a cgroup v1 `cpu` group per memory size with `cpu.cfs_quota_us` =
//! MB / 1769 of one CPU per `cpu.cfs_period_us` (Lambda gives one vCPU at 1,769 MB and
//! proportionally less below), and the command prefix that puts a function process in it
//! before it execs (so its whole init runs under the quota).

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

/// Lambda's memory size with exactly one vCPU.
pub(crate) const FULL_VCPU_MB: u32 = 1769;
/// Where the cgroup v1 `cpu` controller is mounted.
const CPU_ROOT: &str = "/sys/fs/cgroup/cpu";
/// The CFS period: the quota is spent within each 100 ms.
const PERIOD_US: u64 = 100_000;
/// The shell line the prefix runs: moves itself into the group, then execs the function.
const MOVE_AND_EXEC: &str = "echo $$ > \"$0\" && exec \"$@\"";

/// A CPU-limited cgroup; removed when dropped (once its processes have exited).
pub(crate) struct CpuGroup {
    dir: PathBuf,
}

fn write(path: &PathBuf, value: &str) -> Result<(), String> {
    std::fs::write(path, value).map_err(|e| format!("echo {value} > {}: {e}", path.display()))
}

impl CpuGroup {
    /// A new group `CPU_ROOT/kms-material-guard-bench-<pid>-<mb>` with MB / 1769 of one CPU.
    pub(crate) fn create(memory_mb: u32) -> Result<CpuGroup, String> {
        let dir = PathBuf::from(CPU_ROOT).join(format!(
            "kms-material-guard-bench-{}-{memory_mb}",
            std::process::id()
        ));
        if !dir.exists() {
            std::fs::create_dir(&dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
        }
        let group = CpuGroup { dir };
        write(&group.dir.join("cpu.cfs_period_us"), &PERIOD_US.to_string())?;
        write(
            &group.dir.join("cpu.cfs_quota_us"),
            &quota_us(memory_mb).to_string(),
        )?;
        Ok(group)
    }

    /// `sh -c 'echo $$ > <group>/cgroup.procs && exec "$@"' <group>/cgroup.procs`: prepended to
    /// a command line, runs it inside the group.
    pub(crate) fn prefix(&self) -> Vec<OsString> {
        vec![
            "/bin/sh".into(),
            "-c".into(),
            MOVE_AND_EXEC.into(),
            self.dir.join("cgroup.procs").into(),
        ]
    }

    /// `cpu.stat` of the group: periods, throttled periods, throttled time (ns).
    pub(crate) fn stat(&self) -> Value {
        let text = std::fs::read_to_string(self.dir.join("cpu.stat")).unwrap_or_default();
        let get = |name: &str| {
            text.lines()
                .filter_map(|l| l.split_once(' '))
                .find(|(k, _)| *k == name)
                .and_then(|(_, v)| v.trim().parse::<u64>().ok())
        };
        json!({
            "nr_periods": get("nr_periods"),
            "nr_throttled": get("nr_throttled"),
            "throttled_ms": get("throttled_time").map(|ns| ns / 1_000_000),
        })
    }
}

impl Drop for CpuGroup {
    fn drop(&mut self) {
        // A process just killed may take a moment to leave the group.
        for _ in 0..50 {
            if std::fs::remove_dir(&self.dir).is_ok() || !self.dir.exists() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        eprintln!("bench: could not remove {}", self.dir.display());
    }
}

/// `cpu.cfs_quota_us` of a memory size: MB / 1769 of one CPU per period.
pub(crate) fn quota_us(memory_mb: u32) -> u64 {
    (PERIOD_US as f64 * f64::from(memory_mb) / f64::from(FULL_VCPU_MB)).round() as u64
}

/// Whether CPU quotas work here: creates a group of one full CPU, runs a shell through its
/// prefix and checks that it joined the group; then times what the prefix adds to a process
/// start. The error says which command failed and how.
pub(crate) fn probe() -> Result<Value, String> {
    let group = CpuGroup::create(FULL_VCPU_MB)?;
    let prefix = group.prefix();
    let (sh, args) = prefix.split_first().ok_or("empty prefix")?;
    let out = Command::new(sh)
        .args(args)
        .args(["/bin/sh", "-c", "cat /proc/self/cgroup"])
        .output()
        .map_err(|e| format!("{sh:?}: {e}"))?;
    let seen = String::from_utf8_lossy(&out.stdout);
    let name = group
        .dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if !out.status.success() || !seen.contains(&name) {
        return Err(format!(
            "a process started through `{}` is not in the group: exit {}, /proc/self/cgroup {:?}, stderr {:?}",
            prefix
                .iter()
                .map(|a| a.to_string_lossy())
                .collect::<Vec<_>>()
                .join(" "),
            out.status,
            seen.trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let direct = median_start_ms(&[]);
    let wrapped = median_start_ms(&prefix);
    Ok(json!({
        "method": format!("cgroup v1 cpu controller at {CPU_ROOT}: a group per memory size with cpu.cfs_period_us={PERIOD_US} and cpu.cfs_quota_us=period*MB/{FULL_VCPU_MB}; the function is started as `/bin/sh -c '{MOVE_AND_EXEC}' <group>/cgroup.procs <command...>` so its init already runs in the group"),
        "prefix_cost_ms": direct.zip(wrapped).map(|(d, w)| crate::stats::round(w - d, 2)),
        "prefix_cost_definition": "median of 21 runs of /bin/true started through the prefix (group of one full CPU) minus the median of 21 started directly: what the shell adds to every cold start of this section",
    }))
}

/// Median wall time (ms) of starting and reaping `/bin/true` through `prefix`.
fn median_start_ms(prefix: &[OsString]) -> Option<f64> {
    let mut samples: Vec<f64> = (0..21)
        .filter_map(|_| {
            let (program, args) = match prefix.split_first() {
                Some((p, a)) => (p.clone(), [a, &["/bin/true".into()]].concat()),
                None => ("/bin/true".into(), Vec::new()),
            };
            let t = std::time::Instant::now();
            let ok = Command::new(program).args(args).status().ok()?.success();
            ok.then(|| crate::stats::ms(t.elapsed()))
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples.get(samples.len() / 2).copied()
}
