//! The router handle and its shared state: buses, rules, functions, queues, the schedule of
//! work on the virtual clock, and how an event arriving on a bus schedules its rules' targets.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use serde_json::Value;

use super::config::RouterConfig;
use super::function::{AsyncInvokeConfig, Function};
use super::journal::{Delivery, InvocationRecord, QueueMessage, RefusedPut};
use super::policy::BusPolicy;
use super::rule::{Rule, Target};
use crate::aws::{BusArn, Event};

/// Where PutEvents calls come from: the local KMS's recorder.
pub(super) type Ingress = Box<dyn Fn() -> Vec<kms_sim::RecordedEvent> + Send + Sync>;

/// The router. Cloning shares it.
#[derive(Clone)]
pub struct Router {
    pub(super) inner: Arc<Inner>,
}

/// A handle that does not keep the router alive (for continuations started by its functions).
#[derive(Clone)]
pub struct WeakRouter(Weak<Inner>);

impl WeakRouter {
    pub fn upgrade(&self) -> Option<Router> {
        self.0.upgrade().map(|inner| Router { inner })
    }
}

pub(super) struct Inner {
    pub(super) config: RouterConfig,
    pub(super) state: Mutex<State>,
    /// The ingress and how many of its entries were already routed.
    pub(super) ingress: Mutex<Option<(Ingress, usize)>>,
}

#[derive(Default)]
pub(super) struct State {
    pub(super) now: Duration,
    pub(super) buses: BTreeMap<BusArn, BusState>,
    pub(super) rules: Vec<Rule>,
    pub(super) functions: BTreeMap<String, (Arc<dyn Function>, AsyncInvokeConfig)>,
    pub(super) queues: BTreeMap<String, Vec<QueueMessage>>,
    pub(super) logs: BTreeMap<String, Vec<String>>,
    pub(super) schedule: Vec<Scheduled>,
    pub(super) seq: u64,
    pub(super) duplicate_next: u32,
    pub(super) deliveries: Vec<Delivery>,
    pub(super) invocations: Vec<InvocationRecord>,
    pub(super) refused: Vec<RefusedPut>,
}

pub(super) struct BusState {
    pub(super) policy: BusPolicy,
    pub(super) received: Vec<Event>,
}

pub(super) struct Scheduled {
    pub(super) due: Duration,
    pub(super) seq: u64,
    pub(super) work: Work,
}

/// An event on its way.
#[derive(Clone)]
pub(super) struct Routed {
    pub(super) event: Event,
    /// Arrived from another bus: EventBridge does not send it on to a third bus.
    pub(super) via_bus: bool,
}

/// What the schedule holds.
pub(super) enum Work {
    Target(Box<TargetAttempt>),
    Invoke(Invocation),
}

/// One delivery attempt of an event to one target of a rule.
#[derive(Clone)]
pub(super) struct TargetAttempt {
    pub(super) routed: Routed,
    pub(super) rule_arn: String,
    pub(super) rule_bus: BusArn,
    pub(super) target: Target,
    pub(super) attempt: u32,
    /// When the event first arrived (the retry policy's event age counts from here).
    pub(super) since: Duration,
}

/// One run of an asynchronous invocation.
#[derive(Clone)]
pub(super) struct Invocation {
    pub(super) function: String,
    pub(super) payload: Value,
    pub(super) request_id: String,
    pub(super) attempt: u32,
    /// When Lambda accepted the event (its maximum event age counts from here).
    pub(super) since: Duration,
}

impl Invocation {
    /// The first run of an event Lambda accepted now.
    pub(super) fn first(function: &str, payload: Value, request_id: String, now: Duration) -> Self {
        Invocation {
            function: function.to_string(),
            payload,
            request_id,
            attempt: 1,
            since: now,
        }
    }
}

impl State {
    pub(super) fn schedule(&mut self, due: Duration, work: Work) {
        self.seq += 1;
        let seq = self.seq;
        self.schedule.push(Scheduled { due, seq, work });
    }

    /// An event arrives on a bus: every matching rule schedules its targets now.
    pub(super) fn arrive(&mut self, bus: &BusArn, routed: Routed) {
        let Some(b) = self.buses.get_mut(bus) else {
            return;
        };
        b.received.push(routed.event.clone());
        let json = routed.event.to_json();
        let mut work = Vec::new();
        for rule in self.rules.iter().filter(|r| &r.event_bus == bus) {
            if rule.pattern.matches(&json) {
                for t in &rule.targets {
                    work.push(Work::Target(Box::new(TargetAttempt {
                        routed: routed.clone(),
                        rule_arn: rule.arn(),
                        rule_bus: rule.event_bus.clone(),
                        target: t.clone(),
                        attempt: 1,
                        since: self.now,
                    })));
                }
            }
        }
        let now = self.now;
        for w in work {
            self.schedule(now, w);
        }
    }
}

impl Default for Router {
    fn default() -> Self {
        Router::new(RouterConfig::default())
    }
}

impl Router {
    pub fn new(config: RouterConfig) -> Self {
        Router {
            inner: Arc::new(Inner {
                config,
                state: Mutex::new(State::default()),
                ingress: Mutex::new(None),
            }),
        }
    }

    pub fn downgrade(&self) -> WeakRouter {
        WeakRouter(Arc::downgrade(&self.inner))
    }

    pub(super) fn state(&self) -> MutexGuard<'_, State> {
        // A panic in another thread while holding the lock leaves consistent data: every
        // mutation is a single push / insert.
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn config(&self) -> &RouterConfig {
        &self.inner.config
    }

    /// The router's clock (virtual time since it started).
    pub fn now(&self) -> Duration {
        self.state().now
    }
}
