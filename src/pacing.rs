//! Pacing of DeleteImportedKeyMaterial at a configured rate, adapting to throttling.
//!
//! KMS allows 15 DeleteImportedKeyMaterial requests per second per account and Region, shared
//! with every other caller. The pacer hands out send slots spaced `1 / rate` apart (no bursts),
//! so concurrent key pipelines together never exceed the rate. On `ThrottlingException` the rate
//! halves (someone else is using the quota); each success adds back 5% of the configured rate,
//! up to the configured rate. The pacer lives as long as the process, so warm invocations
//! inherit what earlier ones learned.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Lowest rate the pacer backs off to (one call every two seconds).
pub const MIN_RATE: f64 = 0.5;

#[derive(Debug)]
struct State {
    rate: f64,
    next: Option<Instant>,
}

/// A slot scheduler for delete calls.
#[derive(Debug)]
pub struct Pacer {
    max_rate: f64,
    state: Mutex<State>,
}

impl Pacer {
    /// A pacer allowing `rate` calls per second.
    pub fn new(rate: f64) -> Self {
        let rate = rate.max(MIN_RATE);
        Pacer {
            max_rate: rate,
            state: Mutex::new(State { rate, next: None }),
        }
    }

    /// Reserves the next send slot; returns the instant to wait for.
    pub fn reserve(&self) -> Instant {
        self.reserve_by(None).unwrap_or_else(Instant::now)
    }

    /// Reserves the next send slot if it is no later than `latest`; otherwise reserves nothing
    /// (so a declined slot is not lost to the next caller, e.g. the next invocation).
    pub fn reserve_by(&self, latest: Option<Instant>) -> Option<Instant> {
        let now = Instant::now();
        let mut s = match self.state.lock() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        let slot = match s.next {
            Some(next) if next > now => next,
            _ => now,
        };
        if latest.is_some_and(|l| slot > l) {
            return None;
        }
        s.next = Some(slot + interval(s.rate));
        Some(slot)
    }

    /// Waits for the next send slot.
    pub async fn acquire(&self) {
        let slot = self.reserve();
        tokio::time::sleep_until(slot).await;
    }

    /// KMS throttled a call: halve the rate and push the next slot out.
    pub fn on_throttle(&self) {
        let mut s = match self.state.lock() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        s.rate = (s.rate / 2.0).max(MIN_RATE);
        let pushed = Instant::now() + interval(s.rate);
        s.next = Some(s.next.map_or(pushed, |n| n.max(pushed)));
    }

    /// A call succeeded: recover towards the configured rate.
    pub fn on_success(&self) {
        let mut s = match self.state.lock() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        s.rate = (s.rate + self.max_rate * 0.05).min(self.max_rate);
    }

    /// The current rate (calls per second).
    pub fn rate(&self) -> f64 {
        self.state.lock().map(|s| s.rate).unwrap_or(self.max_rate)
    }
}

fn interval(rate: f64) -> Duration {
    Duration::from_secs_f64(1.0 / rate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn slots_are_spaced_at_the_rate() {
        let p = Pacer::new(10.0);
        let start = Instant::now();
        let slots: Vec<Duration> = (0..5).map(|_| p.reserve() - start).collect();
        assert_eq!(slots[0], Duration::ZERO);
        for w in slots.windows(2) {
            assert_eq!(w[1] - w[0], Duration::from_millis(100));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn throttling_halves_the_rate_and_success_recovers_it() {
        let p = Pacer::new(16.0);
        p.on_throttle();
        assert_eq!(p.rate(), 8.0);
        p.on_throttle();
        p.on_throttle();
        p.on_throttle();
        p.on_throttle();
        assert_eq!(p.rate(), 0.5, "never below the minimum");
        for _ in 0..100 {
            p.on_success();
        }
        assert_eq!(p.rate(), 16.0, "never above the configured rate");
    }

    #[tokio::test(start_paused = true)]
    async fn a_slot_past_the_limit_is_declined_without_being_consumed() {
        let p = Pacer::new(10.0);
        let start = Instant::now();
        p.reserve();
        p.reserve();
        // the next slot is at +200 ms: a limit of +150 ms declines it, and keeps it free
        assert_eq!(p.reserve_by(Some(start + Duration::from_millis(150))), None);
        assert_eq!(p.reserve_by(Some(start + Duration::from_millis(150))), None);
        assert_eq!(p.reserve(), start + Duration::from_millis(200));
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_pacer_does_not_bank_a_burst() {
        let p = Pacer::new(10.0);
        p.reserve();
        tokio::time::advance(Duration::from_secs(5)).await;
        let now = Instant::now();
        assert_eq!(p.reserve(), now);
        assert_eq!(p.reserve() - now, Duration::from_millis(100));
    }
}
