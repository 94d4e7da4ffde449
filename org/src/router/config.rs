//! The router's timings (virtual time), switches and configuration errors, and the backoffs
//! they give.

use std::time::Duration;

use super::journal::ms;
use super::rule::MAX_TARGETS_PER_RULE;

/// Router timings (virtual time) and switches.
#[derive(Debug, Clone)]
pub struct RouterConfig {
    /// EventBridge's first retry of a failed target delivery comes after this; each further
    /// retry doubles it (with jitter) up to `eventbridge_max_backoff`.
    pub eventbridge_first_backoff: Duration,
    pub eventbridge_max_backoff: Duration,
    /// Lambda retries a failed asynchronous event after 1 minute, then 2 minutes.
    pub lambda_retry_delays: Vec<Duration>,
    /// How soon Lambda's queue tries again an accepted event the function cannot take.
    pub lambda_requeue_delay: Duration,
    /// Randomise backoffs between half and all of the delay.
    pub jitter: bool,
    /// Whether PutEvents may name a bus of another Region than the endpoint's. EventBridge's
    /// Regional API refuses cross-Region calls ("Cross-region API call is not allowed"):
    /// events reach other Regions through rules whose target is a bus there.
    pub allow_cross_region_put_events: bool,
}

impl Default for RouterConfig {
    fn default() -> Self {
        RouterConfig {
            eventbridge_first_backoff: Duration::from_secs(1),
            eventbridge_max_backoff: Duration::from_secs(300),
            lambda_retry_delays: vec![Duration::from_secs(60), Duration::from_secs(120)],
            lambda_requeue_delay: Duration::from_secs(30),
            jitter: false,
            allow_cross_region_put_events: false,
        }
    }
}

impl RouterConfig {
    /// How long EventBridge waits after failed delivery attempt `attempt` (1-based).
    pub(super) fn eventbridge_backoff(&self, attempt: u32) -> Duration {
        let factor = 1u32 << attempt.saturating_sub(1).min(20);
        let d = self
            .eventbridge_first_backoff
            .saturating_mul(factor)
            .min(self.eventbridge_max_backoff);
        self.jittered(d)
    }

    /// How long Lambda waits after the function failed run `attempt` (1-based).
    pub(super) fn lambda_retry_delay(&self, attempt: u32) -> Duration {
        let delay = self
            .lambda_retry_delays
            .get(attempt.saturating_sub(1) as usize)
            .or(self.lambda_retry_delays.last())
            .copied()
            .unwrap_or(Duration::from_secs(60));
        self.jittered(delay)
    }

    fn jittered(&self, d: Duration) -> Duration {
        if self.jitter {
            let ms = ms(d);
            Duration::from_millis(fastrand::u64(ms / 2..=ms.max(1)))
        } else {
            d
        }
    }
}

/// Configuration mistakes (the errors PutRule / PutTargets would give).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouterError {
    #[error("event bus {0} does not exist")]
    NoSuchBus(String),
    #[error("event bus {0} already exists")]
    BusExists(String),
    #[error("rule {0} already exists on its bus")]
    RuleExists(String),
    #[error("rule {rule}: at most {MAX_TARGETS_PER_RULE} targets per rule, got {count}")]
    TooManyTargets { rule: String, count: usize },
    #[error("rule {rule}: target ids must be unique ({id})")]
    DuplicateTargetId { rule: String, id: String },
    #[error("target {0}: unknown kind of ARN (event bus, Lambda function, SQS queue or log group)")]
    UnknownTarget(String),
    #[error("function {0} already registered")]
    FunctionExists(String),
    #[error("the router did not go idle within {0} steps")]
    NotIdle(usize),
}
