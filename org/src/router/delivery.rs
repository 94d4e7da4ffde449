//! One delivery attempt of an event to a rule target (another bus, a function, a queue, a log
//! group), and what EventBridge does when it fails: retry with backoff within the target's
//! retry policy, else the target's dead-letter queue, else drop.

use std::collections::BTreeMap;

use super::journal::{Delivery, DeliveryOutcome, QueueMessage, ms};
use super::policy::Arrival;
use super::rule::TargetKind;
use super::state::{Invocation, Routed, Router, State, TargetAttempt, Work};
use crate::aws::{BusArn, uuid_v4};

/// Why an attempt failed, and whether EventBridge tries again.
struct Failure {
    error: String,
    retryable: bool,
}

/// A failure EventBridge does not retry.
fn final_failure(error: String) -> Failure {
    Failure {
        error,
        retryable: false,
    }
}

impl Router {
    /// One delivery attempt to a target, recorded in the journal.
    pub(super) fn deliver(&self, job: Box<TargetAttempt>) {
        let mut s = self.state();
        let outcome = match attempt(&mut s, &job) {
            Ok(()) => DeliveryOutcome::Delivered,
            Err(failure) => self.after_failure(&mut s, &job, failure),
        };
        let at_ms = ms(s.now);
        let TargetAttempt {
            routed,
            rule_arn,
            target,
            attempt,
            ..
        } = *job;
        s.deliveries.push(Delivery {
            at_ms,
            event_id: routed.event.id,
            detail_type: routed.event.detail_type,
            rule: rule_arn,
            target: target.arn,
            attempt,
            outcome,
        });
    }

    /// A retry within the target's retry policy, else the dead-letter queue, else drop.
    fn after_failure(&self, s: &mut State, job: &TargetAttempt, f: Failure) -> DeliveryOutcome {
        let policy = job.target.retry_policy;
        let next = s.now + self.config().eventbridge_backoff(job.attempt);
        if f.retryable
            && job.attempt <= policy.maximum_retry_attempts
            && next.saturating_sub(job.since) < policy.maximum_event_age
        {
            let retry = TargetAttempt {
                attempt: job.attempt + 1,
                ..job.clone()
            };
            s.schedule(next, Work::Target(Box::new(retry)));
            DeliveryOutcome::Retrying {
                error: f.error,
                next_at_ms: ms(next),
            }
        } else {
            dead_letter(s, job, f.error)
        }
    }
}

/// Hands the event to the target.
fn attempt(s: &mut State, job: &TargetAttempt) -> Result<(), Failure> {
    let arn = &job.target.arn;
    match TargetKind::of(arn) {
        Some(TargetKind::Bus(dest)) => to_bus(s, job, &dest),
        Some(TargetKind::Function) => to_function(s, job),
        Some(TargetKind::Queue) => match s.queues.get_mut(arn) {
            None => Err(final_failure(format!(
                "ResourceNotFoundException: queue {arn} does not exist"
            ))),
            Some(q) => {
                q.push(QueueMessage {
                    body: job.routed.event.to_json(),
                    attributes: BTreeMap::new(),
                });
                Ok(())
            }
        },
        Some(TargetKind::Log) => match s.logs.get_mut(arn) {
            None => Err(final_failure(format!(
                "ResourceNotFoundException: log group {arn} does not exist"
            ))),
            Some(l) => {
                l.push(job.routed.event.to_json().to_string());
                Ok(())
            }
        },
        None => Err(final_failure(format!("unknown target {arn}"))),
    }
}

/// A bus target: the event arrives unchanged, if it did not come from another bus and the
/// destination's policy admits the rule's account.
fn to_bus(s: &mut State, job: &TargetAttempt, dest: &BusArn) -> Result<(), Failure> {
    let event = &job.routed.event;
    match s.buses.get(dest) {
        None => Err(final_failure(format!(
            "ResourceNotFoundException: event bus {dest} does not exist"
        ))),
        Some(_) if job.routed.via_bus => Err(final_failure(
            "NotForwarded: an event received from another bus is not sent on to a third bus"
                .to_string(),
        )),
        Some(b)
            if !b.policy.allows(
                &dest.account,
                &job.rule_bus.account,
                &event.source,
                &event.detail_type,
                Arrival::Forwarded,
            ) =>
        {
            Err(final_failure(format!(
                "AccessDeniedException: the policy of {dest} does not allow events:PutEvents from {}",
                job.rule_bus.account
            )))
        }
        Some(_) => {
            let routed = Routed {
                event: event.clone(),
                via_bus: true,
            };
            s.arrive(dest, routed);
            Ok(())
        }
    }
}

/// A function target: an asynchronous invocation (two when a duplicate delivery is due), if
/// the Invoke API accepts it; if not, EventBridge retries.
fn to_function(s: &mut State, job: &TargetAttempt) -> Result<(), Failure> {
    let arn = &job.target.arn;
    let Some((f, _)) = s.functions.get(arn) else {
        return Err(final_failure(format!(
            "ResourceNotFoundException: function {arn} does not exist"
        )));
    };
    f.accepting().map_err(|e| Failure {
        error: e.to_string(),
        retryable: true,
    })?;
    let copies = if s.duplicate_next > 0 {
        s.duplicate_next -= 1;
        2
    } else {
        1
    };
    let now = s.now;
    for _ in 0..copies {
        let run = Invocation::first(arn, job.routed.event.to_json(), uuid_v4(), now);
        s.schedule(now, Work::Invoke(run));
    }
    Ok(())
}

/// A final failure: the event goes to the target's dead-letter queue with EventBridge's
/// attributes, or is dropped without one.
fn dead_letter(s: &mut State, job: &TargetAttempt, error: String) -> DeliveryOutcome {
    let Some(queue) = job
        .target
        .dead_letter_queue
        .clone()
        .filter(|q| s.queues.contains_key(q))
    else {
        return DeliveryOutcome::Dropped { error };
    };
    let (code, message) = match error.split_once(": ") {
        Some((c, m)) => (c.to_string(), m.to_string()),
        None => (error.clone(), String::new()),
    };
    let attributes = BTreeMap::from([
        ("ERROR_CODE".to_string(), code),
        ("ERROR_MESSAGE".to_string(), message),
        ("RULE_ARN".to_string(), job.rule_arn.clone()),
        ("TARGET_ARN".to_string(), job.target.arn.clone()),
    ]);
    if let Some(msgs) = s.queues.get_mut(&queue) {
        msgs.push(QueueMessage {
            body: job.routed.event.to_json(),
            attributes,
        });
    }
    DeliveryOutcome::DeadLettered { error, queue }
}
