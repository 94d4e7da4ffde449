//! Reading what happened: the journal of deliveries, function runs and refused PutEvents
//! calls, and what queues, log groups and buses received.

use super::journal::{Delivery, InvocationRecord, QueueMessage, RefusedPut};
use super::state::Router;
use crate::aws::{BusArn, Event};

impl Router {
    /// Every delivery attempt so far.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.state().deliveries.clone()
    }

    /// Every function run so far.
    pub fn invocations(&self) -> Vec<InvocationRecord> {
        self.state().invocations.clone()
    }

    /// PutEvents calls recorded by the local KMS that the router refused.
    pub fn refused_puts(&self) -> Vec<RefusedPut> {
        self.state().refused.clone()
    }

    /// Messages in a queue (a target, a dead-letter queue, an on-failure destination).
    pub fn queue(&self, arn: &str) -> Vec<QueueMessage> {
        self.state().queues.get(arn).cloned().unwrap_or_default()
    }

    /// The lines a log group target received: each event's JSON envelope.
    pub fn log_lines(&self, arn: &str) -> Vec<String> {
        self.state().logs.get(arn).cloned().unwrap_or_default()
    }

    /// Every event that arrived on a bus.
    pub fn bus_events(&self, arn: &BusArn) -> Vec<Event> {
        self.state()
            .buses
            .get(arn)
            .map(|b| b.received.clone())
            .unwrap_or_default()
    }
}
