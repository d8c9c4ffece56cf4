//! User code around the breaker that blocks, panics or misreads time: a
//! blocked listener, a listener or store hook that panics, a subscriber
//! that reads the breaker from a log event, a clock that panics, a probe
//! the fleet refuses, a probe slower than the default half-open wait. Each
//! test attacks one promise (ordered announcements that never wait behind
//! an unrelated listener, contained panics handed only to the thread they
//! concern, exact counts, recovery) and was written against the code before
//! its fix, where it failed; the `guard_` tests hold what already held.
//!
//! Time is a `ManualClock`; interleavings are forced with channels, each
//! wait bounded by `PATIENCE` so that a broken interleaving fails instead
//! of hanging.

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, Weak};
use std::thread;
use std::time::Duration;

use breakerbox::{
    CircuitBreaker, Config, Counts, ManualClock, Outcome, Permit, ProbeLease, ProbeSlot,
    SharedState, State, StateStore,
};

// The tests' helpers; this file uses the gate.
mod support;

use support::faulty_clock::FaultyClock;
use support::gate::{gate, Gate, PATIENCE};
use support::on_event::OnEvent;

const SEC: Duration = Duration::from_secs(1);

/// A store that records every transition the breaker reports to it, and
/// grants every probe.
#[derive(Clone, Default)]
struct RecordingStore {
    heard: Arc<Mutex<Vec<(State, State)>>>,
}

struct RecordingMember {
    heard: Arc<Mutex<Vec<(State, State)>>>,
}

impl StateStore for RecordingStore {
    fn join(&self, _breaker: &Arc<CircuitBreaker>) -> Arc<dyn SharedState> {
        Arc::new(RecordingMember {
            heard: Arc::clone(&self.heard),
        })
    }
}

impl SharedState for RecordingMember {
    fn acquire_probe(&self) -> ProbeSlot {
        ProbeSlot::Unleased
    }

    fn probe_ended(&self, _lease: ProbeLease, _outcome: Option<Outcome>) {}

    fn transitioned(&self, from: State, to: State, _open_for: Duration) {
        self.heard.lock().unwrap().push((from, to));
    }
}

// ----- announcements: one announcing thread for every thread's transitions -

/// A listener that blocks (an alerting webhook, a slow log sink) holds up
/// every later transition of the breaker, made by any thread: the store
/// does not hear of another thread's trip, so the fleet does not open,
/// until that unrelated listener returns. Before the change, the thread
/// that tripped told the store itself.
#[test]
fn a_listener_blocked_on_one_thread_does_not_keep_another_threads_trip_from_the_store() {
    let (hook, handle) = gate();
    let store = RecordingStore::default();
    let cb = Arc::new(
        CircuitBreaker::new(
            "review-blocked-listener",
            Config::default()
                .max_failures(1)
                .clock(ManualClock::new())
                .on_state_change(move |change| {
                    if change.to == State::ForcedOpen {
                        hook.hold();
                    }
                }),
        )
        .unwrap(),
    );
    assert!(cb.join_store(&store));
    let operator = {
        let cb = Arc::clone(&cb);
        thread::spawn(move || cb.force_open())
    };
    handle.wait_entered();
    // Another thread: the operator's reset, then a real trip.
    cb.reset();
    cb.call(|| Err::<(), _>("down")).unwrap_err();
    assert_eq!(cb.state(), State::Open);
    let heard_before_release = store.heard.lock().unwrap().clone();
    handle.release();
    operator.join().unwrap();
    assert!(
        heard_before_release.contains(&(State::Closed, State::Open)),
        "the trip was made and its call returned, but the store had heard only \
         {heard_before_release:?}: it waits for an unrelated listener"
    );
}

/// The announcing thread hands a listener's panic on to its own caller,
/// whichever thread made the transition: here a probe's admission is
/// refused (its permit dropped, the call never made) because a listener
/// panicked on a `reset` another thread made, and that `reset` returned
/// as if nothing had happened.
#[test]
fn a_listener_panic_on_another_threads_reset_does_not_refuse_an_unrelated_admission() {
    let (hook, handle) = gate();
    let clock = ManualClock::new();
    let cb = Arc::new(
        CircuitBreaker::new(
            "review-panic-rerouted",
            Config::default()
                .max_failures(1)
                .timeout(SEC)
                .clock(clock.clone())
                .on_state_change(move |change| match change.to {
                    State::HalfOpen => hook.hold(),
                    State::Closed => panic!("listener bug on the reset"),
                    _ => {}
                }),
        )
        .unwrap(),
    );
    cb.call(|| Err::<(), _>("down")).unwrap_err();
    clock.advance(SEC);
    // This admission turns the breaker half-open and announces it.
    let prober = {
        let cb = Arc::clone(&cb);
        thread::spawn(move || {
            panic::catch_unwind(AssertUnwindSafe(|| {
                cb.try_acquire().map(Permit::ignore).is_ok()
            }))
            .is_ok()
        })
    };
    handle.wait_entered();
    let reset = panic::catch_unwind(AssertUnwindSafe(|| cb.reset()));
    handle.release();
    let prober_returned = prober.join().unwrap();
    assert!(
        prober_returned,
        "the probe's admission panicked with the listener panic of another \
         thread's reset (and that reset returned normally: {})",
        reset.is_ok()
    );
}

/// A store that blocks on the first transition it hears of, then panics
/// (a store bug; a panicking `tracing` layer or `metrics` recorder in
/// `observe::state_changed` escapes `deliver` the same way).
struct PanickingStore {
    hook: Arc<Gate>,
    calls: Arc<AtomicUsize>,
}

struct PanickingMember {
    hook: Arc<Gate>,
    calls: Arc<AtomicUsize>,
}

impl StateStore for PanickingStore {
    fn join(&self, _breaker: &Arc<CircuitBreaker>) -> Arc<dyn SharedState> {
        Arc::new(PanickingMember {
            hook: Arc::clone(&self.hook),
            calls: Arc::clone(&self.calls),
        })
    }
}

impl SharedState for PanickingMember {
    fn acquire_probe(&self) -> ProbeSlot {
        ProbeSlot::Unleased
    }

    fn probe_ended(&self, _lease: ProbeLease, _outcome: Option<Outcome>) {}

    fn transitioned(&self, _from: State, _to: State, _open_for: Duration) {
        if self.calls.fetch_add(1, Ordering::SeqCst) == 0 {
            self.hook.hold();
            panic!("store bug");
        }
    }
}

/// A store's hook that panics while it hears of a transition is
/// contained under the lock: the transition completes, the call that made
/// it returns, and the listeners hear of it and of the next one.
#[test]
fn a_store_hook_that_panics_is_contained_and_the_listeners_still_hear_every_transition() {
    let (hook, handle) = gate();
    drop(handle);
    let heard = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&heard);
    let cb = Arc::new(
        CircuitBreaker::new(
            "review-stranded",
            Config::default()
                .max_failures(1)
                .clock(ManualClock::new())
                .on_state_change(move |change| sink.lock().unwrap().push((change.from, change.to))),
        )
        .unwrap(),
    );
    assert!(cb.join_store(&PanickingStore {
        hook,
        calls: Arc::new(AtomicUsize::new(0)),
    }));
    let tripped = panic::catch_unwind(AssertUnwindSafe(|| cb.call(|| Err::<(), _>("down"))));
    assert!(tripped.is_ok(), "the store's panic reached the caller");
    assert_eq!(cb.state(), State::Open);
    cb.reset();
    let state = cb.state();
    assert_eq!(state, State::Closed);
    let heard = heard.lock().unwrap();
    assert_eq!(
        heard.last().map(|&(_, to)| to),
        Some(state),
        "the reset was never announced: heard {heard:?}"
    );
}

// ----- counts -------------------------------------------------------------

/// A shared store that, like `RedisStore` when the fleet is not
/// half-open, applies the fleet's open state and refuses the probe.
struct RefusingStore;

struct RefusingMember {
    breaker: Weak<CircuitBreaker>,
}

impl StateStore for RefusingStore {
    fn join(&self, breaker: &Arc<CircuitBreaker>) -> Arc<dyn SharedState> {
        Arc::new(RefusingMember {
            breaker: Arc::downgrade(breaker),
        })
    }
}

impl SharedState for RefusingMember {
    fn acquire_probe(&self) -> ProbeSlot {
        if let Some(breaker) = self.breaker.upgrade() {
            breaker.apply_shared(State::Open, Duration::from_secs(30));
        }
        ProbeSlot::Refused
    }

    fn probe_ended(&self, _lease: ProbeLease, _outcome: Option<Outcome>) {}

    fn transitioned(&self, _from: State, _to: State, _open_for: Duration) {}
}

/// `refuse_probe` takes the refused admission out of the new period's base,
/// but the period that ended (half-open, ended by the store applying the
/// fleet's open state) was announced with that admission among its
/// `requests`: the periods' requests add up to one more than the lifetime
/// total, against the guide's "the counts of every period ... add up
/// exactly to the lifetime totals".
#[test]
fn a_probe_the_store_refuses_is_not_a_request_of_the_period_that_ended() {
    let ended = Arc::new(Mutex::new(Vec::<(State, State, Counts)>::new()));
    let sink = Arc::clone(&ended);
    let clock = ManualClock::new();
    let cb = Arc::new(
        CircuitBreaker::new(
            "review-refused-probe",
            Config::default()
                .max_failures(1)
                .timeout(SEC)
                .clock(clock.clone())
                .on_state_change(move |change| {
                    sink.lock()
                        .unwrap()
                        .push((change.from, change.to, change.period))
                }),
        )
        .unwrap(),
    );
    assert!(cb.join_store(&RefusingStore));
    cb.call(|| Err::<(), _>(())).unwrap_err();
    clock.advance(SEC);
    assert!(cb.try_acquire().is_err(), "the fleet refused the probe");
    let stats = cb.stats();
    let ended = ended.lock().unwrap();
    let admitted = |c: &Counts| c.calls - c.rejected;
    let periods: u64 =
        ended.iter().map(|(_, _, c)| admitted(c)).sum::<u64>() + admitted(&stats.period);
    assert_eq!(
        periods,
        stats.totals.calls - stats.totals.rejected,
        "periods' admissions {ended:?} + current {:?} != lifetime {:?}",
        stats.period,
        stats.totals
    );
}

// ----- the default half_open_max_wait -----------------------------------

/// With no `half_open_max_wait` and no `call_timeout` (sync calls, the
/// tower layer behind tower's `TimeoutLayer`, `try_acquire` permits: none of
/// them has one), a probe that is still running after 60 s is abandoned:
/// its success is stale and the breaker re-opens (with backoff). A
/// dependency whose calls take longer than a minute can never close the
/// breaker again, though every probe succeeds; before the change it closed.
#[test]
fn a_probe_that_runs_longer_than_a_minute_and_succeeds_closes_the_breaker() {
    let clock = ManualClock::new();
    let cb = CircuitBreaker::new(
        "review-slow-probe",
        Config::default()
            .max_failures(1)
            .timeout(SEC)
            .clock(clock.clone()),
    )
    .unwrap();
    cb.call(|| Err::<(), _>("down")).unwrap_err();
    clock.advance(SEC);
    cb.call(|| {
        // A legitimately slow call: a report, a batch export.
        clock.advance(90 * SEC);
        Ok::<_, ()>(())
    })
    .unwrap();
    let stats = cb.stats();
    assert_eq!(
        stats.state,
        State::Closed,
        "the successful probe was counted as stale ({} stale)",
        stats.totals.stale
    );
}

// ----- a panicking Clock --------------------------------------------------

/// The locked path contains a panicking clock, but an open breaker's
/// lock-free rejection reads `Clock::now_coarse` (by default `now`) with no
/// containment: `state()` says open, and `try_acquire` panics.
#[test]
fn a_panicking_clock_while_open_rejects_instead_of_panicking() {
    let clock = FaultyClock::new(ManualClock::new());
    let cb = CircuitBreaker::new(
        "review-clock-open",
        Config::default()
            .max_failures(1)
            .timeout(SEC)
            .clock(clock.clone()),
    )
    .unwrap();
    cb.call(|| Err::<(), _>("down")).unwrap_err();
    clock.set_broken(true);
    assert_eq!(cb.state(), State::Open);
    let admission = panic::catch_unwind(AssertUnwindSafe(|| cb.try_acquire().is_err()));
    clock.set_broken(false);
    assert_eq!(
        admission.ok(),
        Some(true),
        "try_acquire panicked on the clock instead of rejecting"
    );
}

/// `CircuitBreaker::new` reads the clock outside any containment: a clock
/// that panics on its first read panics the constructor (and, through the
/// registry, the first call of an annotated function).
#[test]
fn a_clock_that_panics_on_its_first_read_does_not_panic_the_constructor() {
    let clock = FaultyClock::new(ManualClock::new());
    clock.set_broken(true);
    let built = panic::catch_unwind(AssertUnwindSafe(|| {
        CircuitBreaker::new("review-clock-new", Config::default().clock(clock.clone())).is_ok()
    }));
    assert!(built.is_ok(), "the constructor panicked on the clock");
}

/// A panicking clock reads as `core.state_since`, which can be long past:
/// a trip made while the clock panics back-dates the open period to when
/// the breaker closed, so once the clock recovers the open period is
/// already over. Falling back to the last good reading would not.
#[test]
fn a_trip_made_while_the_clock_panics_keeps_the_breaker_open_for_its_timeout() {
    let clock = FaultyClock::new(ManualClock::new());
    let cb = CircuitBreaker::new(
        "review-clock-trip",
        Config::default()
            .max_failures(1)
            .timeout(10 * SEC)
            .clock(clock.clone()),
    )
    .unwrap();
    // Closed since 0; much later the clock faults as a call fails.
    clock.inner.advance(100 * SEC);
    clock.set_broken(true);
    cb.call(|| Err::<(), _>("down")).unwrap_err();
    clock.set_broken(false);
    clock.inner.advance(SEC);
    let stats = cb.stats();
    assert_eq!(
        stats.state,
        State::Open,
        "tripped 1 s ago with a 10 s timeout (time in state {:?})",
        stats.time_in_state
    );
}

/// The same fallback at an admission: the call's start is taken as when
/// the state began, so a fast call finishing once the clock recovers is
/// judged slow (and a slow-call rate can trip on it).
#[test]
fn a_call_admitted_while_the_clock_panics_is_not_judged_slow() {
    let clock = FaultyClock::new(ManualClock::new());
    let cb = CircuitBreaker::new(
        "review-clock-slow",
        Config::default()
            .slow_call_duration(SEC)
            .clock(clock.clone()),
    )
    .unwrap();
    clock.inner.advance(100 * SEC);
    clock.set_broken(true);
    let permit = cb.try_acquire().unwrap();
    clock.set_broken(false);
    permit.success();
    let stats = cb.stats();
    assert_eq!(
        stats.totals.slow_calls, 0,
        "an instant call was judged slow: {:?}",
        stats.totals
    );
}

// ----- the ERROR report of contained user code, under the lock ---------

/// A `tracing` subscriber that, on each event with target `breakerbox`, reads
/// the breaker's stats (as an alerting layer that attaches them would).
fn stats_on_event(
    breaker: Arc<std::sync::OnceLock<Arc<CircuitBreaker>>>,
) -> impl tracing::Subscriber {
    OnEvent(move |event: &tracing::Event<'_>| {
        if event.metadata().target() == "breakerbox" {
            if let Some(cb) = breaker.get() {
                let _ = cb.stats();
            }
        }
    })
}

/// The change reports a contained `trip_when` (or `Clock`) panic with
/// `tracing::error!` from inside the locked section: the subscriber runs
/// under the breaker's lock, and one that reads the breaker deadlocks the
/// calling thread (the guide says the lock is never held while user code
/// other than the predicate and the clock runs).
#[test]
fn a_subscriber_reading_the_breaker_on_a_contained_panic_report_does_not_deadlock() {
    let slot = Arc::new(std::sync::OnceLock::new());
    let cb = Arc::new(
        CircuitBreaker::new(
            "review-report-under-lock",
            Config::default()
                .without_max_failures()
                .trip_when(|_| panic!("bug in the predicate"))
                .clock(ManualClock::new()),
        )
        .unwrap(),
    );
    let _ = slot.set(Arc::clone(&cb));
    let (done_tx, done_rx) = mpsc::channel();
    let subscriber = stats_on_event(Arc::clone(&slot));
    {
        let cb = Arc::clone(&cb);
        // Left running if it deadlocks: the test fails instead of hanging.
        thread::spawn(move || {
            tracing::subscriber::with_default(subscriber, || {
                let _ = cb.call(|| Err::<(), _>("down"));
            });
            let _ = done_tx.send(());
        });
    }
    assert!(
        done_rx.recv_timeout(PATIENCE).is_ok(),
        "the call deadlocked: the subscriber ran under the breaker's lock"
    );
}

// ----- guards (these pass) ------------------------------------------------

/// GUARD (passes): a listener that blocks while other threads transition
/// still hears every transition, in order, once it returns, and the last
/// one is the breaker's state.
#[test]
fn guard_transitions_queued_behind_a_blocked_listener_are_all_delivered_in_order() {
    let (hook, handle) = gate();
    let heard = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&heard);
    let first = AtomicBool::new(true);
    let cb = Arc::new(
        CircuitBreaker::new(
            "review-guard-order",
            Config::default()
                .max_failures(1)
                .clock(ManualClock::new())
                .on_state_change(move |change| {
                    if first.swap(false, Ordering::SeqCst) {
                        hook.hold();
                    }
                    sink.lock().unwrap().push((change.from, change.to));
                }),
        )
        .unwrap(),
    );
    let tripper = {
        let cb = Arc::clone(&cb);
        thread::spawn(move || cb.call(|| Err::<(), _>("down")).unwrap_err())
    };
    handle.wait_entered();
    for _ in 0..50 {
        cb.reset();
        cb.force_open();
    }
    cb.disable();
    handle.release();
    tripper.join().unwrap();
    let heard = heard.lock().unwrap();
    assert_eq!(heard.len(), 1 + 100 + 1, "{heard:?}");
    assert!(heard.windows(2).all(|w| w[0].1 == w[1].0), "{heard:?}");
    assert_eq!(heard.last().unwrap().1, cb.state());
}

/// GUARD (passes): a listener's panic is contained per listener, and the
/// transitions queued behind it are still delivered by the same thread.
#[test]
fn guard_a_panicking_listener_does_not_strand_the_transitions_queued_behind_it() {
    let (hook, handle) = gate();
    let heard = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&heard);
    let cb = Arc::new(
        CircuitBreaker::new(
            "review-guard-panic",
            Config::default()
                .max_failures(1)
                .clock(ManualClock::new())
                .on_state_change(move |change| {
                    sink.lock().unwrap().push((change.from, change.to));
                    if change.to == State::Open {
                        hook.hold();
                        panic!("listener bug");
                    }
                }),
        )
        .unwrap(),
    );
    let tripper = {
        let cb = Arc::clone(&cb);
        thread::spawn(move || {
            panic::catch_unwind(AssertUnwindSafe(|| {
                let _ = cb.call(|| Err::<(), _>("down"));
            }))
            .is_err()
        })
    };
    handle.wait_entered();
    cb.reset();
    handle.release();
    assert!(tripper.join().unwrap(), "the listener's panic propagates");
    assert_eq!(
        *heard.lock().unwrap(),
        vec![(State::Closed, State::Open), (State::Open, State::Closed)]
    );
}

/// GUARD (passes): a re-entrant listener (reset, force_open, stats, a call)
/// neither deadlocks nor loses a transition.
#[test]
fn guard_a_reentrant_listener_hears_every_transition_it_makes() {
    let heard = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&heard);
    let cb: Arc<CircuitBreaker> = Arc::new_cyclic(|weak: &Weak<CircuitBreaker>| {
        let weak = weak.clone();
        CircuitBreaker::new(
            "review-guard-reentrant",
            Config::default()
                .max_failures(1)
                .clock(ManualClock::new())
                .on_state_change(move |change| {
                    sink.lock().unwrap().push(change.to);
                    let Some(cb) = weak.upgrade() else { return };
                    let _ = cb.stats();
                    match change.to {
                        State::Open => cb.force_open(),
                        State::ForcedOpen => cb.reset(),
                        State::Closed => {
                            let _ = cb.call(|| Ok::<_, ()>(()));
                        }
                        _ => {}
                    }
                }),
        )
        .unwrap()
    });
    cb.call(|| Err::<(), _>("down")).unwrap_err();
    assert_eq!(
        *heard.lock().unwrap(),
        vec![State::Open, State::ForcedOpen, State::Closed]
    );
    assert_eq!(cb.state(), State::Closed);
    assert_eq!(cb.stats().in_flight, 0);
}

/// GUARD (passes): a refused probe frees its local slot exactly once, also
/// when the store applied the fleet's state in between, so the next
/// half-open period admits a probe.
#[test]
fn guard_a_refused_probe_frees_its_slot_exactly_once_across_generations() {
    let clock = ManualClock::new();
    let cb = Arc::new(
        CircuitBreaker::new(
            "review-guard-slot",
            Config::default()
                .max_failures(1)
                .timeout(SEC)
                .clock(clock.clone()),
        )
        .unwrap(),
    );
    assert!(cb.join_store(&RefusingStore));
    cb.call(|| Err::<(), _>(())).unwrap_err();
    clock.advance(SEC);
    assert!(cb.try_acquire().is_err());
    let stats = cb.stats();
    assert_eq!(stats.in_flight, 0);
    // The fleet's 30 s open period, then a local half-open period.
    clock.advance(30 * SEC);
    assert_eq!(cb.state(), State::HalfOpen);
    // The store refuses again, but the local slot was free to ask.
    assert!(cb.try_acquire().is_err());
    let totals = cb.stats().totals;
    assert_eq!(
        totals.calls - totals.rejected,
        1,
        "admitted once: {totals:?}"
    );
}
