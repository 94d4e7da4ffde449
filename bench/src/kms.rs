//! The local KMS a run talks to: kms-sim with or without latency, seeded with in-scope keys, and
//! the revocation request both functions take.

use std::sync::Arc;
use std::time::Duration;

use kms_sim::{ImportOptions, KeyInfo, KeySpec, KmsSim, SimConfig};
use serde_json::{Value, json};

const SCOPE_TAG_KEY: &str = "kms-material-guard:revocable";
const SCOPE_TAG_VALUE: &str = "true";
/// "Realistic latency" of every KMS call, uniform in this range.
pub(crate) const LATENCY_MS: (u64, u64) = (20, 40);
/// AWS's DeleteImportedKeyMaterial quota (requests per second, per account and Region).
pub(crate) const AWS_DELETE_QUOTA: f64 = 15.0;
/// A delete rate no run reaches: memory and overhead runs must not be paced.
pub(crate) const UNPACED_RATE: &str = "10000";

pub(crate) async fn start_sim(config: SimConfig) -> Result<Arc<KmsSim>, String> {
    KmsSim::start(config)
        .await
        .map(Arc::new)
        .map_err(|e| format!("kms-sim: {e}"))
}

/// `config` with [`LATENCY_MS`] on every call.
pub(crate) fn realistic(config: SimConfig) -> SimConfig {
    config.with_latency(
        Duration::from_millis(LATENCY_MS.0),
        Duration::from_millis(LATENCY_MS.1),
    )
}

/// `n` in-scope EXTERNAL keys with imported material; returns their key IDs.
pub(crate) fn seed(sim: &KmsSim, n: usize, tag: &str) -> Result<Vec<String>, String> {
    (0..n)
        .map(|i| seed_key(sim, i, tag, None).map(|k| k.key_id))
        .collect()
}

/// One in-scope EXTERNAL key with imported material (the `i`-th of `tag`), named also by
/// `alias` (`alias/...`) when given.
pub(crate) fn seed_key(
    sim: &KmsSim,
    i: usize,
    tag: &str,
    alias: Option<&str>,
) -> Result<KeyInfo, String> {
    let mut spec = KeySpec::external()
        .tag(SCOPE_TAG_KEY, SCOPE_TAG_VALUE)
        .description(&format!("bench {tag} key {i}"));
    if let Some(a) = alias {
        spec = spec.alias(a);
    }
    let key = sim.store().create_key(spec);
    let mut material = [0x5au8; 32];
    if let Some(head) = material.get_mut(..8) {
        head.copy_from_slice(&(i as u64 + 1).to_le_bytes());
    }
    sim.store()
        .import_material(&key.arn, material, ImportOptions::default())
        .map_err(|e| format!("seeding: {e:?}"))?;
    Ok(key)
}

/// The direct invocation revoking `keys`.
pub(crate) fn revoke_request(keys: &[String], incident: &str) -> Value {
    json!({
        "keys": keys,
        "reason": "benchmark: revoke imported key material",
        "incidentId": incident,
        "requestedBy": "bench",
        "dryRun": false,
    })
}
