//! Counters of calls per operation and per (operation, key), readable in-process and through
//! `GET /_sim/counters`.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde::Serialize;

/// A copy of every counter.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CounterSnapshot {
    /// Every call that reached the simulator, by operation (throttled and faulted included).
    pub calls: BTreeMap<String, u64>,
    /// Calls that performed the operation successfully (an "apply then drop" fault counts: the
    /// operation happened).
    pub successes: BTreeMap<String, u64>,
    /// Calls answered with ThrottlingException by the quota.
    pub throttled: BTreeMap<String, u64>,
    /// Calls answered (or dropped) by an injected fault.
    pub faulted: BTreeMap<String, u64>,
    /// Calls answered with a KMS error by the operation itself.
    pub errors: BTreeMap<String, u64>,
    /// Calls by operation, then by key ID.
    pub calls_by_key: BTreeMap<String, BTreeMap<String, u64>>,
    /// Successful calls by operation, then by key ID.
    pub successes_by_key: BTreeMap<String, BTreeMap<String, u64>>,
}

/// Call counters (see [`CounterSnapshot`] for what each counts).
#[derive(Debug, Default)]
pub struct Counters {
    inner: Mutex<CounterSnapshot>,
}

/// How a call ended, for the counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Success,
    Throttled,
    Faulted,
    Error,
}

/// Counters are kept by key ID: an ARN is reduced to the ID after `key/`.
pub(crate) fn normalise_key(key: &str) -> String {
    if key.starts_with("arn:")
        && let Some((_, id)) = key.rsplit_once(":key/")
    {
        return id.to_string();
    }
    key.to_string()
}

/// Per-key counters stop growing past this many distinct keys per operation (a long-running
/// simulator fed random key IDs must not grow without bound).
pub const MAX_KEYS_PER_OPERATION: usize = 100_000;

fn bump(map: &mut BTreeMap<String, BTreeMap<String, u64>>, operation: &str, key: &str) {
    let per_op = map.entry(operation.to_string()).or_default();
    if let Some(n) = per_op.get_mut(key) {
        *n += 1;
    } else if per_op.len() < MAX_KEYS_PER_OPERATION {
        per_op.insert(key.to_string(), 1);
    }
}

impl Counters {
    fn lock(&self) -> std::sync::MutexGuard<'_, CounterSnapshot> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn record_call(&self, operation: &str, key: Option<&str>) {
        let mut c = self.lock();
        *c.calls.entry(operation.to_string()).or_default() += 1;
        if let Some(k) = key {
            bump(&mut c.calls_by_key, operation, &normalise_key(k));
        }
    }

    pub(crate) fn record_outcome(&self, operation: &str, key: Option<&str>, outcome: Outcome) {
        let mut c = self.lock();
        let map = match outcome {
            Outcome::Success => &mut c.successes,
            Outcome::Throttled => &mut c.throttled,
            Outcome::Faulted => &mut c.faulted,
            Outcome::Error => &mut c.errors,
        };
        *map.entry(operation.to_string()).or_default() += 1;
        if outcome == Outcome::Success
            && let Some(k) = key
        {
            bump(&mut c.successes_by_key, operation, &normalise_key(k));
        }
    }

    /// Calls of `operation` (all outcomes).
    pub fn calls(&self, operation: &str) -> u64 {
        self.lock().calls.get(operation).copied().unwrap_or(0)
    }

    /// Calls of `operation` naming `key` (key ID or key ARN; all outcomes).
    pub fn calls_for_key(&self, operation: &str, key: &str) -> u64 {
        self.lock()
            .calls_by_key
            .get(operation)
            .and_then(|m| m.get(&normalise_key(key)))
            .copied()
            .unwrap_or(0)
    }

    /// Successful calls of `operation`.
    pub fn successes(&self, operation: &str) -> u64 {
        self.lock().successes.get(operation).copied().unwrap_or(0)
    }

    /// Successful calls of `operation` naming `key`.
    pub fn successes_for_key(&self, operation: &str, key: &str) -> u64 {
        self.lock()
            .successes_by_key
            .get(operation)
            .and_then(|m| m.get(&normalise_key(key)))
            .copied()
            .unwrap_or(0)
    }

    /// Calls of `operation` throttled by the quota.
    pub fn throttled(&self, operation: &str) -> u64 {
        self.lock().throttled.get(operation).copied().unwrap_or(0)
    }

    /// Calls of `operation` answered by an injected fault.
    pub fn faulted(&self, operation: &str) -> u64 {
        self.lock().faulted.get(operation).copied().unwrap_or(0)
    }

    /// Calls of `operation` that the operation itself answered with an error.
    pub fn errors(&self, operation: &str) -> u64 {
        self.lock().errors.get(operation).copied().unwrap_or(0)
    }

    /// Sum of calls over every operation.
    pub fn total_calls(&self) -> u64 {
        self.lock().calls.values().sum()
    }

    /// Sets every counter to zero.
    pub fn reset(&self) {
        *self.lock() = CounterSnapshot::default();
    }

    /// A copy of every counter.
    pub fn snapshot(&self) -> CounterSnapshot {
        self.lock().clone()
    }
}
