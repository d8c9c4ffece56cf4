//! What `Stats` says, field by field: every call asked of a breaker is
//! counted in `calls`, every call ends as exactly one outcome, and an open
//! breaker shows the period that tripped it.

use std::time::Duration;

use breakerbox::{CircuitBreaker, Config, ManualClock, Outcome, State, TripReason};

const SEC: Duration = Duration::from_secs(1);

fn breaker(name: &str, config: Config) -> (CircuitBreaker, ManualClock) {
    let clock = ManualClock::new();
    let cb = CircuitBreaker::new(name, config.clock(clock.clone())).unwrap();
    (cb, clock)
}

fn fail(cb: &CircuitBreaker) {
    let _ = cb.call(|| Err::<(), _>(()));
}

fn succeed(cb: &CircuitBreaker) {
    let _ = cb.call(|| Ok::<_, ()>(()));
}

#[test]
fn lifetime_calls_count_rejected_calls_too() {
    let (cb, _clock) = breaker("vocab-loop", Config::default().max_failures(2));
    for _ in 0..8 {
        fail(&cb);
    }
    let totals = cb.stats().totals;
    assert_eq!(totals.calls, 8, "{totals:?}");
    assert_eq!((totals.failures, totals.rejected), (2, 6), "{totals:?}");
}

#[test]
fn a_period_counts_the_calls_it_admitted_and_rejected() {
    let (cb, _clock) = breaker("vocab-period", Config::default().max_failures(1));
    fail(&cb);
    fail(&cb);
    fail(&cb);
    let period = cb.stats().period;
    // The open period: two calls asked, both rejected.
    assert_eq!((period.calls, period.rejected), (2, 2), "{period:?}");
}

/// `calls = successes + failures + ignored + cancelled + rejected +
/// in_flight`; timeouts are failures, and slow and stale calls are calls
/// that ended with an outcome.
#[test]
fn every_call_is_counted_once_in_the_lifetime_totals() {
    let (cb, clock) = breaker(
        "vocab-identity",
        Config::default()
            .max_failures(3)
            .timeout(SEC)
            .slow_call_duration(2 * SEC),
    );
    succeed(&cb);
    let _ = cb.call_with(|_| Outcome::Ignored, || Err::<(), _>(()));
    drop(cb.try_acquire().unwrap()); // cancelled
    let slow = cb.try_acquire().unwrap();
    clock.advance(2 * SEC);
    slow.success(); // slow
    let timed_out = cb.try_acquire().unwrap();
    let _ = timed_out.timed_out(SEC); // a timeout, so a failure
    let held = cb.try_acquire().unwrap(); // in flight, admitted while closed
    fail(&cb);
    fail(&cb); // the third failure in a row: open
    fail(&cb); // rejected
    clock.advance(SEC);
    held.success(); // stale: admitted before the breaker opened

    let stats = cb.stats();
    let t = stats.totals;
    assert_eq!(stats.state, State::HalfOpen);
    assert_eq!(
        (t.successes, t.failures, t.ignored, t.cancelled, t.rejected),
        (3, 3, 1, 1, 1),
        "{t:?}"
    );
    assert_eq!((t.timeouts, t.slow_calls, t.stale), (1, 1, 1), "{t:?}");
    assert_eq!(stats.in_flight, 0);
    assert_eq!(
        t.calls,
        t.successes + t.failures + t.ignored + t.cancelled + t.rejected + stats.in_flight,
        "{t:?}"
    );
    assert_eq!(t.calls, 9);
}

#[test]
fn calls_still_running_are_in_flight_and_in_calls() {
    let (cb, _clock) = breaker("vocab-in-flight", Config::default());
    let _held = cb.try_acquire().unwrap();
    succeed(&cb);
    let stats = cb.stats();
    assert_eq!((stats.totals.calls, stats.in_flight), (2, 1));
    assert_eq!((stats.period.calls, stats.period.successes), (2, 1));
}

#[test]
fn a_period_counts_its_cancelled_calls() {
    let (cb, _clock) = breaker("vocab-cancelled", Config::default());
    drop(cb.try_acquire().unwrap());
    let period = cb.stats().period;
    assert_eq!((period.calls, period.cancelled), (1, 1), "{period:?}");
}

#[test]
fn an_open_breaker_shows_the_period_that_tripped_it() {
    let (cb, _clock) = breaker(
        "vocab-tripped",
        Config::default()
            .without_max_failures()
            .failure_rate(0.8)
            .count_window(6)
            .minimum_calls(6),
    );
    succeed(&cb);
    for _ in 0..5 {
        fail(&cb);
    }
    let stats = cb.stats();
    assert_eq!(stats.state, State::Open);
    // The open period has seen nothing yet ...
    assert_eq!(stats.failure_rate, 0.0);
    // ... and the trip says why the breaker opened.
    let trip = stats.tripped_by.expect("an open breaker shows its trip");
    assert_eq!(trip.reason, TripReason::FailureRate);
    assert_eq!(trip.failure_rate, 5.0 / 6.0);
    assert_eq!(
        (
            trip.period.calls,
            trip.period.successes,
            trip.period.failures
        ),
        (6, 1, 5)
    );
}

#[test]
fn a_closed_breaker_has_no_trip() {
    let (cb, _clock) = breaker("vocab-closed", Config::default());
    fail(&cb);
    assert!(cb.stats().tripped_by.is_none());
}

#[test]
fn the_trip_names_the_policy_that_tripped() {
    let (cb, _clock) = breaker("vocab-consecutive", Config::default().max_failures(2));
    fail(&cb);
    fail(&cb);
    let trip = cb.stats().tripped_by.unwrap();
    assert_eq!(trip.reason, TripReason::ConsecutiveFailures);
    assert_eq!(trip.period.consecutive_failures, 2);
    assert_eq!(trip.failure_rate, 1.0);

    let (cb, clock) = breaker(
        "vocab-slow",
        Config::default()
            .slow_call_duration(SEC)
            .slow_call_rate(0.5)
            .count_window(2)
            .minimum_calls(2),
    );
    succeed(&cb);
    let slow = cb.try_acquire().unwrap();
    clock.advance(SEC);
    slow.success();
    let trip = cb.stats().tripped_by.unwrap();
    assert_eq!(trip.reason, TripReason::SlowCallRate);
    assert_eq!(trip.slow_call_rate, 0.5);

    let (cb, _clock) = breaker(
        "vocab-trip-when",
        Config::default()
            .without_max_failures()
            .trip_when(|period| period.failures >= 1 && period.successes >= 1),
    );
    succeed(&cb);
    fail(&cb);
    assert_eq!(cb.stats().tripped_by.unwrap().reason, TripReason::TripWhen);
}

#[test]
fn the_trip_stays_through_half_open_and_failed_probes_until_the_breaker_closes() {
    let (cb, clock) = breaker(
        "vocab-kept",
        Config::default().max_failures(2).timeout(10 * SEC),
    );
    fail(&cb);
    fail(&cb);
    let tripped = cb.stats().tripped_by.unwrap();
    clock.advance(10 * SEC);
    assert_eq!(cb.state(), State::HalfOpen);
    let trip = cb.stats().tripped_by.expect("kept while half-open");
    assert_eq!(trip.period, tripped.period);
    assert_eq!(trip.ago, 10 * SEC, "the age counts from the trip");
    fail(&cb); // the probe fails: open again
    assert_eq!(cb.state(), State::Open);
    assert_eq!(cb.stats().tripped_by.unwrap().period, tripped.period);
    clock.advance(10 * SEC);
    succeed(&cb); // the probe succeeds: closed
    assert_eq!(cb.state(), State::Closed);
    assert!(cb.stats().tripped_by.is_none());
}

#[test]
fn manual_control_has_no_trip() {
    let (cb, _clock) = breaker("vocab-manual", Config::default().max_failures(1));
    fail(&cb);
    assert!(cb.stats().tripped_by.is_some());
    cb.force_open();
    assert!(cb.stats().tripped_by.is_none());
}

#[test]
fn a_breaker_opened_by_its_fleet_says_so() {
    let (cb, _clock) = breaker("vocab-fleet", Config::default());
    fail(&cb);
    cb.apply_shared(State::Open, 5 * SEC);
    let trip = cb.stats().tripped_by.unwrap();
    assert_eq!(trip.reason, TripReason::Fleet);
    assert_eq!(trip.period.failures, 1);
}

#[test]
fn a_state_change_carries_the_period_it_ended_and_the_trip_reason() {
    use std::sync::{Arc, Mutex};
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    let (cb, _clock) = breaker(
        "vocab-listener",
        Config::default()
            .max_failures(2)
            .on_state_change(move |change| {
                log.lock()
                    .unwrap()
                    .push((change.to, change.period.failures, change.tripped_by))
            }),
    );
    fail(&cb);
    fail(&cb);
    cb.reset();
    assert_eq!(
        *seen.lock().unwrap(),
        [
            (State::Open, 2, Some(TripReason::ConsecutiveFailures)),
            (State::Closed, 0, None)
        ]
    );
}

/// A clock whose coarse reading is 3 ms behind, as the system's may be.
#[derive(Debug, Clone)]
struct LaggingClock(ManualClock);

impl breakerbox::Clock for LaggingClock {
    fn now(&self) -> Duration {
        breakerbox::Clock::now(&self.0)
    }
    fn now_coarse(&self) -> Duration {
        self.now().saturating_sub(Duration::from_millis(3))
    }
    fn coarse_lag(&self) -> Duration {
        Duration::from_millis(5)
    }
}

/// One source for the time left: what a rejection says and what the stats
/// say at the same moment agree, and neither exceeds the open period.
#[test]
fn a_rejection_and_the_stats_agree_on_the_time_left() {
    let manual = ManualClock::new();
    manual.advance(10 * SEC);
    let open_for = Duration::from_millis(200);
    let cb = CircuitBreaker::new(
        "vocab-time-left",
        Config::default()
            .max_failures(1)
            .timeout(open_for)
            .clock(LaggingClock(manual.clone())),
    )
    .unwrap();
    fail(&cb);
    for _ in 0..2 {
        let retry_after = cb.try_acquire().unwrap_err().retry_after().unwrap();
        let stats = cb.stats();
        assert_eq!(Some(retry_after), stats.time_until_half_open);
        assert!(retry_after <= open_for, "{retry_after:?}");
        manual.advance(Duration::from_millis(100));
    }
}

/// Prose says "half-open"; logs, metrics and JSON say `half_open`.
#[test]
fn a_state_reads_as_prose_and_as_a_machine_word() {
    let states = [
        (State::Closed, "closed", "closed"),
        (State::Open, "open", "open"),
        (State::HalfOpen, "half-open", "half_open"),
        (State::ForcedOpen, "forced open", "forced_open"),
        (State::Disabled, "disabled", "disabled"),
    ];
    for (state, prose, word) in states {
        assert_eq!(state.to_string(), prose);
        assert_eq!(state.as_str(), word);
    }
    assert_eq!(format!("[{:<10}]", State::HalfOpen), "[half-open ]");
}

/// `open_duration` is the current open period's length, backoff included,
/// and stays the last one's once the breaker has closed.
#[test]
fn open_duration_is_the_current_or_the_last_open_period() {
    let (cb, clock) = breaker(
        "vocab-open-duration",
        Config::default()
            .max_failures(1)
            .timeout(10 * SEC)
            .backoff_multiplier(2.0),
    );
    assert_eq!(cb.stats().open_duration, 10 * SEC, "the timeout before any");
    fail(&cb);
    assert_eq!(cb.stats().open_duration, 10 * SEC);
    clock.advance(10 * SEC);
    fail(&cb); // the probe fails: backed off
    assert_eq!(cb.stats().open_duration, 20 * SEC);
    clock.advance(20 * SEC);
    succeed(&cb); // closed
    assert_eq!(cb.state(), State::Closed);
    assert_eq!(cb.stats().open_duration, 20 * SEC, "the last open period");
    fail(&cb); // the backoff starts over
    assert_eq!(cb.stats().open_duration, 10 * SEC);
}
