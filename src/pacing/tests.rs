use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

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
async fn throttling_without_a_measured_rate_halves_it_and_success_recovers_it() {
    // GIVEN a pacer at 16/s that has seen no success yet
    let p = Pacer::new(16.0);
    // WHEN KMS throttles calls paced after each decrease
    p.on_throttle(&p.take_now());
    assert_eq!(p.rate(), 8.0);
    for _ in 0..5 {
        let slot = p.wait(None).await.expect("no limit");
        p.on_throttle(&slot);
    }
    // THEN the rate halves each time, never below the minimum
    assert_eq!(p.rate(), MIN_RATE, "never below the minimum");
    // AND successes bring it back, never above the configured rate
    for _ in 0..100 {
        p.on_success();
    }
    assert_eq!(p.rate(), 16.0, "never above the configured rate");
}

#[tokio::test(start_paused = true)]
async fn throttled_answers_of_one_burst_lower_the_rate_once() {
    // GIVEN a pacer at 10/s with eight calls paced and in flight
    let p = Pacer::new(10.0);
    let mut in_flight = Vec::new();
    for _ in 0..8 {
        in_flight.push(p.wait(None).await.expect("no limit"));
    }
    // WHEN all eight come back throttled
    for slot in &in_flight {
        p.on_throttle(slot);
    }
    // THEN the rate was lowered once (halved: no success measured), not eight times
    assert_eq!(p.rate(), 5.0);
    // AND a call paced after the decrease that is throttled lowers it again
    let slot = p.wait(None).await.expect("no limit");
    p.on_throttle(&slot);
    assert_eq!(p.rate(), 2.5);
}

#[tokio::test(start_paused = true)]
async fn a_throttle_lowers_the_rate_to_what_kms_granted() {
    // GIVEN a pacer at 10/s whose last two seconds saw 8 successes (4/s granted)
    let p = Pacer::new(10.0);
    for _ in 0..8 {
        p.on_success();
        tokio::time::advance(Duration::from_millis(250)).await;
    }
    // WHEN KMS throttles
    p.on_throttle(&p.take_now());
    // THEN the rate is 95% of the granted 4/s (half the rate is the floor: 5/s)
    assert_eq!(p.rate(), 5.0);
}

#[tokio::test(start_paused = true)]
async fn a_slot_past_the_limit_is_declined_without_being_consumed() {
    let p = Pacer::new(10.0);
    let start = Instant::now();
    p.reserve();
    p.reserve();
    // the next slot is at +200 ms: a limit of +150 ms declines it, and keeps it free
    assert_eq!(p.reserve_by(Some(start + Duration::from_millis(150))), None);
    assert_eq!(p.wait(Some(start + Duration::from_millis(150))).await, None);
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

#[tokio::test(start_paused = true)]
async fn a_slot_handed_out_before_a_decrease_is_replaced_at_the_new_rate() {
    // GIVEN a pacer at 10/s: a pipeline holds the slot at +100 ms
    let p = Arc::new(Pacer::new(10.0));
    let start = Instant::now();
    p.reserve();
    let waiting = tokio::spawn({
        let p = p.clone();
        async move { p.wait(None).await.expect("no limit") }
    });
    tokio::task::yield_now().await;
    // WHEN KMS throttles a call paced at 10/s before that slot comes
    p.on_throttle(&p.take_now());
    // THEN the waiting pipeline sends at the new rate (5/s: 200 ms after the throttle), not in
    // its old slot
    let slot = waiting.await.expect("joined");
    assert_eq!(slot.at, start + Duration::from_millis(200));
}

#[tokio::test(start_paused = true)]
async fn the_first_delete_of_an_invocation_does_not_wait_for_reserved_slots() {
    // GIVEN a pacer at 1/s whose next two slots are taken (a throttle pushed them out, say)
    let p = Pacer::new(1.0);
    let start = Instant::now();
    p.reserve();
    p.reserve();
    // WHEN an invocation's first delete takes a slot
    // THEN it goes now
    assert_eq!(p.take_now().at, start);
    // AND the calls after it keep the spacing of the slots already handed out
    assert_eq!(p.reserve(), start + Duration::from_secs(2));
}

/// KMS as a token bucket: `rate` tokens a second, holding one second's worth.
struct Bucket {
    rate: f64,
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn take(&mut self, now: Instant) -> bool {
        let refill = now.duration_since(self.at).as_secs_f64() * self.rate;
        self.tokens = (self.tokens + refill).min(self.rate);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// What a model run of `keys` deletes against a bucket of `available`/s showed.
struct ModelRun {
    /// Successful deletes per second between the first success and the last.
    rate: f64,
    throttles: usize,
    minutes: f64,
    /// Keys that would have run out of attempts (5, the default) and failed.
    lost: usize,
}

/// `workers` concurrent key pipelines deleting `keys` keys through one pacer configured at
/// `configured`/s, against KMS granting `available`/s, with a 30 ms round trip and the
/// function's throttle backoff (its first step, 125-250 ms: 200 ms here).
async fn model(configured: f64, available: f64, keys: usize) -> ModelRun {
    let pacer = Arc::new(Pacer::new(configured));
    let start = Instant::now();
    let kms = Arc::new(Mutex::new(Bucket {
        rate: available,
        tokens: available,
        at: start,
    }));
    let next_key = Arc::new(AtomicUsize::new(0));
    let log = Arc::new(Mutex::new((Vec::<Instant>::new(), 0usize, 0usize)));
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let (pacer, kms, next_key, log) =
            (pacer.clone(), kms.clone(), next_key.clone(), log.clone());
        tasks.push(tokio::spawn(async move {
            while next_key.fetch_add(1, Ordering::SeqCst) < keys {
                let mut attempts = 0;
                loop {
                    attempts += 1;
                    let slot = pacer.wait(None).await.expect("no limit");
                    let sent = Instant::now();
                    let granted = kms.lock().unwrap().take(sent);
                    tokio::time::sleep(Duration::from_millis(30)).await;
                    if granted {
                        pacer.on_success();
                        let mut l = log.lock().unwrap();
                        l.0.push(sent);
                        if attempts > 5 {
                            l.2 += 1;
                        }
                        break;
                    }
                    pacer.on_throttle(&slot);
                    log.lock().unwrap().1 += 1;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let (mut ok, throttles, lost) = Arc::try_unwrap(log).unwrap().into_inner().unwrap();
    ok.sort();
    assert_eq!(ok.len(), keys, "every key deleted");
    let span = ok[keys - 1].duration_since(ok[0]).as_secs_f64();
    let run = ModelRun {
        rate: (keys - 1) as f64 / span,
        throttles,
        minutes: Instant::now().duration_since(start).as_secs_f64() / 60.0,
        lost,
    };
    eprintln!(
        "model: {configured}/s configured, {available}/s available, {keys} keys: {:.2}/s, \
         {throttles} throttled answers in {:.2} min, pacer ends at {:.2}/s",
        run.rate,
        run.minutes,
        pacer.rate()
    );
    run
}

#[tokio::test(start_paused = true)]
async fn finds_the_rate_left_when_the_quota_is_shared() {
    // GIVEN the default 10/s configured while other callers leave only 5/s
    // WHEN 600 keys are deleted (about two minutes)
    let run = model(10.0, 5.0, 600).await;
    // THEN at least 90% of the 5/s left is used, with a handful of throttles a minute, no key lost
    assert!(run.rate >= 4.5, "{:.2}/s", run.rate);
    let per_minute = run.throttles as f64 / run.minutes;
    assert!(
        per_minute <= 6.0,
        "{per_minute:.1} throttled answers a minute"
    );
    assert_eq!(run.lost, 0);
}

#[tokio::test(start_paused = true)]
async fn uses_the_whole_quota_when_it_is_all_available() {
    // GIVEN 15/s configured and the whole 15/s quota available
    // WHEN 900 keys are deleted
    let run = model(15.0, 15.0, 900).await;
    // THEN at least 99% of it is used, and KMS never throttles
    assert!(run.rate >= 14.85, "{:.2}/s", run.rate);
    assert_eq!(run.throttles, 0);
    assert_eq!(run.lost, 0);
}
