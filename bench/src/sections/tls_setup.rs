//! What the tls section stands on: a throwaway CA and server certificate made with the openssl
//! CLI, and bench/tls/proxy.py terminating TLS in front of kms-sim.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::report::files::write_file;

/// The system CA bundle the bench appends its own CA to (Debian / Amazon Linux paths).
const SYSTEM_CA_BUNDLES: [&str; 2] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
];

/// A throwaway CA and a 127.0.0.1 server certificate (RSA 2048, as KMS's endpoints use), made
/// with the openssl CLI in `dir`; returns (CA bundle = system roots + this CA, chain, key).
pub(super) fn make_tls_material(dir: &Path) -> Result<(PathBuf, PathBuf, PathBuf), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    make_certificates(dir)?;
    let bundle = ca_bundle(dir)?;
    Ok((bundle, dir.join("server.pem"), dir.join("server.key")))
}

/// `openssl ARGS` in `dir`.
fn openssl(dir: &Path, args: &[&str]) -> Result<(), String> {
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
}

/// ca.pem/ca.key, then server.pem/server.key signed by it for IP 127.0.0.1.
fn make_certificates(dir: &Path) -> Result<(), String> {
    let run = |args: &[&str]| openssl(dir, args);
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
    Ok(())
}

/// bundle.pem: the system roots plus the bench CA, as both functions are told to trust.
fn ca_bundle(dir: &Path) -> Result<PathBuf, String> {
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
    Ok(dir.join("bundle.pem"))
}

/// `bench/tls/proxy.py` in front of kms-sim; killed on drop.
pub(super) struct TlsProxy {
    child: std::process::Child,
    pub(super) port: u16,
}

impl TlsProxy {
    pub(super) fn start(
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
