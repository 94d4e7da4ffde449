//! Where audit records go (the [`AuditSink`] port): stdout JSON lines in Lambda, a [`Tee`] to
//! several sinks, memory for tests and the drill; the EventBridge sink is `src/publish.rs`.

use std::io::Write;
use std::sync::Mutex;

use tokio::time::Instant;

use super::AuditRecord;

/// Where audit records go. The function writes them to stdout; tests collect them.
pub trait AuditSink: Send + Sync {
    /// Records one audit record. Must not fail the revocation.
    fn emit(&self, record: &AuditRecord);

    /// Records the per-invocation summary of a revocation request (schema
    /// `kms-material-guard/summary/v1`, `schema/revocation-summary.v1.json`).
    fn emit_summary(&self, _summary: &serde_json::Value) {}

    /// Delivers anything buffered (called before each invocation returns), giving up at `by`
    /// (the invocation's deadline less what the response needs). Returns how many records and
    /// summaries could not be delivered. Never fails: a sink reports its own delivery problems.
    fn flush(&self, _by: Option<Instant>) -> Flushing<'_> {
        Box::pin(async { 0 })
    }
}

/// A sink's flush: resolves to the number of records it could not deliver.
pub type Flushing<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = usize> + Send + 'a>>;

/// Writes each record as one JSON line on stdout, flushed immediately so a record is never lost
/// when the invocation later fails or times out.
#[derive(Debug, Default)]
pub struct StdoutSink;

impl AuditSink for StdoutSink {
    fn emit(&self, record: &AuditRecord) {
        match serde_json::to_string(record) {
            Ok(line) => write_line(&line),
            Err(e) => tracing::error!(error = %e, "could not serialise audit record"),
        }
    }

    fn emit_summary(&self, summary: &serde_json::Value) {
        write_line(&summary.to_string());
    }
}

fn write_line(line: &str) {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    // A closed stdout cannot be reported anywhere better than tracing.
    if let Err(e) = writeln!(out, "{line}").and_then(|_| out.flush()) {
        tracing::error!(error = %e, "could not write to stdout");
    }
}

/// Collects records in memory (tests, the drill, benchmarks).
#[derive(Debug, Default)]
pub struct MemorySink {
    records: Mutex<Vec<AuditRecord>>,
    summaries: Mutex<Vec<serde_json::Value>>,
}

impl MemorySink {
    pub fn new() -> Self {
        Self::default()
    }
    /// A copy of every record emitted so far.
    pub fn records(&self) -> Vec<AuditRecord> {
        self.records.lock().map(|r| r.clone()).unwrap_or_default()
    }
    /// Every summary emitted so far.
    pub fn summaries(&self) -> Vec<serde_json::Value> {
        self.summaries.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// Removes and returns every record emitted so far.
    pub fn take(&self) -> Vec<AuditRecord> {
        self.records
            .lock()
            .map(|mut r| std::mem::take(&mut *r))
            .unwrap_or_default()
    }
}

impl AuditSink for MemorySink {
    fn emit(&self, record: &AuditRecord) {
        if let Ok(mut r) = self.records.lock() {
            r.push(record.clone());
        }
    }

    fn emit_summary(&self, summary: &serde_json::Value) {
        if let Ok(mut s) = self.summaries.lock() {
            s.push(summary.clone());
        }
    }
}

/// Sends every record to several sinks.
pub struct Tee(pub Vec<std::sync::Arc<dyn AuditSink>>);

impl AuditSink for Tee {
    fn emit(&self, record: &AuditRecord) {
        for sink in &self.0 {
            sink.emit(record);
        }
    }

    fn emit_summary(&self, summary: &serde_json::Value) {
        for sink in &self.0 {
            sink.emit_summary(summary);
        }
    }

    fn flush(&self, by: Option<Instant>) -> Flushing<'_> {
        Box::pin(async move {
            let mut undelivered = 0;
            for sink in &self.0 {
                undelivered += sink.flush(by).await;
            }
            undelivered
        })
    }
}
