//! What is measured: the workspace, the release binary (built first, so the figures describe the
//! sources they record) and the Python peer's versions.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

use serde_json::{Value, json};

/// The workspace root (bench/ is one level below it).
pub(crate) fn workspace_root() -> PathBuf {
    // bench/ is one level below the workspace root; CARGO_MANIFEST_DIR is fixed at build time.
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(Path::to_path_buf).unwrap_or(manifest)
}

/// Builds the release binary (a no-op when current), or checks the one the user named.
pub(crate) fn ensure_release_binary(
    root: &Path,
    function: &Path,
    explicit: bool,
) -> Result<(), String> {
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

/// Path, size, build time of the function binary, and whether sources are newer.
pub(crate) fn binary_info(root: &Path, function: &Path) -> Value {
    let modified = mtime(function).map(|t| chrono::DateTime::<chrono::Utc>::from(t).to_rfc3339());
    json!({
        "path": function.strip_prefix(root).unwrap_or(function).display().to_string(),
        "bytes": std::fs::metadata(function).map(|m| m.len()).ok(),
        "built_at": modified,
        "older_than_sources": newest_source_after(root, function).map(|p| p.display().to_string()),
    })
}

/// The peer's handler and the versions of Python, boto3, botocore and awslambdaric.
pub(crate) fn peer_info(python: &Path) -> Value {
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
