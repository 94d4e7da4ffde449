//! `kms-sim` binary: serves the simulator until Ctrl-C.
//!
//! ```text
//! cargo run -p kms-sim -- --port 4599 --seed kms-sim/examples/seed.json --quota-scale 1 \
//!     --latency-ms 20-40 --faults faults.json --account AKIDEXAMPLE=222222222222
//! ```

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use kms_sim::{FaultRule, KmsSim, Quotas, Seed, SimConfig};

const USAGE: &str = "\
kms-sim: a local AWS KMS for imported key material (KMS JSON 1.1 over HTTP)

USAGE: kms-sim [OPTIONS]

OPTIONS:
  --port N                 port to listen on (default 4599, not LocalStack's 4566;
                           0 = any free port)
  --host IP                address to bind (default 127.0.0.1)
  --seed FILE              seed file (keys, aliases, tags, material; see README)
  --faults FILE            fault rules (a JSON list, or {\"rules\": [...]}; see README)
  --fault JSON             one fault rule inline (repeatable)
  --account AKID=ACCOUNT   map an access key ID to a 12-digit account (repeatable)
  --default-account ACCT   account for unknown access keys (default 111111111111)
  --region REGION          Region when requests carry none (default us-east-1)
  --quota-scale F          multiply every AWS default quota by F (default 1)
  --quota OP=RPS           set one operation's quota (repeatable)
  --unlimited              no quotas at all
  --latency-ms A-B | N     add latency to every call (uniform in [A, B] ms)
  --log                    one line per request on stderr
  -h, --help               this help
";

/// The default port: not LocalStack's 4566, so both can run side by side.
const DEFAULT_PORT: u16 = 4599;

fn parse_args(args: &[String]) -> Result<SimConfig, String> {
    let mut config = SimConfig::default();
    let mut host: IpAddr = IpAddr::from([127, 0, 0, 1]);
    let mut port: u16 = DEFAULT_PORT;
    let mut quotas = Quotas::default();
    let mut i = 0;
    let value = |i: &mut usize, flag: &str| -> Result<String, String> {
        *i += 1;
        args.get(*i)
            .cloned()
            .ok_or_else(|| format!("{flag} needs a value"))
    };
    while i < args.len() {
        let flag = args[i].as_str();
        match flag {
            "-h" | "--help" => return Err(String::new()),
            "--port" => {
                port = value(&mut i, flag)?
                    .parse()
                    .map_err(|_| "--port needs a number 0-65535".to_string())?
            }
            "--host" => {
                host = value(&mut i, flag)?
                    .parse()
                    .map_err(|_| "--host needs an IP address".to_string())?
            }
            "--seed" => {
                let path = PathBuf::from(value(&mut i, flag)?);
                config.seed = Some(Seed::from_file(&path)?);
            }
            "--faults" => {
                let path = PathBuf::from(value(&mut i, flag)?);
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                let v: serde_json::Value = serde_json::from_str(&text)
                    .map_err(|e| format!("{} is not JSON: {e}", path.display()))?;
                let rules = match &v {
                    serde_json::Value::Array(a) => a.clone(),
                    serde_json::Value::Object(o) => match o.get("rules") {
                        Some(serde_json::Value::Array(a)) => a.clone(),
                        _ => vec![v.clone()],
                    },
                    _ => return Err(format!("{}: expected a list of rules", path.display())),
                };
                for r in &rules {
                    config.faults.push(
                        FaultRule::from_json(r).map_err(|e| format!("{}: {e}", path.display()))?,
                    );
                }
            }
            "--fault" => {
                let text = value(&mut i, flag)?;
                let v: serde_json::Value =
                    serde_json::from_str(&text).map_err(|e| format!("--fault is not JSON: {e}"))?;
                config
                    .faults
                    .push(FaultRule::from_json(&v).map_err(|e| format!("--fault: {e}"))?);
            }
            "--account" => {
                let v = value(&mut i, flag)?;
                let (akid, account) = v
                    .split_once('=')
                    .ok_or_else(|| "--account needs AKID=ACCOUNT".to_string())?;
                config = config.with_account(akid, account);
            }
            "--default-account" => config.default_account = value(&mut i, flag)?,
            "--region" => config.default_region = value(&mut i, flag)?,
            "--quota-scale" => {
                let f: f64 = value(&mut i, flag)?
                    .parse()
                    .map_err(|_| "--quota-scale needs a number".to_string())?;
                if !(f.is_finite() && f > 0.0) {
                    return Err("--quota-scale must be positive".into());
                }
                quotas = quotas.scaled(f);
            }
            "--quota" => {
                let v = value(&mut i, flag)?;
                let (op, rps) = v
                    .split_once('=')
                    .ok_or_else(|| "--quota needs OP=RPS".to_string())?;
                let rps: f64 = rps
                    .parse()
                    .ok()
                    .filter(|r: &f64| r.is_finite() && *r > 0.0)
                    .ok_or_else(|| "--quota needs a positive rps".to_string())?;
                quotas = quotas.with(op, rps);
            }
            "--unlimited" => quotas.enabled = false,
            "--latency-ms" => {
                let v = value(&mut i, flag)?;
                let (a, b) = v.split_once('-').unwrap_or((&v, &v));
                let a: u64 = a
                    .trim()
                    .parse()
                    .map_err(|_| "--latency-ms needs N or A-B".to_string())?;
                let b: u64 = b
                    .trim()
                    .parse()
                    .map_err(|_| "--latency-ms needs N or A-B".to_string())?;
                config = config.with_latency(Duration::from_millis(a), Duration::from_millis(b));
            }
            "--log" => config.log_requests = true,
            other => return Err(format!("unknown option {other}")),
        }
        i += 1;
    }
    config.quotas = quotas;
    config.addr = SocketAddr::new(host, port);
    Ok(config)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let config = match parse_args(&args) {
        Ok(c) => c,
        Err(e) if e.is_empty() => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("kms-sim: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    if !config.addr.ip().is_loopback() {
        eprintln!(
            "kms-sim: warning: listening on {} (not loopback); signatures are not verified",
            config.addr.ip()
        );
    }
    let sim = match KmsSim::start(config).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("kms-sim: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("kms-sim listening on {}", sim.endpoint_url());
    println!(
        "  AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local aws kms list-keys --endpoint-url {} --region us-east-1",
        sim.endpoint_url()
    );
    println!("  admin API: {}/_sim/health", sim.endpoint_url());
    for k in sim.seeded_keys() {
        println!("  seeded {}", k.arn);
    }
    if tokio::signal::ctrl_c().await.is_err() {
        eprintln!("kms-sim: cannot listen for Ctrl-C; stopping");
    }
    println!("kms-sim: stopping");
    sim.shutdown().await;
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn the_default_port_is_4599_not_localstacks_4566() {
        // GIVEN no flags WHEN parsed THEN the simulator binds 127.0.0.1:4599
        let c = parse_args(&[]).expect("config");
        assert_eq!(c.addr.port(), 4599);
        assert!(c.addr.ip().is_loopback());
        // AND the help text says so
        assert!(USAGE.contains("default 4599"));
    }

    #[test]
    fn flags_build_the_config() {
        let c = parse_args(&args(
            "--port 0 --quota-scale 0.5 --latency-ms 20-40 --account AK=222222222222 --quota ListKeys=3",
        ))
        .expect("config");
        assert_eq!(c.addr.port(), 0);
        assert_eq!(c.quotas.rps("DeleteImportedKeyMaterial"), Some(7.5));
        assert_eq!(c.quotas.rps("ListKeys"), Some(1.5));
        assert_eq!(
            c.latency,
            Some((Duration::from_millis(20), Duration::from_millis(40)))
        );
        assert_eq!(
            c.accounts.get("AK").map(String::as_str),
            Some("222222222222")
        );
        assert!(parse_args(&args("--bogus")).is_err());
        let c = parse_args(&args(
            r#"--fault {"operation":"ListKeys","fault":"throttling","times":1}"#,
        ))
        .expect("fault");
        assert_eq!(c.faults.len(), 1);
        assert!(parse_args(&args(r#"--fault {"fault":"nope"}"#)).is_err());
        assert!(parse_args(&args("--port")).is_err());
        assert!(parse_args(&args("--unlimited")).is_ok_and(|c| c.quotas.rps("X").is_none()));
    }
}
