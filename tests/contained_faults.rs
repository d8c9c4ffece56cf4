//! Faults in the code around the breaker, contained: a `tracing`
//! subscriber, a store's hooks (`strict`, `acquire_probe`, `probe_ended`)
//! or a clock that panics; a probe held across many abandonments; a fleet
//! probe whose store changes the breaker's state while it asks; the idle
//! sweep reading an open breaker's clock.
//!
//! Each test not named `guard_...` was written against the code before its
//! fix, where it failed; the `guard_` tests hold what already held.
//!
//! Time is a `ManualClock` (or tokio's paused time); interleavings are
//! forced with a store's hooks and channels, each wait bounded by
//! `PATIENCE` so that a broken interleaving fails instead of hanging.

use std::num::NonZeroU64;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::thread;
use std::time::Duration;

use breakerbox::{
    CircuitBreaker, Config, ManualClock, Outcome, ProbeLease, ProbeSlot, Registry, RejectReason,
    SharedState, State, StateStore, TokioClock,
};

// The tests' helpers; this file uses the gate, and the Redis server with
// the `redis` feature.
mod support;

use support::faulty_clock::FaultyClock;
use support::gate::gate;
#[cfg(feature = "redis")]
use support::gate::PATIENCE;
use support::on_event::OnEvent;

const SEC: Duration = Duration::from_secs(1);
const MS: Duration = Duration::from_millis(1);

type AcquireHook = dyn Fn(&CircuitBreaker) -> ProbeSlot + Send + Sync;
type EndedHook = dyn Fn(ProbeLease, Option<Outcome>) + Send + Sync;

/// A shared store whose hooks a test writes: `acquire` answers
/// `acquire_probe` (and may call into the breaker, as `RedisStore` applies
/// the fleet's state there), `ended` hears `probe_ended`, and `strict`
/// panics while `strict_panics` is set.
#[derive(Clone)]
struct HookStore {
    acquire: Arc<AcquireHook>,
    ended: Arc<EndedHook>,
    strict_panics: Arc<AtomicBool>,
}

impl HookStore {
    fn new(acquire: impl Fn(&CircuitBreaker) -> ProbeSlot + Send + Sync + 'static) -> Self {
        HookStore {
            acquire: Arc::new(acquire),
            ended: Arc::new(|_, _| {}),
            strict_panics: Arc::new(AtomicBool::new(false)),
        }
    }

    fn on_probe_ended(
        mut self,
        ended: impl Fn(ProbeLease, Option<Outcome>) + Send + Sync + 'static,
    ) -> Self {
        self.ended = Arc::new(ended);
        self
    }
}

struct HookMember {
    store: HookStore,
    breaker: Weak<CircuitBreaker>,
}

impl StateStore for HookStore {
    fn join(&self, breaker: &Arc<CircuitBreaker>) -> Arc<dyn SharedState> {
        Arc::new(HookMember {
            store: self.clone(),
            breaker: Arc::downgrade(breaker),
        })
    }
}

impl SharedState for HookMember {
    fn strict(&self) -> bool {
        if self.store.strict_panics.load(Ordering::SeqCst) {
            panic!("store bug in strict()");
        }
        false
    }

    fn acquire_probe(&self) -> ProbeSlot {
        match self.breaker.upgrade() {
            Some(breaker) => (self.store.acquire)(&breaker),
            None => ProbeSlot::Unleased,
        }
    }

    fn probe_ended(&self, lease: ProbeLease, outcome: Option<Outcome>) {
        (self.store.ended)(lease, outcome);
    }

    fn transitioned(&self, _from: State, _to: State, _open_for: Duration) {}
}

fn lease(id: u64) -> ProbeLease {
    ProbeLease::new(NonZeroU64::new(id).unwrap())
}

/// The transitions a listener heard, in order.
type Heard = Arc<Mutex<Vec<(State, State)>>>;

fn listening(config: Config) -> (Config, Heard) {
    let heard: Heard = Arc::default();
    let sink = Arc::clone(&heard);
    let config = config.on_state_change(move |change| {
        sink.lock().unwrap().push((change.from, change.to));
    });
    (config, heard)
}

fn trip(cb: &CircuitBreaker) {
    cb.call(|| Err::<(), _>("down")).unwrap_err();
    assert_eq!(cb.state(), State::Open);
}

fn reason<T>(result: &Result<T, breakerbox::Rejected>) -> Option<RejectReason> {
    result.as_ref().err().map(|rejected| rejected.reason())
}

// ----- the announcing role ----------------------------------------------------

/// A `tracing` subscriber that panics on every ERROR event (as test
/// harnesses and "errors are bugs" layers do).
fn panic_on_error() -> impl tracing::Subscriber {
    OnEvent(|event: &tracing::Event<'_>| {
        if *event.metadata().level() == tracing::Level::ERROR {
            panic!("subscriber: an ERROR event is a bug");
        }
    })
}

/// The announcing thread logs a listener's panic on a transition it did
/// not make with `tracing::error!` inside its delivery loop, outside any
/// `catch_unwind`: a subscriber that panics there unwinds out of
/// `announce` with `Core::announcing` still set, and from then on no
/// thread ever announces again. Every later transition of the breaker is
/// queued (then dropped at 1,024) and never reaches the log or a listener.
/// `deliver` contains the same subscriber's panic on the state-change
/// event; this report is the one place it is not contained.
#[test]
fn a_subscriber_panic_on_a_relayed_listener_panic_report_does_not_silence_the_breaker() {
    let armed = Arc::new(AtomicBool::new(true));
    let heard: Heard = Arc::default();
    let cb: Arc<CircuitBreaker> = Arc::new_cyclic(|weak: &Weak<CircuitBreaker>| {
        let weak = weak.clone();
        let armed = Arc::clone(&armed);
        let sink = Arc::clone(&heard);
        CircuitBreaker::new(
            "review2-stuck-announcer",
            Config::default()
                .max_failures(1)
                .clock(ManualClock::new())
                .on_state_change(move |change| {
                    sink.lock().unwrap().push((change.from, change.to));
                    if !armed.load(Ordering::SeqCst) {
                        return;
                    }
                    match change.to {
                        // A re-entrant listener: its transition is queued
                        // and delivered by this same announcing thread,
                        // as another thread's.
                        State::Open => {
                            if let Some(cb) = weak.upgrade() {
                                cb.force_open();
                            }
                        }
                        State::ForcedOpen => panic!("listener bug"),
                        _ => {}
                    }
                }),
        )
        .unwrap()
    });
    let tripped = tracing::subscriber::with_default(panic_on_error(), || {
        panic::catch_unwind(AssertUnwindSafe(|| {
            let _ = cb.call(|| Err::<(), _>("down"));
        }))
    });
    let _ = tripped;
    armed.store(false, Ordering::SeqCst);
    // Both faults are gone: an operator resets the breaker.
    cb.reset();
    assert_eq!(cb.state(), State::Closed);
    let heard = heard.lock().unwrap().clone();
    assert_eq!(
        heard.last(),
        Some(&(State::ForcedOpen, State::Closed)),
        "the reset was never announced (nor will any later transition be): \
         heard only {heard:?}"
    );
}

/// The same unguarded report at the start of `announce`: a clock panic
/// contained while the breaker trips is reported with `tracing::error!`
/// before the thread takes the announcing role; a subscriber that panics
/// on it unwinds past the announcement, and the trip stays queued, heard
/// by no listener until some later transition flushes it.
#[test]
fn a_subscriber_panic_on_a_contained_panic_report_does_not_strand_the_transition() {
    let clock = FaultyClock::new(ManualClock::new());
    let (config, heard) = listening(Config::default().max_failures(1).clock(clock.clone()));
    let cb = CircuitBreaker::new("review2-report-strands", config).unwrap();
    clock.set_broken(true);
    let tripped = tracing::subscriber::with_default(panic_on_error(), || {
        panic::catch_unwind(AssertUnwindSafe(|| {
            let _ = cb.call(|| Err::<(), _>("down"));
        }))
    });
    clock.set_broken(false);
    let _ = tripped;
    assert_eq!(cb.state(), State::Open);
    let heard = heard.lock().unwrap().clone();
    assert_eq!(
        heard,
        vec![(State::Closed, State::Open)],
        "the breaker opened and the listeners never heard of it"
    );
}

/// A `tracing` subscriber that counts the ERROR events of target
/// `breakerbox` (the reports of contained panics).
/// Returns the subscriber and its count.
fn count_errors() -> (impl tracing::Subscriber, Arc<AtomicUsize>) {
    let errors = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&errors);
    let subscriber = OnEvent(move |event: &tracing::Event<'_>| {
        let meta = event.metadata();
        if *meta.level() == tracing::Level::ERROR && meta.target() == "breakerbox" {
            counted.fetch_add(1, Ordering::SeqCst);
        }
    });
    (subscriber, errors)
}

/// A listener's panic on a transition the caller made is handed back to
/// the caller; when the caller cannot take it (its permit is dropped while
/// the protected code's panic unwinds), `finish_locked` drops it, unlike
/// every other panic the breaker contains, without a report: the
/// listener's bug leaves no trace.
#[test]
fn a_listener_panic_heard_while_the_caller_unwinds_is_reported() {
    let cb = CircuitBreaker::new(
        "review2-unwinding-listener",
        Config::default()
            .max_failures(1)
            .clock(ManualClock::new())
            .on_state_change(|_| panic!("listener bug")),
    )
    .unwrap();
    let (subscriber, errors) = count_errors();
    let caught = tracing::subscriber::with_default(subscriber, || {
        panic::catch_unwind(AssertUnwindSafe(|| {
            let _ = cb.call(|| -> Result<(), ()> { panic!("the protected code panicked") });
        }))
    });
    assert!(caught.is_err());
    assert_eq!(cb.state(), State::Open);
    assert_eq!(
        errors.load(Ordering::SeqCst),
        1,
        "the listener's panic was neither propagated nor reported"
    );
}

/// The same for a transition the store applies (`apply_shared`, and the
/// store's reads through `store_view`): the listener's panic "must not
/// take the store's thread down", and is dropped without a report.
#[test]
fn a_listener_panic_on_a_transition_the_store_applies_is_reported() {
    let cb = CircuitBreaker::new(
        "review2-store-listener",
        Config::default()
            .clock(ManualClock::new())
            .on_state_change(|_| panic!("listener bug")),
    )
    .unwrap();
    let (subscriber, errors) = count_errors();
    tracing::subscriber::with_default(subscriber, || {
        cb.apply_shared(State::Open, 30 * SEC);
    });
    assert_eq!(cb.state(), State::Open);
    assert_eq!(
        errors.load(Ordering::SeqCst),
        1,
        "the listener's panic was dropped without a report"
    );
}

// ----- the two-phase fleet probe ---------------------------------------------

/// `RedisStore::acquire_probe`, when the fleet is closed again, applies
/// the fleet's state to the breaker and answers `Unleased` ("closed
/// again: no slot is needed"). The second phase sees the generation
/// changed and refuses the call as `HalfOpenFull`, although the breaker is
/// now closed: every process that was half-open when the fleet closed
/// rejects a call for a full half-open breaker it no longer is (and the
/// closed period counts that rejection).
#[test]
fn a_probe_whose_store_closes_the_breaker_meanwhile_is_not_rejected_as_half_open_full() {
    let store = HookStore::new(|breaker| {
        // The fleet closed while this process was half-open.
        breaker.apply_shared(State::Closed, Duration::ZERO);
        ProbeSlot::Unleased
    });
    let clock = ManualClock::new();
    let cb = Arc::new(
        CircuitBreaker::new(
            "review2-fleet-closed-again",
            Config::default()
                .max_failures(1)
                .timeout(SEC)
                .clock(clock.clone()),
        )
        .unwrap(),
    );
    assert!(cb.join_store(&store));
    trip(&cb);
    clock.advance(SEC);
    let admitted = cb.try_acquire().map(|permit| permit.success());
    assert_eq!(
        reason(&admitted),
        None,
        "rejected while the breaker is {:?} with {} rejection(s) in its closed period",
        cb.state(),
        cb.stats().period.rejected
    );
}

/// The same against the shipped `RedisStore` and a real `redis-server`
/// (`cargo test --features redis --test review_core2 redis`): the local
/// breaker is half-open, the fleet closed (its pub/sub message not yet
/// heard); the probe's round trip learns that the fleet is closed, applies
/// it, and the call is still rejected as `HalfOpenFull`.
#[cfg(feature = "redis")]
#[test]
fn redis_a_probe_that_learns_the_fleet_closed_is_not_rejected_as_half_open_full() {
    use breakerbox::RedisStore;
    use std::time::Instant;
    use support::redis_server::RedisServer;

    let server = RedisServer::start();
    let clock = ManualClock::new();
    let cb = Arc::new(
        CircuitBreaker::new(
            "review2-redis-closed",
            Config::default()
                .max_failures(1)
                .timeout(SEC)
                .clock(clock.clone()),
        )
        .unwrap(),
    );
    // No polls after the first: the fleet's state reaches the breaker only
    // through the probe's round trip.
    let store = RedisStore::builder(server.url())
        .prefix("review2")
        .poll_interval(Duration::from_secs(3_600))
        .operation_timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    assert!(cb.join_store(&store));
    let deadline = Instant::now() + PATIENCE;
    let mut con = server.client();
    // The first poll creates the fleet's state, closed.
    loop {
        let state: Option<String> = redis::cmd("HGET")
            .arg("review2:{review2-redis-closed}:state")
            .arg("state")
            .query(&mut con)
            .unwrap();
        if state.as_deref() == Some("closed") {
            break;
        }
        assert!(Instant::now() < deadline, "the store never polled");
        thread::yield_now();
    }
    // Open locally (the fleet is not told), then half-open; again if the
    // first poll's reply closed it meanwhile.
    loop {
        cb.apply_shared(State::Open, SEC);
        clock.advance(SEC);
        if cb.state() == State::HalfOpen {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the breaker never turned half-open"
        );
    }
    let admitted = cb.try_acquire().map(|permit| permit.success());
    assert_eq!(
        reason(&admitted),
        None,
        "rejected while the breaker is {:?}",
        cb.state()
    );
}

/// A probe's ticket holds its probe epoch in 15 bits, and
/// `release_probe` compares epochs modulo 2^15: a probe still running
/// after 32,768 abandonments (here resets; the default half-open wait and
/// force_open/disable count too) matches the epoch again, and its ending
/// gives back a slot that another probe holds. The next call is then
/// admitted as a second probe with `half_open_max_calls(1)`.
#[test]
fn a_probe_held_across_32768_resets_does_not_free_another_probes_slot() {
    let clock = ManualClock::new();
    let cb = CircuitBreaker::new(
        "review2-epoch-wrap",
        Config::default()
            .max_failures(1)
            .timeout(SEC)
            .clock(clock.clone()),
    )
    .unwrap();
    trip(&cb);
    clock.advance(SEC);
    let old_probe = cb.try_acquire().unwrap();
    assert!(old_probe.is_probe());
    for _ in 0..(1 << 15) {
        cb.reset();
    }
    trip(&cb);
    clock.advance(SEC);
    let probe = cb.try_acquire().unwrap();
    assert!(probe.is_probe());
    // The old probe ends (cancelled): it was abandoned long ago.
    drop(old_probe);
    let intruder = cb.try_acquire();
    assert_eq!(
        reason(&intruder),
        Some(RejectReason::HalfOpenFull),
        "a second probe ran with half_open_max_calls(1)"
    );
    drop((probe, intruder));
}

// ----- the clock --------------------------------------------------------------

/// The registry's idle sweep asks each breaker `idle_sample`, which reads
/// an open breaker's clock with no `catch_unwind`: the clock's panic,
/// contained everywhere else, escapes `Registry::evict_idle` (and any
/// `get_or_create` of a new name that sweeps), with the registry's locks
/// held.
#[test]
fn idle_eviction_contains_the_panic_of_an_open_breakers_clock() {
    let clock = FaultyClock::new(ManualClock::new());
    let registry = Registry::new();
    registry.set_clock(ManualClock::new());
    registry.set_idle_eviction(Some(SEC));
    let cb = registry
        .get_or_create(
            "review2-idle-clock",
            Config::default().max_failures(1).clock(clock.clone()),
        )
        .unwrap();
    trip(&cb);
    drop(cb);
    clock.set_broken(true);
    let swept = panic::catch_unwind(AssertUnwindSafe(|| registry.evict_idle()));
    clock.set_broken(false);
    assert!(
        swept.is_ok(),
        "the breaker's clock panic escaped the registry's sweep"
    );
}

/// `wait_until_ready` computes one sleep from `open_until`; a breaker that
/// opened while its clock panicked has `open_until = Duration::MAX` until
/// a good reading, so a wait that starts then sleeps for ever (tokio's far
/// future), though the clock recovers a moment later and the open period
/// ends a second after that.
#[tokio::test(start_paused = true)]
async fn wait_until_ready_called_while_the_clock_panics_resolves_once_it_recovers() {
    let clock = FaultyClock::new(TokioClock::new());
    let cb = Arc::new(
        CircuitBreaker::new(
            "review2-wait-sentinel",
            Config::default()
                .max_failures(1)
                .timeout(SEC)
                .clock(clock.clone()),
        )
        .unwrap(),
    );
    clock.set_broken(true);
    cb.call(|| Err::<(), _>("down")).unwrap_err();
    let reads = clock.failed_reads();
    let waiter = tokio::spawn({
        let cb = Arc::clone(&cb);
        async move { cb.wait_until_ready().await }
    });
    // Until the waiter has looked at the breaker once, with the clock down.
    for _ in 0..1_000 {
        if clock.failed_reads() > reads {
            break;
        }
        tokio::task::yield_now().await;
    }
    assert!(clock.failed_reads() > reads, "the waiter read the clock");
    clock.set_broken(false);
    let ready = tokio::time::timeout(Duration::from_secs(60), waiter).await;
    assert!(
        ready.is_ok(),
        "still waiting a minute after the clock recovered (the breaker is {:?})",
        cb.state()
    );
}

/// `open_until == Duration::MAX` means "opened while the clock failed: set
/// it at the next good reading". The fleet's open period applied with
/// `apply_shared(Open, open_for)` lands on the same value whenever
/// `now + open_for` saturates (an open period "for ever"), and the next
/// reading replaces it with the local `timeout`: the breaker half-opens
/// after one second although the fleet keeps it open.
#[test]
fn the_fleets_open_period_of_duration_max_is_not_cut_to_the_local_timeout() {
    let clock = ManualClock::new();
    let cb = CircuitBreaker::new(
        "review2-apply-max",
        Config::default().timeout(SEC).clock(clock.clone()),
    )
    .unwrap();
    cb.apply_shared(State::Open, Duration::MAX);
    assert_eq!(cb.state(), State::Open);
    clock.advance(10 * SEC);
    assert_eq!(
        cb.state(),
        State::Open,
        "the fleet's open period was replaced by the local timeout"
    );
}

/// A probe admitted while the clock panics starts the hung-probe clock
/// from the last good reading (a guess that can be long past): at the
/// first good reading it has been "silent" since then, and an explicit
/// `half_open_max_wait` re-opens the breaker at once, so the probe that
/// was admitted a moment ago and succeeds no longer counts. The fix made
/// neither a call's timing nor an open period start from a guess; the
/// half-open wait still does.
#[test]
fn a_probe_admitted_while_the_clock_panics_is_not_judged_hung_from_a_guess() {
    let clock = FaultyClock::new(ManualClock::new());
    let cb = CircuitBreaker::new(
        "review2-probe-guess",
        Config::default()
            .max_failures(1)
            .timeout(SEC)
            .half_open_max_wait(10 * SEC)
            .clock(clock.clone()),
    )
    .unwrap();
    trip(&cb);
    clock.inner.advance(SEC);
    assert_eq!(cb.state(), State::HalfOpen);
    // The clock fails for 30 s; a probe is admitted at its end.
    clock.set_broken(true);
    clock.inner.advance(30 * SEC);
    let probe = cb.try_acquire().unwrap();
    assert!(probe.is_probe());
    clock.set_broken(false);
    assert_eq!(
        cb.state(),
        State::HalfOpen,
        "the probe admitted a moment ago was judged silent for 30 s"
    );
    probe.success();
}

/// `apply_shared(Open, open_for)` sets `open_until` from `now` even when
/// the clock just panicked and `now` is the last good reading: after a
/// long outage of the clock the fleet's open period is back-dated, and the
/// breaker half-opens at the clock's first good reading instead of
/// staying open for the fleet's 30 s (the guide (semantics) promises "no back-dated
/// open period").
#[test]
fn the_fleets_open_period_applied_while_the_clock_panics_is_not_back_dated() {
    let clock = FaultyClock::new(ManualClock::new());
    let cb = CircuitBreaker::new(
        "review2-apply-guess",
        Config::default().timeout(SEC).clock(clock.clone()),
    )
    .unwrap();
    assert_eq!(cb.state(), State::Closed);
    clock.set_broken(true);
    clock.inner.advance(100 * SEC);
    cb.apply_shared(State::Open, 30 * SEC);
    clock.set_broken(false);
    assert_eq!(
        cb.state(),
        State::Open,
        "the fleet's 30 s open period ended before the clock's first good reading"
    );
}

// ----- store hooks that panic -------------------------------------------------

/// Phase one of a fleet probe reserves a local probe slot; if the store's
/// `acquire_probe` panics, nothing gives it back (the reservation is not
/// yet a permit), and with `half_open_max_calls(1)` the breaker refuses
/// every call as `HalfOpenFull` until the 60 s default wait frees it.
/// (`transitioned` is contained; the store's other hooks are not.)
#[test]
fn a_panicking_acquire_probe_gives_the_reserved_probe_slot_back() {
    let panics = Arc::new(AtomicUsize::new(1));
    let store = {
        let panics = Arc::clone(&panics);
        HookStore::new(move |_| {
            if panics
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
            {
                panic!("store bug in acquire_probe");
            }
            ProbeSlot::Unleased
        })
    };
    let clock = ManualClock::new();
    let cb = Arc::new(
        CircuitBreaker::new(
            "review2-acquire-panic-slot",
            Config::default()
                .max_failures(1)
                .timeout(SEC)
                .clock(clock.clone()),
        )
        .unwrap(),
    );
    assert!(cb.join_store(&store));
    trip(&cb);
    clock.advance(SEC);
    let panicked = panic::catch_unwind(AssertUnwindSafe(|| cb.try_acquire().map(drop)));
    let _ = panicked;
    let next = cb.try_acquire().map(|permit| permit.success());
    assert_eq!(
        reason(&next),
        None,
        "the slot reserved for the call that never ran is still held"
    );
}

/// The same panic strands the transition phase one made (open to
/// half-open): it is queued, but the thread that made it unwinds before it
/// announces, so the log and the listeners do not hear of it until some
/// later transition happens to flush the queue.
#[test]
fn a_panicking_acquire_probe_does_not_strand_the_half_open_announcement() {
    let store = HookStore::new(|_| panic!("store bug in acquire_probe"));
    let clock = ManualClock::new();
    let (config, heard) = listening(
        Config::default()
            .max_failures(1)
            .timeout(SEC)
            .clock(clock.clone()),
    );
    let cb = Arc::new(CircuitBreaker::new("review2-acquire-panic-announce", config).unwrap());
    assert!(cb.join_store(&store));
    trip(&cb);
    clock.advance(SEC);
    let panicked = panic::catch_unwind(AssertUnwindSafe(|| cb.try_acquire().map(drop)));
    let _ = panicked;
    assert_eq!(cb.state(), State::HalfOpen);
    let heard = heard.lock().unwrap().clone();
    assert_eq!(
        heard.last(),
        Some(&(State::Open, State::HalfOpen)),
        "the breaker is half-open but the listeners heard only {heard:?}"
    );
}

/// `probe_ended` runs after the lock is released and before the
/// announcement: if it panics, the probe's closing of the breaker is
/// queued and never announced by the thread that made it.
#[test]
fn a_panicking_probe_ended_does_not_strand_the_close_announcement() {
    let store = HookStore::new(|_| ProbeSlot::Leased(lease(1)))
        .on_probe_ended(|_, _| panic!("store bug in probe_ended"));
    let clock = ManualClock::new();
    let (config, heard) = listening(
        Config::default()
            .max_failures(1)
            .timeout(SEC)
            .clock(clock.clone()),
    );
    let cb = Arc::new(CircuitBreaker::new("review2-ended-panic", config).unwrap());
    assert!(cb.join_store(&store));
    trip(&cb);
    clock.advance(SEC);
    let probe = cb.try_acquire().unwrap();
    assert!(probe.is_probe());
    let panicked = panic::catch_unwind(AssertUnwindSafe(|| probe.success()));
    let _ = panicked;
    assert_eq!(cb.state(), State::Closed);
    let heard = heard.lock().unwrap().clone();
    assert_eq!(
        heard.last(),
        Some(&(State::HalfOpen, State::Closed)),
        "the breaker closed but the listeners heard only {heard:?}"
    );
}

/// `publish` asks the store's `strict()` under the lock, uncontained, when
/// it publishes a closed state, after `set_state` has changed
/// `Core::state`: a panic there leaves the breaker closed under the lock
/// and the published word still forced open, for good (nothing
/// republishes until the next manual command). `reset` is undone for
/// every caller: `state()` says closed and every call is rejected as
/// forced open, on the lock-free path, which never looks again.
#[test]
fn a_panicking_strict_check_does_not_leave_a_reset_breaker_rejecting_every_call() {
    let store = HookStore::new(|_| ProbeSlot::Unleased);
    let strict_panics = Arc::clone(&store.strict_panics);
    let cb = Arc::new(
        CircuitBreaker::new(
            "review2-strict-panic",
            Config::default().clock(ManualClock::new()),
        )
        .unwrap(),
    );
    assert!(cb.join_store(&store));
    cb.force_open();
    strict_panics.store(true, Ordering::SeqCst);
    let panicked = panic::catch_unwind(AssertUnwindSafe(|| cb.reset()));
    strict_panics.store(false, Ordering::SeqCst);
    let _ = panicked;
    assert_eq!(cb.state(), State::Closed);
    let admitted = cb.try_acquire().map(drop);
    assert_eq!(
        reason(&admitted),
        None,
        "the breaker reports closed and rejects every call"
    );
}

// ----- guards (these pass) ----------------------------------------------------

/// GUARD (passes): a reset made while a probe waits for the store (here
/// from inside `acquire_probe`) refuses that probe, gives its lease back
/// exactly once, and leaves no local slot held: the next half-open period
/// admits a probe whose lease also comes back once.
#[test]
fn guard_a_reset_during_the_fleet_round_gives_the_lease_back_once_and_frees_the_slot() {
    let asked = Arc::new(AtomicU64::new(0));
    let ended: Arc<Mutex<Vec<u64>>> = Arc::default();
    let store = {
        let asked = Arc::clone(&asked);
        let sink = Arc::clone(&ended);
        HookStore::new(move |breaker| {
            let n = asked.fetch_add(1, Ordering::SeqCst) + 1;
            if n == 1 {
                breaker.reset();
            }
            ProbeSlot::Leased(lease(n))
        })
        .on_probe_ended(move |lease, _| sink.lock().unwrap().push(lease.id().get()))
    };
    let clock = ManualClock::new();
    let cb = Arc::new(
        CircuitBreaker::new(
            "review2-guard-reset-lease",
            Config::default()
                .max_failures(1)
                .timeout(SEC)
                .clock(clock.clone()),
        )
        .unwrap(),
    );
    assert!(cb.join_store(&store));
    trip(&cb);
    clock.advance(SEC);
    // The reset closed the breaker while the call waited for the fleet:
    // the call is decided again, as a call of a closed breaker, and the
    // lease goes back.
    let readmitted = cb.try_acquire().expect("admitted by the closed breaker");
    assert!(!readmitted.is_probe());
    readmitted.success();
    assert_eq!(*ended.lock().unwrap(), vec![1]);
    trip(&cb);
    clock.advance(SEC);
    let probe = cb.try_acquire().expect("the slot was given back");
    assert!(probe.is_probe());
    probe.success();
    assert_eq!(*ended.lock().unwrap(), vec![1, 2]);
    let stats = cb.stats();
    assert_eq!(stats.state, State::Closed);
    assert_eq!(stats.in_flight, 0);
    // Two trips, the readmitted call and one probe.
    assert_eq!(stats.totals.calls - stats.totals.rejected, 4);
}

/// GUARD (passes): two fleet probes racing for the bulkhead's last place
/// (`max_concurrent_calls(1)`, two probe slots), one of them held inside
/// `acquire_probe` while the other is admitted: exactly one runs, and the
/// other gives its slot back.
#[test]
fn guard_the_bulkhead_admits_one_of_two_fleet_probes_racing_for_its_last_place() {
    let (hook, handle) = gate();
    let first = Arc::new(AtomicBool::new(true));
    let store = {
        let first = Arc::clone(&first);
        HookStore::new(move |_| {
            if first.swap(false, Ordering::SeqCst) {
                hook.hold();
            }
            ProbeSlot::Unleased
        })
    };
    let clock = ManualClock::new();
    let cb = Arc::new(
        CircuitBreaker::new(
            "review2-guard-bulkhead",
            Config::default()
                .max_failures(1)
                .timeout(SEC)
                .half_open_max_calls(2)
                .max_concurrent_calls(1)
                .clock(clock.clone()),
        )
        .unwrap(),
    );
    assert!(cb.join_store(&store));
    trip(&cb);
    clock.advance(SEC);
    let held = {
        let cb = Arc::clone(&cb);
        thread::spawn(move || reason(&cb.try_acquire().map(drop)))
    };
    handle.wait_entered();
    let permit = cb.try_acquire().expect("the bulkhead's place was free");
    handle.release();
    assert_eq!(held.join().unwrap(), Some(RejectReason::TooManyCalls));
    assert_eq!(cb.stats().in_flight, 1);
    permit.success();
    let stats = cb.stats();
    assert_eq!(stats.state, State::Closed);
    assert_eq!(stats.in_flight, 0);
}

/// GUARD (passes): a probe whose slot the default wait freed still counts
/// when it reports late, but only in its own half-open period: once a
/// newer probe has closed the breaker, its late failure is stale and does
/// not re-open it.
#[test]
fn guard_an_abandoned_probes_late_failure_does_not_reopen_a_breaker_that_closed() {
    let clock = ManualClock::new();
    let cb = CircuitBreaker::new(
        "review2-guard-late-failure",
        Config::default()
            .max_failures(1)
            .timeout(SEC)
            .clock(clock.clone()),
    )
    .unwrap();
    trip(&cb);
    clock.advance(SEC);
    let slow = cb.try_acquire().unwrap();
    clock.advance(breakerbox::DEFAULT_HALF_OPEN_MAX_WAIT);
    let fresh = cb.try_acquire().expect("the silent probe's slot was freed");
    fresh.success();
    assert_eq!(cb.state(), State::Closed);
    slow.failure();
    let stats = cb.stats();
    assert_eq!(stats.state, State::Closed);
    assert_eq!(stats.totals.stale, 1);
}

/// GUARD (passes): a breaker that opened while its clock panicked starts
/// its open period at the first good reading: a full `timeout` from then,
/// as `stats()` reports, and half-open after it.
#[test]
fn guard_an_open_period_begun_while_the_clock_panics_starts_at_the_first_good_reading() {
    let clock = FaultyClock::new(ManualClock::new());
    let cb = CircuitBreaker::new(
        "review2-guard-sentinel",
        Config::default()
            .max_failures(1)
            .timeout(10 * SEC)
            .clock(clock.clone()),
    )
    .unwrap();
    clock.inner.advance(5 * SEC);
    clock.set_broken(true);
    cb.call(|| Err::<(), _>("down")).unwrap_err();
    clock.inner.advance(SEC);
    clock.set_broken(false);
    assert_eq!(cb.stats().time_until_half_open, Some(10 * SEC));
    clock.inner.advance(10 * SEC - MS);
    assert_eq!(cb.state(), State::Open);
    clock.inner.advance(MS);
    assert_eq!(cb.state(), State::HalfOpen);
}

/// GUARD (passes): a listener blocked while another thread makes 2,000
/// transitions: the queue keeps the newest 1,024, delivered in order once
/// the listener returns, ending at the breaker's state.
#[test]
fn guard_a_full_announcement_queue_keeps_the_newest_in_order() {
    let (hook, handle) = gate();
    let first = AtomicBool::new(true);
    let heard: Arc<Mutex<Vec<State>>> = Arc::default();
    let sink = Arc::clone(&heard);
    let cb = Arc::new(
        CircuitBreaker::new(
            "review2-guard-cap",
            Config::default()
                .max_failures(1)
                .clock(ManualClock::new())
                .on_state_change(move |change| {
                    if first.swap(false, Ordering::SeqCst) {
                        hook.hold();
                    }
                    sink.lock().unwrap().push(change.to);
                }),
        )
        .unwrap(),
    );
    let tripper = {
        let cb = Arc::clone(&cb);
        thread::spawn(move || cb.call(|| Err::<(), _>("down")).unwrap_err())
    };
    handle.wait_entered();
    for _ in 0..1_000 {
        cb.force_open();
        cb.disable();
    }
    handle.release();
    tripper.join().unwrap();
    let heard = heard.lock().unwrap().clone();
    assert_eq!(heard.len(), 1 + 1_024);
    assert_eq!(heard[0], State::Open);
    let newest: Vec<State> = (0..512)
        .flat_map(|_| [State::ForcedOpen, State::Disabled])
        .collect();
    assert_eq!(heard[1..], newest[..]);
    assert_eq!(cb.state(), State::Disabled);
}
