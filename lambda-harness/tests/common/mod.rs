//! Shared test helpers: the fake runtimes and a raw HTTP/1.1 client.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use lambda_harness::{FunctionCommand, FunctionProcess, RuntimeApi, RuntimeApiOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A generous bound for things that take milliseconds (slow shared CI machines).
pub const PATIENCE: Duration = Duration::from_secs(20);

/// The stdlib-only Python runtime client in tests/fixtures.
pub fn fake_runtime_script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fake_runtime.py")
}

/// A runtime that is killed with its /next poll left open (tests/fixtures/orphan_poll.py).
pub fn orphan_poll_script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/orphan_poll.py")
}

/// `python3 tests/fixtures/fake_runtime.py` with Lambda's environment plus `env`.
pub fn fake_runtime_command(env: &[(&str, &str)]) -> FunctionCommand {
    FunctionCommand::new("python3")
        .arg(fake_runtime_script())
        .handler("fake_runtime.main")
        .envs(env.iter().copied())
}

pub async fn start_api() -> RuntimeApi {
    start_api_with(RuntimeApiOptions::default()).await
}

pub async fn start_api_with(options: RuntimeApiOptions) -> RuntimeApi {
    RuntimeApi::start(options)
        .await
        .expect("the harness binds a loopback port")
}

/// A Runtime API with the Python fake runtime attached.
pub async fn api_with_fake_runtime(
    options: RuntimeApiOptions,
    env: &[(&str, &str)],
) -> (RuntimeApi, FunctionProcess) {
    let api = start_api_with(options).await;
    let function = FunctionProcess::spawn(&api, fake_runtime_command(env))
        .expect("python3 is available to run the fake runtime");
    (api, function)
}

/// examples/echo_runtime.rs, built on the real `lambda_runtime` client. `cargo test` builds
/// examples next to the test binaries: target/<profile>/examples/echo_runtime.
pub fn echo_runtime_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps/<test>");
    let path = profile_dir.join("examples").join("echo_runtime");
    assert!(
        path.exists(),
        "{} is missing: run the tests with `cargo test -p lambda-harness` (which builds examples) \
         or `cargo build -p lambda-harness --example echo_runtime` first",
        path.display()
    );
    path
}

/// A raw HTTP/1.1 exchange (`Connection: close`): status, head, body. For protocol checks the
/// well-behaved clients never make.
pub async fn raw_http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String, Vec<u8>) {
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connect to the harness");
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("\r\n");
    stream
        .write_all(request.as_bytes())
        .await
        .expect("write request");
    stream.write_all(body).await.expect("write body");
    let mut response = Vec::new();
    tokio::time::timeout(PATIENCE, stream.read_to_end(&mut response))
        .await
        .expect("response in time")
        .expect("read response");
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an HTTP head");
    let head = String::from_utf8_lossy(&response[..split]).into_owned();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status code");
    (status, head, response[split + 4..].to_vec())
}
