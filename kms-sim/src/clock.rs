//! A clock that tests can move: key material expiry, import token expiry and scheduled key
//! deletion are all evaluated against it.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The simulator's notion of "now": the real time plus an offset that tests move.
///
/// Time keeps flowing at the real pace; [`advance`](SimClock::advance) and
/// [`set`](SimClock::set) shift it. Cloning shares the clock.
#[derive(Debug, Clone, Default)]
pub struct SimClock {
    offset_ns: Arc<AtomicI64>,
}

impl SimClock {
    /// A clock showing the real time.
    pub fn new() -> Self {
        Self::default()
    }

    /// The simulated current time.
    pub fn now(&self) -> SystemTime {
        let offset = self.offset_ns.load(Ordering::SeqCst);
        let real = SystemTime::now();
        if offset >= 0 {
            real.checked_add(Duration::from_nanos(offset.unsigned_abs()))
                .unwrap_or(real)
        } else {
            real.checked_sub(Duration::from_nanos(offset.unsigned_abs()))
                .unwrap_or(real)
        }
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let ns = i64::try_from(by.as_nanos()).unwrap_or(i64::MAX);
        let _ = self
            .offset_ns
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |o| {
                Some(o.saturating_add(ns))
            });
    }

    /// Sets the clock to `to` (it keeps running from there).
    pub fn set(&self, to: SystemTime) {
        let real = SystemTime::now();
        let offset = match to.duration_since(real) {
            Ok(ahead) => i64::try_from(ahead.as_nanos()).unwrap_or(i64::MAX),
            Err(behind) => i64::try_from(behind.duration().as_nanos())
                .map(|n| -n)
                .unwrap_or(i64::MIN),
        };
        self.offset_ns.store(offset, Ordering::SeqCst);
    }

    /// Goes back to the real time.
    pub fn reset(&self) {
        self.offset_ns.store(0, Ordering::SeqCst);
    }
}

/// Seconds since the Unix epoch, as KMS puts timestamps on the wire (millisecond precision).
pub(crate) fn epoch_seconds(t: SystemTime) -> f64 {
    let secs = match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs_f64(),
        Err(e) => -e.duration().as_secs_f64(),
    };
    (secs * 1000.0).round() / 1000.0
}

/// The inverse of [`epoch_seconds`]; `None` for values out of range or not finite.
pub(crate) fn from_epoch_seconds(secs: f64) -> Option<SystemTime> {
    if !secs.is_finite() || secs.abs() > 1e12 {
        return None;
    }
    if secs >= 0.0 {
        UNIX_EPOCH.checked_add(Duration::from_secs_f64(secs))
    } else {
        UNIX_EPOCH.checked_sub(Duration::from_secs_f64(-secs))
    }
}

/// RFC 3339 rendering of a time (for logs and the admin API).
pub(crate) fn rfc3339(t: SystemTime) -> String {
    let dt: chrono::DateTime<chrono::Utc> = t.into();
    dt.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Parses an RFC 3339 time.
pub(crate) fn parse_rfc3339(s: &str) -> Option<SystemTime> {
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|dt| SystemTime::from(dt.with_timezone(&chrono::Utc)))
}
