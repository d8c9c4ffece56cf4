//! One breaker shared by OS threads: bounded runs whose outcome is
//! deterministic even though the interleaving is not.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use breakerbox::{CircuitBreaker, Config, Error, ManualClock, Outcome, RejectReason, State};

mod support;
use support::random::xorshift;

const THREADS: usize = 4;
const CALLS: usize = 500;

/// Runs `scenario` on its own thread, failing the test instead of hanging
/// it if the scenario deadlocks.
fn within_seconds<T: Send + 'static>(
    seconds: u64,
    scenario: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (done, finished) = mpsc::channel();
    thread::spawn(move || {
        let _ = done.send(scenario());
    });
    match finished.recv_timeout(Duration::from_secs(seconds)) {
        Ok(result) => result,
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("the scenario did not finish in {seconds} s")
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => panic!("the scenario panicked"),
    }
}

/// A gauge of calls inside the protected code, and the most it read.
#[derive(Default)]
struct Gauge {
    now: AtomicUsize,
    max: AtomicUsize,
}

impl Gauge {
    fn enter(&self) {
        let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.max.fetch_max(now, Ordering::SeqCst);
    }

    fn leave(&self) {
        self.now.fetch_sub(1, Ordering::SeqCst);
    }

    fn max(&self) -> usize {
        self.max.load(Ordering::SeqCst)
    }
}

#[test]
fn concurrent_calls_all_end_in_exactly_one_total() {
    let cb = Arc::new(
        CircuitBreaker::new("concurrent", Config::default().max_failures(1_000_000)).unwrap(),
    );
    let ran = Arc::new(AtomicUsize::new(0));
    let barrier = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|_| {
            let (cb, ran, barrier) = (Arc::clone(&cb), Arc::clone(&ran), Arc::clone(&barrier));
            thread::spawn(move || {
                barrier.wait();
                for i in 0..CALLS {
                    let permit = cb.try_acquire().expect("a closed breaker rejected a call");
                    ran.fetch_add(1, Ordering::Relaxed);
                    match i % 4 {
                        0 => permit.success(),
                        1 => permit.failure(),
                        2 => permit.ignore(),
                        _ => drop(permit),
                    }
                }
            })
        })
        .collect();
    for handle in handles {
        handle.join().unwrap();
    }
    let stats = cb.stats();
    let totals = stats.totals;
    let all = (THREADS * CALLS) as u64;
    assert_eq!(ran.load(Ordering::Relaxed) as u64, all);
    assert_eq!(totals.calls, all);
    assert_eq!(
        totals.successes + totals.failures + totals.ignored + totals.cancelled,
        all
    );
    assert_eq!(
        (
            totals.successes,
            totals.failures,
            totals.ignored,
            totals.cancelled
        ),
        (all / 4, all / 4, all / 4, all / 4)
    );
    assert_eq!(totals.rejected, 0);
    assert_eq!(totals.stale, 0);
    assert_eq!(stats.period.calls, all);
    assert_eq!(
        stats.period.successes + stats.period.failures + stats.period.ignored,
        all * 3 / 4
    );
    assert_eq!(stats.in_flight, 0);
    assert_eq!(stats.state, State::Closed);
}

#[test]
fn half_open_never_runs_more_than_half_open_max_calls_probes_at_once() {
    const SLOTS: usize = 3;
    const PROBERS: usize = 2 * SLOTS;
    let (max, stats) = within_seconds(10, || {
        let clock = ManualClock::new();
        let config = Config::default()
            .max_failures(1)
            .half_open_max_calls(SLOTS as u32)
            .clock(clock.clone());
        let cb = Arc::new(CircuitBreaker::new("probes", config).unwrap());
        let _ = cb.call(|| Err::<(), _>(()));
        clock.advance(Duration::from_secs(60));
        assert_eq!(cb.state(), State::HalfOpen);

        let gauge = Arc::new(Gauge::default());
        // Admitted probes meet in threes: the gauge must reach SLOTS and a
        // correct breaker never lets it go past.
        let inside = Arc::new(Barrier::new(SLOTS));
        let start = Arc::new(Barrier::new(PROBERS));
        let handles: Vec<_> = (0..PROBERS)
            .map(|_| {
                let (cb, gauge, inside, start) = (
                    Arc::clone(&cb),
                    Arc::clone(&gauge),
                    Arc::clone(&inside),
                    Arc::clone(&start),
                );
                thread::spawn(move || {
                    start.wait();
                    let deadline = Instant::now() + Duration::from_secs(5);
                    loop {
                        let result = cb.call_with(
                            |_| Outcome::Ignored,
                            || {
                                gauge.enter();
                                inside.wait();
                                gauge.leave();
                                Err::<(), _>(())
                            },
                        );
                        match result {
                            Err(Error::Inner(())) => return,
                            Err(Error::Rejected(r)) => {
                                assert_eq!(r.reason(), RejectReason::HalfOpenFull);
                                assert!(
                                    Instant::now() < deadline,
                                    "never admitted: a probe slot leaked"
                                );
                                thread::yield_now();
                            }
                            other => panic!("unexpected {other:?}"),
                        }
                    }
                })
            })
            .collect();
        for handle in handles {
            handle.join().unwrap();
        }
        (gauge.max(), cb.stats())
    });
    assert_eq!(max, SLOTS, "probes running at once");
    assert_eq!(
        stats.state,
        State::HalfOpen,
        "ignored probes decide nothing"
    );
    assert_eq!(stats.period.ignored, PROBERS as u64);
    assert_eq!(stats.in_flight, 0);
}

#[test]
fn bulkhead_never_runs_more_than_max_concurrent_calls() {
    const LIMIT: usize = 2;
    let (max, stats) = within_seconds(10, || {
        let config = Config::default().max_concurrent_calls(LIMIT as u32);
        let cb = Arc::new(CircuitBreaker::new("bulkhead", config).unwrap());
        let gauge = Arc::new(Gauge::default());
        let barrier = Arc::new(Barrier::new(THREADS));
        let handles: Vec<_> = (0..THREADS)
            .map(|_| {
                let (cb, gauge, barrier) = (Arc::clone(&cb), Arc::clone(&gauge), Arc::clone(&barrier));
                thread::spawn(move || {
                    barrier.wait();
                    for _ in 0..CALLS {
                        let result = cb.call(|| {
                            gauge.enter();
                            thread::yield_now();
                            gauge.leave();
                            Ok::<_, ()>(())
                        });
                        if let Err(e) = result {
                            assert!(
                                matches!(&e, Error::Rejected(r) if r.reason() == RejectReason::TooManyCalls),
                                "unexpected {e:?}"
                            );
                        }
                    }
                })
            })
            .collect();
        for handle in handles {
            handle.join().unwrap();
        }
        (gauge.max(), cb.stats())
    });
    assert!(
        max <= LIMIT,
        "{max} calls ran at once through a bulkhead of {LIMIT}"
    );
    let totals = stats.totals;
    assert_eq!(totals.calls, (THREADS * CALLS) as u64);
    assert_eq!(totals.successes, totals.calls - totals.rejected);
    assert_eq!(stats.in_flight, 0);
}

#[test]
fn running_calls_return_to_zero_after_concurrent_calls() {
    let cb = Arc::new(
        CircuitBreaker::new("running", Config::default().max_failures(1_000_000)).unwrap(),
    );
    let barrier = Arc::new(Barrier::new(THREADS + 1));
    let handles: Vec<_> = (0..THREADS)
        .map(|_| {
            let (cb, barrier) = (Arc::clone(&cb), Arc::clone(&barrier));
            thread::spawn(move || {
                let permit = cb.try_acquire().unwrap();
                // Every thread holds its permit until all have been counted.
                barrier.wait();
                barrier.wait();
                permit.success();
            })
        })
        .collect();
    barrier.wait();
    assert_eq!(cb.stats().in_flight, THREADS as u64);
    barrier.wait();
    for handle in handles {
        handle.join().unwrap();
    }
    assert_eq!(cb.stats().in_flight, 0);
}

/// Threads failing off the lock (each takes one failure of the window's
/// allowance, logged for the window's next look) while another looks at
/// the breaker, resets it and forces it open: every trip of a window that
/// was full and below its rate before the tripping call finds the window
/// at exactly the rate, 10 failures in 20, never one more (a failure the
/// allowance let through reaching the threshold unjudged); and no call is
/// lost.
#[test]
fn windowed_trips_find_exactly_the_rate_while_threads_fail_off_the_lock() {
    const WINDOW: u32 = 20;
    within_seconds(60, || {
        let cb = Arc::new(
            CircuitBreaker::new(
                "concurrency-allowance",
                Config::default()
                    .without_max_failures()
                    .failure_rate(0.5)
                    .count_window(WINDOW)
                    .minimum_calls(WINDOW)
                    .timeout(Duration::from_secs(3600)),
            )
            .unwrap(),
        );
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let calls = Arc::new(AtomicUsize::new(0));
        let workers: Vec<_> = (0..2u64)
            .map(|seed| {
                let (cb, stop, calls) = (cb.clone(), stop.clone(), calls.clone());
                thread::spawn(move || {
                    let mut next = xorshift((seed + 3).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
                    while !stop.load(Ordering::SeqCst) {
                        let Ok(permit) = cb.try_acquire() else {
                            thread::yield_now();
                            continue;
                        };
                        calls.fetch_add(1, Ordering::SeqCst);
                        // 45 % of failures: near the rate, under it.
                        if next() % 100 < 45 {
                            permit.failure();
                        } else {
                            permit.success();
                        }
                    }
                })
            })
            .collect();
        let (mut trips, mut looks) = (0, 0u64);
        let give_up = Instant::now() + Duration::from_secs(30);
        while trips < 500 && Instant::now() < give_up {
            let stats = cb.stats();
            if stats.state == State::Open {
                let trip = stats.tripped_by.expect("tripped");
                let judged = trip.period.successes + trip.period.failures;
                if judged > u64::from(WINDOW) {
                    assert_eq!(trip.failure_rate, 0.5, "{trip:?}");
                    trips += 1;
                }
                cb.reset();
            } else {
                looks += 1;
                if looks.is_multiple_of(50) {
                    cb.force_open();
                    cb.reset();
                }
            }
        }
        stop.store(true, Ordering::SeqCst);
        for worker in workers {
            worker.join().unwrap();
        }
        assert!(trips > 0, "no trip of a full window in 30 s");
        let stats = cb.stats();
        let t = stats.totals;
        assert_eq!(
            t.successes + t.failures,
            calls.load(Ordering::SeqCst) as u64
        );
        assert_eq!(stats.in_flight, 0);
    });
}

/// Calls a breaker from a thread's exit, after the thread has given its
/// counter stripe back: a thread-local registered before the thread's
/// first call is torn down after the stripe's guard.
struct CallsAtExit(Arc<CircuitBreaker>);

impl Drop for CallsAtExit {
    fn drop(&mut self) {
        for _ in 0..CALLS {
            let _ = self.0.call(|| Ok::<(), ()>(()));
        }
    }
}

thread_local! {
    static AT_EXIT: std::cell::RefCell<Option<CallsAtExit>> = const { std::cell::RefCell::new(None) };
}

#[test]
fn calls_from_exiting_threads_beside_the_stripes_next_owners_lose_no_count() {
    let cb = Arc::new(CircuitBreaker::new("exit-calls", Config::default()).unwrap());
    const ROUNDS: usize = 40;
    // A new thread starts as each older one exits, so that it claims a
    // stripe given back while the exiting thread still calls. Joined, not
    // left to a scope: a scope ends when the threads' closures return,
    // before their thread-locals are torn down.
    let mut alive = std::collections::VecDeque::new();
    for _ in 0..ROUNDS * THREADS {
        if alive.len() == THREADS {
            let oldest: thread::JoinHandle<()> = alive.pop_front().unwrap();
            oldest.join().unwrap();
        }
        let cb = Arc::clone(&cb);
        alive.push_back(thread::spawn(move || {
            AT_EXIT.with(|at_exit| *at_exit.borrow_mut() = Some(CallsAtExit(Arc::clone(&cb))));
            for _ in 0..CALLS {
                let _ = cb.call(|| Ok::<(), ()>(()));
            }
        }));
    }
    for thread in alive {
        thread.join().unwrap();
    }
    let totals = cb.stats().totals;
    let expected = (ROUNDS * THREADS * CALLS * 2) as u64;
    assert_eq!((totals.calls, totals.successes), (expected, expected));
}

/// `max_failures` beside a window, two threads that own their stripes
/// failing off the lock, with successes, ignored calls and a looking
/// thread between: round after round, a breaker still closed holds fewer
/// consecutive failures than `max_failures`, and one that tripped on them
/// tripped on the failure that reached it. (Each thread's share allows a
/// run of failures; the runs of all shares together stay under the
/// streak's threshold.)
#[test]
fn threads_failing_off_the_lock_never_take_the_streak_past_max_failures() {
    const ROUNDS: usize = 2_000;
    const WORKERS: u64 = 2;
    within_seconds(60, || {
        let current: Arc<std::sync::Mutex<Option<Arc<CircuitBreaker>>>> = Arc::default();
        // Workers, a looker, and this thread.
        let turn = Arc::new(Barrier::new(WORKERS as usize + 2));
        let threads: Vec<_> = (0..=WORKERS)
            .map(|seed| {
                let (current, turn) = (current.clone(), turn.clone());
                thread::spawn(move || {
                    let mut next = xorshift((seed + 7).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
                    for _ in 0..ROUNDS {
                        turn.wait();
                        let cb = current.lock().unwrap().clone().unwrap();
                        if seed == 0 {
                            // A judged window, far from its rate.
                            for _ in 0..20 {
                                cb.try_acquire().unwrap().success();
                            }
                        }
                        turn.wait();
                        for _ in 0..next() % 40 {
                            if seed == WORKERS {
                                let _ = cb.stats();
                                thread::yield_now();
                                continue;
                            }
                            let Ok(permit) = cb.try_acquire() else {
                                break;
                            };
                            match next() % 10 {
                                0..=5 => permit.failure(),
                                6 => permit.ignore(),
                                _ => permit.success(),
                            }
                        }
                        turn.wait();
                    }
                })
            })
            .collect();
        for round in 0..ROUNDS {
            let max_failures = 2 + round as u64 % 5;
            let cb = Arc::new(
                CircuitBreaker::new(
                    format!("streak-{round}"),
                    Config::default()
                        .max_failures(max_failures as u32)
                        .failure_rate(1.0)
                        .count_window(1_000)
                        .minimum_calls(10),
                )
                .unwrap(),
            );
            *current.lock().unwrap() = Some(cb.clone());
            turn.wait();
            turn.wait();
            turn.wait();
            // A look: it takes in every failure logged off the lock.
            let stats = cb.stats();
            match stats.tripped_by {
                None => assert!(
                    stats.period.consecutive_failures < max_failures,
                    "round {round}: {stats:?}"
                ),
                Some(trip) => assert_eq!(
                    trip.period.consecutive_failures, max_failures,
                    "round {round}: {trip:?}"
                ),
            }
        }
        for thread in threads {
            thread.join().unwrap();
        }
    });
}

/// Two threads taking turns, each turn handed over through a barrier, so
/// the calls have one order: one thread fails twice, then the other
/// succeeds once, fifty times over. No three failures are ever in a row,
/// so `max_failures(3)` never trips, in any round, whichever threads own
/// their stripes.
#[test]
fn a_thread_failing_twice_between_another_threads_successes_never_trips_max_failures_3() {
    failing_twice_between_another_threads_successes(Config::default(), 0);
}

/// The same beside a window, judged from its tenth call at a rate no
/// round reaches: the window's logs take its failures in thread by
/// thread, and the streak still follows the calls' one order.
#[test]
fn beside_a_window_a_thread_failing_twice_between_another_threads_successes_never_trips() {
    let window = Config::default()
        .failure_rate(0.99)
        .count_window(1000)
        .minimum_calls(10);
    failing_twice_between_another_threads_successes(window, 10);
}

/// Rounds of `failing_twice_between_...`: `config` with `max_failures(3)`,
/// after `warm_up` successes.
fn failing_twice_between_another_threads_successes(config: Config, warm_up: usize) {
    within_seconds(60, move || {
        for round in 0..200 {
            let cb = Arc::new(
                CircuitBreaker::new(
                    format!("turns-{round}"),
                    config.clone().max_failures(3).clock(ManualClock::new()),
                )
                .unwrap(),
            );
            for _ in 0..warm_up {
                cb.try_acquire().unwrap().success();
            }
            let turn = Arc::new(Barrier::new(2));
            let threads: Vec<_> = [false, true]
                .into_iter()
                .map(|succeeds| {
                    let (cb, turn) = (cb.clone(), turn.clone());
                    thread::spawn(move || {
                        for _ in 0..50 {
                            // A rejection (the breaker tripped) keeps the
                            // turns going, for the check below to report.
                            if !succeeds {
                                for _ in 0..2 {
                                    let _ = cb.try_acquire().map(|p| p.failure());
                                }
                            }
                            turn.wait();
                            if succeeds {
                                let _ = cb.try_acquire().map(|p| p.success());
                            }
                            turn.wait();
                        }
                    })
                })
                .collect();
            for thread in threads {
                thread.join().unwrap();
            }
            let stats = cb.stats();
            assert_eq!(stats.state, State::Closed, "round {round}: {stats:?}");
            // The last call was the other thread's success.
            let p = stats.period;
            let consecutive = (p.consecutive_failures, p.consecutive_successes);
            assert_eq!(consecutive, (0, 1), "round {round}: {p:?}");
        }
    });
}

/// Two threads taking turns at random, each call handed over through a
/// barrier, so that the calls have one order: without a window, the
/// breaker trips on the call that brings that order's streak to
/// `max_failures`, never before or after, and not at all if no streak
/// reaches it, in every round.
#[test]
fn two_threads_taking_turns_trip_max_failures_where_their_order_does() {
    taking_turns_at_random(Config::default(), 0);
}

/// The same beside a window, judged from its tenth call at a rate no
/// round reaches.
#[test]
fn beside_a_window_two_threads_taking_turns_trip_max_failures_where_their_order_does() {
    let window = Config::default()
        .failure_rate(0.99)
        .count_window(1000)
        .minimum_calls(10);
    taking_turns_at_random(window, 10);
}

/// Rounds of `two_threads_taking_turns_...`: `config`, after `warm_up`
/// successes.
fn taking_turns_at_random(config: Config, warm_up: u64) {
    within_seconds(60, move || {
        let mut next = xorshift(0x1234_5678_9ABC_DEF1);
        for round in 0..500 {
            let max_failures = 2 + next() % 5;
            // (which thread calls, whether the call fails), 65 % failures.
            let calls: Arc<Vec<(usize, bool)>> = Arc::new(
                (0..30)
                    .map(|_| ((next() % 2) as usize, next() % 100 < 65))
                    .collect(),
            );
            // The calls of the period that trips, in their one order.
            let mut streak = 0;
            let expected = calls.iter().zip(1u64..).find_map(|(&(_, failed), n)| {
                streak = if failed { streak + 1 } else { 0 };
                (streak == max_failures).then_some(n + warm_up)
            });
            let cb = Arc::new(
                CircuitBreaker::new(
                    format!("taking-turns-{round}"),
                    config
                        .clone()
                        .max_failures(max_failures as u32)
                        .clock(ManualClock::new()),
                )
                .unwrap(),
            );
            for _ in 0..warm_up {
                cb.try_acquire().unwrap().success();
            }
            let turn = Arc::new(Barrier::new(2));
            let threads: Vec<_> = (0..2)
                .map(|me| {
                    let (cb, turn, calls) = (cb.clone(), turn.clone(), calls.clone());
                    thread::spawn(move || {
                        for &(caller, failed) in calls.iter() {
                            if caller == me {
                                let _ = cb.try_acquire().map(|p| match failed {
                                    true => p.failure(),
                                    false => p.success(),
                                });
                            }
                            turn.wait();
                        }
                    })
                })
                .collect();
            for thread in threads {
                thread.join().unwrap();
            }
            let tripped_on = cb.stats().tripped_by.map(|trip| trip.period.calls);
            assert_eq!(
                tripped_on, expected,
                "round {round}, max_failures({max_failures}): {calls:?}"
            );
        }
    });
}
