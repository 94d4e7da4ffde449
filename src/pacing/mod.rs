//! Pacing of DeleteImportedKeyMaterial (and RotateKeyOnDemand) at a configured rate, finding the
//! rate KMS actually grants when the quota is shared.
//!
//! KMS allows 15 DeleteImportedKeyMaterial requests per second per account and Region, shared
//! with every other caller. The pacer hands out send slots spaced `1 / rate` apart (no bursts),
//! so concurrent key pipelines together never exceed the rate. It adapts to what is left:
//!
//! - **Slow down once per round trip.** A `ThrottlingException` lowers the rate only if its call
//!   was paced at the current rate: answers to calls paced before the last decrease are echoes of
//!   the excess already corrected, not new evidence. Slots handed out before a decrease are
//!   void: a pipeline waiting for one takes a new slot at the new rate ([`Pacer::wait`]). The
//!   new rate is 95% of the rate KMS granted over the last [`WINDOW`] (successful calls per
//!   second, at most the current rate), but never below half the current rate; that granted
//!   rate becomes the *ceiling*.
//! - **Probe back up.** Each success adds 5% of the configured rate while the rate is clearly
//!   below or above the ceiling; close to it (from 90% to 120% of it) the probe is slow (0.05%
//!   per success), so KMS throttles a few times a minute, not every second. The ceiling is
//!   forgotten [`CEILING_MEMORY`] after the last throttle: a quota that another caller stopped
//!   using is found again quickly.
//!
//! The pacer lives as long as the process, so warm invocations inherit what earlier ones learned.
//! The model test below (`finds_the_rate_left_...`) and the benchmark's `reduced-quota` section
//! show the effect: with 10/s configured and 5/s left, 4.7-5.0/s.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;

/// Lowest rate the pacer backs off to (one call every two seconds).
pub const MIN_RATE: f64 = 0.5;
/// The span over which the granted rate is measured when KMS throttles.
pub const WINDOW: Duration = Duration::from_secs(2);
/// How long the rate KMS last throttled at keeps the probe slow.
pub const CEILING_MEMORY: Duration = Duration::from_secs(30);

const FAST_STEP: f64 = 0.05;
const SLOW_STEP: f64 = 0.0005;

/// A send slot: when, and under which rate (a generation changes at each decrease).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    pub at: Instant,
    generation: u64,
}

#[derive(Debug)]
struct State {
    rate: f64,
    /// Incremented at each decrease of the rate.
    generation: u64,
    next: Option<Instant>,
    /// When the rate was last lowered.
    lowered_at: Option<Instant>,
    /// The granted rate at the last throttle.
    ceiling: Option<f64>,
    /// Recent successes (within [`WINDOW`]).
    successes: VecDeque<Instant>,
}

/// A slot scheduler for rate-limited KMS writes.
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
            state: Mutex::new(State {
                rate,
                generation: 0,
                next: None,
                lowered_at: None,
                ceiling: None,
                successes: VecDeque::new(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        match self.state.lock() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Reserves the next send slot; returns the instant to wait for (tests: the pipelines use
    /// [`Pacer::wait`] and [`Pacer::take_now`]).
    #[cfg(test)]
    fn reserve(&self) -> Instant {
        self.reserve_by(None).map_or_else(Instant::now, |s| s.at)
    }

    /// Reserves the next send slot if it is no later than `latest`; otherwise reserves nothing
    /// (so a declined slot is not lost to the next caller, e.g. the next invocation).
    pub fn reserve_by(&self, latest: Option<Instant>) -> Option<Slot> {
        let now = Instant::now();
        let mut s = self.lock();
        let at = match s.next {
            Some(next) if next > now => next,
            _ => now,
        };
        if latest.is_some_and(|l| at > l) {
            return None;
        }
        s.next = Some(at + interval(s.rate));
        Some(Slot {
            at,
            generation: s.generation,
        })
    }

    /// Waits for a send slot no later than `latest` (`None`: declined, nothing reserved). A slot
    /// handed out before the rate was lowered is void when it comes: a new one is taken.
    pub async fn wait(&self, latest: Option<Instant>) -> Option<Slot> {
        loop {
            let slot = self.reserve_by(latest)?;
            tokio::time::sleep_until(slot.at).await;
            if slot.generation == self.lock().generation {
                return Some(slot);
            }
        }
    }

    /// Takes a slot now, whatever is reserved (an invocation's first delete: a responder waits
    /// for it); the calls after it keep their spacing from it.
    pub fn take_now(&self) -> Slot {
        let now = Instant::now();
        let mut s = self.lock();
        let after = now + interval(s.rate);
        s.next = Some(s.next.map_or(after, |n| n.max(after)));
        Slot {
            at: now,
            generation: s.generation,
        }
    }

    /// KMS throttled the call sent in `slot`: push the next slot out and, once per round trip
    /// window (unless the call was paced before the last decrease), lower the rate to what KMS
    /// granted.
    pub fn on_throttle(&self, slot: &Slot) {
        let now = Instant::now();
        let mut s = self.lock();
        if slot.generation == s.generation {
            prune(&mut s.successes, now);
            let measured = s.successes.len() >= 2;
            // KMS cannot grant more than was sent: a window that still holds a faster burst
            // (a full bucket at the start) overstates what is left.
            let granted = (s.successes.len() as f64 / WINDOW.as_secs_f64()).min(s.rate);
            let lowered = if measured {
                granted * 0.95
            } else {
                s.rate * 0.5
            };
            s.ceiling = Some(if measured { granted } else { s.rate });
            s.rate = lowered.max(s.rate * 0.5).max(MIN_RATE);
            s.lowered_at = Some(now);
            s.generation += 1;
        }
        let pushed = now + interval(s.rate);
        s.next = Some(s.next.map_or(pushed, |n| n.max(pushed)));
    }

    /// A call succeeded: probe back up towards the configured rate.
    pub fn on_success(&self) {
        let now = Instant::now();
        let mut s = self.lock();
        s.successes.push_back(now);
        prune(&mut s.successes, now);
        if s.lowered_at
            .is_some_and(|t| now.duration_since(t) >= CEILING_MEMORY)
        {
            s.ceiling = None;
        }
        let near_ceiling = s
            .ceiling
            .is_some_and(|c| s.rate >= c * 0.9 && s.rate <= c * 1.2);
        let step = if near_ceiling { SLOW_STEP } else { FAST_STEP };
        s.rate = (s.rate + self.max_rate * step).min(self.max_rate);
    }

    /// The current rate (calls per second).
    pub fn rate(&self) -> f64 {
        self.lock().rate
    }
}

fn prune(successes: &mut VecDeque<Instant>, now: Instant) {
    while successes
        .front()
        .is_some_and(|t| now.duration_since(*t) > WINDOW)
    {
        successes.pop_front();
    }
}

fn interval(rate: f64) -> Duration {
    Duration::from_secs_f64(1.0 / rate)
}

#[cfg(test)]
mod tests;
