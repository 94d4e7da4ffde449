//! Rules and their targets as PutRule and PutTargets define them: the pattern, up to five
//! targets, each target's retry policy and dead-letter queue, and the kind of target its ARN
//! names.

use std::time::Duration;

use crate::aws::BusArn;
use crate::pattern::Pattern;

/// EventBridge allows at most five targets per rule.
pub const MAX_TARGETS_PER_RULE: usize = 5;

/// A rule target's retry policy (`RetryPolicy` of `AWS::Events::Rule` targets).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// 0-185; EventBridge's default is 185.
    pub maximum_retry_attempts: u32,
    /// 60 s - 24 h; EventBridge's default is 24 h.
    pub maximum_event_age: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            maximum_retry_attempts: 185,
            maximum_event_age: Duration::from_secs(86_400),
        }
    }
}

/// One target of a rule. The kind follows from the ARN: `arn:aws:events:…:event-bus/…`,
/// `arn:aws:lambda:…:function:…`, `arn:aws:sqs:…`, `arn:aws:logs:…:log-group:…`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub id: String,
    pub arn: String,
    pub retry_policy: RetryPolicy,
    /// `DeadLetterConfig.Arn`: an SQS queue ARN.
    pub dead_letter_queue: Option<String>,
}

impl Target {
    pub fn new(id: &str, arn: &str) -> Self {
        Target {
            id: id.to_string(),
            arn: arn.to_string(),
            retry_policy: RetryPolicy::default(),
            dead_letter_queue: None,
        }
    }

    pub fn with_retry(mut self, maximum_retry_attempts: u32, maximum_event_age: Duration) -> Self {
        self.retry_policy = RetryPolicy {
            maximum_retry_attempts,
            maximum_event_age,
        };
        self
    }

    pub fn with_dead_letter_queue(mut self, queue_arn: &str) -> Self {
        self.dead_letter_queue = Some(queue_arn.to_string());
        self
    }
}

/// A rule on a bus.
#[derive(Debug, Clone)]
pub struct Rule {
    pub name: String,
    pub event_bus: BusArn,
    pub pattern: Pattern,
    pub targets: Vec<Target>,
}

impl Rule {
    pub fn new(name: &str, event_bus: &BusArn, pattern: Pattern) -> Self {
        Rule {
            name: name.to_string(),
            event_bus: event_bus.clone(),
            pattern,
            targets: Vec::new(),
        }
    }

    pub fn target(mut self, target: Target) -> Self {
        self.targets.push(target);
        self
    }

    /// `arn:aws:events:<region>:<account>:rule/[<bus>/]<name>`.
    pub fn arn(&self) -> String {
        let b = &self.event_bus;
        if b.name == "default" {
            format!(
                "arn:aws:events:{}:{}:rule/{}",
                b.region, b.account, self.name
            )
        } else {
            format!(
                "arn:aws:events:{}:{}:rule/{}/{}",
                b.region, b.account, b.name, self.name
            )
        }
    }
}

/// What a target ARN names.
pub(super) enum TargetKind {
    Bus(BusArn),
    Function,
    Queue,
    Log,
}

impl TargetKind {
    /// The kind of an ARN; `None` for a kind of target the router does not model.
    pub(super) fn of(arn: &str) -> Option<TargetKind> {
        if let Ok(b) = BusArn::parse(arn) {
            return Some(TargetKind::Bus(b));
        }
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        match parts.as_slice() {
            ["arn", _, "lambda", _, _, rest] if rest.starts_with("function:") => {
                Some(TargetKind::Function)
            }
            ["arn", _, "sqs", _, _, _] => Some(TargetKind::Queue),
            ["arn", _, "logs", _, _, rest] if rest.starts_with("log-group:") => {
                Some(TargetKind::Log)
            }
            _ => None,
        }
    }
}
