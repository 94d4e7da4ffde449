//! Sealed continuations: the function MACs every continuation it hands over with a KMS HMAC key
//! only its role may use (GenerateMac), and acts on a continuation only when KMS confirms the MAC
//! (VerifyMac), before it expires, for this function, and once.
//!
//! The MAC covers a digest of the body's exact bytes: `kms-material-guard/continuation/v2`, a
//! line break, and the lowercase hex SHA-256 of the body (KMS MACs messages of at most 4096
//! bytes; a body can be far larger).

use std::collections::HashMap;
use std::sync::Mutex;

use aws_sdk_kms::Client;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::MacAlgorithmSpec;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::domain::{Deadline, Invocation, Provenance, Trace};
use crate::event::continuation::{self, Sealed};
use crate::event::{Classified, Trigger};
use crate::kms::{self, ErrorClass, KmsError, RetryPolicy};
use crate::validate::Rejection;

/// Domain separation for the MAC'd message.
const DOMAIN: &str = "kms-material-guard/continuation/v2\n";
/// KMS's error for a MAC that does not verify.
const INVALID_MAC: &str = "KMSInvalidMacException";

/// Why a continuation is not acted on.
#[derive(Debug)]
pub enum Refused {
    /// Not written by this function (or not verifiable as such): nothing of it is trusted.
    NotAuthentic(Rejection),
    /// Written by this function, but expired, replayed or for another function.
    Stale {
        rejection: Rejection,
        /// The verified incident and trigger, for the record and the summary.
        incident_id: String,
        provenance: Provenance,
    },
    /// KMS could not verify the MAC now: a retry of the same invocation can.
    Unverifiable(KmsError),
}

/// The continuation key and what this process has already acted on.
pub struct Seal {
    kms: Client,
    key: String,
    retry: RetryPolicy,
    /// Nonces of continuations completed by this process, until they expire.
    completed: Mutex<HashMap<String, DateTime<Utc>>>,
}

impl Seal {
    pub fn new(kms: Client, key: impl Into<String>, retry: RetryPolicy) -> Self {
        Seal {
            kms,
            key: key.into(),
            retry,
            completed: Mutex::new(HashMap::new()),
        }
    }

    /// Seals a body (GenerateMac).
    pub async fn seal(&self, body: String, deadline: &Deadline) -> Result<Sealed, KmsError> {
        let out = kms::with_retry(&self.retry, deadline, &mut Trace::default(), || {
            self.kms
                .generate_mac()
                .key_id(&self.key)
                .mac_algorithm(MacAlgorithmSpec::HmacSha256)
                .message(Blob::new(message(&body)))
                .send()
        })
        .await?;
        let mac = out.mac().map(|m| hex(m.as_ref())).ok_or_else(|| KmsError {
            code: kms::codes::RESPONSE.into(),
            message: "GenerateMac returned no Mac".into(),
            class: ErrorClass::Transient,
        })?;
        Ok(Sealed { body, mac })
    }

    /// Opens a sealed continuation: its MAC verified by KMS, then its body read and checked
    /// (validity, this function, not completed before by this process).
    pub async fn open(
        &self,
        sealed: Sealed,
        inv: &Invocation,
        now: DateTime<Utc>,
    ) -> Result<Classified, Refused> {
        if !self.verify(&sealed, &inv.deadline).await? {
            return Err(not_authentic(
                "the MAC does not verify with MATERIAL_GUARD_CONTINUATION_KEY: this payload was not \
                 written by this function, or was altered",
            ));
        }
        let value: serde_json::Value = serde_json::from_str(&sealed.body)
            .map_err(|_| not_authentic("the sealed body is not JSON"))?;
        let (request, meta) = continuation::parse(&value).map_err(Refused::NotAuthentic)?;
        let stale = |code: &'static str, problem: String| Refused::Stale {
            rejection: Rejection::new("continuation", code, problem),
            incident_id: request.incident_id.clone(),
            provenance: meta.provenance.clone(),
        };
        if now > meta.expires_at || meta.expires_at - meta.issued_at > continuation::VALIDITY {
            return Err(stale(
                "ContinuationExpired",
                format!("the continuation expired at {}", meta.expires_at),
            ));
        }
        let this = inv.invoked_function_arn.as_str();
        if let Some(issuer) = &meta.function
            && !this.is_empty()
            && unqualified(issuer) != unqualified(this)
        {
            return Err(stale(
                "ContinuationForAnotherFunction",
                format!("the continuation was issued by {issuer}, not this function"),
            ));
        }
        if self.completed(&meta.nonce, now) {
            return Err(stale(
                "ContinuationReplayed",
                format!(
                    "continuation {} was completed already; a replay does not act again",
                    meta.nonce
                ),
            ));
        }
        let mut provenance = meta.provenance.clone();
        provenance.continuation_of = Some(meta.parent_request_id.clone());
        Ok(Classified {
            trigger: Trigger::Continue {
                request,
                meta: Box::new(meta),
            },
            provenance,
        })
    }

    /// Notes that the continuation `nonce` completed (every key has its final outcome): a
    /// replay to this process is refused until it expires.
    pub fn complete(&self, nonce: &str, expires_at: DateTime<Utc>, now: DateTime<Utc>) {
        let mut done = self.completed.lock().unwrap_or_else(|p| p.into_inner());
        done.retain(|_, exp| *exp >= now);
        done.insert(nonce.to_string(), expires_at);
    }

    fn completed(&self, nonce: &str, now: DateTime<Utc>) -> bool {
        let done = self.completed.lock().unwrap_or_else(|p| p.into_inner());
        done.get(nonce).is_some_and(|exp| *exp >= now)
    }

    /// VerifyMac: `Ok(false)` when KMS says the MAC is invalid.
    async fn verify(&self, sealed: &Sealed, deadline: &Deadline) -> Result<bool, Refused> {
        let Some(mac) = unhex(&sealed.mac) else {
            return Ok(false);
        };
        let result = kms::with_retry(&self.retry, deadline, &mut Trace::default(), || {
            self.kms
                .verify_mac()
                .key_id(&self.key)
                .mac_algorithm(MacAlgorithmSpec::HmacSha256)
                .message(Blob::new(message(&sealed.body)))
                .mac(Blob::new(mac.clone()))
                .send()
        })
        .await;
        match result {
            Ok(out) => Ok(out.mac_valid()),
            Err(e) if e.code == INVALID_MAC => Ok(false),
            Err(e) if e.is_retryable() => Err(Refused::Unverifiable(e)),
            // The key is unusable (disabled, access denied, not an HMAC key): nothing can be
            // verified, and nothing unverified is acted on.
            Err(e) => Err(not_authentic(&format!(
                "VerifyMac failed with {}: {}",
                e.code, e.message
            ))),
        }
    }
}

/// Refuses every continuation: no continuation key is configured.
pub fn unconfigured() -> Refused {
    not_authentic(
        "continuations are not accepted: MATERIAL_GUARD_CONTINUATION_KEY is not set, so none can \
         be authenticated",
    )
}

fn not_authentic(problem: &str) -> Refused {
    Refused::NotAuthentic(Rejection::new(
        "continuation",
        continuation::NOT_AUTHENTIC,
        problem,
    ))
}

/// The function ARN without a version or alias qualifier.
fn unqualified(arn: &str) -> &str {
    match arn.match_indices(':').nth(6) {
        Some((i, _)) => &arn[..i],
        None => arn,
    }
}

/// What KMS MACs: the domain and the hex SHA-256 of the body.
fn message(body: &str) -> Vec<u8> {
    let digest = Sha256::digest(body.as_bytes());
    format!("{DOMAIN}{}", hex(&digest)).into_bytes()
}

/// A fresh nonce: 128 random bits, hex.
pub fn nonce() -> String {
    format!("{:032x}", fastrand::u128(..))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_binds_every_byte_of_the_body() {
        // GIVEN two bodies that differ in one character
        let a = message(r#"{"keys":[{"key":"a"}]}"#);
        let b = message(r#"{"keys":[{"key":"b"}]}"#);
        // THEN their MAC'd messages differ, are short enough for KMS, and are domain-separated
        assert_ne!(a, b);
        assert!(a.len() <= 4096);
        assert!(a.starts_with(DOMAIN.as_bytes()));
        assert_eq!(message(&"x".repeat(900_000)).len(), DOMAIN.len() + 64);
    }

    #[test]
    fn function_arns_compare_without_their_qualifier() {
        let f = "arn:aws:lambda:us-east-1:111111111111:function:guard";
        assert_eq!(unqualified(&format!("{f}:$LATEST")), f);
        assert_eq!(unqualified(&format!("{f}:live")), f);
        assert_eq!(unqualified(f), f);
        assert_eq!(unhex(&hex(&[0, 255, 16])), Some(vec![0, 255, 16]));
        assert_eq!(unhex("zz"), None);
    }
}
