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

/// The quota shared by Encrypt, Decrypt, ReEncrypt, GenerateDataKey(+WithoutPlaintext),
/// GenerateRandom, GenerateMac and VerifyMac with symmetric and HMAC keys.
pub const CRYPTO_SYMMETRIC: &str = "Cryptographic operations (symmetric)";
/// The quota shared by the cryptographic operations (Encrypt, Decrypt, ReEncrypt, Sign,
/// Verify) with RSA keys.
pub const CRYPTO_RSA: &str = "Cryptographic operations (RSA)";
/// The quota shared by Sign and Verify with ECC keys.
pub const CRYPTO_ECC: &str = "Cryptographic operations (ECC)";

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
    // Cryptographic operations share one quota per key type (the smallest regional default):
    // see `CRYPTO_SYMMETRIC`, `CRYPTO_RSA`, `CRYPTO_ECC`.
    (CRYPTO_SYMMETRIC, 5500.0),
    (CRYPTO_RSA, 500.0),
    (CRYPTO_ECC, 300.0),
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
        self.limit(operation).map(|(rps, _)| rps)
    }

    /// The bucket a call draws from and its quota: the operation's own when the operation is
    /// listed, else its shared bucket (`shared`, when listed), else "other operations".
    fn limit_in<'a>(&self, operation: &'a str, shared: Option<&'a str>) -> Option<(f64, &'a str)> {
        if !self.enabled {
            return None;
        }
        let (base, bucket) = match (self.per_operation.get(operation), shared) {
            (Some(own), _) => (*own, operation),
            (None, Some(s)) if self.per_operation.contains_key(s) => (self.per_operation[s], s),
            _ => (self.other?, operation),
        };
        let rps = base * self.scale;
        if rps.is_finite() && rps > 0.0 {
            Some((rps, bucket))
        } else {
            None
        }
    }

    fn limit<'a>(&self, operation: &'a str) -> Option<(f64, &'a str)> {
        self.limit_in(operation, None)
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

    /// Takes one token from the bucket of `operation` (or of the `shared` quota it counts
    /// against); `false` = throttled.
    pub fn admit(
        &self,
        account: &str,
        region: &str,
        operation: &str,
        shared: Option<&str>,
    ) -> bool {
        let Some((rps, bucket)) = self
            .quotas
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .limit_in(operation, shared)
            .map(|(rps, bucket)| (rps, bucket.to_string()))
        else {
            return true;
        };
        let capacity = rps.max(1.0);
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let bucket = buckets
            .entry((account.to_string(), region.to_string(), bucket))
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
        let admitted = (0..10).filter(|_| t.admit("a", "r", "X", None)).count();
        assert_eq!(admitted, 3);
        assert!(
            t.admit("b", "r", "X", None),
            "another account has its own bucket"
        );
        assert!(
            t.admit("a", "r2", "X", None),
            "another Region has its own bucket"
        );
    }

    #[test]
    fn cryptographic_operations_share_their_key_type_bucket() {
        // GIVEN a symmetric quota of 2 rps
        let t = Throttle::new(Quotas::default().with(CRYPTO_SYMMETRIC, 2.0));
        // WHEN Encrypt, GenerateMac and Decrypt draw from it in turn
        let encrypt = t.admit("a", "r", "Encrypt", Some(CRYPTO_SYMMETRIC));
        let mac = t.admit("a", "r", "GenerateMac", Some(CRYPTO_SYMMETRIC));
        let decrypt = t.admit("a", "r", "Decrypt", Some(CRYPTO_SYMMETRIC));
        // THEN the third call is throttled: one bucket for all three
        assert_eq!((encrypt, mac, decrypt), (true, true, false));
        // AND the RSA bucket is another one
        assert!(t.admit("a", "r", "Decrypt", Some(CRYPTO_RSA)));
        // AND an operation given its own quota draws from its own bucket
        let own = Throttle::new(
            Quotas::default()
                .with(CRYPTO_SYMMETRIC, 1.0)
                .with("Encrypt", 5.0),
        );
        assert!(own.admit("a", "r", "Decrypt", Some(CRYPTO_SYMMETRIC)));
        assert!(own.admit("a", "r", "Encrypt", Some(CRYPTO_SYMMETRIC)));
    }
}
