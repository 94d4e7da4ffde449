//! Fault injection: rules matched per operation (and optionally per key), firing the next N
//! times, at a rate, or always, optionally after skipping the first M matching calls (their JSON
//! form in `json`).

mod json;

use std::sync::Mutex;
use std::time::Duration;

use crate::counters::normalise_key;
use crate::crypto::random_unit;

/// What an injected fault does.
#[derive(Debug, Clone, PartialEq)]
pub enum FaultKind {
    /// Answer with this KMS error (`{"__type": code, "message": message}`, HTTP `status`).
    KmsError {
        /// Error code (`__type`).
        code: String,
        /// Message.
        message: String,
        /// HTTP status (400 client, 500 server).
        status: u16,
    },
    /// HTTP 500 with a non-KMS (HTML) body, as a load balancer in the way would send.
    Http500,
    /// Add this latency, then answer normally.
    Latency(Duration),
    /// Add a latency drawn uniformly from the range, then answer normally.
    LatencyRange(Duration, Duration),
    /// Close the connection without any response (the operation is not performed).
    DropConnection,
    /// Perform the operation, then close the connection without a response: the client sees a
    /// failure although the operation happened.
    ApplyThenDrop,
    /// PutEvents only: HTTP 200 but every entry failed with this error code and message
    /// (`FailedEntryCount` > 0), EventBridge's partial failure.
    FailEntries {
        /// Entry `ErrorCode`, e.g. `InternalFailure`.
        code: String,
        /// Entry `ErrorMessage`.
        message: String,
    },
}

impl FaultKind {
    /// Any KMS error.
    pub fn kms_error(code: &str, message: &str, status: u16) -> Self {
        FaultKind::KmsError {
            code: code.to_string(),
            message: message.to_string(),
            status,
        }
    }

    /// ThrottlingException (HTTP 400) with the KMS message.
    pub fn throttling() -> Self {
        let e = crate::KmsError::throttling();
        Self::kms_error(&e.code, &e.message, e.status)
    }

    /// DependencyTimeoutException (HTTP 500).
    pub fn dependency_timeout() -> Self {
        Self::kms_error(
            "DependencyTimeoutException",
            "The system timed out while trying to fulfill the request. You can retry the request.",
            500,
        )
    }

    /// KMSInternalException (HTTP 500).
    pub fn internal() -> Self {
        Self::kms_error(
            "KMSInternalException",
            "The request was rejected because an internal exception occurred. The request can be retried.",
            500,
        )
    }

    /// ConflictException (HTTP 400), as RotateKeyOnDemand answers while an automatic rotation
    /// runs or is due.
    pub fn conflict() -> Self {
        Self::kms_error(
            "ConflictException",
            "The request was rejected because an automatic rotation of this key is currently in progress or scheduled to begin within the next 20 minutes.",
            400,
        )
    }

    /// NotFoundException (HTTP 400) with the given message.
    pub fn not_found(message: &str) -> Self {
        Self::kms_error("NotFoundException", message, 400)
    }

    /// Latency of `ms` milliseconds.
    pub fn latency_ms(ms: u64) -> Self {
        FaultKind::Latency(Duration::from_millis(ms))
    }

    /// PutEvents partial failure with `InternalFailure`.
    pub fn fail_entries() -> Self {
        FaultKind::FailEntries {
            code: "InternalFailure".to_string(),
            message: "Internal service error.".to_string(),
        }
    }
}

/// How often a rule fires among the calls it matches.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FaultWhen {
    /// The next N matching calls (after `skip_first`), then never again.
    Times(u32),
    /// Each matching call with this probability (0..=1).
    Rate(f64),
    /// Every matching call.
    Always,
}

/// One fault injection rule.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultRule {
    /// Operation name (`DeleteImportedKeyMaterial`, `PutEvents`, ...); `None` = any operation.
    pub operation: Option<String>,
    /// Key ID, key ARN or alias the call must name; `None` = any key. For PutEvents, an entry
    /// `Resources` ARN.
    pub key: Option<String>,
    /// What happens.
    pub kind: FaultKind,
    /// How often.
    pub when: FaultWhen,
    /// Matching calls to let through before the rule starts firing.
    pub skip_first: u32,
}

impl FaultRule {
    /// A rule for `operation` that fires always (narrow it with the builder methods).
    pub fn new(operation: &str, kind: FaultKind) -> Self {
        FaultRule {
            operation: Some(operation.to_string()),
            key: None,
            kind,
            when: FaultWhen::Always,
            skip_first: 0,
        }
    }

    /// A rule for every operation.
    pub fn any_operation(kind: FaultKind) -> Self {
        FaultRule {
            operation: None,
            key: None,
            kind,
            when: FaultWhen::Always,
            skip_first: 0,
        }
    }

    /// Only calls naming this key (ID, ARN or alias).
    pub fn for_key(mut self, key: &str) -> Self {
        self.key = Some(key.to_string());
        self
    }

    /// Fire for the next `n` matching calls only.
    pub fn times(mut self, n: u32) -> Self {
        self.when = FaultWhen::Times(n);
        self
    }

    /// Fire with probability `p`.
    pub fn rate(mut self, p: f64) -> Self {
        self.when = FaultWhen::Rate(p);
        self
    }

    /// Fire on every matching call.
    pub fn always(mut self) -> Self {
        self.when = FaultWhen::Always;
        self
    }

    /// Let the first `m` matching calls through.
    pub fn skip_first(mut self, m: u32) -> Self {
        self.skip_first = m;
        self
    }

    fn matches(&self, operation: &str, keys: &[String]) -> bool {
        if let Some(op) = &self.operation
            && op != operation
        {
            return false;
        }
        match &self.key {
            None => true,
            Some(k) => {
                let wanted = normalise_key(k);
                keys.iter().any(|c| c == k || *c == wanted)
            }
        }
    }
}

struct ActiveRule {
    id: u64,
    rule: FaultRule,
    seen: u64,
    fired: u64,
}

/// A rule as listed by [`Faults::list`].
#[derive(Debug, Clone, PartialEq)]
pub struct ListedRule {
    /// ID for [`Faults::remove`].
    pub id: u64,
    /// The rule.
    pub rule: FaultRule,
    /// Matching calls seen so far.
    pub seen: u64,
    /// Times it fired so far.
    pub fired: u64,
}

/// The fault rules in force.
#[derive(Default)]
pub struct Faults {
    inner: Mutex<(u64, Vec<ActiveRule>)>,
}

impl std::fmt::Debug for Faults {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Faults")
            .field("rules", &self.list().len())
            .finish()
    }
}

/// What the rules decided for one call.
#[derive(Debug, Default)]
pub(crate) struct Decision {
    pub latency: Duration,
    pub fault: Option<FaultKind>,
}

impl Faults {
    /// Adds a rule; returns its ID.
    pub fn add(&self, rule: FaultRule) -> u64 {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        g.0 += 1;
        let id = g.0;
        g.1.push(ActiveRule {
            id,
            rule,
            seen: 0,
            fired: 0,
        });
        id
    }

    /// Removes one rule; `false` if there was none with this ID.
    pub fn remove(&self, id: u64) -> bool {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let before = g.1.len();
        g.1.retain(|r| r.id != id);
        g.1.len() != before
    }

    /// Removes every rule.
    pub fn clear(&self) {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .1
            .clear();
    }

    /// The rules in force, in evaluation order.
    pub fn list(&self) -> Vec<ListedRule> {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .1
            .iter()
            .map(|r| ListedRule {
                id: r.id,
                rule: r.rule.clone(),
                seen: r.seen,
                fired: r.fired,
            })
            .collect()
    }

    /// Evaluates the rules for one call naming `keys` (resolved key ID, raw identifiers).
    /// Latency rules add up; the first other rule that fires decides the outcome.
    pub(crate) fn decide(&self, operation: &str, keys: &[String]) -> Decision {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let mut decision = Decision::default();
        for r in g.1.iter_mut() {
            if !r.rule.matches(operation, keys) {
                continue;
            }
            r.seen += 1;
            if r.seen <= u64::from(r.rule.skip_first) {
                continue;
            }
            let fires = match r.rule.when {
                FaultWhen::Always => true,
                FaultWhen::Times(n) => r.fired < u64::from(n),
                FaultWhen::Rate(p) => random_unit() < p,
            };
            if !fires {
                continue;
            }
            r.fired += 1;
            match &r.rule.kind {
                FaultKind::Latency(d) => decision.latency += *d,
                FaultKind::LatencyRange(a, b) => decision.latency += random_between(*a, *b),
                other => {
                    decision.fault = Some(other.clone());
                    break;
                }
            }
        }
        decision
    }
}

/// A duration drawn uniformly from [a, b].
pub(crate) fn random_between(a: Duration, b: Duration) -> Duration {
    if b <= a {
        return a;
    }
    let span = (b - a).as_secs_f64();
    a + Duration::from_secs_f64(span * random_unit())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn times_and_skip_first_count_matching_calls_only() {
        let f = Faults::default();
        f.add(
            FaultRule::new("DescribeKey", FaultKind::internal())
                .for_key("arn:aws:kms:us-east-1:111111111111:key/k1")
                .skip_first(1)
                .times(1),
        );
        let k1 = vec!["k1".to_string()];
        let k2 = vec!["k2".to_string()];
        assert!(f.decide("DescribeKey", &k2).fault.is_none());
        assert!(f.decide("DescribeKey", &k1).fault.is_none(), "skipped");
        assert!(f.decide("DescribeKey", &k1).fault.is_some(), "fires");
        assert!(f.decide("DescribeKey", &k1).fault.is_none(), "spent");
        assert!(f.decide("ListKeys", &k1).fault.is_none());
    }

    #[test]
    fn json_round_trips() {
        let rule = FaultRule::new("DeleteImportedKeyMaterial", FaultKind::ApplyThenDrop)
            .for_key("k")
            .times(2)
            .skip_first(3);
        assert_eq!(FaultRule::from_json(&rule.to_json()), Ok(rule));
        let latency = FaultRule::any_operation(FaultKind::LatencyRange(
            Duration::from_millis(5),
            Duration::from_millis(9),
        ))
        .rate(0.5);
        assert_eq!(FaultRule::from_json(&latency.to_json()), Ok(latency));
        assert!(FaultRule::from_json(&json!({"fault": "nope"})).is_err());
        assert!(
            FaultRule::from_json(&json!({"operation": "DeleteKeyMaterial", "fault": "internal"}))
                .is_err()
        );
        assert!(FaultRule::from_json(&json!({"fault": "throttling", "rate": 2})).is_err());
    }
}
