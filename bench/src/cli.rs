//! The command line: which section to run and how many runs, keys and repeats.

use std::path::PathBuf;

use crate::launch::Kind;

/// What to measure and how much.
pub(crate) struct Options {
    pub(crate) command: String,
    pub(crate) cold_runs: usize,
    pub(crate) ttfr_runs: usize,
    /// Keys of the throughput (1,000) / reduced-quota (100) run, when given.
    pub(crate) keys: Option<usize>,
    pub(crate) ttk_runs: usize,
    pub(crate) cpu_runs: usize,
    pub(crate) cpu_keys: usize,
    pub(crate) memory_sizes: Vec<u32>,
    pub(crate) overhead_keys: usize,
    pub(crate) overhead_repeats: usize,
    pub(crate) memory_keys: Vec<usize>,
    pub(crate) only: Option<Kind>,
    pub(crate) function: Option<PathBuf>,
    pub(crate) variants: Vec<(String, PathBuf)>,
    pub(crate) skip_build: bool,
    pub(crate) write: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            command: "all".to_owned(),
            cold_runs: 20,
            ttfr_runs: 10,
            keys: None,
            ttk_runs: 7,
            cpu_runs: 3,
            cpu_keys: 100,
            memory_sizes: vec![128, 256, 512, 1769],
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

const COMMANDS: [&str; 12] = [
    "all",
    "cold-start",
    "memory",
    "overhead",
    "throughput",
    "reduced-quota",
    "time-to-kill",
    "cpu-share",
    "tls",
    "size",
    "variants",
    "report",
];

pub(crate) const USAGE: &str = "\
usage: cargo run --release -p bench -- [COMMAND] [OPTIONS]

commands:
  all           every section below but variants and report (default)
  cold-start    process start -> first Runtime API /next; time to first revocation
  memory        peak RSS while revoking 100 and 1,000 keys
  overhead      CPU and wall time per key, 1,000 keys, zero-latency unlimited KMS
  throughput    1,000 keys at AWS's 15/s DeleteImportedKeyMaterial quota, latency 20-40 ms
  reduced-quota 100 keys, configured 10/s, only 5/s DeleteImportedKeyMaterial available
  time-to-kill  one key (ARN, then alias), KMS 50 ms per call: event -> first delete, record
  cpu-share     under cgroup CPU quotas of Lambda memory sizes: cold start, first delete, 100 keys
  tls           time to first revocation over TLS; what the first connection costs
  size          cargo lambda build --release --arm64 / --x86-64 --output-format zip
  variants      cold start, per-key CPU and size of several builds (--variant LABEL=PATH ...)
  report        rewrite results/latest.md and the README figures from results/latest.json

options:
  --runs N              cold-start runs per function (20)
  --ttfr-runs N         time-to-first-revocation runs per function (10)
  --keys N              keys of the throughput / reduced-quota run (1000 / 100)
  --ttk-runs N          time-to-kill runs per function and naming (7)
  --cpu-runs N          cpu-share runs per function and memory size (3)
  --cpu-keys N          keys of each cpu-share run (100)
  --memory-sizes A,B    cpu-share memory sizes in MB (128,256,512,1769)
  --overhead-keys N     keys of the overhead run (1000)
  --repeats N           overhead / variant CPU repeats (3)
  --memory-keys A,B     key counts of the memory runs (100,1000)
  --only rust|peer      measure one side only
  --function PATH       the Rust function binary (target/release/kms-material-guard)
  --variant LABEL=PATH  a build to compare (variants)
  --skip-build          size: measure what cargo lambda built last, do not build
  --no-write            print only; do not update bench/results/
";

/// The options from the command line; `Err("")` for `--help`, else the error.
pub(crate) fn parse_args() -> Result<Options, String> {
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
            "--keys" => o.keys = Some(num(args.next(), "--keys")?),
            "--ttk-runs" => o.ttk_runs = num(args.next(), "--ttk-runs")?.max(1),
            "--cpu-runs" => o.cpu_runs = num(args.next(), "--cpu-runs")?.max(1),
            "--cpu-keys" => o.cpu_keys = num(args.next(), "--cpu-keys")?.max(1),
            "--memory-sizes" => {
                let v = args.next().ok_or("--memory-sizes needs a value")?;
                o.memory_sizes = v
                    .split(',')
                    .map(|s| match s.trim().parse::<u32>() {
                        Ok(mb) if (128..=10240).contains(&mb) => Ok(mb),
                        _ => Err(format!(
                            "--memory-sizes: {s} is not a Lambda memory size (128-10240 MB)"
                        )),
                    })
                    .collect::<Result<_, _>>()?;
            }
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
                if !COMMANDS.contains(&c) {
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
