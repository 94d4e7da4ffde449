//! Shared helpers: the real SDK client pointed at the simulator, raw HTTP for the admin API
//! and EventBridge, and error inspection.

#![allow(dead_code)]

use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_kms::Client;
use aws_sdk_kms::config::{Credentials, Region};
use aws_sdk_kms::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{AlgorithmSpec, ExpirationModelType, ImportType, WrappingKeySpec};
use kms_sim::{ImportOptions, KeyInfo, KeySpec, KmsSim, SimConfig};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The access key every default client uses (unknown to the simulator: default account).
pub const DEFAULT_AKID: &str = "AKIDSIMDEFAULT";

/// A simulator without quotas.
pub async fn sim() -> KmsSim {
    KmsSim::start(SimConfig::unlimited())
        .await
        .expect("kms-sim starts")
}

/// A KMS client exactly as the function builds one (aws-config), retries off so tests see each
/// answer.
pub async fn client(sim: &KmsSim) -> Client {
    client_as(sim, DEFAULT_AKID, "us-east-1").await
}

/// A client signing with `akid` in `region`.
pub async fn client_as(sim: &KmsSim, akid: &str, region: &str) -> Client {
    client_with(sim, akid, region, RetryConfig::disabled()).await
}

/// A client with the SDK's standard retries (3 attempts, fast backoff for tests).
pub async fn retrying_client(sim: &KmsSim, attempts: u32) -> Client {
    client_with(
        sim,
        DEFAULT_AKID,
        "us-east-1",
        RetryConfig::standard()
            .with_max_attempts(attempts)
            .with_initial_backoff(Duration::from_millis(1))
            .with_max_backoff(Duration::from_millis(5)),
    )
    .await
}

async fn client_with(sim: &KmsSim, akid: &str, region: &str, retry: RetryConfig) -> Client {
    let config = aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(sim.endpoint_url())
        .region(Region::new(region.to_string()))
        .credentials_provider(Credentials::new(
            akid,
            "secret",
            None,
            None,
            "kms-sim-tests",
        ))
        .retry_config(retry)
        .timeout_config(
            TimeoutConfig::builder()
                .operation_attempt_timeout(Duration::from_secs(10))
                .build(),
        )
        .load()
        .await;
    Client::new(&config)
}

/// (code, message, HTTP status) of an SDK error.
pub fn err_of<E>(e: &SdkError<E>) -> (String, String, Option<u16>)
where
    E: ProvideErrorMetadata,
{
    let status = e.raw_response().map(|r| r.status().as_u16());
    let (code, message) = match e {
        SdkError::ServiceError(s) => (
            s.err().code().unwrap_or("").to_string(),
            s.err().message().unwrap_or("").to_string(),
        ),
        SdkError::DispatchFailure(_) => ("<dispatch failure>".to_string(), String::new()),
        SdkError::ResponseError(_) => ("<response error>".to_string(), String::new()),
        SdkError::TimeoutError(_) => ("<timeout>".to_string(), String::new()),
        _ => ("<other SDK error>".to_string(), String::new()),
    };
    (code, message, status)
}

/// An EXTERNAL key with imported material (no RSA, through the store), ready to revoke.
pub fn external_key_with_material(sim: &KmsSim, material: [u8; 32]) -> (KeyInfo, String) {
    let key = sim.store().create_key(KeySpec::external());
    let id = sim
        .store()
        .import_material(&key.arn, material, ImportOptions::default())
        .expect("import");
    (key, id)
}

/// What GetParametersForImport returned.
pub struct Params {
    pub token: Blob,
    pub public_key: Vec<u8>,
}

/// GetParametersForImport through the SDK.
pub async fn params(kms: &Client, key: &str, alg: AlgorithmSpec, spec: WrappingKeySpec) -> Params {
    let out = kms
        .get_parameters_for_import()
        .key_id(key)
        .wrapping_algorithm(alg)
        .wrapping_key_spec(spec)
        .send()
        .await
        .expect("GetParametersForImport");
    Params {
        token: out.import_token().expect("token").clone(),
        public_key: out.public_key().expect("public key").as_ref().to_vec(),
    }
}

/// ImportKeyMaterial (never expiring) of already wrapped material: the key material ID, or the
/// error code and message.
pub async fn import_wrapped(
    kms: &Client,
    key: &str,
    p: &Params,
    wrapped: Vec<u8>,
    import_type: Option<ImportType>,
) -> Result<String, (String, String)> {
    kms.import_key_material()
        .key_id(key)
        .import_token(p.token.clone())
        .encrypted_key_material(Blob::new(wrapped))
        .expiration_model(ExpirationModelType::KeyMaterialDoesNotExpire)
        .set_import_type(import_type)
        .send()
        .await
        .map(|o| o.key_material_id().unwrap_or_default().to_string())
        .map_err(|e| {
            let (c, m, _) = err_of(&e);
            (c, m)
        })
}

/// What a key custodian does: GetParametersForImport, wrap `material` client-side with
/// `algorithm`, ImportKeyMaterial. The key material ID, or the error code and message.
pub async fn import_via_sdk(
    kms: &Client,
    key: &str,
    material: &[u8],
    algorithm: AlgorithmSpec,
    import_type: Option<ImportType>,
) -> Result<String, (String, String)> {
    let p = params(kms, key, algorithm.clone(), WrappingKeySpec::Rsa2048).await;
    let wrapped = kms_sim::wrap::wrap_key_material(&p.public_key, material, algorithm.as_str())
        .expect("wrap material");
    import_wrapped(kms, key, &p, wrapped, import_type).await
}

/// A raw HTTP response.
#[derive(Debug)]
pub struct Raw {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Raw {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.1 request on a fresh connection. `Err` when the server closes the connection
/// without answering (dropped-connection faults).
pub async fn http(
    sim: &KmsSim,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> std::io::Result<Raw> {
    let mut stream = tokio::net::TcpStream::connect(sim.addr()).await?;
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n",
        sim.addr(),
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    stream.write_all(req.as_bytes()).await?;
    let mut buf = Vec::new();
    stream.read_to_end(&mut buf).await?;
    if buf.is_empty() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "connection closed without a response",
        ));
    }
    let text = String::from_utf8_lossy(&buf).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    Ok(Raw {
        status,
        headers,
        body: body.to_string(),
    })
}

/// A KMS JSON 1.1 call over raw HTTP (what botocore / the AWS CLI send), signed with `akid`.
pub async fn kms_raw(sim: &KmsSim, akid: &str, region: &str, op: &str, body: &str) -> Raw {
    let target = format!("TrentService.{op}");
    let auth = format!(
        "AWS4-HMAC-SHA256 Credential={akid}/20250101/{region}/kms/aws4_request, SignedHeaders=host;x-amz-date;x-amz-target, Signature=00"
    );
    http(
        sim,
        "POST",
        "/",
        &[
            ("Content-Type", "application/x-amz-json-1.1"),
            ("X-Amz-Target", &target),
            ("Authorization", &auth),
        ],
        body,
    )
    .await
    .expect("response")
}

/// An admin API call; returns (status, JSON body).
pub async fn admin(sim: &KmsSim, method: &str, path: &str, body: &str) -> (u16, Value) {
    let r = http(
        sim,
        method,
        path,
        &[("Content-Type", "application/json")],
        body,
    )
    .await
    .expect("admin response");
    let v = r.json();
    (r.status, v)
}
