//! `kms-sim`: a faithful local AWS KMS for imported key material (BYOK keys, Origin
//! `EXTERNAL`), serving the real KMS JSON 1.1 protocol over HTTP on 127.0.0.1 so that the real
//! `aws-sdk-kms` client, the AWS CLI and boto3 (with an endpoint URL) talk to it as to AWS.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use kms_sim::{FaultKind, FaultRule, KeySpec, KmsSim, SimConfig};
//!
//! let sim = KmsSim::start(SimConfig::unlimited()).await?;
//! let key = sim.store().create_key(KeySpec::external().tag("guard", "on"));
//! sim.store().import_material(&key.arn, [7; 32], Default::default()).expect("import");
//! sim.faults().add(FaultRule::new("DeleteImportedKeyMaterial", FaultKind::dependency_timeout()).times(1));
//! // point aws-sdk-kms at sim.endpoint_url() ...
//! sim.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! See the crate README for the wire protocol, the admin API (`/_sim/...`), the seed format and
//! the deliberate differences from AWS.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod admin_api;
mod api;
mod clock;
mod counters;
mod crypto;
mod error;
mod events;
mod faults;
mod keyspec;
mod model;
mod quotas;
mod seed;
mod server;
mod store;
pub mod wrap;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::{JoinHandle, JoinSet};

pub use api::KMS_OPERATIONS;
pub use clock::SimClock;
pub use counters::{CounterSnapshot, Counters};
pub use crypto::{WrappingAlgorithm, WrappingKeySpec};
pub use error::{KmsError, SimError};
pub use events::RecordedEvent;
pub use faults::{FaultKind, FaultRule, FaultWhen, Faults, ListedRule};
pub use model::{
    ExpirationModel, ImportState, ImportType, KeyMaterialState, KeyState, KeyStateOverride,
    KeyUsage, KeyView, KmsKeySpec, MaterialView, Origin,
};
pub use quotas::{AWS_DEFAULT_QUOTAS, CRYPTO_ECC, CRYPTO_RSA, CRYPTO_SYMMETRIC, Quotas};
pub use seed::{Seed, SeedKey};
pub use store::{Caller, ImportOptions, KeyInfo, KeySpec, MAX_ON_DEMAND_ROTATIONS, Store};

use server::SimState;

/// The account used when the access key is unknown or absent.
pub const DEFAULT_ACCOUNT: &str = "111111111111";
/// The Region used when the request has no credential scope.
pub const DEFAULT_REGION: &str = "us-east-1";

/// How to start a [`KmsSim`]. Fields are public; the `with_*` methods are a builder.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Listening address; default `127.0.0.1:0` (an ephemeral port).
    pub addr: SocketAddr,
    /// Request quotas (default: AWS's).
    pub quotas: Quotas,
    /// Latency added to every KMS / EventBridge call, drawn uniformly from `[min, max]`.
    pub latency: Option<(Duration, Duration)>,
    /// Access key ID -> 12-digit account.
    pub accounts: HashMap<String, String>,
    /// Account for unknown / absent access keys (`111111111111`).
    pub default_account: String,
    /// Region when the request has no credential scope (`us-east-1`).
    pub default_region: String,
    /// Fault rules in force from the start.
    pub faults: Vec<FaultRule>,
    /// Keys to create at start.
    pub seed: Option<Seed>,
    /// Log one line per request to stderr.
    pub log_requests: bool,
}

impl Default for SimConfig {
    /// Real AWS quotas, no latency, account `111111111111`, `us-east-1`, `127.0.0.1:0`.
    fn default() -> Self {
        SimConfig {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            quotas: Quotas::default(),
            latency: None,
            accounts: HashMap::new(),
            default_account: DEFAULT_ACCOUNT.to_string(),
            default_region: DEFAULT_REGION.to_string(),
            faults: Vec::new(),
            seed: None,
            log_requests: false,
        }
    }
}

impl SimConfig {
    /// Like `default()` but without quotas.
    pub fn unlimited() -> Self {
        SimConfig {
            quotas: Quotas::unlimited(),
            ..Self::default()
        }
    }

    /// Adds latency drawn uniformly from `[min, max]` to every call ("realistic latency").
    pub fn with_latency(mut self, min: Duration, max: Duration) -> Self {
        self.latency = Some((min.min(max), max.max(min)));
        self
    }

    /// Sets the quota of one operation in requests per second (turns quotas on).
    pub fn with_quota(mut self, operation: &str, rps: f64) -> Self {
        self.quotas = self.quotas.with(operation, rps);
        self
    }

    /// Multiplies every quota by `factor`.
    pub fn with_quota_scale(mut self, factor: f64) -> Self {
        self.quotas = self.quotas.scaled(factor);
        self
    }

    /// Replaces the quotas.
    pub fn with_quotas(mut self, quotas: Quotas) -> Self {
        self.quotas = quotas;
        self
    }

    /// Maps an access key ID to an account.
    pub fn with_account(mut self, access_key_id: &str, account: &str) -> Self {
        self.accounts
            .insert(access_key_id.to_string(), account.to_string());
        self
    }

    /// Sets the default account.
    pub fn with_default_account(mut self, account: &str) -> Self {
        self.default_account = account.to_string();
        self
    }

    /// Sets the default Region.
    pub fn with_default_region(mut self, region: &str) -> Self {
        self.default_region = region.to_string();
        self
    }

    /// Sets the listening address.
    pub fn with_addr(mut self, addr: SocketAddr) -> Self {
        self.addr = addr;
        self
    }

    /// Adds a fault rule in force from the start.
    pub fn with_fault(mut self, rule: FaultRule) -> Self {
        self.faults.push(rule);
        self
    }

    /// Keys to create at start.
    pub fn with_seed(mut self, seed: Seed) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Logs one line per request to stderr.
    pub fn with_request_log(mut self, on: bool) -> Self {
        self.log_requests = on;
        self
    }
}

/// A running simulator. Dropping it stops the server (like [`KmsSim::shutdown`] without
/// waiting).
pub struct KmsSim {
    state: Arc<SimState>,
    addr: SocketAddr,
    seeded: Vec<KeyInfo>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for KmsSim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KmsSim").field("addr", &self.addr).finish()
    }
}

fn invalid(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string())
}

impl KmsSim {
    /// Binds the listener, applies the seed and starts serving on the current tokio runtime.
    pub async fn start(config: SimConfig) -> std::io::Result<KmsSim> {
        let is_account = |a: &str| a.len() == 12 && a.chars().all(|c| c.is_ascii_digit());
        if !is_account(&config.default_account) {
            return Err(invalid(format!(
                "default account must be 12 digits: {}",
                config.default_account
            )));
        }
        if let Some((akid, account)) = config.accounts.iter().find(|(_, a)| !is_account(a)) {
            return Err(invalid(format!(
                "account of access key {akid} must be 12 digits: {account}"
            )));
        }
        let listener = TcpListener::bind(config.addr).await?;
        let addr = listener.local_addr()?;
        let clock = SimClock::new();
        let state = Arc::new(SimState {
            store: Store::new(clock, &config.default_account, &config.default_region),
            faults: Faults::default(),
            counters: Counters::default(),
            events: Default::default(),
            throttle: quotas::Throttle::new(config.quotas.clone()),
            latency: Mutex::new(config.latency),
            accounts: Mutex::new(config.accounts.clone()),
            log_requests: config.log_requests,
        });
        for rule in config.faults {
            state.faults.add(rule);
        }
        let seeded = match &config.seed {
            Some(seed) => seed.apply(&state.store, &state.accounts).map_err(invalid)?,
            None => Vec::new(),
        };
        let (stop, mut stopped) = oneshot::channel::<()>();
        let serve_state = state.clone();
        let task = tokio::spawn(async move {
            let mut connections = JoinSet::new();
            loop {
                tokio::select! {
                    _ = &mut stopped => break,
                    accepted = listener.accept() => {
                        let Ok((stream, _)) = accepted else {
                            tokio::time::sleep(Duration::from_millis(5)).await;
                            continue;
                        };
                        let _ = stream.set_nodelay(true);
                        let state = serve_state.clone();
                        connections.spawn(async move {
                            let service = service_fn(move |req| server::handle(state.clone(), req));
                            let _ = http1::Builder::new()
                                .keep_alive(true)
                                .serve_connection(TokioIo::new(stream), service)
                                .await;
                        });
                        while connections.try_join_next().is_some() {}
                    }
                }
            }
            connections.shutdown().await;
        });
        Ok(KmsSim {
            state,
            addr,
            seeded,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// `http://127.0.0.1:<port>`: the endpoint URL for the SDK / CLI.
    pub fn endpoint_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The simulated clock (material expiry, token expiry, key deletion).
    pub fn clock(&self) -> &SimClock {
        self.state.store.clock()
    }

    /// The fault rules.
    pub fn faults(&self) -> &Faults {
        &self.state.faults
    }

    /// Call counters.
    pub fn counters(&self) -> &Counters {
        &self.state.counters
    }

    /// Every PutEvents entry recorded so far.
    pub fn events(&self) -> Vec<RecordedEvent> {
        self.state.events.events()
    }

    /// Forgets the recorded events.
    pub fn clear_events(&self) {
        self.state.events.clear()
    }

    /// Events KMS itself would have sent to EventBridge (`aws.kms`: material expiration,
    /// on-demand rotation, key deletion), as full envelopes; see [`Store::kms_events`].
    pub fn kms_events(&self) -> Vec<serde_json::Value> {
        self.state.store.kms_events()
    }

    /// Direct access to the keys (seeding and inspection, no HTTP, no quotas).
    pub fn store(&self) -> &Store {
        &self.state.store
    }

    /// The keys the seed created.
    pub fn seeded_keys(&self) -> &[KeyInfo] {
        &self.seeded
    }

    /// Replaces the quotas (resets the token buckets).
    pub fn set_quotas(&self, quotas: Quotas) {
        self.state.throttle.set(quotas)
    }

    /// The quotas in force.
    pub fn quotas(&self) -> Quotas {
        self.state.throttle.get()
    }

    /// Sets (or removes) the latency added to every call.
    pub fn set_latency(&self, latency: Option<(Duration, Duration)>) {
        *self.state.latency.lock().unwrap_or_else(|e| e.into_inner()) = latency;
    }

    /// Maps an access key ID to an account at runtime.
    pub fn add_account(&self, access_key_id: &str, account: &str) {
        self.state
            .accounts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(access_key_id.to_string(), account.to_string());
    }

    /// Stops accepting connections, closes open ones and waits for the server task.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for KmsSim {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
