//! Request quotas (requests per second per account and Region), enforced with token buckets.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Instant;

/// Request quotas per operation, in requests per second per (account, Region).
///
/// `Quotas::default()` has the AWS defaults of the facts sheet; [`Quotas::unlimited`] turns
/// throttling off. Each bucket holds one second's worth of requests (at least one).
#[derive(Debug, Clone, PartialEq)]
pub struct Quotas {
    /// Requests per second by operation name (`DeleteImportedKeyMaterial`, `PutEvents`, ...).
    pub per_operation: BTreeMap<String, f64>,
    /// Quota of operations not listed; `None` = unlimited.
    pub other: Option<f64>,
    /// Every quota is multiplied by this (e.g. 0.1 to provoke throttling with fewer calls).
    pub scale: f64,
    /// `false` = no throttling at all.
    pub enabled: bool,
}

/// AWS default quotas (rps) used by [`Quotas::default`].
pub const AWS_DEFAULT_QUOTAS: &[(&str, f64)] = &[
    ("DeleteImportedKeyMaterial", 15.0),
    ("ImportKeyMaterial", 15.0),
    ("GetParametersForImport", 1.0),
    ("RotateKeyOnDemand", 5.0),
    ("ListKeyRotations", 100.0),
    ("ListKeys", 500.0),
    ("ListAliases", 500.0),
    ("DescribeKey", 2000.0),
    ("ListResourceTags", 2000.0),
    // Cryptographic operations: the (smallest) regional shared quota for symmetric keys.
    ("Encrypt", 5500.0),
    ("Decrypt", 5500.0),
    // EventBridge PutEvents (smallest regional default).
    ("PutEvents", 2400.0),
];

impl Default for Quotas {
    fn default() -> Self {
        Quotas {
            per_operation: AWS_DEFAULT_QUOTAS
                .iter()
                .map(|(op, rps)| (op.to_string(), *rps))
                .collect(),
            // Control-plane operations the function does not drive hard (CreateKey,
            // TagResource, EnableKey, ...): generous.
            other: Some(100.0),
            scale: 1.0,
            enabled: true,
        }
    }
}

impl Quotas {
    /// The AWS default quotas.
    pub fn aws_defaults() -> Self {
        Self::default()
    }

    /// No throttling.
    pub fn unlimited() -> Self {
        Quotas {
            enabled: false,
            ..Self::default()
        }
    }

    /// Sets the quota of one operation (and turns throttling on).
    pub fn with(mut self, operation: &str, rps: f64) -> Self {
        self.per_operation.insert(operation.to_string(), rps);
        self.enabled = true;
        self
    }

    /// Multiplies every quota by `factor`.
    pub fn scaled(mut self, factor: f64) -> Self {
        self.scale = factor;
        self
    }

    /// The effective quota of `operation` (after scaling); `None` = unlimited.
    pub fn rps(&self, operation: &str) -> Option<f64> {
        if !self.enabled {
            return None;
        }
        let base = self.per_operation.get(operation).copied().or(self.other)?;
        let rps = base * self.scale;
        if rps.is_finite() && rps > 0.0 {
            Some(rps)
        } else {
            None
        }
    }
}

struct Bucket {
    tokens: f64,
    last: Instant,
}

/// Token buckets keyed by (account, Region, operation).
pub(crate) struct Throttle {
    quotas: Mutex<Quotas>,
    buckets: Mutex<HashMap<(String, String, String), Bucket>>,
}

impl Throttle {
    pub fn new(quotas: Quotas) -> Self {
        Throttle {
            quotas: Mutex::new(quotas),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    pub fn set(&self, quotas: Quotas) {
        *self.quotas.lock().unwrap_or_else(|e| e.into_inner()) = quotas;
        self.buckets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    pub fn get(&self) -> Quotas {
        self.quotas
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Takes one token; `false` = throttled.
    pub fn admit(&self, account: &str, region: &str, operation: &str) -> bool {
        let Some(rps) = self
            .quotas
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .rps(operation)
        else {
            return true;
        };
        let capacity = rps.max(1.0);
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let bucket = buckets
            .entry((
                account.to_string(),
                region.to_string(),
                operation.to_string(),
            ))
            .or_insert(Bucket {
                tokens: capacity,
                last: now,
            });
        let elapsed = now.duration_since(bucket.last).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rps).min(capacity);
        bucket.last = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_facts_sheet_and_scale() {
        let q = Quotas::default();
        assert_eq!(q.rps("DeleteImportedKeyMaterial"), Some(15.0));
        assert_eq!(q.rps("GetParametersForImport"), Some(1.0));
        assert_eq!(q.clone().scaled(2.0).rps("RotateKeyOnDemand"), Some(10.0));
        assert_eq!(Quotas::unlimited().rps("DescribeKey"), None);
    }

    #[test]
    fn a_bucket_admits_one_second_of_burst_per_account_and_region() {
        let t = Throttle::new(Quotas::default().with("X", 3.0));
        let admitted = (0..10).filter(|_| t.admit("a", "r", "X")).count();
        assert_eq!(admitted, 3);
        assert!(t.admit("b", "r", "X"), "another account has its own bucket");
        assert!(t.admit("a", "r2", "X"), "another Region has its own bucket");
    }
}
