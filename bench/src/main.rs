//! Benchmarks of kms-material-guard (the release binary) side by side with a Python boto3 peer
//! (`bench/peer/handler.py` under `awslambdaric`), both run as Lambda runs them: a separate process
//! long-polling the Runtime API (lambda-harness), against the local KMS (kms-sim) on loopback.
//!
//! ```text
//! cargo run --release -p bench -- [all|cold-start|memory|overhead|throughput|tls|size] [options]
//! cargo run --release -p bench -- variants --variant z=PATH --variant s=PATH ...
//! ```
//!
//! Printed numbers, not timed tests. See bench/README.md.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use kms_sim::{ImportOptions, KeySpec, KeyState, KmsSim, SimConfig};
use lambda_harness::{FunctionCommand, FunctionProcess, Invocation, RuntimeApi, RuntimeApiOptions};
use serde_json::{Value, json};

const ACCOUNT: &str = "111111111111";
const SCOPE_TAG_KEY: &str = "kms-material-guard:revocable";
const SCOPE_TAG_VALUE: &str = "true";
/// AWS's DeleteImportedKeyMaterial quota (requests per second, per account and Region).
const AWS_DELETE_QUOTA: f64 = 15.0;
/// The function's memory size in template.yaml (only sets AWS_LAMBDA_FUNCTION_MEMORY_SIZE here).
const MEMORY_MB: u32 = 256;
/// "Realistic latency" of every KMS call, uniform in this range.
const LATENCY_MS: (u64, u64) = (20, 40);
/// A delete rate no run reaches: memory and overhead runs must not be paced.
const UNPACED_RATE: &str = "10000";
const DELETE_OP: &str = "DeleteImportedKeyMaterial";

// Targets of issue 5 on this machine.
const TARGET_COLD_START_RATIO: f64 = 15.0;
const TARGET_RSS_RATIO: f64 = 4.0;
const TARGET_RATE_SHARE: f64 = 0.90;
/// Two rates paced to the same quota are "equal" within this fraction (pacer timer jitter).
const RATE_TOLERANCE: f64 = 0.005;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Rust,
    Peer,
}

impl Kind {
    fn key(self) -> &'static str {
        match self {
            Kind::Rust => "rust",
            Kind::Peer => "peer",
        }
    }
}

/// What a function process is started from.
#[derive(Clone, Debug)]
enum Launch {
    Rust(PathBuf),
    Peer { python: PathBuf, dir: PathBuf },
}

impl Launch {
    fn command(&self, sim_url: &str, delete_rate: &str) -> FunctionCommand {
        let cmd = match self {
            Launch::Rust(bin) => FunctionCommand::new(bin),
            Launch::Peer { python, dir } => FunctionCommand::new(python)
                .args(["-m", "awslambdaric", "handler.handler"])
                .handler("handler.handler")
                .current_dir(dir),
        };
        cmd.memory_mb(MEMORY_MB)
            .echo_output(false)
            .env("AWS_ENDPOINT_URL_KMS", sim_url)
            .env("AWS_ACCESS_KEY_ID", "AKIDBENCHMARK")
            .env("AWS_SECRET_ACCESS_KEY", "bench-secret")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("MATERIAL_GUARD_ACCOUNT_ID", ACCOUNT)
            .env("MATERIAL_GUARD_METRICS_NAMESPACE", "off")
            .env("MATERIAL_GUARD_CONTINUATION_FUNCTION", "off")
            .env("MATERIAL_GUARD_BLAST_RADIUS", "10000")
            .env("MATERIAL_GUARD_DELETE_RATE", delete_rate)
    }
}

struct Options {
    command: String,
    cold_runs: usize,
    ttfr_runs: usize,
    throughput_keys: usize,
    overhead_keys: usize,
    overhead_repeats: usize,
    memory_keys: Vec<usize>,
    only: Option<Kind>,
    function: Option<PathBuf>,
    variants: Vec<(String, PathBuf)>,
    skip_build: bool,
    write: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            command: "all".to_owned(),
            cold_runs: 20,
            ttfr_runs: 10,
            throughput_keys: 1000,
            overhead_keys: 1000,
            overhead_repeats: 3,
            memory_keys: vec![100, 1000],
            only: None,
            function: None,
            variants: Vec::new(),
            skip_build: false,
            write: true,
        }
    }
}

const USAGE: &str = "\
usage: cargo run --release -p bench -- [COMMAND] [OPTIONS]

commands:
  all           cold-start, memory, overhead, throughput, tls, size (default)
  cold-start    process start -> first Runtime API /next; time to first revocation
  memory        peak RSS while revoking 100 and 1,000 keys
  overhead      CPU and wall time per key, 1,000 keys, zero-latency unlimited KMS
  throughput    1,000 keys at AWS's 15/s DeleteImportedKeyMaterial quota, latency 20-40 ms
  tls           time to first revocation over TLS; what the first connection costs
  size          cargo lambda build --release --arm64 / --x86-64 --output-format zip
  variants      cold start, per-key CPU and size of several builds (--variant LABEL=PATH ...)
  report        rewrite results/latest.md and the README figures from results/latest.json

options:
  --runs N              cold-start runs per function (20)
  --ttfr-runs N         time-to-first-revocation runs per function (10)
  --keys N              keys of the throughput run (1000)
  --overhead-keys N     keys of the overhead run (1000)
  --repeats N           overhead / variant CPU repeats (3)
  --memory-keys A,B     key counts of the memory runs (100,1000)
  --only rust|peer      measure one side only
  --function PATH       the Rust function binary (target/release/kms-material-guard)
  --variant LABEL=PATH  a build to compare (variants)
  --skip-build          size: measure what cargo lambda built last, do not build
  --no-write            print only; do not update bench/results/
";

fn parse_args() -> Result<Options, String> {
    let mut o = Options::default();
    let mut args = std::env::args().skip(1);
    let mut command_set = false;
    let num = |v: Option<String>, name: &str| -> Result<usize, String> {
        v.ok_or(format!("{name} needs a value"))?
            .parse()
            .map_err(|_| format!("{name}: not a number"))
    };
    while let Some(a) = args.next() {
        match a.as_str() {
            "-h" | "--help" => return Err(String::new()),
            "--runs" => o.cold_runs = num(args.next(), "--runs")?,
            "--ttfr-runs" => o.ttfr_runs = num(args.next(), "--ttfr-runs")?,
            "--keys" => o.throughput_keys = num(args.next(), "--keys")?,
            "--overhead-keys" => o.overhead_keys = num(args.next(), "--overhead-keys")?,
            "--repeats" => o.overhead_repeats = num(args.next(), "--repeats")?.max(1),
            "--memory-keys" => {
                let v = args.next().ok_or("--memory-keys needs a value")?;
                o.memory_keys = v
                    .split(',')
                    .map(|s| s.trim().parse().map_err(|_| format!("--memory-keys: {s}")))
                    .collect::<Result<_, _>>()?;
            }
            "--only" => {
                o.only = match args.next().as_deref() {
                    Some("rust") => Some(Kind::Rust),
                    Some("peer") => Some(Kind::Peer),
                    _ => return Err("--only rust|peer".to_owned()),
                }
            }
            "--function" => o.function = Some(args.next().ok_or("--function PATH")?.into()),
            "--variant" => {
                let v = args.next().ok_or("--variant LABEL=PATH")?;
                let (label, path) = v.split_once('=').ok_or("--variant LABEL=PATH")?;
                o.variants.push((label.to_owned(), path.into()));
            }
            "--skip-build" => o.skip_build = true,
            "--no-write" => o.write = false,
            c if !c.starts_with('-') && !command_set => {
                if ![
                    "all",
                    "cold-start",
                    "memory",
                    "overhead",
                    "throughput",
                    "tls",
                    "size",
                    "variants",
                    "report",
                ]
                .contains(&c)
                {
                    return Err(format!("unknown command {c}"));
                }
                o.command = c.to_owned();
                command_set = true;
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if o.command == "variants" && o.variants.is_empty() {
        return Err("variants needs at least one --variant LABEL=PATH".to_owned());
    }
    Ok(o)
}

fn main() {
    let options = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("bench: {e}\n");
            }
            eprint!("{USAGE}");
            std::process::exit(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    if let Err(e) = runtime.block_on(run(options)) {
        eprintln!("bench: {e}");
        std::process::exit(1);
    }
}

// ---------------------------------------------------------------------------------------------
// Orchestration
// ---------------------------------------------------------------------------------------------

struct Env {
    root: PathBuf,
    rust: Launch,
    peer: Launch,
    kinds: Vec<Kind>,
}

impl Env {
    fn launch(&self, kind: Kind) -> &Launch {
        match kind {
            Kind::Rust => &self.rust,
            Kind::Peer => &self.peer,
        }
    }
}

async fn run(o: Options) -> Result<(), String> {
    let root = workspace_root();
    let mut report = Report::load(&root);
    if o.command == "report" {
        let md = render(&report.doc());
        println!("{md}");
        let dir = root.join("bench/results");
        write_file(&dir.join("latest.json"), &pretty(&report.doc()))?;
        write_file(&dir.join("latest.md"), &md)?;
        quote_in_readme(&root.join("bench/README.md"), &md)?;
        println!("rewrote bench/results/latest.md and the figures in bench/README.md");
        return Ok(());
    }
    report.start(&root, &o);
    let kinds: Vec<Kind> = match o.only {
        Some(k) => vec![k],
        None => vec![Kind::Rust, Kind::Peer],
    };
    let needs_rust = o.command != "size" && kinds.contains(&Kind::Rust);
    let needs_peer =
        !["size", "variants"].contains(&o.command.as_str()) && kinds.contains(&Kind::Peer);
    let function = match &o.function {
        Some(f) => f.clone(),
        None => root.join("target/release/kms-material-guard"),
    };
    if needs_rust && o.command != "variants" {
        ensure_release_binary(&root, &function, o.function.is_some())?;
        report.meta_insert("function_binary", binary_info(&root, &function));
    }
    let python = root.join("bench/.venv/bin/python");
    if needs_peer && !python.exists() {
        return Err(format!(
            "{} is missing: run bench/setup.sh first (creates bench/.venv from bench/requirements.txt)",
            python.display()
        ));
    }
    if needs_peer {
        report.meta_insert("peer", peer_info(&python));
    }
    let env = Env {
        rust: Launch::Rust(function.clone()),
        peer: Launch::Peer {
            python,
            dir: root.join("bench/peer"),
        },
        root: root.clone(),
        kinds,
    };
    let all = o.command == "all";
    if all || o.command == "cold-start" {
        report.section("cold_start", cold_start(&env, &o).await?);
    }
    if all || o.command == "memory" {
        report.section("memory", memory(&env, &o).await?);
    }
    if all || o.command == "overhead" {
        report.section("overhead", overhead(&env, &o).await?);
    }
    if all || o.command == "throughput" {
        report.section("throughput", throughput(&env, &o).await?);
    }
    if all || o.command == "tls" {
        report.section("tls", tls(&env, &o).await?);
    }
    if all || o.command == "size" {
        report.section("size", size(&env, &o)?);
    }
    if o.command == "variants" {
        let v = variants(&o).await?;
        let md = render_variants(&v, &report.meta);
        println!("\n{md}");
        if o.write {
            let dir = root.join("bench/results");
            write_file(
                &dir.join("profiles.json"),
                &pretty(&json!({"meta": report.meta, "variants": v})),
            )?;
            write_file(&dir.join("profiles.md"), &md)?;
            println!("wrote bench/results/profiles.json and bench/results/profiles.md");
        }
        return Ok(());
    }
    report.finish();
    let md = render(&report.doc());
    println!("\n{md}");
    if o.write {
        let dir = root.join("bench/results");
        write_file(&dir.join("latest.json"), &pretty(&report.doc()))?;
        write_file(&dir.join("latest.md"), &md)?;
        println!("wrote bench/results/latest.json and bench/results/latest.md");
        if quote_in_readme(&root.join("bench/README.md"), &md)? {
            println!("updated the figures in bench/README.md");
        }
    }
    Ok(())
}

/// Replaces what stands between `<!-- latest -->` and `<!-- /latest -->` in the README with
/// latest.md (without its title). Returns whether the README has the markers.
fn quote_in_readme(readme: &Path, md: &str) -> Result<bool, String> {
    const START: &str = "<!-- latest -->";
    const END: &str = "<!-- /latest -->";
    let Ok(text) = std::fs::read_to_string(readme) else {
        return Ok(false);
    };
    let (Some(a), Some(b)) = (text.find(START), text.find(END)) else {
        return Ok(false);
    };
    if b < a {
        return Ok(false);
    }
    let body = md.split_once('\n').map_or(md, |(_, rest)| rest).trim();
    let updated = format!("{}{START}\n{body}\n{}", &text[..a], &text[b..]);
    write_file(readme, &updated)?;
    Ok(true)
}

fn workspace_root() -> PathBuf {
    // bench/ is one level below the workspace root; CARGO_MANIFEST_DIR is fixed at build time.
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(Path::to_path_buf).unwrap_or(manifest)
}

fn ensure_release_binary(root: &Path, function: &Path, explicit: bool) -> Result<(), String> {
    if explicit {
        // A binary the user named is measured as it is; say so when the sources are newer.
        if !function.exists() {
            return Err(format!("{} does not exist", function.display()));
        }
        if let Some(newer) = newest_source_after(root, function) {
            eprintln!(
                "bench: warning: {} is newer than {}; the figures describe that binary, not the current sources",
                newer.display(),
                function.display()
            );
        }
        return Ok(());
    }
    // Always build: a no-op when the binary is current, and the figures (recorded with the
    // commit) then describe the sources they claim to.
    eprintln!("bench: cargo build --release --bin kms-material-guard");
    let status = Command::new("cargo")
        .args(["build", "--release", "--bin", "kms-material-guard"])
        .current_dir(root)
        .status()
        .map_err(|e| format!("cargo: {e}"))?;
    if !status.success() || !function.exists() {
        return Err("the release build failed".to_owned());
    }
    Ok(())
}

fn mtime(p: &Path) -> Option<SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

/// A source file of the function modified after the binary was built, if any.
fn newest_source_after(root: &Path, binary: &Path) -> Option<PathBuf> {
    let built = mtime(binary)?;
    let mut files = vec![root.join("Cargo.toml"), root.join("Cargo.lock")];
    if let Ok(dir) = std::fs::read_dir(root.join("src")) {
        files.extend(dir.flatten().map(|e| e.path()));
    }
    files
        .into_iter()
        .filter(|f| mtime(f).is_some_and(|m| m > built))
        .max_by_key(|f| mtime(f))
}

fn binary_info(root: &Path, function: &Path) -> Value {
    let modified = mtime(function).map(|t| chrono::DateTime::<chrono::Utc>::from(t).to_rfc3339());
    json!({
        "path": function.strip_prefix(root).unwrap_or(function).display().to_string(),
        "bytes": std::fs::metadata(function).map(|m| m.len()).ok(),
        "built_at": modified,
        "older_than_sources": newest_source_after(root, function).map(|p| p.display().to_string()),
    })
}

fn peer_info(python: &Path) -> Value {
    let out = Command::new(python)
        .args([
            "-c",
            "import sys, boto3, botocore, awslambdaric; print(sys.version.split()[0], boto3.__version__, botocore.__version__, awslambdaric.__version__)",
        ])
        .output();
    let text = out
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    let v: Vec<&str> = text.split_whitespace().collect();
    json!({
        "handler": "bench/peer/handler.py",
        "command": "python -m awslambdaric handler.handler",
        "python": v.first(),
        "boto3": v.get(1),
        "botocore": v.get(2),
        "awslambdaric": v.get(3),
    })
}

// ---------------------------------------------------------------------------------------------
// Building blocks
// ---------------------------------------------------------------------------------------------

async fn start_sim(config: SimConfig) -> Result<Arc<KmsSim>, String> {
    KmsSim::start(config)
        .await
        .map(Arc::new)
        .map_err(|e| format!("kms-sim: {e}"))
}

fn realistic(config: SimConfig) -> SimConfig {
    config.with_latency(
        Duration::from_millis(LATENCY_MS.0),
        Duration::from_millis(LATENCY_MS.1),
    )
}

/// `n` in-scope EXTERNAL keys with imported material; returns their key IDs.
fn seed(sim: &KmsSim, n: usize, tag: &str) -> Result<Vec<String>, String> {
    (0..n)
        .map(|i| {
            let key = sim.store().create_key(
                KeySpec::external()
                    .tag(SCOPE_TAG_KEY, SCOPE_TAG_VALUE)
                    .description(&format!("bench {tag} key {i}")),
            );
            let mut material = [0x5au8; 32];
            if let Some(head) = material.get_mut(..8) {
                head.copy_from_slice(&(i as u64 + 1).to_le_bytes());
            }
            sim.store()
                .import_material(&key.arn, material, ImportOptions::default())
                .map_err(|e| format!("seeding: {e:?}"))?;
            Ok(key.key_id)
        })
        .collect()
}

fn revoke_request(keys: &[String], incident: &str) -> Value {
    json!({
        "keys": keys,
        "reason": "benchmark: revoke imported key material",
        "incidentId": incident,
        "requestedBy": "bench",
        "dryRun": false,
    })
}

fn api_options(timeout: Duration) -> RuntimeApiOptions {
    RuntimeApiOptions {
        function_timeout: timeout,
        queue_timeout: Duration::from_secs(120),
        ..RuntimeApiOptions::default()
    }
}

/// Clock ticks per second for /proc/<pid>/stat (getconf CLK_TCK; 100 on Linux in practice).
fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .trim()
                .parse::<f64>()
                .ok()
        })
        .filter(|t| *t > 0.0)
        .unwrap_or(100.0)
}

/// utime + stime of a live process (all its threads), in milliseconds.
fn cpu_ms(pid: u32, ticks: f64) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, after) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    // After the command: field 3 (state) is index 0, so utime (14) is 11 and stime (15) is 12.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) * 1000.0 / ticks)
}

fn outcome_counts(invocation: &Invocation) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    if let Ok(response) = &invocation.outcome
        && let Some(map) = response.get("counts").and_then(Value::as_object)
    {
        for (k, v) in map {
            counts.insert(k.clone(), v.as_u64().unwrap_or(0));
        }
    }
    counts
}

fn audit_lines(function: &FunctionProcess) -> usize {
    function
        .stdout_lines()
        .iter()
        .filter(|l| l.contains("\"log_type\":\"audit\"") || l.contains("\"log_type\": \"audit\""))
        .count()
}

/// Outcome of one cold process revoking `keys` in one invocation.
struct Revocation {
    cold_start: Option<Duration>,
    invocation: Invocation,
    counts: BTreeMap<String, u64>,
    audit_records: usize,
    revoked_in_kms: usize,
    peak_rss_kib: Option<u64>,
    idle_rss_kib: Option<u64>,
    init_cpu_ms: Option<f64>,
    handler_cpu_ms: Option<f64>,
    stderr_tail: Vec<String>,
}

impl Revocation {
    fn revoked(&self) -> u64 {
        self.counts.get("revoked").copied().unwrap_or(0)
    }

    fn lost_or_failed(&self, expected: usize) -> u64 {
        let bad: u64 = self
            .counts
            .iter()
            .filter(|(k, _)| {
                k.starts_with("failed")
                    || *k == "deferred"
                    || *k == "not_found"
                    || *k == "revoked_unverified"
            })
            .map(|(_, v)| *v)
            .sum();
        let answered: u64 = self.counts.values().sum();
        bad + (expected as u64).saturating_sub(answered)
    }

    fn check(&self, kind: Kind, expected: usize) -> Result<(), String> {
        let ok = self.invocation.is_ok()
            && self.revoked() == expected as u64
            && self.audit_records == expected
            && self.revoked_in_kms == expected;
        if ok {
            return Ok(());
        }
        Err(format!(
            "{}: expected {expected} revoked keys, got response {:?} counts {:?}, {} audit records, {} keys PendingImport in the KMS; stderr tail: {:?}",
            kind.key(),
            self.invocation.error_type(),
            self.counts,
            self.audit_records,
            self.revoked_in_kms,
            self.stderr_tail
        ))
    }
}

/// Spawns a cold process, waits for its first /next, invokes one revocation of `keys`, then
/// terminates it (peak RSS is final only after the exit).
async fn revoke_once(
    launch: &Launch,
    sim: &KmsSim,
    keys: &[String],
    delete_rate: &str,
    timeout: Duration,
    ticks: f64,
) -> Result<Revocation, String> {
    let api = RuntimeApi::start(api_options(timeout))
        .await
        .map_err(|e| format!("runtime api: {e}"))?;
    let function = FunctionProcess::spawn(&api, launch.command(&sim.endpoint_url(), delete_rate))
        .map_err(|e| format!("spawn: {e}"))?;
    let cold_start = function.wait_ready(Duration::from_secs(60)).await;
    // Let the process settle after init before reading its idle footprint.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let idle_rss_kib = function.peak_rss().vm_hwm_kib;
    let cpu_before = cpu_ms(function.pid(), ticks);
    let invocation = api.invoke(revoke_request(keys, "BENCH-RUN"), timeout).await;
    let cpu_after = cpu_ms(function.pid(), ticks);
    // Audit records are flushed before the response; give the reader threads a moment.
    let want = keys.len();
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        while audit_lines(&function) < want {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    let audit_records = audit_lines(&function);
    function.terminate(Duration::from_secs(2)).await;
    let peak_rss_kib = function.peak_rss().max_kib();
    let revoked_in_kms = keys
        .iter()
        .filter(|k| {
            sim.store()
                .describe(k)
                .is_some_and(|v| v.state == KeyState::PendingImport)
        })
        .count();
    let stderr = function.stderr_lines();
    let stderr_tail = stderr.iter().rev().take(5).rev().cloned().collect();
    Ok(Revocation {
        cold_start,
        counts: outcome_counts(&invocation),
        invocation,
        audit_records,
        revoked_in_kms,
        peak_rss_kib,
        idle_rss_kib,
        init_cpu_ms: cpu_before,
        handler_cpu_ms: cpu_before.zip(cpu_after).map(|(a, b)| b - a),
        stderr_tail,
    })
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

fn round(x: f64, places: i32) -> f64 {
    let f = 10f64.powi(places);
    (x * f).round() / f
}

fn stats(samples_ms: &[f64]) -> Value {
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

fn ratio(num: Option<f64>, den: Option<f64>) -> Option<f64> {
    match (num, den) {
        (Some(a), Some(b)) if b > 0.0 => Some(round(a / b, 2)),
        _ => None,
    }
}

fn f(v: &Value, path: &[&str]) -> Option<f64> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    cur.as_f64()
}

fn loadavg() -> Option<String> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
}

// ---------------------------------------------------------------------------------------------
// TLS: certificate store, handshake and first connection, as against real KMS
// ---------------------------------------------------------------------------------------------

/// The system CA bundle the bench appends its own CA to (Debian / Amazon Linux paths).
const SYSTEM_CA_BUNDLES: [&str; 2] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
];

/// A throwaway CA and a 127.0.0.1 server certificate (RSA 2048, as KMS's endpoints use), made
/// with the openssl CLI in `dir`; returns (CA bundle = system roots + this CA, chain, key).
fn make_tls_material(dir: &Path) -> Result<(PathBuf, PathBuf, PathBuf), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let run = |args: &[&str]| -> Result<(), String> {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .map_err(|e| format!("openssl (needed by the tls section): {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "openssl {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    };
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
    )
    .map_err(|e| format!("server.ext: {e}"))?;
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=kms-material-guard bench CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ])?;
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    ])?;
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-out",
        "server.pem",
        "-extfile",
        "server.ext",
    ])?;
    let mut bundle = SYSTEM_CA_BUNDLES
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok())
        .unwrap_or_default();
    let ca = std::fs::read_to_string(dir.join("ca.pem")).map_err(|e| format!("ca.pem: {e}"))?;
    if !bundle.is_empty() && !bundle.ends_with('\n') {
        bundle.push('\n');
    }
    bundle.push_str(&ca);
    write_file(&dir.join("bundle.pem"), &bundle)?;
    Ok((
        dir.join("bundle.pem"),
        dir.join("server.pem"),
        dir.join("server.key"),
    ))
}

/// `bench/tls/proxy.py` in front of kms-sim; killed on drop.
struct TlsProxy {
    child: std::process::Child,
    port: u16,
}

impl TlsProxy {
    fn start(
        python: &Path,
        script: &Path,
        chain: &Path,
        key: &Path,
        upstream: u16,
    ) -> Result<Self, String> {
        use std::io::BufRead;
        let mut child = Command::new(python)
            .arg(script)
            .arg(chain)
            .arg(key)
            .arg(upstream.to_string())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .map_err(|e| format!("tls proxy: {e}"))?;
        let mut line = String::new();
        if let Some(out) = child.stdout.take() {
            let _ = std::io::BufReader::new(out).read_line(&mut line);
        }
        let port = line
            .trim()
            .strip_prefix("listening ")
            .and_then(|p| p.parse::<u16>().ok());
        match port {
            Some(port) => Ok(TlsProxy { child, port }),
            None => {
                let _ = child.kill();
                Err(format!("tls proxy did not start (said {line:?})"))
            }
        }
    }
}

impl Drop for TlsProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Time to first revocation over TLS, and what the first connection costs: a cold process gets
/// two invocations of one key each; the first pays for loading the CA store, the TLS handshake
/// and connection setup, the second reuses the connection.
async fn tls(env: &Env, o: &Options) -> Result<Value, String> {
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
    let mut ttfr: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    let mut first: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    let mut second: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    let mut extra: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for run in 0..o.ttfr_runs {
        for &kind in &env.kinds {
            let keys = seed(&sim, 2, &format!("tls-{run}-{}", kind.key()))?;
            let api = RuntimeApi::start(api_options(Duration::from_secs(60)))
                .await
                .map_err(|e| format!("runtime api: {e}"))?;
            let command = env
                .launch(kind)
                .command(&url, "10")
                .env("SSL_CERT_FILE", &bundle)
                .env("AWS_CA_BUNDLE", &bundle);
            let function =
                FunctionProcess::spawn(&api, command).map_err(|e| format!("spawn: {e}"))?;
            let a = api
                .invoke(
                    revoke_request(&keys[..1], "BENCH-TLS-1"),
                    Duration::from_secs(60),
                )
                .await;
            let total = function.spawned_at().elapsed();
            let b = api
                .invoke(
                    revoke_request(&keys[1..], "BENCH-TLS-2"),
                    Duration::from_secs(60),
                )
                .await;
            function.kill();
            function.wait_exit(Duration::from_secs(5)).await;
            for (i, inv) in [&a, &b].into_iter().enumerate() {
                if outcome_counts(inv).get("revoked") != Some(&1) {
                    return Err(format!(
                        "{}: invocation {} over TLS failed: {:?}; stderr {:?}",
                        kind.key(),
                        i + 1,
                        inv.outcome.as_ref().err(),
                        function.stderr_lines()
                    ));
                }
            }
            ttfr.entry(kind.key()).or_default().push(ms(total));
            first.entry(kind.key()).or_default().push(ms(a.duration));
            second.entry(kind.key()).or_default().push(ms(b.duration));
            extra
                .entry(kind.key())
                .or_default()
                .push(ms(a.duration) - ms(b.duration));
        }
    }
    drop(proxy);
    let mut out = json!({
        "definition": "kms-sim behind a TLS-terminating proxy on 127.0.0.1 (bench/tls/proxy.py; RSA 2048 server certificate from a throwaway CA appended to the system CA bundle, given as SSL_CERT_FILE / AWS_CA_BUNDLE, so each function loads a full root store); KMS latency 20-40 ms per call. time to first revocation = spawn -> response of an invocation queued at spawn revoking 1 key; first / second invocation = the first and a second 1-key invocation of the same process; first-connection cost = per-process difference first - second (CA store, TLS handshake, connection setup, plus the random latency difference)",
        "kms_latency_ms": [LATENCY_MS.0, LATENCY_MS.1],
    });
    let get = |m: &BTreeMap<&str, Vec<f64>>, k: Kind| {
        stats(m.get(k.key()).map(Vec::as_slice).unwrap_or(&[]))
    };
    for &kind in &env.kinds {
        out[kind.key()] = json!({
            "time_to_first_revocation": get(&ttfr, kind),
            "first_invocation_duration": get(&first, kind),
            "second_invocation_duration": get(&second, kind),
            "first_connection_cost": get(&extra, kind),
        });
    }
    out["ratio_time_to_first_revocation_median"] = json!(ratio(
        f(&out, &["peer", "time_to_first_revocation", "median_ms"]),
        f(&out, &["rust", "time_to_first_revocation", "median_ms"])
    ));
    print_section("tls", &out);
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Cold start and time to first revocation
// ---------------------------------------------------------------------------------------------

/// Process start -> first /next, `runs` times per function (interleaved, after one discarded
/// warm-up each); then cold start + one invocation revoking one key at realistic latency.
async fn cold_start(env: &Env, o: &Options) -> Result<Value, String> {
    println!(
        "cold start: {} runs per function (+1 warm-up), interleaved",
        o.cold_runs
    );
    let sim = start_sim(realistic(SimConfig::default())).await?;
    let mut samples: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    let mut idle_rss: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    for run in 0..=o.cold_runs {
        for &kind in &env.kinds {
            let api = RuntimeApi::start(api_options(Duration::from_secs(60)))
                .await
                .map_err(|e| format!("runtime api: {e}"))?;
            let function =
                FunctionProcess::spawn(&api, env.launch(kind).command(&sim.endpoint_url(), "10"))
                    .map_err(|e| format!("spawn: {e}"))?;
            let ready = function.wait_ready(Duration::from_secs(60)).await;
            let rss = function.peak_rss().vm_hwm_kib;
            function.kill();
            function.wait_exit(Duration::from_secs(5)).await;
            let Some(ready) = ready else {
                return Err(format!(
                    "{}: no /next within 60 s; stderr: {:?}",
                    kind.key(),
                    function.stderr_lines()
                ));
            };
            if run > 0 {
                samples.entry(kind.key()).or_default().push(ms(ready));
                if let Some(r) = rss {
                    idle_rss.entry(kind.key()).or_default().push(r);
                }
            }
        }
    }
    println!(
        "time to first revocation: {} runs per function, 1 key, KMS latency {}-{} ms",
        o.ttfr_runs, LATENCY_MS.0, LATENCY_MS.1
    );
    let mut ttfr: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    let mut first_invocation: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for run in 0..o.ttfr_runs {
        for &kind in &env.kinds {
            let keys = seed(&sim, 1, &format!("ttfr-{run}-{}", kind.key()))?;
            let api = RuntimeApi::start(api_options(Duration::from_secs(60)))
                .await
                .map_err(|e| format!("runtime api: {e}"))?;
            let function =
                FunctionProcess::spawn(&api, env.launch(kind).command(&sim.endpoint_url(), "10"))
                    .map_err(|e| format!("spawn: {e}"))?;
            // Queued at once, as an event waiting for a cold environment is.
            let invocation = api
                .invoke(revoke_request(&keys, "BENCH-TTFR"), Duration::from_secs(60))
                .await;
            let total = function.spawned_at().elapsed();
            let counts = outcome_counts(&invocation);
            function.kill();
            function.wait_exit(Duration::from_secs(5)).await;
            if counts.get("revoked") != Some(&1) {
                return Err(format!(
                    "{}: first revocation failed: {:?} {:?}; stderr {:?}",
                    kind.key(),
                    invocation.outcome.err(),
                    counts,
                    function.stderr_lines()
                ));
            }
            ttfr.entry(kind.key()).or_default().push(ms(total));
            first_invocation
                .entry(kind.key())
                .or_default()
                .push(ms(invocation.duration));
        }
    }
    let mut out = json!({
        "definition": "cold start = process spawn (just before fork/exec) -> first GET /2018-06-01/runtime/invocation/next on the harness's Runtime API; time to first revocation = spawn -> response of an invocation queued at spawn that revokes 1 key (DescribeKey, ListResourceTags, DeleteImportedKeyMaterial, DescribeKey) against kms-sim with 20-40 ms latency per call",
        "kms_latency_ms": [LATENCY_MS.0, LATENCY_MS.1],
    });
    for &kind in &env.kinds {
        let idle = idle_rss.get(kind.key()).cloned().unwrap_or_default();
        let median_idle = {
            let mut s = idle.clone();
            s.sort_unstable();
            s.get(s.len() / 2).copied()
        };
        out[kind.key()] = json!({
            "cold_start": stats(samples.get(kind.key()).map(Vec::as_slice).unwrap_or(&[])),
            "time_to_first_revocation": stats(ttfr.get(kind.key()).map(Vec::as_slice).unwrap_or(&[])),
            "first_invocation_duration": stats(first_invocation.get(kind.key()).map(Vec::as_slice).unwrap_or(&[])),
            "idle_rss_after_init_kib": median_idle,
        });
    }
    out["ratio_cold_start_median"] = json!(ratio(
        f(&out, &["peer", "cold_start", "median_ms"]),
        f(&out, &["rust", "cold_start", "median_ms"])
    ));
    out["ratio_time_to_first_revocation_median"] = json!(ratio(
        f(&out, &["peer", "time_to_first_revocation", "median_ms"]),
        f(&out, &["rust", "time_to_first_revocation", "median_ms"])
    ));
    print_section("cold start", &out);
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Memory
// ---------------------------------------------------------------------------------------------

/// Peak RSS of a cold process revoking N keys in one invocation (unlimited KMS with realistic
/// latency, unpaced deletes, so the run is short and the pipelines are all in flight).
async fn memory(env: &Env, o: &Options) -> Result<Value, String> {
    let ticks = clock_ticks();
    let mut out = json!({
        "definition": "peak RSS (max of VmHWM polled from /proc and ru_maxrss from wait4) of a cold function process revoking N in-scope keys in one invocation; kms-sim unlimited quotas, 20-40 ms latency, MATERIAL_GUARD_DELETE_RATE=10000 (no pacing)",
        "runs": {},
    });
    for &n in &o.memory_keys {
        let mut row = json!({});
        for &kind in &env.kinds {
            println!("memory: {} revoking {n} keys", kind.key());
            let sim = start_sim(realistic(SimConfig::unlimited())).await?;
            let keys = seed(&sim, n, &format!("memory-{n}"))?;
            let r = revoke_once(
                env.launch(kind),
                &sim,
                &keys,
                UNPACED_RATE,
                Duration::from_secs(900),
                ticks,
            )
            .await?;
            r.check(kind, n)?;
            row[kind.key()] = json!({
                "peak_rss_kib": r.peak_rss_kib,
                "idle_rss_after_init_kib": r.idle_rss_kib,
                "cold_start_ms": r.cold_start.map(ms),
                "invocation_ms": ms(r.invocation.duration),
                "revoked": r.revoked(),
            });
        }
        row["ratio_peak_rss"] = json!(ratio(
            f(&row, &["peer", "peak_rss_kib"]),
            f(&row, &["rust", "peak_rss_kib"])
        ));
        out["runs"][n.to_string()] = row;
    }
    print_section("memory", &out);
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Handler overhead per key
// ---------------------------------------------------------------------------------------------

async fn overhead_once(
    launch: &Launch,
    n: usize,
    ticks: f64,
    kind: Kind,
) -> Result<Revocation, String> {
    let sim = start_sim(SimConfig::unlimited()).await?;
    let keys = seed(&sim, n, "overhead")?;
    let r = revoke_once(
        launch,
        &sim,
        &keys,
        UNPACED_RATE,
        Duration::from_secs(900),
        ticks,
    )
    .await?;
    r.check(kind, n)?;
    Ok(r)
}

/// CPU time (utime + stime of the function process, /proc/<pid>/stat around the invocation) and
/// wall time per key, against a zero-latency unlimited KMS: what the handler itself costs.
async fn overhead(env: &Env, o: &Options) -> Result<Value, String> {
    let ticks = clock_ticks();
    let n = o.overhead_keys;
    let mut out = json!({
        "definition": format!("one invocation revoking {n} keys (4 KMS calls each) against kms-sim with no latency and no quotas, MATERIAL_GUARD_DELETE_RATE=10000; CPU = utime+stime of the function process (all threads) read from /proc/<pid>/stat before and after the invocation (clock tick {} ms); wall = the invocation's duration; median of {} cold processes", 1000.0 / ticks, o.overhead_repeats),
        "keys": n,
    });
    for &kind in &env.kinds {
        let mut cpu = Vec::new();
        let mut wall = Vec::new();
        let mut init = Vec::new();
        for i in 0..o.overhead_repeats {
            println!(
                "overhead: {} revoking {n} keys ({}/{})",
                kind.key(),
                i + 1,
                o.overhead_repeats
            );
            let r = overhead_once(env.launch(kind), n, ticks, kind).await?;
            cpu.extend(r.handler_cpu_ms);
            init.extend(r.init_cpu_ms);
            wall.push(ms(r.invocation.duration));
        }
        let cpu_s = stats(&cpu);
        let wall_s = stats(&wall);
        let per_key = |v: &Value| f(v, &["median_ms"]).map(|m| round(m * 1000.0 / n as f64, 1));
        out[kind.key()] = json!({
            "cpu_ms": cpu_s,
            "wall_ms": wall_s,
            "init_cpu_ms": stats(&init),
            "cpu_us_per_key": per_key(&cpu_s),
            "wall_us_per_key": per_key(&wall_s),
        });
    }
    out["ratio_cpu_per_key"] = json!(ratio(
        f(&out, &["peer", "cpu_us_per_key"]),
        f(&out, &["rust", "cpu_us_per_key"])
    ));
    out["ratio_wall_per_key"] = json!(ratio(
        f(&out, &["peer", "wall_us_per_key"]),
        f(&out, &["rust", "wall_us_per_key"])
    ));
    print_section("overhead", &out);
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Throughput at the quota
// ---------------------------------------------------------------------------------------------

/// Watches the sim's DeleteImportedKeyMaterial counters every 2 ms: the instants of the first
/// call and of every new success (the sim's counters have no timestamps of their own).
async fn sample_deletes(
    sim: Arc<KmsSim>,
    stop: Arc<AtomicBool>,
) -> (Option<Instant>, Vec<Instant>) {
    let mut first_call = None;
    let mut successes: Vec<Instant> = Vec::new();
    let mut seen = 0u64;
    loop {
        let now = Instant::now();
        let counters = sim.counters();
        if first_call.is_none() && counters.calls(DELETE_OP) > 0 {
            first_call = Some(now);
        }
        let s = counters.successes(DELETE_OP);
        while seen < s {
            successes.push(now);
            seen += 1;
        }
        if stop.load(Ordering::Relaxed) {
            return (first_call, successes);
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

async fn throughput(env: &Env, o: &Options) -> Result<Value, String> {
    let n = o.throughput_keys;
    let ticks = clock_ticks();
    let rate = AWS_DELETE_QUOTA;
    let mut out = json!({
        "definition": format!("one invocation revoking {n} in-scope keys; kms-sim with AWS's quotas (DeleteImportedKeyMaterial 15/s, token bucket with 1 s burst) and 20-40 ms latency per call; both functions configured with MATERIAL_GUARD_DELETE_RATE=15. Delete phase = first DeleteImportedKeyMaterial call -> last successful one, from the sim's counters sampled every 2 ms; achieved rate = (successes - 1) / (last success - first success)"),
        "keys": n,
        "configured_rate": rate,
        "sim_quota": rate,
        "target_share_of_configured": TARGET_RATE_SHARE,
    });
    for &kind in &env.kinds {
        println!(
            "throughput: {} revoking {n} keys at {rate}/s (about {:.0} s)",
            kind.key(),
            n as f64 / rate
        );
        let sim = start_sim(realistic(SimConfig::default())).await?;
        let keys = seed(&sim, n, "throughput")?;
        let stop = Arc::new(AtomicBool::new(false));
        let sampler = tokio::spawn(sample_deletes(sim.clone(), stop.clone()));
        let r = revoke_once(
            env.launch(kind),
            &sim,
            &keys,
            &rate.to_string(),
            Duration::from_secs(900),
            ticks,
        )
        .await;
        stop.store(true, Ordering::Relaxed);
        let (first_call, successes) = sampler.await.map_err(|e| format!("sampler: {e}"))?;
        let r = r?;
        let counters = sim.counters();
        let phase = first_call
            .zip(successes.last().copied())
            .map(|(a, b)| b.saturating_duration_since(a));
        // Successes per second between the first and the last success: (n - 1) intervals. A
        // pacer exactly at the configured rate scores exactly that rate.
        let achieved = match (successes.first(), successes.last()) {
            (Some(a), Some(b)) if b > a && successes.len() > 1 => {
                Some((successes.len() - 1) as f64 / (*b - *a).as_secs_f64())
            }
            _ => None,
        };
        // Steady state: the rate over the middle 80% of the successes (no start-up, no tail).
        let steady = {
            let lo = successes.len() / 10;
            let hi = successes.len() * 9 / 10;
            match (successes.get(lo), successes.get(hi)) {
                (Some(a), Some(b)) if b > a => Some((hi - lo) as f64 / (*b - *a).as_secs_f64()),
                _ => None,
            }
        };
        let lost_or_failed = r.lost_or_failed(n);
        out[kind.key()] = json!({
            "revoked": r.revoked(),
            "outcomes": r.counts,
            "keys_lost_or_failed": lost_or_failed,
            "audit_records": r.audit_records,
            "pending_import_in_kms": r.revoked_in_kms,
            "invocation_ok": r.invocation.is_ok(),
            "invocation_error": r.invocation.error_type(),
            "delete_calls": counters.calls(DELETE_OP),
            "delete_successes": counters.successes(DELETE_OP),
            "delete_throttled": counters.throttled(DELETE_OP),
            "delete_phase_s": phase.map(|p| round(p.as_secs_f64(), 3)),
            "achieved_rate_per_s": achieved.map(|a| round(a, 3)),
            "steady_rate_per_s": steady.map(|a| round(a, 3)),
            "share_of_configured": achieved.map(|a| round(a / rate, 4)),
            "meets_target": achieved.is_some_and(|a| a / rate >= TARGET_RATE_SHARE) && lost_or_failed == 0,
            "invocation_s": round(r.invocation.duration.as_secs_f64(), 3),
            "describe_calls": counters.calls("DescribeKey"),
            "list_resource_tags_calls": counters.calls("ListResourceTags"),
            "peak_rss_kib": r.peak_rss_kib,
            "handler_cpu_ms": r.handler_cpu_ms,
        });
    }
    out["ratio_rate_rust_over_peer"] = json!(ratio(
        f(&out, &["rust", "achieved_rate_per_s"]),
        f(&out, &["peer", "achieved_rate_per_s"])
    ));
    print_section("throughput", &out);
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Deployment package size
// ---------------------------------------------------------------------------------------------

fn size(env: &Env, o: &Options) -> Result<Value, String> {
    let venv_bin = env.root.join("bench/.venv/bin");
    if !venv_bin.join("cargo-lambda").exists() {
        return Err("bench/.venv/bin/cargo-lambda is missing: run bench/setup.sh".to_owned());
    }
    let path = format!(
        "{}:{}",
        venv_bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut out = json!({
        "definition": "cargo lambda build --release <arch> --output-format zip --bin kms-material-guard --lambda-dir target/lambda-bench/<arch> (cargo-lambda from bench/.venv, zig as cross linker); zip = bootstrap.zip bytes, binary = the bootstrap entry's uncompressed size",
        "cargo_lambda": Command::new(venv_bin.join("cargo-lambda")).args(["lambda", "--version"]).output().ok().map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned()),
    });
    for (arch, flag) in [("arm64", "--arm64"), ("x86_64", "--x86-64")] {
        let dir = format!("target/lambda-bench/{arch}");
        let started = Instant::now();
        let status = if o.skip_build {
            None
        } else {
            println!(
                "size: cargo lambda build --release {flag} --output-format zip (may take minutes)"
            );
            Some(
                Command::new("cargo")
                    .args([
                        "lambda",
                        "build",
                        "--release",
                        flag,
                        "--output-format",
                        "zip",
                        "--bin",
                        "kms-material-guard",
                        "--lambda-dir",
                        &dir,
                    ])
                    .current_dir(&env.root)
                    .env("PATH", &path)
                    .output()
                    .map_err(|e| format!("cargo lambda: {e}"))?,
            )
        };
        let zip = env.root.join(&dir).join("kms-material-guard/bootstrap.zip");
        let built = status.as_ref().is_none_or(|s| s.status.success());
        let entry = zip_entry_size(&env.root, &zip);
        out[arch] = json!({
            "command": format!("cargo lambda build --release {flag} --output-format zip --bin kms-material-guard --lambda-dir {dir}"),
            "ok": built && zip.exists(),
            "build_s": status.as_ref().map(|_| round(started.elapsed().as_secs_f64(), 1)),
            "zip_bytes": std::fs::metadata(&zip).map(|m| m.len()).ok().filter(|_| built),
            "binary_bytes": entry.filter(|_| built),
            "error": status.as_ref().filter(|s| !s.status.success()).map(|s| {
                let e = String::from_utf8_lossy(&s.stderr);
                e.lines().rev().take(15).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n")
            }),
        });
    }
    let host = env.root.join("target/release/kms-material-guard");
    out["host_release_binary_bytes"] = json!(std::fs::metadata(&host).map(|m| m.len()).ok());
    print_section("size", &out);
    Ok(out)
}

/// Uncompressed size of the `bootstrap` entry (Python's zipfile: no zip crate needed).
fn zip_entry_size(root: &Path, zip: &Path) -> Option<u64> {
    let python = root.join("bench/.venv/bin/python");
    let out = Command::new(python)
        .args([
            "-c",
            "import sys, zipfile; print(sum(i.file_size for i in zipfile.ZipFile(sys.argv[1]).infolist() if i.filename == 'bootstrap'))",
        ])
        .arg(zip)
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

// ---------------------------------------------------------------------------------------------
// Variants (release profile / build options)
// ---------------------------------------------------------------------------------------------

async fn variants(o: &Options) -> Result<Value, String> {
    let ticks = clock_ticks();
    let sim = start_sim(realistic(SimConfig::default())).await?;
    let launches: Vec<(String, Launch, PathBuf)> = o
        .variants
        .iter()
        .map(|(l, p)| (l.clone(), Launch::Rust(p.clone()), p.clone()))
        .collect();
    for (label, _, p) in &launches {
        if !p.exists() {
            return Err(format!("variant {label}: {} does not exist", p.display()));
        }
    }
    println!(
        "variants: cold start {} runs each (+1 warm-up), interleaved",
        o.cold_runs
    );
    let mut cold: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut ttfr: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for run in 0..=o.cold_runs {
        for (label, launch, _) in &launches {
            let api = RuntimeApi::start(api_options(Duration::from_secs(60)))
                .await
                .map_err(|e| format!("runtime api: {e}"))?;
            let function = FunctionProcess::spawn(&api, launch.command(&sim.endpoint_url(), "10"))
                .map_err(|e| format!("spawn: {e}"))?;
            let ready = function.wait_ready(Duration::from_secs(60)).await;
            function.kill();
            function.wait_exit(Duration::from_secs(5)).await;
            if run > 0 {
                cold.entry(label.clone()).or_default().extend(ready.map(ms));
            }
        }
    }
    println!(
        "variants: time to first revocation {} runs each",
        o.ttfr_runs
    );
    for run in 0..o.ttfr_runs {
        for (label, launch, _) in &launches {
            let keys = seed(&sim, 1, &format!("variant-{label}-{run}"))?;
            let api = RuntimeApi::start(api_options(Duration::from_secs(60)))
                .await
                .map_err(|e| format!("runtime api: {e}"))?;
            let function = FunctionProcess::spawn(&api, launch.command(&sim.endpoint_url(), "10"))
                .map_err(|e| format!("spawn: {e}"))?;
            let invocation = api
                .invoke(revoke_request(&keys, "BENCH-TTFR"), Duration::from_secs(60))
                .await;
            let total = function.spawned_at().elapsed();
            function.kill();
            function.wait_exit(Duration::from_secs(5)).await;
            if outcome_counts(&invocation).get("revoked") != Some(&1) {
                return Err(format!("variant {label}: the first revocation failed"));
            }
            ttfr.entry(label.clone()).or_default().push(ms(total));
        }
    }
    let n = o.overhead_keys;
    let mut cpu: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut rss: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for i in 0..o.overhead_repeats {
        for (label, launch, _) in &launches {
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
    let mut out = serde_json::Map::new();
    for (label, _, path) in &launches {
        let cpu_s = stats(cpu.get(label).map(Vec::as_slice).unwrap_or(&[]));
        let mut r = rss.get(label).cloned().unwrap_or_default();
        r.sort_unstable();
        out.insert(
            label.clone(),
            json!({
                "binary": path.display().to_string(),
                "binary_bytes": std::fs::metadata(path).map(|m| m.len()).ok(),
                "cold_start": stats(cold.get(label).map(Vec::as_slice).unwrap_or(&[])),
                "time_to_first_revocation": stats(ttfr.get(label).map(Vec::as_slice).unwrap_or(&[])),
                "cpu_ms_1000_keys": cpu_s,
                "cpu_us_per_key": f(&cpu_s, &["median_ms"]).map(|m| round(m * 1000.0 / n as f64, 1)),
                "peak_rss_kib_median": r.get(r.len() / 2),
            }),
        );
    }
    Ok(Value::Object(out))
}

fn render_variants(v: &Value, meta: &Value) -> String {
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

// ---------------------------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------------------------

struct Report {
    meta: Value,
    sections: serde_json::Map<String, Value>,
}

impl Report {
    /// The previous results: sections not measured this time are kept (each carries its own
    /// date and command).
    fn load(root: &Path) -> Report {
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

    fn start(&mut self, root: &Path, o: &Options) {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let command = format!("cargo run --release -p bench -- {}", args.join(" "))
            .trim_end()
            .to_owned();
        let git = |a: &[&str]| {
            Command::new("git")
                .args(a)
                .current_dir(root)
                .output()
                .ok()
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        };
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
        let rustc = Command::new("rustc")
            .arg("--version")
            .current_dir(root)
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
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
            "subcommand": o.command,
            "machine": {
                "nproc": nproc,
                "cpu_model": cpu,
                "memory_gib": mem_kib.map(|k| round(k as f64 / 1048576.0, 1)),
                "kernel": kernel,
                "summary": format!("{nproc} × {cpu}, {} GiB", mem_kib.map_or(0.0, |k| round(k as f64 / 1048576.0, 0))),
                "loadavg_at_start": loadavg(),
            },
            "rustc": rustc,
            "function_binary": fb,
            "peer": peer,
        });
    }

    fn meta_insert(&mut self, k: &str, v: Value) {
        self.meta[k] = v;
    }

    fn section(&mut self, name: &str, mut value: Value) {
        value["measured_at"] = self.meta["date"].clone();
        value["command"] = self.meta["command"].clone();
        value["commit"] = self.meta["commit"].clone();
        value["loadavg_at_end"] = json!(loadavg());
        self.sections.insert(name.to_owned(), value);
    }

    fn finish(&mut self) {
        self.meta["machine"]["loadavg_at_end"] = json!(loadavg());
    }

    fn doc(&self) -> Value {
        json!({
            "meta": self.meta,
            "targets": targets(&self.sections),
            "sections": self.sections,
        })
    }
}

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
    json!([
        {"target": "cold start >= 15x faster than the peer (median)", "value": cold, "met": cold.map(|c| c >= TARGET_COLD_START_RATIO)},
        {"target": "peak RSS >= 4x smaller than the peer (1,000 keys)", "value": rss, "met": rss.map(|r| r >= TARGET_RSS_RATIO)},
        {"target": "throughput at the quota >= the peer's (equal within 0.5%: both are paced to the same quota)", "value": ratio(rust_rate, peer_rate), "met": rust_rate.zip(peer_rate).map(|(a, b)| a >= b * (1.0 - RATE_TOLERANCE))},
        {"target": ">= 90% of the configured delete rate on 1,000 keys, 0 lost or failed", "value": rust_share, "met": rust_share.zip(lost).map(|(r, l)| r >= TARGET_RATE_SHARE && l == 0.0)},
    ])
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default() + "\n"
}

fn write_file(path: &Path, text: &str) -> Result<(), String> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

fn print_section(name: &str, v: &Value) {
    let mut brief = v.clone();
    strip_samples(&mut brief);
    println!(
        "{name}: {}",
        serde_json::to_string(&brief).unwrap_or_default()
    );
}

fn strip_samples(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.remove("samples_ms");
            m.remove("definition");
            for x in m.values_mut() {
                strip_samples(x);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(strip_samples),
        _ => {}
    }
}

fn med_p90(v: &Value) -> String {
    match (v["median_ms"].as_f64(), v["p90_ms"].as_f64()) {
        (Some(m), Some(p)) => format!("{} ({})", fmt_ms(m), fmt_ms(p)),
        _ => "n/a".to_owned(),
    }
}

fn fmt_ms(x: f64) -> String {
    if x >= 100.0 {
        format!("{x:.0} ms")
    } else {
        format!("{x:.1} ms")
    }
}

/// CPU from /proc counts in 10 ms clock ticks: zero means less than one tick.
fn fmt_cpu_ms(x: f64) -> String {
    if x <= 0.0 {
        "< 10 ms (one clock tick)".to_owned()
    } else {
        fmt_ms(x)
    }
}

fn kib(k: Option<u64>) -> String {
    k.map_or("n/a".to_owned(), |k| {
        format!("{:.1} MiB", k as f64 / 1024.0)
    })
}

fn bytes(b: Option<u64>) -> String {
    b.map_or("n/a".to_owned(), |b| {
        format!("{:.2} MiB ({b} B)", b as f64 / 1_048_576.0)
    })
}

fn x(r: Option<f64>) -> String {
    r.map_or("n/a".to_owned(), |r| format!("{r:.1}x"))
}

fn end_to_end(side: &Value, keys: &Value) -> String {
    match (side["invocation_s"].as_f64(), keys.as_f64()) {
        (Some(s), Some(k)) if s > 0.0 => format!("{s:.1} s ({:.2}/s)", k / s),
        _ => "n/a".to_owned(),
    }
}

fn met(m: &Value) -> &'static str {
    match m.as_bool() {
        Some(true) => "yes",
        Some(false) => "**no**",
        None => "n/a",
    }
}

/// bench/results/latest.md: the figures table the README quotes.
fn render(doc: &Value) -> String {
    let meta = &doc["meta"];
    let s = &doc["sections"];
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
    out.push_str("| measure | Rust (release) | Python peer | ratio | target | met |\n|---|---:|---:|---:|---|---|\n");
    let c = &s["cold_start"];
    let tgt = &doc["targets"];
    out.push_str(&format!(
        "| cold start: spawn → first `/next`, median (p90), {} runs | {} | {} | {} faster | ≥ 15x | {} |\n",
        c["rust"]["cold_start"]["runs"],
        med_p90(&c["rust"]["cold_start"]),
        med_p90(&c["peer"]["cold_start"]),
        x(c["ratio_cold_start_median"].as_f64()),
        met(&tgt[0]["met"]),
    ));
    out.push_str(&format!(
        "| time to first revocation (cold start + 1 key, KMS 20-40 ms), median (p90) | {} | {} | {} faster | | |\n",
        med_p90(&c["rust"]["time_to_first_revocation"]),
        med_p90(&c["peer"]["time_to_first_revocation"]),
        x(c["ratio_time_to_first_revocation_median"].as_f64()),
    ));
    let tls = &s["tls"];
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
    out.push_str(&format!(
        "| RSS after init (idle) | {} | {} | | | |\n",
        kib(c["rust"]["idle_rss_after_init_kib"].as_u64()),
        kib(c["peer"]["idle_rss_after_init_kib"].as_u64()),
    ));
    if let Some(runs) = s["memory"]["runs"].as_object() {
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
                if is_1000 { met(&tgt[1]["met"]) } else { "" },
            ));
        }
    }
    let o = &s["overhead"];
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
    let t = &s["throughput"];
    let rate = |v: &Value| match (
        v["achieved_rate_per_s"].as_f64(),
        v["share_of_configured"].as_f64(),
    ) {
        (Some(a), Some(sh)) => format!("{a:.2}/s ({:.1}%)", sh * 100.0),
        _ => "n/a".to_owned(),
    };
    out.push_str(&format!(
        "| DeleteImportedKeyMaterial rate, {} keys at the 15/s quota (% of configured 15/s) | {} | {} | {} | ≥ peer (±0.5%); ≥ 90% | {} / {} |\n",
        t["keys"],
        rate(&t["rust"]),
        rate(&t["peer"]),
        t["ratio_rate_rust_over_peer"].as_f64().map_or("n/a".to_owned(), |r| format!("{r:.3}")),
        met(&tgt[2]["met"]),
        met(&tgt[3]["met"]),
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
    let z = &s["size"];
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
