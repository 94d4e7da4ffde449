//! Virtual time: running the work due now (deliveries and invocations, fanned out
//! concurrently), moving the clock to the next retry, and running until idle or for a span.

use std::time::Duration;

use super::config::RouterError;
use super::state::{Router, Scheduled, Work};

impl Router {
    /// Runs every delivery and invocation due now, until nothing more is due now (events the
    /// functions publish are pulled from the ingress and routed in the same pass). Returns how
    /// many work items ran.
    pub async fn deliver_due(&self) -> usize {
        let mut ran = 0;
        loop {
            self.pull_ingress();
            let mut due = self.take_due();
            if due.is_empty() {
                return ran;
            }
            ran += due.len();
            due.sort_by_key(|w| (w.due, w.seq));
            let runs = due.into_iter().map(|w| self.execute(w.work));
            futures_util::future::join_all(runs).await;
        }
    }

    /// Removes the work due now from the schedule.
    fn take_due(&self) -> Vec<Scheduled> {
        let mut s = self.state();
        let now = s.now;
        let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut s.schedule)
            .into_iter()
            .partition(|w| w.due <= now);
        s.schedule = later;
        due
    }

    async fn execute(&self, work: Work) {
        match work {
            Work::Target(job) => self.deliver(job),
            Work::Invoke(run) => self.run_invocation(run).await,
        }
    }

    /// Moves the clock to the next scheduled item; `false` when nothing is scheduled.
    pub fn advance(&self) -> bool {
        let mut s = self.state();
        match s.schedule.iter().map(|w| w.due).min() {
            Some(next) => {
                if next > s.now {
                    s.now = next;
                }
                true
            }
            None => false,
        }
    }

    /// Moves the clock forward by `by` without running anything.
    pub fn sleep(&self, by: Duration) {
        self.state().now += by;
    }

    /// Delivers everything, following every retry, until nothing is scheduled. `max_steps`
    /// bounds the number of clock moves.
    pub async fn run_until_idle(&self, max_steps: usize) -> Result<(), RouterError> {
        for _ in 0..max_steps {
            self.deliver_due().await;
            if !self.advance() {
                return Ok(());
            }
        }
        Err(RouterError::NotIdle(max_steps))
    }

    /// Delivers what falls due within `span` of virtual time, then leaves the clock at its end.
    pub async fn run_for(&self, span: Duration) {
        let end = self.now() + span;
        loop {
            self.deliver_due().await;
            let next = self.state().schedule.iter().map(|w| w.due).min();
            match next {
                Some(n) if n <= end => {
                    self.advance();
                }
                _ => break,
            }
        }
        let mut s = self.state();
        if s.now < end {
            s.now = end;
        }
    }

    /// Scheduled deliveries and invocations not yet run (retries waiting).
    pub fn scheduled(&self) -> usize {
        self.state().schedule.len()
    }
}
