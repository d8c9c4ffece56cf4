//! The state machine's transitions, driven by a `ManualClock`: closed to
//! open, open to half-open, half-open to closed or open again, the backoff,
//! the `interval` clearing, generations, manual control and the
//! `on_state_change` listeners.

use std::panic::{self, AssertUnwindSafe};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::thread;
use std::time::Duration;

use breakerbox::{CircuitBreaker, Config, Error, ManualClock, RejectReason, State, StateChange};

const SEC: Duration = Duration::from_secs(1);

/// A breaker on a manual clock, and the clock.
fn breaker(config: Config) -> (CircuitBreaker, ManualClock) {
    let clock = ManualClock::new();
    let cb = CircuitBreaker::new("transitions", config.clock(clock.clone())).unwrap();
    (cb, clock)
}

fn fail(cb: &CircuitBreaker) {
    let result = cb.call(|| Err::<(), _>("down"));
    assert!(
        matches!(result, Err(Error::Inner("down"))),
        "the failing call was not admitted: {result:?}"
    );
}

fn succeed(cb: &CircuitBreaker) {
    let result = cb.call(|| Ok::<_, &str>(()));
    assert!(
        result.is_ok(),
        "the succeeding call was not admitted: {result:?}"
    );
}

/// Trips a breaker whose `max_failures` is `n`.
fn trip(cb: &CircuitBreaker, n: u32) {
    for _ in 0..n {
        fail(cb);
    }
    assert_eq!(cb.state(), State::Open);
}

/// Trips the breaker and lets its open period (`timeout`) pass.
fn half_open(cb: &CircuitBreaker, clock: &ManualClock, n: u32, timeout: Duration) {
    trip(cb, n);
    clock.advance(timeout);
    assert_eq!(cb.state(), State::HalfOpen);
}

/// Every state change a breaker announces, as (from, to, counts).
type Log = Arc<Mutex<Vec<(String, State, State, breakerbox::Counts)>>>;

fn logging(config: Config) -> (Config, Log) {
    let log: Log = Arc::default();
    let sink = Arc::clone(&log);
    let config = config.on_state_change(move |change: &StateChange<'_>| {
        sink.lock().unwrap().push((
            change.name.to_owned(),
            change.from,
            change.to,
            change.period,
        ));
    });
    (config, log)
}

fn transitions(log: &Log) -> Vec<(State, State)> {
    log.lock()
        .unwrap()
        .iter()
        .map(|(_, from, to, _)| (*from, *to))
        .collect()
}

// ----- closed -> open -------------------------------------------------------

#[test]
fn closed_stays_closed_below_max_failures() {
    let (cb, _clock) = breaker(Config::default().max_failures(3));
    fail(&cb);
    fail(&cb);
    assert_eq!(cb.state(), State::Closed);
    assert_eq!(cb.stats().period.consecutive_failures, 2);
}

#[test]
fn closed_opens_after_max_failures_consecutive_failures() {
    let (cb, _clock) = breaker(Config::default().max_failures(3));
    fail(&cb);
    fail(&cb);
    fail(&cb);
    assert_eq!(cb.state(), State::Open);
    assert_eq!(cb.stats().open_count, 1);
}

#[test]
fn a_success_resets_the_consecutive_failures() {
    let (cb, _clock) = breaker(Config::default().max_failures(3));
    fail(&cb);
    fail(&cb);
    succeed(&cb);
    fail(&cb);
    fail(&cb);
    assert_eq!(cb.state(), State::Closed);
    assert_eq!(cb.stats().period.consecutive_failures, 2);
}

// ----- open -----------------------------------------------------------------

#[test]
fn open_rejects_without_running_the_call() {
    let (cb, _clock) = breaker(Config::default().max_failures(1));
    trip(&cb, 1);
    let mut ran = false;
    let result = cb.call(|| {
        ran = true;
        Ok::<_, &str>(())
    });
    assert!(!ran, "an open breaker ran the call");
    match result {
        Err(Error::Rejected(rejected)) => {
            assert!(matches!(rejected.reason(), RejectReason::Open { .. }));
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
}

#[test]
fn open_counts_rejected_calls() {
    let (cb, _clock) = breaker(Config::default().max_failures(1));
    trip(&cb, 1);
    let _ = cb.call(|| Ok::<_, &str>(()));
    assert!(cb.try_acquire().is_err());
    let stats = cb.stats();
    assert_eq!(stats.period.rejected, 2);
    assert_eq!(stats.totals.rejected, 2);
    assert_eq!(stats.period.calls, 2, "rejected calls are calls asked");
    assert_eq!(
        stats.totals.calls - stats.totals.rejected,
        1,
        "only the tripping call was admitted"
    );
}

#[test]
fn open_stays_open_until_the_timeout_has_passed() {
    let (cb, clock) = breaker(Config::default().max_failures(1).timeout(10 * SEC));
    trip(&cb, 1);
    clock.advance(10 * SEC - Duration::from_millis(1));
    assert_eq!(cb.state(), State::Open);
    assert!(cb.try_acquire().is_err());
}

#[test]
fn open_turns_half_open_after_the_timeout_on_state() {
    let (cb, clock) = breaker(Config::default().max_failures(1).timeout(10 * SEC));
    trip(&cb, 1);
    clock.advance(10 * SEC);
    assert_eq!(cb.state(), State::HalfOpen);
}

#[test]
fn open_turns_half_open_after_the_timeout_on_try_acquire() {
    let (cb, clock) = breaker(Config::default().max_failures(1).timeout(10 * SEC));
    trip(&cb, 1);
    clock.advance(10 * SEC);
    let permit = cb
        .try_acquire()
        .expect("the first call after the open period is a probe");
    assert!(permit.is_probe());
    permit.success();
    assert_eq!(cb.state(), State::Closed);
}

// ----- half-open ------------------------------------------------------------

#[test]
fn half_open_admits_at_most_max_calls() {
    let (cb, clock) = breaker(Config::default().max_failures(1).half_open_max_calls(2));
    half_open(&cb, &clock, 1, 60 * SEC);
    let first = cb.try_acquire().expect("first probe");
    let second = cb.try_acquire().expect("second probe");
    assert!(first.is_probe() && second.is_probe());
    let third = cb.try_acquire().expect_err("a third concurrent probe");
    assert_eq!(third.reason(), RejectReason::HalfOpenFull);
    assert_eq!(cb.stats().period.rejected, 1);
    drop((first, second));
}

#[test]
fn half_open_closes_after_success_threshold_successes() {
    let (cb, clock) = breaker(
        Config::default()
            .max_failures(1)
            .half_open_max_calls(2)
            .success_threshold(2),
    );
    half_open(&cb, &clock, 1, 60 * SEC);
    let first = cb.try_acquire().unwrap();
    let second = cb.try_acquire().unwrap();
    first.success();
    assert_eq!(cb.state(), State::HalfOpen);
    second.success();
    assert_eq!(cb.state(), State::Closed);
}

#[test]
fn success_threshold_above_half_open_max_calls_closes_over_several_rounds() {
    let (cb, clock) = breaker(
        Config::default()
            .max_failures(1)
            .half_open_max_calls(1)
            .success_threshold(3),
    );
    half_open(&cb, &clock, 1, 60 * SEC);
    for round in 1..=2 {
        let probe = cb
            .try_acquire()
            .unwrap_or_else(|r| panic!("round {round}: {r}"));
        assert_eq!(
            cb.try_acquire().unwrap_err().reason(),
            RejectReason::HalfOpenFull
        );
        probe.success();
        assert_eq!(
            cb.state(),
            State::HalfOpen,
            "closed after {round} of 3 successes"
        );
    }
    cb.try_acquire().unwrap().success();
    assert_eq!(cb.state(), State::Closed);
}

#[test]
fn a_failure_in_half_open_reopens() {
    let (cb, clock) = breaker(
        Config::default()
            .max_failures(1)
            .half_open_max_calls(3)
            .success_threshold(3),
    );
    half_open(&cb, &clock, 1, 60 * SEC);
    cb.try_acquire().unwrap().success();
    cb.try_acquire().unwrap().failure();
    let stats = cb.stats();
    assert_eq!(stats.state, State::Open);
    assert_eq!(stats.open_count, 2);
    assert_eq!(stats.time_until_half_open, Some(60 * SEC));
}

#[test]
fn an_ignored_probe_frees_its_slot() {
    let (cb, clock) = breaker(Config::default().max_failures(1));
    half_open(&cb, &clock, 1, 60 * SEC);
    let probe = cb.try_acquire().unwrap();
    assert_eq!(
        cb.try_acquire().unwrap_err().reason(),
        RejectReason::HalfOpenFull
    );
    probe.ignore();
    assert_eq!(
        cb.state(),
        State::HalfOpen,
        "an ignored probe decides nothing"
    );
    let next = cb
        .try_acquire()
        .expect("the ignored probe gave its slot back");
    assert!(next.is_probe());
    next.success();
    assert_eq!(cb.state(), State::Closed);
}

#[test]
fn half_open_max_wait_reopens_when_a_probe_hangs() {
    let (cb, clock) = breaker(
        Config::default()
            .max_failures(1)
            .half_open_max_wait(10 * SEC),
    );
    half_open(&cb, &clock, 1, 60 * SEC);
    let hung = cb.try_acquire().unwrap();
    clock.advance(10 * SEC - Duration::from_millis(1));
    assert_eq!(cb.state(), State::HalfOpen);
    clock.advance(Duration::from_millis(1));
    assert_eq!(cb.state(), State::Open);
    drop(hung);
}

#[test]
fn half_open_max_wait_does_not_reopen_an_idle_half_open_breaker() {
    let (cb, clock) = breaker(
        Config::default()
            .max_failures(1)
            .half_open_max_wait(10 * SEC),
    );
    half_open(&cb, &clock, 1, 60 * SEC);
    clock.advance(100 * SEC);
    assert_eq!(
        cb.state(),
        State::HalfOpen,
        "no probe in flight, nothing hangs"
    );
    let probe = cb
        .try_acquire()
        .expect("an idle half-open breaker admits a probe");
    assert!(probe.is_probe());
    drop(probe);
}

#[test]
fn half_open_max_wait_counts_from_the_probe_admission_not_from_an_idle_period() {
    // The breaker turned half-open (observed by `state()`, as a metrics
    // scraper would) long before the first probe came: that probe has
    // been in flight for no time at all and must get its whole wait.
    let (cb, clock) = breaker(
        Config::default()
            .max_failures(1)
            .half_open_max_wait(10 * SEC),
    );
    half_open(&cb, &clock, 1, 60 * SEC);
    clock.advance(100 * SEC);
    assert_eq!(cb.state(), State::HalfOpen);
    let probe = cb.try_acquire().unwrap();
    assert_eq!(
        cb.state(),
        State::HalfOpen,
        "a probe admitted just now is not hung"
    );
    clock.advance(SEC);
    probe.success();
    assert_eq!(cb.state(), State::Closed);
}

// ----- backoff --------------------------------------------------------------

#[test]
fn backoff_multiplies_the_open_period_and_caps_it() {
    let (cb, clock) = breaker(
        Config::default()
            .max_failures(1)
            .timeout(10 * SEC)
            .backoff_multiplier(2.0)
            .backoff_max(35 * SEC),
    );
    trip(&cb, 1);
    let mut periods = vec![cb.stats().open_duration];
    for _ in 0..3 {
        let period = *periods.last().unwrap();
        clock.advance(period - Duration::from_millis(1));
        assert_eq!(
            cb.state(),
            State::Open,
            "half-open before the {period:?} period ended"
        );
        clock.advance(Duration::from_millis(1));
        cb.try_acquire().expect("probe").failure();
        assert_eq!(cb.state(), State::Open);
        let stats = cb.stats();
        assert_eq!(stats.time_until_half_open, Some(stats.open_duration));
        periods.push(stats.open_duration);
    }
    assert_eq!(periods, [10 * SEC, 20 * SEC, 35 * SEC, 35 * SEC]);
}

#[test]
fn backoff_cap_defaults_to_ten_times_the_timeout() {
    let (cb, clock) = breaker(
        Config::default()
            .max_failures(1)
            .timeout(SEC)
            .backoff_multiplier(3.0),
    );
    trip(&cb, 1);
    let mut period = SEC;
    for _ in 0..4 {
        clock.advance(period);
        cb.try_acquire().unwrap().failure();
        period = cb.stats().open_duration;
    }
    // 1 s, 3 s, 9 s, then 27 s capped at 10 s.
    assert_eq!(period, 10 * SEC);
}

#[test]
fn backoff_is_reset_when_the_breaker_closes() {
    let (cb, clock) = breaker(
        Config::default()
            .max_failures(1)
            .timeout(10 * SEC)
            .backoff_multiplier(2.0),
    );
    half_open(&cb, &clock, 1, 10 * SEC);
    cb.try_acquire().unwrap().failure();
    assert_eq!(cb.stats().open_duration, 20 * SEC);
    clock.advance(20 * SEC);
    cb.try_acquire().unwrap().success();
    assert_eq!(cb.state(), State::Closed);
    trip(&cb, 1);
    assert_eq!(cb.stats().time_until_half_open, Some(10 * SEC));
}

#[test]
fn backoff_is_off_by_default() {
    let (cb, clock) = breaker(Config::default().max_failures(1).timeout(10 * SEC));
    half_open(&cb, &clock, 1, 10 * SEC);
    cb.try_acquire().unwrap().failure();
    let stats = cb.stats();
    assert_eq!(stats.open_duration, 10 * SEC);
    assert_eq!(stats.time_until_half_open, Some(10 * SEC));
}

// ----- interval and generations --------------------------------------------

#[test]
fn interval_clears_the_counts_while_closed() {
    let (cb, clock) = breaker(Config::default().max_failures(3).interval(30 * SEC));
    fail(&cb);
    fail(&cb);
    let before = cb.stats().generation;
    clock.advance(30 * SEC);
    let stats = cb.stats();
    assert_eq!(stats.period, breakerbox::Counts::default());
    assert_eq!(stats.generation, before + 1);
    assert_eq!(stats.totals.failures, 2, "totals survive the clearing");
    fail(&cb);
    fail(&cb);
    assert_eq!(
        cb.state(),
        State::Closed,
        "the failures before the clearing were forgotten"
    );
}

#[test]
fn interval_clearing_fires_no_state_change() {
    let (config, log) = logging(Config::default().interval(SEC));
    let (cb, clock) = breaker(config);
    fail(&cb);
    clock.advance(5 * SEC);
    assert_eq!(cb.state(), State::Closed);
    assert!(transitions(&log).is_empty());
}

#[test]
fn a_result_from_an_older_generation_is_not_counted() {
    let (cb, _clock) = breaker(Config::default().max_failures(1));
    let old = cb.try_acquire().unwrap();
    trip(&cb, 1);
    old.failure();
    let stats = cb.stats();
    assert_eq!(
        stats.period.failures, 0,
        "a stale failure counted in the open period"
    );
    assert_eq!(stats.totals.stale, 1);
    assert_eq!(
        stats.totals.failures, 2,
        "a stale result still counts in its lifetime total"
    );
    assert_eq!(stats.in_flight, 0);
}

#[test]
fn a_stale_success_does_not_close_a_half_open_breaker() {
    let (cb, clock) = breaker(Config::default().max_failures(1));
    let old = cb.try_acquire().unwrap();
    half_open(&cb, &clock, 1, 60 * SEC);
    old.success();
    assert_eq!(cb.state(), State::HalfOpen);
    assert_eq!(cb.stats().totals.stale, 1);
}

#[test]
fn a_stale_probe_does_not_free_a_probe_slot_of_the_new_period() {
    let (cb, clock) = breaker(
        Config::default()
            .max_failures(1)
            .half_open_max_wait(10 * SEC),
    );
    half_open(&cb, &clock, 1, 60 * SEC);
    let old_probe = cb.try_acquire().unwrap();
    clock.advance(10 * SEC);
    assert_eq!(
        cb.state(),
        State::Open,
        "the hung probe re-opened the breaker"
    );
    clock.advance(60 * SEC);
    let new_probe = cb.try_acquire().unwrap();
    old_probe.ignore();
    assert_eq!(
        cb.try_acquire().unwrap_err().reason(),
        RejectReason::HalfOpenFull,
        "the stale probe freed the new probe's slot"
    );
    new_probe.success();
    assert_eq!(cb.state(), State::Closed);
}

#[test]
fn a_result_from_before_an_interval_clearing_is_stale() {
    let (cb, clock) = breaker(Config::default().max_failures(2).interval(10 * SEC));
    let old = cb.try_acquire().unwrap();
    fail(&cb);
    clock.advance(10 * SEC);
    fail(&cb);
    old.failure();
    assert_eq!(
        cb.state(),
        State::Closed,
        "a failure from before the clearing tripped the breaker"
    );
    assert_eq!(cb.stats().totals.stale, 1);
}

// ----- manual control --------------------------------------------------------

#[test]
fn force_open_rejects_every_call_until_reset() {
    let (cb, clock) = breaker(Config::default());
    cb.force_open();
    clock.advance(3600 * SEC);
    assert_eq!(
        cb.state(),
        State::ForcedOpen,
        "forced open ends only by reset"
    );
    let mut ran = false;
    let result = cb.call(|| {
        ran = true;
        Ok::<_, ()>(())
    });
    assert!(!ran);
    match result {
        Err(Error::Rejected(r)) => assert_eq!(r.reason(), RejectReason::ForcedOpen),
        other => panic!("expected a forced-open rejection, got {other:?}"),
    }
    cb.reset();
    assert_eq!(cb.state(), State::Closed);
    succeed(&cb);
}

#[test]
fn disable_admits_every_call_and_never_trips() {
    let (cb, _clock) = breaker(Config::default().max_failures(1));
    cb.disable();
    for _ in 0..20 {
        fail(&cb);
    }
    let stats = cb.stats();
    assert_eq!(stats.state, State::Disabled);
    assert_eq!(stats.period.failures, 20, "a disabled breaker still counts");
    assert_eq!(stats.open_count, 0);
}

#[test]
fn reset_closes_with_fresh_counts_and_keeps_totals() {
    let (cb, _clock) = breaker(Config::default().max_failures(2));
    trip(&cb, 2);
    let _ = cb.try_acquire();
    cb.reset();
    let stats = cb.stats();
    assert_eq!(stats.state, State::Closed);
    assert_eq!(stats.period, breakerbox::Counts::default());
    assert_eq!(stats.totals.failures, 2);
    assert_eq!(stats.totals.rejected, 1);
    fail(&cb);
    assert_eq!(
        cb.state(),
        State::Closed,
        "the failures before the reset were forgotten"
    );
}

#[test]
fn reset_resets_the_backoff() {
    let (cb, clock) = breaker(
        Config::default()
            .max_failures(1)
            .timeout(10 * SEC)
            .backoff_multiplier(2.0),
    );
    half_open(&cb, &clock, 1, 10 * SEC);
    cb.try_acquire().unwrap().failure();
    assert_eq!(cb.stats().open_duration, 20 * SEC);
    cb.reset();
    trip(&cb, 1);
    assert_eq!(cb.stats().time_until_half_open, Some(10 * SEC));
}

#[test]
fn a_result_from_before_a_reset_is_stale() {
    let (cb, _clock) = breaker(Config::default().max_failures(1));
    let old = cb.try_acquire().unwrap();
    cb.reset();
    old.failure();
    let stats = cb.stats();
    assert_eq!(
        stats.state,
        State::Closed,
        "a call admitted before the reset tripped the breaker"
    );
    assert_eq!(stats.period.failures, 0);
    assert_eq!(stats.totals.stale, 1);
}

#[test]
fn manual_commands_fire_on_state_change_only_when_the_state_changes() {
    let (config, log) = logging(Config::default());
    let (cb, _clock) = breaker(config);
    cb.reset();
    cb.force_open();
    cb.force_open();
    cb.disable();
    cb.reset();
    assert_eq!(
        transitions(&log),
        [
            (State::Closed, State::ForcedOpen),
            (State::ForcedOpen, State::Disabled),
            (State::Disabled, State::Closed),
        ]
    );
}

// ----- on_state_change ------------------------------------------------------

#[test]
fn on_state_change_reports_name_from_to_and_the_ended_periods_counts() {
    let (config, log) = logging(Config::default().max_failures(2).timeout(10 * SEC));
    let (cb, clock) = breaker(config);
    succeed(&cb);
    fail(&cb);
    fail(&cb);
    let _ = cb.try_acquire();
    clock.advance(10 * SEC);
    cb.try_acquire().unwrap().success();

    let log = log.lock().unwrap();
    let seen: Vec<_> = log
        .iter()
        .map(|(name, from, to, _)| (name.as_str(), *from, *to))
        .collect();
    assert_eq!(
        seen,
        [
            ("transitions", State::Closed, State::Open),
            ("transitions", State::Open, State::HalfOpen),
            ("transitions", State::HalfOpen, State::Closed),
        ]
    );
    let tripped = log[0].3;
    assert_eq!(tripped.calls, 3);
    assert_eq!(tripped.successes, 1);
    assert_eq!(tripped.failures, 2);
    assert_eq!(tripped.consecutive_failures, 2);
    assert_eq!(log[1].3.rejected, 1, "the open period's counts");
    assert_eq!(log[2].3.successes, 1, "the half-open period's counts");
}

#[test]
fn every_on_state_change_listener_is_called_in_order() {
    let order = Arc::new(Mutex::new(Vec::new()));
    let (first, second) = (Arc::clone(&order), Arc::clone(&order));
    let (cb, _clock) = breaker(
        Config::default()
            .max_failures(1)
            .on_state_change(move |_| first.lock().unwrap().push(1))
            .on_state_change(move |_| second.lock().unwrap().push(2)),
    );
    trip(&cb, 1);
    assert_eq!(*order.lock().unwrap(), [1, 2]);
}

#[test]
fn on_state_change_listener_may_call_back_into_the_breaker() {
    let (done, finished) = mpsc::channel();
    thread::spawn(move || {
        let this: Arc<OnceLock<Weak<CircuitBreaker>>> = Arc::default();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (handle, sink) = (Arc::clone(&this), Arc::clone(&seen));
        let clock = ManualClock::new();
        let config = Config::default()
            .max_failures(1)
            .clock(clock)
            .on_state_change(move |change| {
                let Some(cb) = handle.get().and_then(Weak::upgrade) else {
                    return;
                };
                if change.to == State::Open {
                    let state = cb.stats().state;
                    let rejected = cb.call(|| Ok::<_, ()>(())).is_err();
                    cb.reset();
                    sink.lock().unwrap().push((state, rejected));
                }
            });
        let cb = Arc::new(CircuitBreaker::new("reentrant", config).unwrap());
        this.set(Arc::downgrade(&cb)).unwrap();
        fail(&cb);
        let state = cb.state();
        let seen = seen.lock().unwrap().clone();
        done.send((state, seen)).unwrap();
    });
    let (state, seen) = match finished.recv_timeout(Duration::from_secs(5)) {
        Ok(result) => result,
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("a listener calling back into the breaker deadlocked")
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => panic!("the breaker's thread panicked"),
    };
    assert_eq!(
        seen,
        [(State::Open, true)],
        "the listener saw the open breaker and was rejected"
    );
    assert_eq!(state, State::Closed, "the listener's reset took effect");
}

#[test]
fn a_panicking_listener_does_not_stop_the_others_and_its_panic_propagates() {
    let (config, log) = logging(
        Config::default()
            .max_failures(1)
            .on_state_change(|_| panic!("listener")),
    );
    let (cb, _clock) = breaker(config);
    let caught = panic::catch_unwind(AssertUnwindSafe(|| cb.call(|| Err::<(), _>("down"))));
    let payload = caught.expect_err("the listener's panic did not propagate");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"listener"));
    assert_eq!(
        transitions(&log),
        [(State::Closed, State::Open)],
        "the listener after the panicking one ran"
    );
    let stats = cb.stats();
    assert_eq!(stats.state, State::Open);
    assert_eq!(stats.totals.failures, 1);
    assert_eq!(stats.in_flight, 0);
}

#[test]
fn a_listener_panicking_on_admission_gives_the_probe_slot_back() {
    let (cb, clock) = breaker(Config::default().max_failures(1).on_state_change(|change| {
        if change.to == State::HalfOpen {
            panic!("listener");
        }
    }));
    trip(&cb, 1);
    clock.advance(60 * SEC);
    let caught = panic::catch_unwind(AssertUnwindSafe(|| cb.try_acquire().map(drop)));
    assert!(caught.is_err(), "the listener's panic did not propagate");
    let stats = cb.stats();
    assert_eq!(stats.state, State::HalfOpen);
    assert_eq!(stats.in_flight, 0);
    let probe = cb
        .try_acquire()
        .expect("the probe slot was kept by a call that never ran");
    probe.success();
    assert_eq!(cb.state(), State::Closed);
}
