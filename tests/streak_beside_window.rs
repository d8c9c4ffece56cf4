//! `max_failures` beside a rate window: the streak, the counts and the
//! transitions from one thread and from threads taking turns, with a
//! `ManualClock` so that every outcome is deterministic.

use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use breakerbox::{CircuitBreaker, Config, ManualClock, State, TripReason};

mod support;
use support::random::xorshift;

const SEC: Duration = Duration::from_secs(1);

/// The windows under test: a count window and a time window, each judged
/// from `minimum_calls` calls at a failure rate no test reaches unless it
/// means to.
fn windows() -> Vec<(&'static str, Config)> {
    vec![
        (
            "count",
            Config::default().failure_rate(0.99).count_window(1000),
        ),
        (
            "time",
            Config::default()
                .failure_rate(0.99)
                .time_window(Duration::from_secs(600)),
        ),
    ]
}

fn breaker(name: &str, config: Config) -> (CircuitBreaker, ManualClock) {
    let clock = ManualClock::new();
    let cb = CircuitBreaker::new(name, config.clock(clock.clone())).unwrap();
    (cb, clock)
}

fn run(cb: &CircuitBreaker, calls: &str) {
    for c in calls.chars() {
        let permit = cb.try_acquire().expect("admitted");
        match c {
            'F' => permit.failure(),
            'S' => permit.success(),
            _ => unreachable!(),
        }
    }
}

fn warm(cb: &CircuitBreaker, n: usize) {
    for _ in 0..n {
        cb.try_acquire().unwrap().success();
    }
}

#[test]
fn beside_a_window_the_streak_trips_on_the_max_failures_th_failure_in_a_row() {
    for (kind, window) in windows() {
        for (warm_up, minimum) in [(0, 100), (20, 10)] {
            let (cb, _clock) = breaker(kind, window.clone().minimum_calls(minimum).max_failures(3));
            warm(&cb, warm_up);
            run(&cb, "FFSFFSFF");
            let stats = cb.stats();
            assert_eq!(stats.state, State::Closed, "{kind} {warm_up}");
            assert_eq!(stats.period.consecutive_failures, 2, "{kind} {warm_up}");
            assert_eq!(stats.period.consecutive_successes, 0, "{kind} {warm_up}");
            run(&cb, "F");
            let stats = cb.stats();
            assert_eq!(stats.state, State::Open, "{kind} {warm_up}");
            let trip = stats.tripped_by.expect("tripped");
            assert_eq!(
                trip.reason,
                TripReason::ConsecutiveFailures,
                "{kind} {warm_up}"
            );
            assert_eq!(trip.period.consecutive_failures, 3, "{kind} {warm_up}");
            assert_eq!(trip.period.failures, 7, "{kind} {warm_up}");
            assert_eq!(
                trip.period.successes,
                warm_up as u64 + 2,
                "{kind} {warm_up}"
            );
        }
    }
}

#[test]
fn beside_a_window_successes_after_failures_count_as_consecutive_successes() {
    for (kind, window) in windows() {
        for (warm_up, minimum) in [(0, 100), (20, 10)] {
            let (cb, _clock) = breaker(kind, window.clone().minimum_calls(minimum).max_failures(3));
            warm(&cb, warm_up);
            run(&cb, "FFSSS");
            let stats = cb.stats();
            assert_eq!(stats.period.consecutive_failures, 0, "{kind} {warm_up}");
            assert_eq!(stats.period.consecutive_successes, 3, "{kind} {warm_up}");
            assert_eq!(
                stats.period.successes,
                warm_up as u64 + 3,
                "{kind} {warm_up}"
            );
            assert_eq!(stats.period.failures, 2, "{kind} {warm_up}");
            assert_eq!(
                stats.totals.successes,
                warm_up as u64 + 3,
                "{kind} {warm_up}"
            );
            assert_eq!(stats.totals.failures, 2, "{kind} {warm_up}");
        }
    }
}

#[test]
fn beside_a_window_a_rate_trip_keeps_the_streak_it_found() {
    for (kind, window) in windows() {
        let config = window
            .clone()
            .failure_rate(0.5)
            .minimum_calls(4)
            .max_failures(10);
        let (cb, _clock) = breaker(kind, config);
        run(&cb, "SSFSF");
        assert_eq!(cb.state(), State::Closed, "{kind}");
        run(&cb, "F");
        let stats = cb.stats();
        assert_eq!(stats.state, State::Open, "{kind}");
        let trip = stats.tripped_by.expect("tripped");
        assert_eq!(trip.reason, TripReason::FailureRate, "{kind}");
        assert_eq!(trip.period.consecutive_failures, 2, "{kind}");
        assert_eq!(trip.period.failures, 3, "{kind}");
        assert_eq!(stats.period.consecutive_failures, 0, "{kind}");
    }
}

#[test]
fn beside_a_window_a_disabled_breaker_counts_failures_in_a_row_and_never_trips() {
    for (kind, window) in windows() {
        let (cb, _clock) = breaker(kind, window.clone().minimum_calls(5).max_failures(2));
        cb.disable();
        run(&cb, "FFFFSFFFFFFF");
        let stats = cb.stats();
        assert_eq!(stats.state, State::Disabled, "{kind}");
        assert_eq!(stats.period.consecutive_failures, 7, "{kind}");
        assert_eq!(stats.period.failures, 11, "{kind}");
        assert_eq!(stats.totals.failures, 11, "{kind}");
        cb.reset();
        assert_eq!(cb.stats().period.consecutive_failures, 0, "{kind}");
        run(&cb, "F");
        assert_eq!(cb.state(), State::Closed, "{kind}");
        run(&cb, "F");
        assert_eq!(cb.state(), State::Open, "{kind}");
    }
}

#[test]
fn beside_a_window_slow_and_fast_failures_make_one_streak() {
    for (kind, window) in windows() {
        let config = window
            .clone()
            .minimum_calls(5)
            .slow_call_duration(SEC)
            .max_failures(3);
        let (cb, clock) = breaker(kind, config);
        warm(&cb, 10);
        run(&cb, "F");
        let permit = cb.try_acquire().unwrap();
        clock.advance(2 * SEC);
        permit.failure();
        assert_eq!(cb.stats().period.consecutive_failures, 2, "{kind}");
        let permit = cb.try_acquire().unwrap();
        clock.advance(2 * SEC);
        permit.success();
        assert_eq!(cb.stats().period.consecutive_failures, 0, "{kind}");
        run(&cb, "FF");
        assert_eq!(cb.state(), State::Closed, "{kind}");
        run(&cb, "F");
        assert_eq!(cb.state(), State::Open, "{kind}");
    }
}

#[test]
fn beside_a_window_a_half_open_breaker_that_closes_counts_a_fresh_streak() {
    for (kind, window) in windows() {
        let config = window
            .clone()
            .minimum_calls(5)
            .max_failures(2)
            .timeout(SEC)
            .success_threshold(1);
        let (cb, clock) = breaker(kind, config);
        run(&cb, "FF");
        assert_eq!(cb.state(), State::Open, "{kind}");
        clock.advance(2 * SEC);
        run(&cb, "S");
        assert_eq!(cb.state(), State::Closed, "{kind}");
        assert_eq!(cb.stats().period.consecutive_failures, 0, "{kind}");
        run(&cb, "F");
        assert_eq!(cb.state(), State::Closed, "{kind}");
        run(&cb, "F");
        assert_eq!(cb.state(), State::Open, "{kind}");
        clock.advance(2 * SEC);
        run(&cb, "F");
        assert_eq!(cb.state(), State::Open, "{kind}: a failed probe");
    }
}

#[test]
fn beside_a_window_clearing_the_interval_ends_the_streak() {
    for (kind, window) in windows() {
        let config = window
            .clone()
            .minimum_calls(5)
            .max_failures(3)
            .interval(10 * SEC);
        let (cb, clock) = breaker(kind, config);
        warm(&cb, 10);
        run(&cb, "FF");
        clock.advance(11 * SEC);
        run(&cb, "F");
        let stats = cb.stats();
        assert_eq!(stats.state, State::Closed, "{kind}");
        assert_eq!(stats.period.consecutive_failures, 1, "{kind}");
        run(&cb, "FF");
        assert_eq!(cb.state(), State::Open, "{kind}");
    }
}

/// Two threads take turns (a barrier between calls): `calls` in one order.
fn taking_turns(cb: &Arc<CircuitBreaker>, calls: &[(usize, char)]) {
    let calls: Arc<Vec<(usize, char)>> = Arc::new(calls.to_vec());
    let turn = Arc::new(Barrier::new(2));
    let threads: Vec<_> = (0..2)
        .map(|me| {
            let (cb, turn, calls) = (cb.clone(), turn.clone(), calls.clone());
            thread::spawn(move || {
                for &(caller, c) in calls.iter() {
                    if caller == me {
                        run(&cb, &c.to_string());
                    }
                    turn.wait();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

#[test]
fn beside_a_window_threads_taking_turns_count_consecutive_successes_in_their_order() {
    for (kind, window) in windows() {
        for (warm_up, minimum) in [(0, 100), (20, 10)] {
            let config = window.clone().minimum_calls(minimum).max_failures(5);
            let (cb, _clock) = breaker(kind, config);
            let cb = Arc::new(cb);
            warm(&cb, warm_up);
            taking_turns(&cb, &[(0, 'F'), (1, 'F'), (0, 'S'), (1, 'S'), (0, 'S')]);
            let stats = cb.stats();
            assert_eq!(stats.period.consecutive_failures, 0, "{kind} {warm_up}");
            assert_eq!(stats.period.consecutive_successes, 3, "{kind} {warm_up}");
            taking_turns(&cb, &[(1, 'F'), (0, 'F'), (1, 'F')]);
            let stats = cb.stats();
            assert_eq!(stats.period.consecutive_failures, 3, "{kind} {warm_up}");
            assert_eq!(stats.period.consecutive_successes, 0, "{kind} {warm_up}");
            taking_turns(&cb, &[(0, 'S'), (1, 'F'), (0, 'S'), (1, 'S')]);
            let stats = cb.stats();
            assert_eq!(stats.period.consecutive_failures, 0, "{kind} {warm_up}");
            assert_eq!(stats.period.consecutive_successes, 2, "{kind} {warm_up}");
            assert_eq!(stats.period.failures, 6, "{kind} {warm_up}");
            assert_eq!(
                stats.period.successes,
                warm_up as u64 + 6,
                "{kind} {warm_up}"
            );
            assert_eq!(stats.state, State::Closed, "{kind} {warm_up}");
        }
    }
}

#[test]
fn beside_a_judged_window_a_long_run_of_failures_trips_on_the_max_failures_th() {
    for (kind, window) in windows() {
        for max in [2u32, 7, 50, 99] {
            let config = window
                .clone()
                .failure_rate(0.5)
                .minimum_calls(10)
                .max_failures(max);
            let (cb, _clock) = breaker(kind, config);
            warm(&cb, 100);
            let _ = cb.stats();
            for n in 1..max {
                run(&cb, "F");
                assert_eq!(cb.state(), State::Closed, "{kind} {max}: failure {n}");
            }
            assert_eq!(
                cb.stats().period.consecutive_failures,
                u64::from(max) - 1,
                "{kind} {max}"
            );
            run(&cb, "F");
            let stats = cb.stats();
            assert_eq!(stats.state, State::Open, "{kind} {max}");
            let trip = stats.tripped_by.expect("tripped");
            assert_eq!(trip.reason, TripReason::ConsecutiveFailures, "{kind} {max}");
            assert_eq!(
                trip.period.consecutive_failures,
                u64::from(max),
                "{kind} {max}"
            );
            assert_eq!(trip.period.failures, u64::from(max), "{kind} {max}");
            assert_eq!(trip.period.successes, 100, "{kind} {max}");
        }
    }
}

#[test]
fn beside_a_judged_window_a_long_run_of_failures_trips_on_the_rate_first() {
    for (kind, window) in windows() {
        let config = window
            .clone()
            .failure_rate(0.5)
            .minimum_calls(10)
            .max_failures(1000);
        let (cb, _clock) = breaker(kind, config);
        warm(&cb, 100);
        let _ = cb.stats();
        for n in 1..100 {
            run(&cb, "F");
            assert_eq!(cb.state(), State::Closed, "{kind}: failure {n}");
        }
        run(&cb, "F");
        let stats = cb.stats();
        assert_eq!(stats.state, State::Open, "{kind}");
        let trip = stats.tripped_by.expect("tripped");
        assert_eq!(trip.reason, TripReason::FailureRate, "{kind}");
        assert_eq!(trip.period.consecutive_failures, 100, "{kind}");
        assert_eq!(trip.period.failures, 100, "{kind}");
        assert_eq!(stats.totals.failures, 100, "{kind}");
    }
}

/// Threads taking turns at random: after every round, the consecutive
/// failures and successes are those of the calls' one order, in both
/// windows, judged or not, with `max_failures` too high to trip.
#[test]
fn beside_a_window_threads_taking_turns_at_random_count_the_streaks_of_their_order() {
    let mut next = xorshift(0x9E37_79B9_7F4A_7C15);
    for round in 0..300 {
        let (kind, window) = windows().swap_remove((next() % 2) as usize);
        let (warm_up, minimum) = [(0, 100), (20, 10)][(next() % 2) as usize];
        let len = 1 + next() % 20;
        let calls: Vec<(usize, char)> = (0..len)
            .map(|_| {
                let c = if next() % 100 < 60 { 'F' } else { 'S' };
                ((next() % 2) as usize, c)
            })
            .collect();
        let (mut failures, mut successes) = (0u64, warm_up as u64);
        for &(_, c) in &calls {
            if c == 'F' {
                failures += 1;
                successes = 0;
            } else {
                failures = 0;
                successes += 1;
            }
        }
        let config = window.clone().minimum_calls(minimum).max_failures(1000);
        let (cb, _clock) = breaker(kind, config);
        let cb = Arc::new(cb);
        warm(&cb, warm_up);
        taking_turns(&cb, &calls);
        let stats = cb.stats();
        let got = (
            stats.period.consecutive_failures,
            stats.period.consecutive_successes,
        );
        assert_eq!(
            got,
            (failures, successes),
            "round {round} {kind} warm {warm_up}: {calls:?}"
        );
    }
}

/// The same in a time window whose clock moves on between calls (the
/// lane of lock-free successes opens, closes and moves bucket to bucket).
#[test]
fn beside_a_moving_time_window_threads_taking_turns_count_the_streaks_of_their_order() {
    let mut next = xorshift(0x2545_F491_4F6C_DD1D);
    for round in 0..300 {
        let len = 1 + next() % 24;
        // (thread, outcome, milliseconds the clock moves on before it)
        let calls: Arc<Vec<(usize, char, u64)>> = Arc::new(
            (0..len)
                .map(|_| {
                    let c = if next() % 100 < 60 { 'F' } else { 'S' };
                    (
                        (next() % 2) as usize,
                        c,
                        [0, 0, 1, 300, 1500][(next() % 5) as usize],
                    )
                })
                .collect(),
        );
        let (mut failures, mut successes) = (0u64, 30u64);
        for &(_, c, _) in calls.iter() {
            if c == 'F' {
                failures += 1;
                successes = 0;
            } else {
                failures = 0;
                successes += 1;
            }
        }
        let config = Config::default()
            .failure_rate(0.99)
            .time_window(Duration::from_secs(5))
            .time_window_buckets(5)
            .minimum_calls(3)
            .max_failures(1000);
        let (cb, clock) = breaker("moving", config);
        let cb = Arc::new(cb);
        warm(&cb, 30);
        let turn = Arc::new(Barrier::new(2));
        let threads: Vec<_> = (0..2)
            .map(|me| {
                let (cb, turn, calls, clock) =
                    (cb.clone(), turn.clone(), calls.clone(), clock.clone());
                thread::spawn(move || {
                    for &(caller, c, ms) in calls.iter() {
                        if caller == me {
                            clock.advance(Duration::from_millis(ms));
                            // Refused once a rate trips the breaker.
                            let _ = cb.try_acquire().map(|p| match c {
                                'F' => p.failure(),
                                _ => p.success(),
                            });
                        }
                        turn.wait();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let stats = cb.stats();
        if stats.state != State::Closed {
            continue;
        }
        let got = (
            stats.period.consecutive_failures,
            stats.period.consecutive_successes,
        );
        assert_eq!(got, (failures, successes), "round {round}: {calls:?}");
    }
}
