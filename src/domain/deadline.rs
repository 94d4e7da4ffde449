//! How long an invocation may run: the Lambda deadline, or a documented fallback when the
//! runtime reports none that makes sense (local emulators such as `cargo lambda watch`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

/// The longest Lambda timeout (15 minutes) plus a minute of clock skew: a deadline further away
/// than this cannot come from Lambda.
const LONGEST_PLAUSIBLE: Duration = Duration::from_secs(16 * 60);

/// The invocation's deadline, if any.
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    at: Option<Instant>,
}

/// Where an invocation's deadline came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeadlineSource {
    /// The runtime's `Lambda-Runtime-Deadline-Ms`, a plausible epoch time.
    Lambda,
    /// The runtime's deadline was missing, already past or implausible (`cargo lambda watch`
    /// always sends `600000`, a time in 1970): the fallback timeout applies from now.
    Fallback,
}

impl Deadline {
    /// No deadline (tests, the drill).
    pub fn none() -> Self {
        Deadline { at: None }
    }

    /// A deadline `remaining` from now.
    pub fn after(remaining: Duration) -> Self {
        Deadline {
            at: Some(Instant::now() + remaining),
        }
    }

    /// From the Lambda context's deadline (milliseconds since the Unix epoch), taken as is.
    pub fn from_epoch_millis(deadline_ms: u64) -> Self {
        if deadline_ms == 0 {
            return Deadline::none();
        }
        Deadline::after(Duration::from_millis(deadline_ms.saturating_sub(now_ms())))
    }

    /// From the Lambda context's deadline when it is plausible (in the future, within the
    /// longest Lambda timeout); otherwise `fallback` from now. The caller logs the fallback.
    pub fn from_lambda(deadline_ms: u64, fallback: Duration) -> (Deadline, DeadlineSource) {
        let now = now_ms();
        let plausible =
            deadline_ms > now && Duration::from_millis(deadline_ms - now) <= LONGEST_PLAUSIBLE;
        if plausible {
            (
                Deadline::from_epoch_millis(deadline_ms),
                DeadlineSource::Lambda,
            )
        } else {
            (Deadline::after(fallback), DeadlineSource::Fallback)
        }
    }

    /// Time left, `None` without a deadline.
    pub fn remaining(&self) -> Option<Duration> {
        self.at
            .map(|at| at.saturating_duration_since(Instant::now()))
    }

    /// Whether at least `needed` is left.
    pub fn allows(&self, needed: Duration) -> bool {
        self.remaining().is_none_or(|r| r >= needed)
    }

    /// The latest instant at which `needed` is still left; `None` without a deadline.
    pub fn latest_start(&self, needed: Duration) -> Option<Instant> {
        self.at.map(|at| at.checked_sub(needed).unwrap_or(at))
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn deadlines_count_down() {
        let d = Deadline::after(Duration::from_secs(10));
        assert!(d.allows(Duration::from_secs(9)));
        tokio::time::advance(Duration::from_secs(2)).await;
        assert!(!d.allows(Duration::from_secs(9)));
        assert!(Deadline::none().allows(Duration::from_secs(100_000)));
        assert!(Deadline::from_epoch_millis(0).remaining().is_none());
        assert_eq!(
            Deadline::from_epoch_millis(1).remaining(),
            Some(Duration::ZERO)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_implausible_lambda_deadline_falls_back_to_the_configured_timeout() {
        let fallback = Duration::from_secs(60);
        // GIVEN the deadline cargo lambda watch sends (600000 ms after the epoch, in 1970)
        // WHEN it is read
        let (d, source) = Deadline::from_lambda(600_000, fallback);
        // THEN the fallback applies from now, not "no time left"
        assert_eq!(source, DeadlineSource::Fallback);
        assert_eq!(d.remaining(), Some(fallback));
        // AND a missing deadline and one years ahead fall back too
        assert_eq!(
            Deadline::from_lambda(0, fallback).1,
            DeadlineSource::Fallback
        );
        let far = now_ms() + 365 * 86_400_000;
        assert_eq!(
            Deadline::from_lambda(far, fallback).1,
            DeadlineSource::Fallback
        );
        // AND a real deadline 30 s ahead is taken as Lambda's
        let (d, source) = Deadline::from_lambda(now_ms() + 30_000, fallback);
        assert_eq!(source, DeadlineSource::Lambda);
        assert!(d.remaining().is_some_and(|r| r <= Duration::from_secs(30)));
    }
}
