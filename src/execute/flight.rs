//! Per-key single flight and the memory of recent deletes: concurrent deliveries of the same
//! request (or two invocations of a warm process) never delete a key's material twice.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;

/// Only deletes within one Lambda timeout (15 minutes) can race.
const REMEMBER: Duration = Duration::from_secs(900);

/// The single-flight table and the deletes this process made.
#[derive(Default)]
pub(super) struct Flights {
    flights: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Keys whose material this process deleted, and when.
    deleted: Mutex<HashMap<String, Instant>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Flights {
    /// The lock that serialises work on `arn`.
    pub fn flight(&self, arn: &str) -> Arc<tokio::sync::Mutex<()>> {
        lock(&self.flights)
            .entry(arn.to_string())
            .or_default()
            .clone()
    }

    /// Forgets a key's lock once nobody else holds or waits for it (the table stays as small as
    /// the keys in flight, also in a long-lived warm process).
    pub fn release(&self, arn: &str, flight: Arc<tokio::sync::Mutex<()>>) {
        let mut flights = lock(&self.flights);
        // Two references: the table's and ours. Lookups happen under the table's lock.
        if flights.get(arn).is_some_and(|e| Arc::strong_count(e) <= 2) {
            flights.remove(arn);
        }
        drop(flight);
    }

    /// Whether this process deleted `arn`'s material at or after `since`.
    pub fn deleted_since(&self, arn: &str, since: Option<Instant>) -> bool {
        match (lock(&self.deleted).get(arn), since) {
            (Some(at), Some(since)) => *at >= since,
            _ => false,
        }
    }

    /// Notes that this process deleted `arn`'s material now.
    pub fn mark_deleted(&self, arn: &str) {
        let mut deleted = lock(&self.deleted);
        let now = Instant::now();
        if deleted.len() >= 4096 {
            deleted.retain(|_, at| now.saturating_duration_since(*at) < REMEMBER);
        }
        deleted.insert(arn.to_string(), now);
    }
}
