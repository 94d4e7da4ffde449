//! When KMS calls reached the sim: a thread samples kms-sim's counters every 0.5 ms (the
//! counters have no timestamps of their own) and records the instant each call arrived, each
//! success and each throttled answer, per operation; the rates and offsets computed from them.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use kms_sim::KmsSim;

pub(crate) const DELETE_OP: &str = "DeleteImportedKeyMaterial";
/// The operations whose calls are timed one by one.
const OPS: [&str; 4] = [
    "DescribeKey",
    "ListResourceTags",
    DELETE_OP,
    "ListKeyRotations",
];
/// How often the counters are read. A call's arrival is known to within this (plus the
/// thread's wake-up delay, tens of µs).
pub(crate) const SAMPLE_EVERY: Duration = Duration::from_micros(500);

/// The instants of one operation's calls (arrival), successes and throttled answers.
#[derive(Default)]
pub(crate) struct OpTimes {
    pub(crate) calls: Vec<Instant>,
    pub(crate) successes: Vec<Instant>,
    pub(crate) throttled: Vec<Instant>,
}

/// Every call the sim received while the sampler ran.
#[derive(Default)]
pub(crate) struct Timeline {
    /// Arrivals of calls of any operation (also those not in `OPS`).
    any: Vec<Instant>,
    ops: BTreeMap<&'static str, OpTimes>,
}

/// A running sampler; [`Sampler::finish`] stops it and returns what it saw.
pub(crate) struct Sampler {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Timeline>,
}

/// Counter values at one instant: (total, per operation (calls, successes, throttled)).
fn read(sim: &KmsSim) -> (u64, [(u64, u64, u64); 4]) {
    let c = sim.counters();
    (
        c.total_calls(),
        OPS.map(|op| (c.calls(op), c.successes(op), c.throttled(op))),
    )
}

/// Pushes `now` once per unit `to` is above `from`.
fn push_new(times: &mut Vec<Instant>, from: u64, to: u64, now: Instant) {
    for _ in from..to {
        times.push(now);
    }
}

impl Sampler {
    /// Starts sampling `sim`; calls made before this are not counted. The baseline is read
    /// here, before the thread starts: a call that arrives while the thread is being spawned
    /// (the function answers an event within a millisecond or two) is counted, not missed.
    pub(crate) fn start(sim: Arc<KmsSim>) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let baseline = read(&sim);
        let thread = std::thread::spawn(move || {
            let mut timeline = Timeline::default();
            let mut seen = baseline;
            loop {
                let now = Instant::now();
                let cur = read(&sim);
                push_new(&mut timeline.any, seen.0, cur.0, now);
                for (i, op) in OPS.iter().enumerate() {
                    let (a, b) = (seen.1[i], cur.1[i]);
                    let t = timeline.ops.entry(op).or_default();
                    push_new(&mut t.calls, a.0, b.0, now);
                    push_new(&mut t.successes, a.1, b.1, now);
                    push_new(&mut t.throttled, a.2, b.2, now);
                }
                seen = cur;
                if flag.load(Ordering::Relaxed) {
                    return timeline;
                }
                std::thread::sleep(SAMPLE_EVERY);
            }
        });
        Sampler { stop, thread }
    }

    /// Stops sampling (after one last reading) and returns the timeline.
    pub(crate) fn finish(self) -> Result<Timeline, String> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .join()
            .map_err(|_| "the counter sampler panicked".to_owned())
    }
}

impl Timeline {
    fn op(&self, op: &str) -> Option<&OpTimes> {
        self.ops.get(op)
    }

    /// The first call of any operation.
    pub(crate) fn first_call(&self) -> Option<Instant> {
        self.any.first().copied()
    }

    /// The first call of `op`.
    pub(crate) fn first_call_of(&self, op: &str) -> Option<Instant> {
        self.op(op).and_then(|t| t.calls.first().copied())
    }

    /// The successes of `op`, in order.
    pub(crate) fn successes(&self, op: &str) -> &[Instant] {
        self.op(op).map_or(&[], |t| t.successes.as_slice())
    }

    /// Throttled answers of `op`.
    pub(crate) fn throttled(&self, op: &str) -> usize {
        self.op(op).map_or(0, |t| t.throttled.len())
    }

    /// First call of `op` -> its last success.
    pub(crate) fn phase(&self, op: &str) -> Option<Duration> {
        self.first_call_of(op)
            .zip(self.successes(op).last().copied())
            .map(|(a, b)| b.saturating_duration_since(a))
    }

    /// Successes of `op` per second between its first and its last success: (n - 1)
    /// intervals. A pacer exactly at the configured rate scores exactly that rate.
    pub(crate) fn achieved(&self, op: &str) -> Option<f64> {
        let s = self.successes(op);
        match (s.first(), s.last()) {
            (Some(a), Some(b)) if b > a && s.len() > 1 => {
                Some((s.len() - 1) as f64 / (*b - *a).as_secs_f64())
            }
            _ => None,
        }
    }

    /// Steady state: the rate of `op` over the middle 80% of its successes.
    pub(crate) fn steady(&self, op: &str) -> Option<f64> {
        let s = self.successes(op);
        let lo = s.len() / 10;
        let hi = s.len() * 9 / 10;
        match (s.get(lo), s.get(hi)) {
            (Some(a), Some(b)) if b > a => Some((hi - lo) as f64 / (*b - *a).as_secs_f64()),
            _ => None,
        }
    }

    /// Every timed call as (operation, ms after `t0`), in arrival order.
    pub(crate) fn calls_after(&self, t0: Instant) -> Vec<(&'static str, f64)> {
        let mut all: Vec<(&'static str, Instant)> = self
            .ops
            .iter()
            .flat_map(|(op, t)| t.calls.iter().map(|at| (*op, *at)))
            .collect();
        all.sort_by_key(|(_, at)| *at);
        all.into_iter()
            .map(|(op, at)| (op, crate::stats::ms(at.saturating_duration_since(t0))))
            .collect()
    }
}
