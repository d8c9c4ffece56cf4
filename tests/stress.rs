//! Bounded stress: many tasks on a multi-threaded runtime hammer one
//! breaker with random outcomes, random cancellations and panics. Every run
//! is bounded in calls; the invariants are checked with gauges inside the
//! protected code and with the final stats.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use breakerbox::{CircuitBreaker, Config};

const TASKS: u64 = 8;
const CALLS_PER_TASK: u64 = 400;
const MAX_PROBES: usize = 2;
const MAX_CONCURRENT: usize = 4;

/// A small deterministic generator per task (xorshift).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[derive(Default)]
struct Gauge {
    now: AtomicUsize,
    peak: AtomicUsize,
}

impl Gauge {
    fn enter(&self) {
        let inside = self.now.fetch_add(1, SeqCst) + 1;
        self.peak.fetch_max(inside, SeqCst);
    }
    fn leave(&self) {
        self.now.fetch_sub(1, SeqCst);
    }
}

#[test]
fn random_outcomes_cancellations_and_panics_keep_every_invariant() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    let cb = Arc::new(
        CircuitBreaker::new(
            "stress",
            Config::default()
                .max_failures(3)
                .timeout(Duration::from_micros(200))
                .half_open_max_calls(MAX_PROBES as u32)
                .success_threshold(3)
                .max_concurrent_calls(MAX_CONCURRENT as u32),
        )
        .unwrap(),
    );
    let calls = Arc::new(Gauge::default());
    let probes = Arc::new(Gauge::default());

    runtime.block_on(async {
        let tasks: Vec<_> = (0..TASKS)
            .map(|seed| {
                let (cb, calls, probes) = (cb.clone(), calls.clone(), probes.clone());
                tokio::spawn(async move {
                    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
                    for _ in 0..CALLS_PER_TASK {
                        let roll = rng.next() % 100;
                        let yields = rng.next() % 4;
                        let (cb, calls, probes) = (cb.clone(), calls.clone(), probes.clone());
                        // Each call runs in its own task so that a panic
                        // unwinds only that call.
                        let call = tokio::spawn(async move {
                            let Ok(permit) = cb.try_acquire() else { return };
                            let probe = permit.is_probe();
                            calls.enter();
                            if probe {
                                probes.enter();
                            }
                            let body = async {
                                for _ in 0..yields {
                                    tokio::task::yield_now().await;
                                }
                            };
                            // Cancel some calls part way, as a caller's timeout would.
                            let finished = if roll < 15 {
                                tokio::time::timeout(Duration::ZERO, body).await.is_ok()
                            } else {
                                body.await;
                                true
                            };
                            calls.leave();
                            if probe {
                                probes.leave();
                            }
                            match (finished, roll) {
                                (false, _) => drop(permit),
                                (true, 15..=19) => panic!("protected code panicked"),
                                (true, 20..=49) => permit.failure(),
                                (true, 50..=54) => permit.ignore(),
                                (true, _) => permit.success(),
                            }
                        });
                        let _ = call.await;
                    }
                })
            })
            .collect();
        for task in tasks {
            tokio::time::timeout(Duration::from_secs(60), task)
                .await
                .expect("a stress task deadlocked")
                .unwrap();
        }
    });

    let stats = cb.stats();
    let t = stats.totals;
    assert_eq!(stats.in_flight, 0, "every permit was released");
    assert_eq!(
        t.calls,
        TASKS * CALLS_PER_TASK,
        "every call was admitted or rejected"
    );
    assert_eq!(
        t.calls,
        t.successes + t.failures + t.ignored + t.cancelled + t.rejected,
        "every call is accounted for once"
    );
    assert!(
        probes.peak.load(SeqCst) <= MAX_PROBES,
        "too many concurrent probes"
    );
    assert!(
        calls.peak.load(SeqCst) <= MAX_CONCURRENT,
        "bulkhead exceeded"
    );
    assert!(
        t.failures > 0 && t.successes > 0,
        "the run exercised every ending: {t:?}"
    );
    assert_not_stuck(&cb);
}

/// Once the probes have ended, a half-open breaker admits the next probe: no
/// slot is held by a call that is over.
fn assert_not_stuck(cb: &CircuitBreaker) {
    if cb.state() == breakerbox::State::HalfOpen {
        let permit = cb.try_acquire();
        assert!(
            permit.is_ok(),
            "half-open with no call running, yet no probe is admitted: {:?}",
            cb.stats()
        );
    }
}

/// OS threads (no runtime) hammering one breaker, with panicking protected
/// code caught per call.
#[test]
fn os_threads_with_random_outcomes_and_panics_keep_every_invariant() {
    const THREADS: u64 = 4;
    let cb = Arc::new(
        CircuitBreaker::new(
            "stress-threads",
            Config::default()
                .max_failures(2)
                .timeout(Duration::from_micros(100))
                .half_open_max_calls(MAX_PROBES as u32)
                .success_threshold(2)
                .max_concurrent_calls(MAX_CONCURRENT as u32),
        )
        .unwrap(),
    );
    let calls = Arc::new(Gauge::default());
    let probes = Arc::new(Gauge::default());
    let (done, finished) = std::sync::mpsc::channel();
    for seed in 0..THREADS {
        let (cb, calls, probes, done) = (cb.clone(), calls.clone(), probes.clone(), done.clone());
        std::thread::spawn(move || {
            let mut rng = Rng((seed + 11).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
            for _ in 0..CALLS_PER_TASK {
                let roll = rng.next() % 100;
                let spins = rng.next() % 64;
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    let Ok(permit) = cb.try_acquire() else { return };
                    let probe = permit.is_probe();
                    calls.enter();
                    if probe {
                        probes.enter();
                    }
                    for _ in 0..spins {
                        std::hint::spin_loop();
                    }
                    if probe {
                        probes.leave();
                    }
                    calls.leave();
                    // A panic unwinds with the permit alive: it records a failure.
                    match roll {
                        0..=4 => panic!("protected code panicked"),
                        5..=44 => permit.failure(),
                        _ => permit.success(),
                    }
                }));
            }
            let _ = done.send(());
        });
    }
    drop(done);
    for _ in 0..THREADS {
        finished
            .recv_timeout(Duration::from_secs(60))
            .expect("a stress thread deadlocked or died");
    }

    let stats = cb.stats();
    let t = stats.totals;
    assert_eq!(stats.in_flight, 0, "every permit was released");
    assert_eq!(t.calls, THREADS * CALLS_PER_TASK);
    assert_eq!(
        t.calls,
        t.successes + t.failures + t.ignored + t.cancelled + t.rejected
    );
    assert_eq!(t.cancelled, 0, "a panic is a failure, not a cancellation");
    assert!(
        calls.peak.load(SeqCst) <= MAX_CONCURRENT,
        "bulkhead exceeded"
    );
    assert!(probes.peak.load(SeqCst) <= MAX_PROBES, "too many probes");
    assert!(t.failures > 0 && t.successes > 0, "{t:?}");
    assert_not_stuck(&cb);
}

/// What the calling threads saw, to compare with the breaker's totals.
#[derive(Default)]
struct Seen {
    admitted: AtomicUsize,
    successes: AtomicUsize,
    failures: AtomicUsize,
    ignored: AtomicUsize,
    rejected: AtomicUsize,
}

/// The lock-free path (no bulkhead, no interval, no window: admission,
/// successes and failures below the threshold take no lock) under OS
/// threads, with trips, probes and resets from another thread racing the
/// calls: every call is counted exactly once in the lifetime totals, and
/// the periods' counts (each ended period's, as its transition announced
/// it, plus the current one's) add up to the totals exactly. (A reset of a
/// closed breaker also ends a period, without a transition to announce:
/// the commands here always change the state.)
#[test]
fn the_lock_free_path_counts_every_call_exactly_once_across_transitions() {
    const THREADS: u64 = 4;
    const CALLS: u64 = 4_000;
    let ended = Arc::new(std::sync::Mutex::new(Vec::<breakerbox::Counts>::new()));
    let sink = Arc::clone(&ended);
    let cb = Arc::new(
        CircuitBreaker::new(
            "stress-lock-free",
            Config::default()
                .max_failures(4)
                .timeout(Duration::from_micros(50))
                .half_open_max_calls(2)
                .on_state_change(move |change| sink.lock().unwrap().push(change.period)),
        )
        .unwrap(),
    );
    let seen = Arc::new(Seen::default());
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    // The workers go on until the commands have raced with them this many
    // times (whatever the scheduler does), and no further than a bound.
    const COMMANDS: usize = 200;
    let commands = Arc::new(AtomicUsize::new(0));
    let resetter = {
        let (cb, stop, commands) = (cb.clone(), stop.clone(), commands.clone());
        std::thread::spawn(move || {
            let mut resets = 0u64;
            // Alternately forced open and reset, so that every command is
            // a state change and announces the period it ends.
            while !stop.load(SeqCst) && resets < 100_000 {
                commands.fetch_add(1, SeqCst);
                if resets.is_multiple_of(2) {
                    cb.force_open();
                } else {
                    cb.reset();
                }
                resets += 1;
                for _ in 0..2_000 {
                    std::hint::spin_loop();
                }
            }
        })
    };
    let workers: Vec<_> = (0..THREADS)
        .map(|seed| {
            let (cb, seen, commands) = (cb.clone(), seen.clone(), commands.clone());
            std::thread::spawn(move || {
                let mut rng = Rng((seed + 3).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
                for call in 0..CALLS * 1_000 {
                    if call >= CALLS && commands.load(SeqCst) >= COMMANDS {
                        break;
                    }
                    let Ok(permit) = cb.try_acquire() else {
                        seen.rejected.fetch_add(1, SeqCst);
                        continue;
                    };
                    seen.admitted.fetch_add(1, SeqCst);
                    match rng.next() % 10 {
                        0..=3 => {
                            permit.failure();
                            seen.failures.fetch_add(1, SeqCst);
                        }
                        4 => {
                            permit.ignore();
                            seen.ignored.fetch_add(1, SeqCst);
                        }
                        _ => {
                            permit.success();
                            seen.successes.fetch_add(1, SeqCst);
                        }
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().expect("a worker panicked");
    }
    stop.store(true, SeqCst);
    resetter.join().unwrap();

    let stats = cb.stats();
    let t = stats.totals;
    let seen_count = |n: &AtomicUsize| n.load(SeqCst) as u64;
    assert_eq!(
        t.calls,
        seen_count(&seen.admitted) + seen_count(&seen.rejected),
        "{t:?}"
    );
    assert_eq!(t.successes, seen_count(&seen.successes), "{t:?}");
    assert_eq!(t.failures, seen_count(&seen.failures), "{t:?}");
    assert_eq!(t.ignored, seen_count(&seen.ignored), "{t:?}");
    assert_eq!(t.rejected, seen_count(&seen.rejected), "{t:?}");
    assert_eq!(stats.in_flight, 0);

    let ended = ended.lock().unwrap();
    assert!(
        ended.len() > 10,
        "the run made transitions: {}",
        ended.len()
    );
    let mut sum = stats.period;
    for period in ended.iter() {
        assert!(
            period.calls <= t.calls && period.successes <= t.successes,
            "a period's count wrapped: {period:?}"
        );
        sum.calls += period.calls;
        sum.successes += period.successes;
        sum.failures += period.failures;
        sum.ignored += period.ignored;
        sum.rejected += period.rejected;
    }
    assert_eq!(sum.calls, t.calls, "calls over the periods");
    assert_eq!(sum.rejected, t.rejected, "rejections over the periods");
    // A call admitted in one period and finished in a later one is counted
    // in no period (it is stale), and in the lifetime totals.
    assert_eq!(
        sum.successes + sum.failures + sum.ignored + t.stale,
        t.successes + t.failures + t.ignored,
        "outcomes over the periods, stale ones included: {sum:?} {t:?}"
    );
}
