//! Publishing audit records to an EventBridge bus (an [`AuditSink`]), within the invocation's
//! time: what cannot be sent before the deadline is counted, logged and reported as the
//! `RecordsNotPublished` metric (the record stays on stdout).
//!
//! Each record becomes an event `source: kms-material-guard`, `detail-type: Key Material Audit
//! Record`, `detail`: the record itself, `resources`: the key ARN; a SIEM, a ticketing system or the
//! key custodians' import pipeline subscribes with a rule (for example on
//! `detail.outcome: ["rotation_due", "expiring_soon", "expired"]`). Records are buffered during
//! the invocation and sent (PutEvents, 10 per call) before it returns; failed entries are retried
//! with backoff while time remains. Publishing never fails a revocation and never replaces the
//! stdout record.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use aws_sdk_eventbridge::types::PutEventsRequestEntry;

use tokio::time::Instant;

use crate::audit::{AuditRecord, AuditSink, Flushing};

/// `source` of published audit records.
pub const EVENT_SOURCE: &str = "kms-material-guard";
/// `detail-type` of published audit records.
pub const EVENT_DETAIL_TYPE: &str = "Key Material Audit Record";
/// `detail-type` of published per-invocation summaries of revocation requests.
pub const SUMMARY_DETAIL_TYPE: &str = "Key Material Revocation Summary";
/// Attempts per batch (the first plus retries of failed entries).
pub const MAX_ATTEMPTS: u32 = 4;

type Entry = (&'static str, String, Option<String>);

/// Buffers records and publishes them on `flush`.
pub struct EventBridgeSink {
    client: aws_sdk_eventbridge::Client,
    bus: String,
    /// (detail-type, detail, key ARN)
    buffer: Mutex<Vec<Entry>>,
    published: AtomicU64,
    lost: AtomicU64,
}

/// The Region of an event bus ARN (`arn:aws:events:<region>:<account>:event-bus/<name>`); `None`
/// for a bus name.
pub fn bus_region(bus: &str) -> Option<&str> {
    let mut parts = bus.strip_prefix("arn:")?.splitn(5, ':');
    let (_partition, service, region) = (parts.next()?, parts.next()?, parts.next()?);
    (service == "events" && crate::validate::is_region(region)).then_some(region)
}

/// An EventBridge client for `bus`: PutEvents to a bus ARN must be sent to that bus's Region (a
/// member publishing to a central bus in another Region).
pub fn client_for_bus(sdk: &aws_types::SdkConfig, bus: &str) -> aws_sdk_eventbridge::Client {
    let mut config = aws_sdk_eventbridge::config::Builder::from(sdk);
    if let Some(region) = bus_region(bus) {
        config = config.region(aws_sdk_eventbridge::config::Region::new(region.to_string()));
    }
    aws_sdk_eventbridge::Client::from_conf(config.build())
}

impl EventBridgeSink {
    /// Publishes to `bus` (a name or ARN).
    pub fn new(client: aws_sdk_eventbridge::Client, bus: impl Into<String>) -> Self {
        EventBridgeSink {
            client,
            bus: bus.into(),
            buffer: Mutex::new(Vec::new()),
            published: AtomicU64::new(0),
            lost: AtomicU64::new(0),
        }
    }

    /// Records delivered to EventBridge so far.
    pub fn published(&self) -> u64 {
        self.published.load(Ordering::Relaxed)
    }

    /// Records that could not be delivered after every retry (they remain on stdout).
    pub fn lost(&self) -> u64 {
        self.lost.load(Ordering::Relaxed)
    }

    fn entry(
        &self,
        detail_type: &str,
        detail: &str,
        key_arn: &Option<String>,
    ) -> PutEventsRequestEntry {
        PutEventsRequestEntry::builder()
            .event_bus_name(&self.bus)
            .source(EVENT_SOURCE)
            .detail_type(detail_type)
            .detail(detail)
            .set_resources(key_arn.clone().map(|a| vec![a]))
            .build()
    }

    /// Sends one batch, retrying failed entries while time remains before `by`; returns the
    /// entries not delivered.
    async fn send_batch(&self, mut batch: Vec<Entry>, by: Option<Instant>) -> usize {
        for attempt in 1..=MAX_ATTEMPTS {
            if by.is_some_and(|by| Instant::now() >= by) {
                break;
            }
            let entries: Vec<PutEventsRequestEntry> =
                batch.iter().map(|(t, d, k)| self.entry(t, d, k)).collect();
            let call = self.client.put_events().set_entries(Some(entries)).send();
            let answer = match by {
                Some(by) => match tokio::time::timeout_at(by, call).await {
                    Ok(answer) => answer,
                    Err(_) => {
                        tracing::warn!(attempt, "PutEvents did not answer before the deadline");
                        break;
                    }
                },
                None => call.await,
            };
            let failed: Vec<Entry> = match answer {
                Ok(out) if out.failed_entry_count() == 0 => {
                    self.published
                        .fetch_add(batch.len() as u64, Ordering::Relaxed);
                    return 0;
                }
                Ok(out) => {
                    // Results are positional: keep the entries that carry an error code.
                    let results = out.entries();
                    let failed: Vec<_> = batch
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| results.get(*i).is_none_or(|r| r.error_code().is_some()))
                        .map(|(_, e)| e.clone())
                        .collect();
                    self.published
                        .fetch_add((batch.len() - failed.len()) as u64, Ordering::Relaxed);
                    tracing::warn!(
                        failed = failed.len(),
                        attempt,
                        "PutEvents rejected some audit records"
                    );
                    failed
                }
                Err(e) => {
                    tracing::warn!(error = %aws_sdk_eventbridge::error::DisplayErrorContext(&e), attempt, "PutEvents failed");
                    batch.clone()
                }
            };
            batch = failed;
            let pause = Duration::from_millis(100 * (1 << attempt));
            if attempt < MAX_ATTEMPTS && by.is_none_or(|by| Instant::now() + pause < by) {
                tokio::time::sleep(pause).await;
            } else if attempt < MAX_ATTEMPTS {
                break;
            }
        }
        self.lost.fetch_add(batch.len() as u64, Ordering::Relaxed);
        tracing::error!(
            lost = batch.len(),
            bus = %self.bus,
            "audit records could not be published to EventBridge in time; they remain in the function's log"
        );
        batch.len()
    }
}

impl AuditSink for EventBridgeSink {
    fn emit(&self, record: &AuditRecord) {
        match serde_json::to_string(record) {
            Ok(detail) => {
                if let Ok(mut b) = self.buffer.lock() {
                    b.push((EVENT_DETAIL_TYPE, detail, record.key_arn.clone()));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "could not serialise audit record for EventBridge")
            }
        }
    }

    fn emit_summary(&self, summary: &serde_json::Value) {
        if let Ok(mut b) = self.buffer.lock() {
            b.push((SUMMARY_DETAIL_TYPE, summary.to_string(), None));
        }
    }

    fn flush(&self, by: Option<Instant>) -> Flushing<'_> {
        Box::pin(async move {
            let pending = self
                .buffer
                .lock()
                .map(|mut b| std::mem::take(&mut *b))
                .unwrap_or_default();
            let mut undelivered = 0;
            for chunk in pending.chunks(10) {
                undelivered += self.send_batch(chunk.to_vec(), by).await;
            }
            undelivered
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bus_arn_names_the_region_to_send_to() {
        assert_eq!(
            bus_region(
                "arn:aws:events:eu-central-1:999999999999:event-bus/kms-material-guard-central"
            ),
            Some("eu-central-1")
        );
        assert_eq!(bus_region("default"), None);
        assert_eq!(bus_region("arn:aws:sqs:eu-central-1:999999999999:q"), None);
    }
}
