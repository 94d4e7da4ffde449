//! Deployment package size: `cargo lambda build --release --output-format zip` for arm64 and
//! x86_64 (cargo-lambda and zig from bench/.venv), zip bytes and the bootstrap's bytes.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Instant;

use serde_json::{Value, json};

use crate::cli::Options;
use crate::launch::Env;
use crate::report::files::print_section;
use crate::stats::round;

pub(crate) fn size(env: &Env, o: &Options) -> Result<Value, String> {
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
            Some(cargo_lambda_build(&env.root, flag, &dir, &path)?)
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

/// `cargo lambda build --release FLAG --output-format zip` into `dir`, with `path` as PATH.
fn cargo_lambda_build(root: &Path, flag: &str, dir: &str, path: &str) -> Result<Output, String> {
    println!("size: cargo lambda build --release {flag} --output-format zip (may take minutes)");
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
            dir,
        ])
        .current_dir(root)
        .env("PATH", path)
        .output()
        .map_err(|e| format!("cargo lambda: {e}"))
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
