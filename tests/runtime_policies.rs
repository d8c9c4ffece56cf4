//! The trip policies: consecutive failures, failure rate over a count or a
//! time window, slow calls, a custom predicate, and their combination.

use std::time::Duration;

use breakerbox::{CircuitBreaker, Config, ManualClock, Outcome, State};

const SEC: Duration = Duration::from_secs(1);

fn breaker(config: Config) -> (CircuitBreaker, ManualClock) {
    let clock = ManualClock::new();
    let cb = CircuitBreaker::new("policies", config.clock(clock.clone())).unwrap();
    (cb, clock)
}

/// Records one call: `'F'` a failure, `'S'` a success, `'I'` ignored.
fn record(cb: &CircuitBreaker, calls: &str) {
    for call in calls.chars() {
        let permit = cb
            .try_acquire()
            .unwrap_or_else(|r| panic!("call {call:?} of {calls:?} rejected: {r}"));
        match call {
            'F' => permit.failure(),
            'S' => permit.success(),
            'I' => permit.ignore(),
            other => panic!("unknown call {other:?}"),
        }
    }
}

/// Records a call that lasted `took`.
fn timed(cb: &CircuitBreaker, clock: &ManualClock, took: Duration, outcome: Outcome) {
    let permit = cb.try_acquire().unwrap();
    clock.advance(took);
    permit.record(outcome);
}

/// A breaker that trips at `rate` of the last `window` calls, judged from
/// `minimum` calls, and holds `minimum` successes: judged, and closed.
fn judged_count_window(rate: f64, window: u32, minimum: u32) -> CircuitBreaker {
    let (cb, _) = breaker(
        rate_only()
            .failure_rate(rate)
            .count_window(window)
            .minimum_calls(minimum),
    );
    record(&cb, &"S".repeat(minimum as usize));
    cb
}

/// A time window of 10 s in 1 s buckets, at 50 % from 4 calls, holding ten
/// successes made at 0.5 s.
fn ten_successes_in_the_first_second() -> (CircuitBreaker, ManualClock) {
    let (cb, clock) = breaker(
        rate_only()
            .failure_rate(0.5)
            .time_window(10 * SEC)
            .time_window_buckets(10)
            .minimum_calls(4),
    );
    clock.advance(SEC / 2);
    record(&cb, &"S".repeat(10));
    (cb, clock)
}

/// A failure-rate breaker that does not trip on consecutive failures.
fn rate_only() -> Config {
    Config::default().without_max_failures()
}

// ----- count window -----------------------------------------------------------

#[test]
fn failure_rate_is_not_judged_below_minimum_calls() {
    let (cb, _clock) = breaker(
        rate_only()
            .failure_rate(0.5)
            .count_window(10)
            .minimum_calls(4),
    );
    record(&cb, "FFF");
    assert_eq!(cb.state(), State::Closed);
}

#[test]
fn failure_rate_trips_once_minimum_calls_are_in_the_window() {
    let (cb, _clock) = breaker(
        rate_only()
            .failure_rate(0.5)
            .count_window(10)
            .minimum_calls(4),
    );
    record(&cb, "FFFS");
    assert_eq!(cb.state(), State::Open);
}

#[test]
fn failure_rate_trips_at_exactly_the_rate() {
    let (cb, _clock) = breaker(
        rate_only()
            .failure_rate(0.5)
            .count_window(10)
            .minimum_calls(4),
    );
    record(&cb, "SFS");
    assert_eq!(cb.state(), State::Closed);
    record(&cb, "F");
    assert_eq!(
        cb.state(),
        State::Open,
        "2 failures of 4 calls is a rate of 0.5"
    );
}

#[test]
fn failure_rate_below_the_threshold_does_not_trip() {
    let (cb, _clock) = breaker(
        rate_only()
            .failure_rate(0.5)
            .count_window(10)
            .minimum_calls(4),
    );
    record(&cb, "SSSFSSFSSF");
    assert_eq!(cb.state(), State::Closed);
    assert!((cb.stats().failure_rate - 0.3).abs() < 1e-9);
}

#[test]
fn count_window_smaller_than_minimum_calls_judges_once_full() {
    let (cb, _clock) = breaker(
        rate_only()
            .failure_rate(0.5)
            .count_window(4)
            .minimum_calls(10),
    );
    record(&cb, "FSF");
    assert_eq!(
        cb.state(),
        State::Closed,
        "judged before the window was full"
    );
    record(&cb, "S");
    assert_eq!(cb.state(), State::Open);
}

#[test]
fn count_window_forgets_its_oldest_call() {
    let (cb, _clock) = breaker(
        rate_only()
            .failure_rate(1.0)
            .count_window(2)
            .minimum_calls(2),
    );
    record(&cb, "FS");
    assert!((cb.stats().failure_rate - 0.5).abs() < 1e-9);
    record(&cb, "S");
    assert_eq!(cb.stats().failure_rate, 0.0);
}

#[test]
fn ignored_calls_do_not_enter_the_window() {
    let (cb, _clock) = breaker(
        rate_only()
            .failure_rate(0.5)
            .count_window(10)
            .minimum_calls(2),
    );
    record(&cb, "SIIIIIF");
    assert_eq!(cb.state(), State::Open, "1 failure of 2 judged calls");
}

#[test]
fn a_rate_without_a_window_judges_the_last_100_calls() {
    let (cb, _clock) = breaker(rate_only().failure_rate(1.0).minimum_calls(1000));
    record(&cb, &"F".repeat(99));
    assert_eq!(cb.state(), State::Closed);
    record(&cb, "F");
    assert_eq!(
        cb.state(),
        State::Open,
        "a full default window of 100 calls is judged"
    );
}

#[test]
fn minimum_calls_defaults_to_ten() {
    let (cb, _clock) = breaker(rate_only().failure_rate(0.5));
    record(&cb, &"F".repeat(9));
    assert_eq!(cb.state(), State::Closed);
    record(&cb, "F");
    assert_eq!(cb.state(), State::Open);
}

// ----- time window ------------------------------------------------------------

#[test]
fn time_window_failure_rate_trips_within_the_window() {
    let (cb, clock) = breaker(
        rate_only()
            .failure_rate(0.5)
            .time_window(10 * SEC)
            .minimum_calls(4),
    );
    record(&cb, "FFF");
    clock.advance(5 * SEC);
    record(&cb, "S");
    assert_eq!(cb.state(), State::Open);
}

#[test]
fn time_window_forgets_calls_older_than_its_span() {
    let (cb, clock) = breaker(
        rate_only()
            .failure_rate(0.5)
            .time_window(10 * SEC)
            .minimum_calls(4),
    );
    record(&cb, "FFF");
    clock.advance(10 * SEC);
    assert_eq!(cb.stats().failure_rate, 0.0, "the failures have slid out");
    record(&cb, "S");
    assert_eq!(
        cb.state(),
        State::Closed,
        "old failures were judged with a new success"
    );
}

#[test]
fn time_window_slides_by_span_over_buckets() {
    // 10 buckets of 1 s: a failure at 5.5 s lives in [5 s, 6 s) and leaves
    // the window when it starts at 6 s, i.e. at 15 s.
    let (cb, clock) = breaker(
        rate_only()
            .failure_rate(1.0)
            .time_window(10 * SEC)
            .time_window_buckets(10)
            .minimum_calls(100),
    );
    clock.advance(Duration::from_millis(5_500));
    record(&cb, "F");
    clock.set(Duration::from_millis(14_999));
    assert_eq!(cb.stats().failure_rate, 1.0);
    clock.set(15 * SEC);
    assert_eq!(cb.stats().failure_rate, 0.0);
}

#[test]
fn time_window_has_ten_buckets_by_default() {
    let (cb, clock) = breaker(
        rate_only()
            .failure_rate(1.0)
            .time_window(10 * SEC)
            .minimum_calls(100),
    );
    clock.advance(Duration::from_millis(5_500));
    record(&cb, "F");
    clock.set(Duration::from_millis(14_999));
    assert_eq!(cb.stats().failure_rate, 1.0);
    clock.set(15 * SEC);
    assert_eq!(cb.stats().failure_rate, 0.0);
}

// ----- slow calls ---------------------------------------------------------------

#[test]
fn slow_calls_are_counted() {
    let (cb, clock) = breaker(Config::default().slow_call_duration(SEC));
    timed(&cb, &clock, SEC, Outcome::Success);
    timed(
        &cb,
        &clock,
        SEC - Duration::from_millis(1),
        Outcome::Success,
    );
    timed(&cb, &clock, 2 * SEC, Outcome::Failure);
    let stats = cb.stats();
    assert_eq!(stats.period.slow_calls, 2);
    assert_eq!(stats.totals.slow_calls, 2);
    assert!((stats.slow_call_rate - 2.0 / 3.0).abs() < 1e-9);
    assert_eq!(
        stats.state,
        State::Closed,
        "slowness alone trips nothing without slow_call_rate"
    );
}

#[test]
fn slow_call_rate_trips_on_slow_successes() {
    let (cb, clock) = breaker(
        rate_only()
            .slow_call_duration(SEC)
            .slow_call_rate(0.5)
            .count_window(10)
            .minimum_calls(4),
    );
    timed(&cb, &clock, Duration::ZERO, Outcome::Success);
    timed(&cb, &clock, 2 * SEC, Outcome::Success);
    timed(&cb, &clock, Duration::ZERO, Outcome::Success);
    assert_eq!(cb.state(), State::Closed);
    timed(&cb, &clock, 2 * SEC, Outcome::Success);
    assert_eq!(cb.state(), State::Open);
}

#[test]
fn a_slow_probe_reopens_when_slow_call_rate_is_configured() {
    let (cb, clock) = breaker(
        Config::default()
            .max_failures(1)
            .slow_call_duration(SEC)
            .slow_call_rate(0.5),
    );
    record(&cb, "F");
    clock.advance(60 * SEC);
    timed(&cb, &clock, 2 * SEC, Outcome::Success);
    assert_eq!(cb.state(), State::Open);
}

#[test]
fn a_slow_probe_closes_when_only_slow_call_duration_is_configured() {
    let (cb, clock) = breaker(Config::default().max_failures(1).slow_call_duration(SEC));
    record(&cb, "F");
    clock.advance(60 * SEC);
    timed(&cb, &clock, 2 * SEC, Outcome::Success);
    assert_eq!(cb.state(), State::Closed);
}

// ----- combinations and custom policies -----------------------------------------

#[test]
fn consecutive_failures_trip_although_a_rate_policy_has_too_few_calls() {
    let (cb, _clock) = breaker(
        Config::default()
            .max_failures(3)
            .failure_rate(0.9)
            .count_window(20)
            .minimum_calls(20),
    );
    record(&cb, "FFF");
    assert_eq!(cb.state(), State::Open);
}

#[test]
fn failure_rate_trips_although_failures_are_never_consecutive() {
    let (cb, _clock) = breaker(
        Config::default()
            .max_failures(3)
            .failure_rate(0.5)
            .count_window(10)
            .minimum_calls(10),
    );
    record(&cb, "FSFSFSFSF");
    assert_eq!(cb.state(), State::Closed);
    record(&cb, "S");
    assert_eq!(cb.state(), State::Open);
}

#[test]
fn slow_call_rate_trips_although_the_failure_rate_is_low() {
    let (cb, clock) = breaker(
        rate_only()
            .failure_rate(0.5)
            .slow_call_duration(SEC)
            .slow_call_rate(1.0)
            .minimum_calls(2),
    );
    timed(&cb, &clock, 2 * SEC, Outcome::Success);
    timed(&cb, &clock, 2 * SEC, Outcome::Success);
    assert_eq!(cb.state(), State::Open);
}

#[test]
fn trip_when_trips_when_the_predicate_holds() {
    let (cb, _clock) = breaker(rate_only().trip_when(|counts| counts.successes >= 3));
    record(&cb, "SS");
    assert_eq!(cb.state(), State::Closed);
    record(&cb, "S");
    assert_eq!(cb.state(), State::Open);
}

#[test]
fn trip_when_is_not_judged_after_an_ignored_call() {
    let (cb, _clock) = breaker(rate_only().trip_when(|counts| counts.ignored >= 1));
    record(&cb, "I");
    assert_eq!(cb.state(), State::Closed);
    record(&cb, "S");
    assert_eq!(
        cb.state(),
        State::Open,
        "the predicate sees the ignored call's count"
    );
}

#[test]
fn trip_when_combines_with_max_failures() {
    let (cb, _clock) = breaker(Config::default().max_failures(2).trip_when(|_| false));
    record(&cb, "FF");
    assert_eq!(cb.state(), State::Open);
}

#[test]
fn without_max_failures_consecutive_failures_never_trip() {
    let (cb, _clock) = breaker(rate_only());
    record(&cb, &"F".repeat(50));
    let stats = cb.stats();
    assert_eq!(stats.state, State::Closed);
    assert_eq!(stats.period.consecutive_failures, 50);
}

/// A clock whose precise reading races ahead (ten seconds a reading) while
/// its coarse reading stands still: it tells which reading a policy used.
#[derive(Debug, Default)]
struct RacingClock {
    readings: std::sync::atomic::AtomicU64,
}

impl breakerbox::Clock for RacingClock {
    fn now(&self) -> std::time::Duration {
        let n = self
            .readings
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        std::time::Duration::from_secs(10 * n)
    }

    fn now_coarse(&self) -> std::time::Duration {
        std::time::Duration::ZERO
    }
}

/// Slow-call thresholds are milliseconds to seconds: a call is timed with
/// the clock's coarse reading (one atomic load for the system clock), not
/// its precise one.
#[test]
fn slow_calls_are_timed_with_the_coarse_clock() {
    let cb = CircuitBreaker::new(
        "slow-coarse",
        Config::default()
            .slow_call_duration(std::time::Duration::from_secs(1))
            .clock(RacingClock::default()),
    )
    .unwrap();
    for _ in 0..3 {
        let _ = cb.call(|| Ok::<_, ()>(()));
    }
    assert_eq!(cb.stats().totals.slow_calls, 0);
}

/// Calls admitted without the lock under a slow-call policy, racing trips
/// and half-open probes from four threads: every call asked is counted
/// once, and no call is slow that was not admitted.
#[test]
fn slow_call_policy_counts_every_call_once_under_concurrent_trips() {
    let clock = ManualClock::new();
    let cb = std::sync::Arc::new(
        CircuitBreaker::new(
            "slow-race",
            Config::default()
                .slow_call_duration(Duration::from_millis(10))
                .slow_call_rate(0.5)
                .count_window(8)
                .minimum_calls(4)
                .timeout(Duration::from_millis(30))
                .clock(clock.clone()),
        )
        .unwrap(),
    );
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let (cb, clock) = (cb.clone(), clock.clone());
            std::thread::spawn(move || {
                for i in 0..2_000u32 {
                    let _ = cb.call(|| {
                        if (i + t) % 3 == 0 {
                            clock.advance(Duration::from_millis(10));
                        }
                        if i % 5 == 0 {
                            Err(())
                        } else {
                            Ok(())
                        }
                    });
                    if i % 7 == 0 {
                        drop(cb.try_acquire());
                    }
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    let stats = cb.stats();
    let t = stats.totals;
    assert_eq!(stats.in_flight, 0);
    assert_eq!(
        t.calls,
        t.successes + t.failures + t.ignored + t.cancelled + t.rejected,
        "{t:?}"
    );
    assert_eq!(t.calls, 4 * (2_000 + 2_000 / 7 + 1), "{t:?}");
    assert!(t.slow_calls <= t.successes + t.failures, "{t:?}");
    assert!(t.slow_calls > 0, "{t:?}");
    assert!(t.rejected > 0, "it never tripped: {t:?}");
}

// ----- windows recorded off the lock -----------------------------------------
//
// A window that holds `minimum_calls` calls counts a success in the calling
// thread's stripe alone and takes it in at its next look; every other
// ending of a window is judged in a short locked section. These pin what
// that must not change.

#[test]
fn the_success_that_brings_a_count_window_to_its_minimum_calls_trips_it() {
    let (cb, _) = breaker(
        rate_only()
            .failure_rate(0.5)
            .count_window(10)
            .minimum_calls(4),
    );
    record(&cb, "FFS");
    assert_eq!(cb.state(), State::Closed, "3 calls: below minimum_calls");
    record(&cb, "S");
    assert_eq!(cb.state(), State::Open, "2 failures in 4 calls: 50 %");
}

#[test]
fn successes_counted_off_the_lock_leave_a_time_window_with_their_bucket() {
    let (cb, clock) = ten_successes_in_the_first_second();
    // Their bucket, [0 s, 1 s), has slid out at 10.5 s: four failures are
    // then the whole window.
    clock.advance(10 * SEC);
    record(&cb, "FFF");
    assert_eq!(cb.state(), State::Closed, "3 calls: below minimum_calls");
    record(&cb, "F");
    assert_eq!(cb.state(), State::Open);
}

#[test]
fn successes_taken_in_late_go_into_the_bucket_they_were_made_in() {
    let (cb, clock) = breaker(
        rate_only()
            .failure_rate(0.9)
            .time_window(10 * SEC)
            .time_window_buckets(10)
            .minimum_calls(1),
    );
    clock.advance(SEC / 2);
    record(&cb, &"S".repeat(10));
    clock.advance(SEC);
    // The failure's look takes the ten successes in: into [0 s, 1 s).
    record(&cb, "F");
    assert!((cb.stats().failure_rate - 1.0 / 11.0).abs() < 1e-9);
    // At 10.2 s that bucket is gone and the failure is all that is left.
    clock.set(Duration::from_millis(10_200));
    assert_eq!(cb.stats().failure_rate, 1.0);
}

#[test]
fn a_success_counted_off_the_lock_ends_a_windows_failure_streak() {
    let (cb, _) = breaker(
        rate_only()
            .failure_rate(0.9)
            .count_window(10)
            .minimum_calls(1),
    );
    record(&cb, "SFF");
    assert_eq!(cb.stats().period.consecutive_failures, 2);
    record(&cb, "SS");
    let period = cb.stats().period;
    assert_eq!(period.consecutive_failures, 0);
    assert_eq!(period.consecutive_successes, 2);
    assert_eq!((period.successes, period.failures), (3, 2));
}

#[test]
fn max_failures_beside_a_window_trips_on_the_streak_of_failures_off_the_lock() {
    let (cb, _) = breaker(
        Config::default()
            .max_failures(3)
            .failure_rate(0.9)
            .count_window(100)
            .minimum_calls(1),
    );
    record(&cb, "SSSSFFSFF");
    assert_eq!(cb.state(), State::Closed, "never 3 in a row");
    record(&cb, "F");
    assert_eq!(cb.state(), State::Open);
    assert_eq!(
        cb.stats().tripped_by.unwrap().reason,
        breakerbox::TripReason::ConsecutiveFailures
    );
}

#[test]
fn a_slow_success_of_a_window_that_judges_lock_free_is_still_counted_slow() {
    let (cb, clock) = breaker(
        rate_only()
            .slow_call_duration(SEC)
            .slow_call_rate(0.5)
            .count_window(4)
            .minimum_calls(2),
    );
    record(&cb, "SS");
    timed(&cb, &clock, 2 * SEC, Outcome::Success);
    assert_eq!(cb.state(), State::Closed, "1 slow call in 3");
    assert_eq!(cb.stats().totals.slow_calls, 1);
    timed(&cb, &clock, 2 * SEC, Outcome::Success);
    assert_eq!(cb.state(), State::Open, "2 slow calls in 4");
}

#[test]
fn a_disabled_windowed_breaker_counts_every_ending_and_never_trips() {
    let (cb, _) = breaker(
        rate_only()
            .failure_rate(0.5)
            .count_window(4)
            .minimum_calls(1),
    );
    cb.disable();
    record(&cb, "SFFFFS");
    let stats = cb.stats();
    assert_eq!(stats.state, State::Disabled);
    assert_eq!((stats.totals.successes, stats.totals.failures), (2, 4));
    assert_eq!(stats.period.consecutive_successes, 1);
}

#[test]
fn successes_after_the_clock_is_set_back_stay_in_the_time_window() {
    let (cb, clock) = breaker(
        rate_only()
            .failure_rate(0.5)
            .time_window(10 * SEC)
            .time_window_buckets(10)
            .minimum_calls(2),
    );
    clock.set(Duration::from_millis(100_500));
    // Two calls open the lane to the end of the bucket [100 s, 101 s).
    record(&cb, "SSSS");
    clock.set(SEC);
    // The window at 1 s holds none of the calls of 100 s: these three
    // successes and two failures are all it holds.
    record(&cb, "SSSFF");
    assert_eq!(cb.state(), State::Closed, "2 failures in 5 calls");
    assert!((cb.stats().failure_rate - 0.4).abs() < 1e-9);
}

/// A clock whose coarse reading, on a thread that asks for it, is taken and
/// then held until the test lets it go: a thread descheduled between
/// reading the clock and recording its call.
#[derive(Debug, Clone)]
struct HeldCoarseClock {
    inner: ManualClock,
    read: std::sync::Arc<std::sync::Barrier>,
}

thread_local! {
    static HOLD_NEXT_COARSE_READING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

impl breakerbox::Clock for HeldCoarseClock {
    fn now(&self) -> Duration {
        self.inner.now()
    }

    fn now_coarse(&self) -> Duration {
        let at = self.inner.now();
        if HOLD_NEXT_COARSE_READING.with(|hold| hold.replace(false)) {
            self.read.wait();
            self.read.wait();
        }
        at
    }
}

#[test]
fn a_windows_failure_read_before_a_bucket_ended_keeps_the_newer_buckets_calls() {
    let inner = ManualClock::new();
    let clock = HeldCoarseClock {
        inner: inner.clone(),
        read: std::sync::Arc::new(std::sync::Barrier::new(2)),
    };
    let cb = CircuitBreaker::new(
        "policies",
        rate_only()
            .failure_rate(0.6)
            .time_window(10 * SEC)
            .time_window_buckets(10)
            .minimum_calls(2)
            .clock(clock.clone()),
    )
    .unwrap();
    inner.set(SEC / 2);
    record(&cb, "SS");
    std::thread::scope(|scope| {
        let late = scope.spawn(|| {
            let permit = cb.try_acquire().unwrap();
            HOLD_NEXT_COARSE_READING.with(|hold| hold.set(true));
            // Reads 0.5 s, then waits while the next bucket fills.
            permit.failure();
        });
        clock.read.wait();
        inner.set(SEC + SEC / 2);
        record(&cb, "FF");
        assert_eq!(cb.state(), State::Closed, "2 failures in 4 calls");
        clock.read.wait();
        late.join().unwrap();
    });
    // 3 failures in 5 calls, whichever bucket the late one lands in.
    assert_eq!(cb.state(), State::Open);
}

/// A clock whose coarse reading panics: the breaker falls back on the
/// precise one.
#[derive(Debug, Clone)]
struct PanickingCoarseClock(ManualClock);

impl breakerbox::Clock for PanickingCoarseClock {
    fn now(&self) -> Duration {
        self.0.now()
    }

    fn now_coarse(&self) -> Duration {
        panic!("now_coarse")
    }
}

#[test]
fn a_time_window_trips_on_the_crossing_call_when_the_coarse_clock_panics() {
    let inner = ManualClock::new();
    let cb = CircuitBreaker::new(
        "policies",
        rate_only()
            .failure_rate(0.5)
            .time_window(10 * SEC)
            .minimum_calls(4)
            .slow_call_duration(SEC)
            .clock(PanickingCoarseClock(inner.clone())),
    )
    .unwrap();
    inner.set(SEC / 2);
    record(&cb, "SSSSFFF");
    assert_eq!(cb.state(), State::Closed, "3 failures in 7 calls");
    inner.advance(SEC);
    record(&cb, "F");
    assert_eq!(cb.state(), State::Open, "4 failures in 8 calls");
    let t = cb.stats().totals;
    assert_eq!((t.successes, t.failures, t.slow_calls), (4, 4, 0));
}

#[test]
fn short_lived_threads_outnumbering_the_stripes_lose_no_count() {
    let (cb, _) = breaker(
        rate_only()
            .failure_rate(0.9)
            .count_window(10)
            .minimum_calls(1),
    );
    let cb = &cb;
    for _ in 0..8 {
        std::thread::scope(|scope| {
            for _ in 0..16 {
                scope.spawn(move || record(cb, &"S".repeat(50)));
            }
        });
    }
    let stats = cb.stats();
    assert_eq!(stats.totals.successes, 8 * 16 * 50);
    assert_eq!(stats.totals.calls, 8 * 16 * 50);
    assert_eq!(stats.period.consecutive_successes, 8 * 16 * 50);
    assert_eq!(stats.in_flight, 0);
}

#[test]
fn successes_pending_off_the_lock_at_a_reset_stay_out_of_the_new_window() {
    for transition in [CircuitBreaker::reset, CircuitBreaker::disable] {
        let (cb, _) = breaker(
            rate_only()
                .failure_rate(0.9)
                .count_window(10)
                .minimum_calls(1),
        );
        record(&cb, "SSS");
        transition(&cb);
        cb.reset();
        let stats = cb.stats();
        assert_eq!((stats.period.calls, stats.period.successes), (0, 0));
        assert_eq!(stats.totals.successes, 3);
        record(&cb, "F");
        assert_eq!(cb.state(), State::Open, "the failure is the whole window");
    }
}

// Failures recorded off the lock: once a window is judged, a failure that
// cannot bring it to a threshold, even with every failure after it, is
// counted without the lock, and the window takes it in at its next look.

#[test]
fn failures_counted_off_the_lock_enter_a_count_window_in_the_order_they_were_made() {
    let cb = judged_count_window(0.5, 10, 10);
    // No look at the window between these: the first failure comes before
    // ten successes, which push it out of the window again.
    record(&cb, &format!("F{}", "S".repeat(10)));
    record(&cb, "FFFF");
    assert_eq!(cb.state(), State::Closed, "4 failures in the last 10 calls");
    record(&cb, "F");
    assert_eq!(cb.state(), State::Open, "5 failures in the last 10 calls");
}

#[test]
fn a_failure_after_more_successes_than_a_log_entry_spans_enters_the_window_in_order() {
    let cb = judged_count_window(0.5, 10, 10);
    // 256 successes between two failures of one thread: one more than a
    // log's entry holds (255), so the second failure is placed by the
    // lock, after them all.
    record(&cb, "F");
    record(&cb, &"S".repeat(256));
    record(&cb, "FFFF");
    assert_eq!(cb.state(), State::Closed, "4 failures in the last 10 calls");
    assert_eq!(cb.stats().failure_rate, 0.4);
    record(&cb, "F");
    assert_eq!(cb.state(), State::Open, "5 failures in the last 10 calls");
}

#[test]
fn a_failure_as_many_successes_after_the_last_as_a_log_entry_holds_enters_the_window_in_order() {
    let cb = judged_count_window(0.5, 10, 10);
    // 255 successes between two failures of one thread: the most a log's
    // entry holds, so the second failure is logged off the lock, after
    // them all.
    record(&cb, "F");
    record(&cb, &"S".repeat(255));
    record(&cb, "FFFF");
    assert_eq!(cb.state(), State::Closed, "4 failures in the last 10 calls");
    assert_eq!(cb.stats().failure_rate, 0.4);
    record(&cb, "F");
    assert_eq!(cb.state(), State::Open, "5 failures in the last 10 calls");
}

#[test]
fn failures_counted_off_the_lock_keep_the_streak_and_the_consecutive_successes() {
    let cb = judged_count_window(0.9, 100, 10);
    record(&cb, "FSSFF");
    let period = cb.stats().period;
    assert_eq!(period.consecutive_failures, 2);
    assert_eq!(period.consecutive_successes, 0);
    assert_eq!((period.successes, period.failures), (12, 3));
    record(&cb, "FSS");
    let period = cb.stats().period;
    assert_eq!(period.consecutive_failures, 0);
    assert_eq!(period.consecutive_successes, 2);
    assert_eq!(cb.stats().failure_rate, 4.0 / 18.0);
}

#[test]
fn a_failure_beyond_what_the_window_can_take_is_judged_and_trips_on_the_crossing_call() {
    let cb = judged_count_window(0.5, 20, 20);
    // Nine failures cannot bring 20 calls to 50 %; the tenth does.
    record(&cb, &"F".repeat(9));
    assert_eq!(cb.state(), State::Closed);
    record(&cb, "F");
    let trip = cb.stats().tripped_by.expect("tripped");
    assert_eq!((trip.period.failures, trip.failure_rate), (10, 0.5));
}

#[test]
fn max_failures_beside_a_window_trips_on_the_exact_failure_with_failures_off_the_lock() {
    let (cb, _) = breaker(
        Config::default()
            .max_failures(4)
            .failure_rate(0.9)
            .count_window(100)
            .minimum_calls(10),
    );
    record(&cb, &"S".repeat(10));
    record(&cb, "FFFSFFF");
    assert_eq!(cb.state(), State::Closed, "a streak of three");
    record(&cb, "F");
    assert_eq!(cb.state(), State::Open, "a streak of four");
}

#[test]
fn failures_counted_off_the_lock_leave_a_time_window_with_their_bucket() {
    let (cb, clock) = ten_successes_in_the_first_second();
    record(&cb, "FFF");
    // Ten seconds on, the bucket [0 s, 1 s) with its three failures and
    // ten successes has slid out: the window is empty.
    clock.advance(10 * SEC);
    let stats = cb.stats();
    assert_eq!((stats.failure_rate, stats.state), (0.0, State::Closed));
    record(&cb, "SSFF");
    assert_eq!(cb.state(), State::Open, "2 failures in 4 calls");
}

#[test]
fn threads_failing_off_the_lock_lose_no_failure_and_trip_no_window_they_cannot_fill() {
    let cb = judged_count_window(0.5, 100, 100);
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for i in 0..10_000 {
                    // One call in four fails: 25 % < 50 %.
                    record(&cb, if i % 4 == 0 { "F" } else { "S" });
                }
            });
        }
    });
    let stats = cb.stats();
    assert_eq!(stats.state, State::Closed);
    assert_eq!(
        (stats.period.successes, stats.period.failures),
        (100 + 30_000, 10_000)
    );
    assert!(stats.failure_rate < 0.5, "{}", stats.failure_rate);
}

#[test]
fn a_run_of_failures_longer_than_a_threads_log_trips_a_count_window_on_the_crossing_call() {
    let cb = judged_count_window(0.5, 100, 100);
    record(&cb, &"F".repeat(49));
    assert_eq!(
        cb.state(),
        State::Closed,
        "49 failures in the last 100 calls"
    );
    record(&cb, "F");
    assert_eq!(cb.state(), State::Open, "50 failures in the last 100 calls");
}

#[test]
fn a_run_of_failures_trips_a_time_window_on_the_crossing_call() {
    let (cb, clock) = breaker(
        rate_only()
            .failure_rate(0.5)
            .time_window(10 * SEC)
            .minimum_calls(10),
    );
    clock.advance(SEC / 2);
    record(&cb, &"S".repeat(10));
    record(&cb, &"F".repeat(9));
    assert_eq!(cb.state(), State::Closed, "9 failures in 19 calls");
    record(&cb, "F");
    assert_eq!(cb.state(), State::Open, "10 failures in 20 calls");
}

#[test]
fn a_success_judged_after_old_successes_slid_out_of_a_time_window_trips_at_the_rate() {
    let (cb, clock) = breaker(
        rate_only()
            .failure_rate(0.5)
            .time_window(10 * SEC)
            .time_window_buckets(10)
            .minimum_calls(2),
    );
    clock.set(SEC / 2);
    record(&cb, "SSS");
    clock.set(SEC + SEC / 2);
    record(&cb, "FF");
    assert_eq!(cb.state(), State::Closed, "2 failures in 5 calls");
    clock.set(10 * SEC + SEC / 2);
    // The successes of [0 s, 1 s) have slid out: the window holds the two
    // failures alone, and a look at it (no call) trips nothing.
    assert_eq!(cb.state(), State::Closed);
    record(&cb, "S");
    assert_eq!(cb.state(), State::Open, "2 failures in 3 calls");
}

#[test]
fn consecutive_successes_count_from_the_success_that_ended_a_failure_streak() {
    let (cb, _) = breaker(Config::default().max_failures(5));
    record(&cb, "SSFSS");
    let period = cb.stats().period;
    assert_eq!(
        (period.consecutive_successes, period.consecutive_failures),
        (2, 0)
    );
    record(&cb, "FFS");
    let period = cb.stats().period;
    assert_eq!(
        (period.consecutive_successes, period.consecutive_failures),
        (1, 0)
    );
    assert_eq!((period.successes, period.failures), (5, 3));
}
