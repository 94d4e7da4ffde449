//! Configuring the router as the templates deploy it: buses and their policies, queues, log
//! groups, functions, rules (PutRule + PutTargets), where PutEvents calls come from, and
//! at-least-once delivery.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::config::RouterError;
use super::function::{AsyncInvokeConfig, Function};
use super::policy::BusPolicy;
use super::rule::{MAX_TARGETS_PER_RULE, Rule, TargetKind};
use super::state::{BusState, Router};
use crate::aws::BusArn;

impl Router {
    /// Creates a bus (`AWS::Events::EventBus`, or an account's `default` bus) with its policy.
    pub fn add_bus(&self, arn: &BusArn, policy: BusPolicy) -> Result<(), RouterError> {
        let mut s = self.state();
        if s.buses.contains_key(arn) {
            return Err(RouterError::BusExists(arn.to_string()));
        }
        s.buses.insert(
            arn.clone(),
            BusState {
                policy,
                received: Vec::new(),
            },
        );
        Ok(())
    }

    /// Replaces a bus's resource policy.
    pub fn set_bus_policy(&self, arn: &BusArn, policy: BusPolicy) -> Result<(), RouterError> {
        let mut s = self.state();
        let bus = s
            .buses
            .get_mut(arn)
            .ok_or_else(|| RouterError::NoSuchBus(arn.to_string()))?;
        bus.policy = policy;
        Ok(())
    }

    /// Creates a queue (targets and dead-letter queues must exist to receive messages).
    pub fn add_queue(&self, arn: &str) {
        self.state().queues.entry(arn.to_string()).or_default();
    }

    /// Creates a log group target (`arn:aws:logs:<region>:<account>:log-group:<name>`).
    pub fn add_log_group(&self, arn: &str) {
        self.state().logs.entry(arn.to_string()).or_default();
    }

    /// Registers a function with its asynchronous invocation configuration.
    pub fn add_function(
        &self,
        function: Arc<dyn Function>,
        config: AsyncInvokeConfig,
    ) -> Result<(), RouterError> {
        let arn = function.arn().to_string();
        let mut s = self.state();
        if s.functions.contains_key(&arn) {
            return Err(RouterError::FunctionExists(arn));
        }
        if let Some(q) = &config.on_failure {
            s.queues.entry(q.clone()).or_default();
        }
        s.functions.insert(arn, (function, config));
        Ok(())
    }

    /// PutRule + PutTargets.
    pub fn put_rule(&self, rule: Rule) -> Result<(), RouterError> {
        let mut s = self.state();
        if !s.buses.contains_key(&rule.event_bus) {
            return Err(RouterError::NoSuchBus(rule.event_bus.to_string()));
        }
        if s.rules
            .iter()
            .any(|r| r.event_bus == rule.event_bus && r.name == rule.name)
        {
            return Err(RouterError::RuleExists(rule.arn()));
        }
        if rule.targets.len() > MAX_TARGETS_PER_RULE {
            return Err(RouterError::TooManyTargets {
                rule: rule.arn(),
                count: rule.targets.len(),
            });
        }
        let mut ids = BTreeSet::new();
        for t in &rule.targets {
            if !ids.insert(t.id.clone()) {
                return Err(RouterError::DuplicateTargetId {
                    rule: rule.arn(),
                    id: t.id.clone(),
                });
            }
            if TargetKind::of(&t.arn).is_none() {
                return Err(RouterError::UnknownTarget(t.arn.clone()));
            }
            if let Some(q) = &t.dead_letter_queue {
                s.queues.entry(q.clone()).or_default();
            }
        }
        s.rules.push(rule);
        Ok(())
    }

    /// Where the router pulls PutEvents calls from (the local KMS's recorder: `sim.events()`).
    /// Each call of `deliver_due` takes the entries recorded since the last pull.
    pub fn set_ingress(
        &self,
        source: impl Fn() -> Vec<kms_sim::RecordedEvent> + Send + Sync + 'static,
    ) {
        let seen = source().len();
        if let Ok(mut i) = self.inner.ingress.lock() {
            *i = Some((Box::new(source), seen));
        }
    }

    /// The next `n` successful deliveries to function targets are delivered twice (EventBridge
    /// delivers at least once): two asynchronous invocations, two request ids.
    pub fn duplicate_next_deliveries(&self, n: u32) {
        self.state().duplicate_next = n;
    }
}
