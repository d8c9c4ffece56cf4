//! Settings from every source and in every order, and the registry's
//! bound: each test not named `guard_...` was written against the code
//! before its fix, where it failed; the `guard_...` tests hold behaviour
//! that the attacks tried and could not break.
//!
//! Time is a `ManualClock` or tokio's paused time; interleavings are forced
//! with channels, never with sleeps.

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::Duration;

mod support;

use breakerbox::{
    circuit_breaker, registry, CircuitBreaker, Clock, Config, ConfigFile, ManualClock, Outcome,
    PartialConfig, ProbeLease, ProbeSlot, Registry, RegistryError, SharedState, State, StateStore,
};

const SEC: Duration = Duration::from_secs(1);

#[derive(Debug, PartialEq)]
enum CallError {
    Rejected,
    TimedOut,
}

impl From<breakerbox::Rejected> for CallError {
    fn from(_: breakerbox::Rejected) -> Self {
        CallError::Rejected
    }
}

impl From<breakerbox::TimedOut> for CallError {
    fn from(_: breakerbox::TimedOut) -> Self {
        CallError::TimedOut
    }
}

fn ops(key: &str, value: &str) -> PartialConfig {
    let mut partial = PartialConfig::new();
    partial.set(key, value).unwrap();
    partial
}

fn trip(cb: &CircuitBreaker) {
    while cb.state() == State::Closed {
        let _ = cb.call(|| Err::<(), _>(()));
    }
}

// ===== defects ===================================================================

// ----- a call_timeout from configure / a file is lost at an async site when a
// ----- sync site sharing the name is called first

#[circuit_breaker(name = "review-sync-first-configure")]
fn sync_first_configure() -> Result<(), CallError> {
    Ok(())
}

#[circuit_breaker(name = "review-sync-first-configure")]
async fn async_after_sync_configure(work: Duration) -> Result<(), CallError> {
    tokio::time::sleep(work).await;
    Ok(())
}

/// The configuration guide: a `call_timeout` set by `configure` "applies to every `async fn`
/// whose `E` has that `From`; a function that cannot enforce it ...
/// refuses it". When the sync function sharing the name happens to make
/// the first call, the refusal strips the value from the shared breaker,
/// and the async function, which could enforce it, runs unbounded; the
/// listed problem only speaks of the sync function.
#[tokio::test(start_paused = true)]
async fn a_configured_call_timeout_bounds_the_async_site_even_when_a_sync_site_sharing_the_name_calls_first(
) {
    registry()
        .configure(
            "review-sync-first-configure",
            Config::default().call_timeout(SEC),
        )
        .unwrap();
    assert_eq!(sync_first_configure(), Ok(()));
    assert_eq!(
        async_after_sync_configure(5 * SEC).await,
        Err(CallError::TimedOut),
        "the configured call_timeout did not bound the async function"
    );
}

#[circuit_breaker(name = "review-sync-first-file")]
fn sync_first_file() -> Result<(), CallError> {
    Ok(())
}

#[circuit_breaker(name = "review-sync-first-file")]
async fn async_after_sync_file(work: Duration) -> Result<(), CallError> {
    tokio::time::sleep(work).await;
    Ok(())
}

/// The same with the operators' value from a TOML file.
#[tokio::test(start_paused = true)]
async fn a_file_call_timeout_bounds_the_async_site_even_when_a_sync_site_sharing_the_name_calls_first(
) {
    ConfigFile::parse(
        "ops.toml",
        "[review-sync-first-file]\ncall_timeout = \"1s\"\n",
    )
    .unwrap()
    .apply(registry())
    .unwrap();
    assert_eq!(sync_first_file(), Ok(()));
    assert_eq!(
        async_after_sync_file(5 * SEC).await,
        Err(CallError::TimedOut),
        "the file's call_timeout did not bound the async function"
    );
}

#[circuit_breaker(name = "review-sync-first-attribute")]
fn sync_first_attribute() -> Result<(), CallError> {
    Ok(())
}

#[circuit_breaker(name = "review-sync-first-attribute", call_timeout = "1s")]
async fn async_after_sync_attribute(work: Duration) -> Result<(), CallError> {
    tokio::time::sleep(work).await;
    Ok(())
}

/// The attribute's own `call_timeout` on the async function: the sync
/// function sharing the name cannot write one (a compile error), so "give
/// functions that share a name the same values" is impossible, and when the
/// sync function calls first the async function's literal is dropped
/// without a listed problem.
#[tokio::test(start_paused = true)]
async fn an_attribute_call_timeout_takes_effect_or_is_listed_when_a_sync_site_sharing_the_name_calls_first(
) {
    assert_eq!(sync_first_attribute(), Ok(()));
    let result = async_after_sync_attribute(5 * SEC).await;
    let listed = registry()
        .config_problems()
        .iter()
        .any(|p| p.breaker() == "review-sync-first-attribute" && p.key() == "call_timeout");
    assert!(
        result == Err(CallError::TimedOut) || listed,
        "the attribute's call_timeout was dropped silently (the call returned {result:?})"
    );
}

// ----- environment variables choosing windows: order-dependent, silently dropped

/// The settings `vars` give the breaker `db` (created from `code`), or the
/// error refusing them: what an operator ends up with.
fn from_env(vars: &[(&str, &str)], code: Config) -> Result<(String, usize), String> {
    let registry = Registry::new();
    ConfigFile::new()
        .with_vars(vars.iter().copied())
        .and_then(|file| file.apply(&registry))
        .map_err(|e| e.to_string())?;
    let cb = registry.get_or_create("db", code).unwrap();
    let windows = format!(
        "{:?}",
        (
            field(cb.config(), "count_window"),
            field(cb.config(), "time_window"),
            field(cb.config(), "time_window_buckets")
        )
    );
    Ok((windows, registry.config_problems().len()))
}

/// A field of `Config`'s `Debug`, as text.
fn field(config: &Config, name: &str) -> String {
    let shown = format!("{config:?}");
    let start = shown
        .find(&format!("{name}: "))
        .unwrap_or_else(|| panic!("no `{name}` in {shown}"))
        + name.len()
        + 2;
    let rest = &shown[start..];
    let end = rest.find(", ").unwrap_or(rest.len());
    rest[..end].to_owned()
}

/// `BREAKER_DB__COUNT_WINDOW` and `BREAKER_DB__TIME_WINDOW` both set: each
/// variable is checked alone, then merged in the environment's (arbitrary)
/// order, the later window replacing the earlier. One of the two operator
/// values is dropped without an error or a listed problem, and which one
/// depends on the order `std::env::vars()` happens to yield. A file table
/// with both keys is refused ("choose one window").
#[test]
fn two_windows_from_the_environment_are_refused_not_resolved_by_variable_order() {
    let code = || Config::default().failure_rate(0.5);
    let count_first = from_env(
        &[
            ("BREAKER_DB__COUNT_WINDOW", "20"),
            ("BREAKER_DB__TIME_WINDOW", "30s"),
        ],
        code(),
    );
    let time_first = from_env(
        &[
            ("BREAKER_DB__TIME_WINDOW", "30s"),
            ("BREAKER_DB__COUNT_WINDOW", "20"),
        ],
        code(),
    );
    assert_eq!(
        count_first, time_first,
        "the outcome depends on the order of the environment"
    );
    if let Ok((windows, problems)) = &count_first {
        assert!(
            *problems > 0,
            "one of the two windows was dropped silently: the breaker has {windows}"
        );
    }
}

/// `BREAKER_DB__TIME_WINDOW_BUCKETS` then `BREAKER_DB__COUNT_WINDOW`: the
/// count window clears the buckets value the other variable set, without a
/// word; in the other order the buckets value is refused and listed.
#[test]
fn a_buckets_variable_is_never_dropped_silently_by_a_count_window_variable() {
    let code = || Config::default().failure_rate(0.5).time_window(60 * SEC);
    let buckets_first = from_env(
        &[
            ("BREAKER_DB__TIME_WINDOW_BUCKETS", "6"),
            ("BREAKER_DB__COUNT_WINDOW", "20"),
        ],
        code(),
    );
    let count_first = from_env(
        &[
            ("BREAKER_DB__COUNT_WINDOW", "20"),
            ("BREAKER_DB__TIME_WINDOW_BUCKETS", "6"),
        ],
        code(),
    );
    assert_eq!(
        buckets_first, count_first,
        "the outcome depends on the order of the environment"
    );
}

// ----- user code contained everywhere but in the registry's sweep and join

/// A clock that reads a `ManualClock` until told to panic.
#[derive(Debug, Clone, Default)]
struct FailingClock {
    time: ManualClock,
    failing: Arc<AtomicBool>,
}

impl Clock for FailingClock {
    fn now(&self) -> Duration {
        if self.failing.load(Ordering::SeqCst) {
            panic!("clock unavailable");
        }
        self.time.now()
    }
}

/// The breaker contains its clock everywhere it reads it (the review of
/// the core made that a guarantee), but idle eviction reads an open
/// breaker's clock uncontained, under the registry's locks: one dynamic
/// breaker whose clock fails makes every new name's `get_or_create` (and
/// `evict_idle`) panic, for as long as that breaker stays open.
#[test]
fn a_panicking_clock_of_one_open_breaker_does_not_make_get_or_create_of_another_name_panic() {
    let registry = Registry::new();
    let sweeps = ManualClock::new();
    registry.set_clock(sweeps.clone());
    registry.set_idle_eviction(Some(600 * SEC));
    let clock = FailingClock::default();
    let config = Config::default()
        .max_failures(1)
        .timeout(60 * SEC)
        .clock(clock.clone());
    trip(&registry.get_or_create("faulty-clock", config).unwrap());
    clock.failing.store(true, Ordering::SeqCst);
    sweeps.advance(600 * SEC);
    let created = panic::catch_unwind(AssertUnwindSafe(|| {
        registry.get_or_create("another-host", Config::default())
    }));
    assert!(
        matches!(created, Ok(Ok(_))),
        "get_or_create of an unrelated name panicked on another breaker's clock"
    );
}

/// A store whose `join` panics.
struct PanickingStore;

impl StateStore for PanickingStore {
    fn join(&self, _breaker: &Arc<CircuitBreaker>) -> Arc<dyn SharedState> {
        panic!("store unavailable");
    }
}

/// Every other store hook's panic is contained ("a panicking store hook is
/// contained"), but `StateStore::join`, which the registry calls while it
/// creates a breaker, is not: `get_or_create` (and an annotated function's
/// every call, since its site never gets a breaker) panics for as long as
/// the store's `join` does.
#[test]
fn a_panicking_store_join_does_not_make_get_or_create_panic() {
    let registry = Registry::new();
    registry.register_store("fleet", PanickingStore);
    let created = panic::catch_unwind(AssertUnwindSafe(|| {
        registry.get_or_create("joins-a-panicking-store", Config::default().store("fleet"))
    }));
    assert!(
        matches!(created, Ok(Ok(_))),
        "get_or_create panicked on the store's join"
    );
}

/// A `tracing` subscriber that, on each event with target `breakerbox`, reads
/// the registry (as a layer attaching `status_json` to alerts would).
fn reads_registry(registry: Arc<Registry>) -> impl tracing::Subscriber {
    support::on_event::OnEvent(move |event: &tracing::Event<'_>| {
        if event.metadata().target() == "breakerbox" {
            let _ = registry.names();
        }
    })
}

/// The registry builds a breaker under its own write lock, and the
/// constructor reports a clock that panics on its first read through
/// `tracing` right there: a subscriber that reads the registry on that
/// report deadlocks `get_or_create` (the core's reports were moved out of
/// the breaker's lock for this reason; the registry's lock was missed).
#[test]
fn a_subscriber_reading_the_registry_on_a_clock_report_does_not_deadlock_get_or_create() {
    let registry = Arc::new(Registry::new());
    let subscriber = reads_registry(Arc::clone(&registry));
    let clock = FailingClock::default();
    clock.failing.store(true, Ordering::SeqCst);
    let (done, finished) = mpsc::channel();
    {
        let registry = Arc::clone(&registry);
        // Left running if it deadlocks: the test fails instead of hanging.
        thread::spawn(move || {
            tracing::subscriber::with_default(subscriber, || {
                let _ =
                    registry.get_or_create("clock-fails-at-once", Config::default().clock(clock));
            });
            let _ = done.send(());
        });
    }
    assert!(
        finished.recv_timeout(Duration::from_secs(10)).is_ok(),
        "get_or_create deadlocked: the report ran under the registry's lock"
    );
}

// ----- registry growth: the problems list

/// `config_problems` gains one entry each time a name whose operators'
/// values conflict with its code is created again (after `remove`, or after
/// idle eviction, which recreates names by itself): the list grows without
/// bound with names created on demand, which the limit and eviction exist
/// to bound, and repeats the same problem.
#[test]
fn config_problems_do_not_grow_each_time_a_removed_name_is_created_again() {
    let registry = Registry::new();
    registry
        .override_config("host", ops("timeout", "5m"))
        .unwrap();
    let code = || {
        Config::default()
            .backoff_multiplier(2.0)
            .backoff_max(120 * SEC)
    };
    for _ in 0..50 {
        registry.get_or_create("host", code()).unwrap();
        registry.remove("host");
    }
    let listed = registry
        .config_problems()
        .iter()
        .filter(|p| p.breaker() == "host")
        .count();
    assert!(listed <= 1, "{listed} problems listed for one name");
}

// ----- a breaker that can never trip, accepted without a word

/// `max_failures = "off"` is documented as declaring a rate-only breaker.
/// From an operator over a code configuration without a rate policy or
/// predicate, it leaves a breaker with no policy at all, which never trips
/// whatever the failures, and nothing says so: not `override_config`, not
/// `get_or_create`, not `config_problems`.
#[test]
fn an_operators_max_failures_off_that_leaves_no_trip_policy_is_refused_or_listed() {
    let registry = Registry::new();
    registry
        .override_config("db", ops("max_failures", "off"))
        .unwrap();
    let cb = registry.get_or_create("db", Config::default()).unwrap();
    let silent =
        cb.config().settings().max_failures.is_none() && registry.config_problems().is_empty();
    for _ in 0..1000 {
        let _ = cb.call(|| Err::<(), _>(()));
    }
    assert!(
        !silent,
        "a breaker without any trip policy was accepted silently (after 1000 failures it is {:?})",
        cb.state()
    );
}

// ----- environment variables that are skipped without a word

/// `BREAKER_DB_TIMEOUT` (one underscore where the separator needs two) is
/// skipped like any unrelated variable, so the operator's timeout is never
/// applied and nothing says so. It ends in `_TIMEOUT`, a key: a near miss
/// worth an error naming the variable.
#[test]
fn a_breaker_variable_missing_the_double_underscore_before_a_key_is_refused() {
    let read = ConfigFile::new().with_vars([("BREAKER_DB_TIMEOUT", "5s")]);
    assert!(
        read.is_err(),
        "BREAKER_DB_TIMEOUT=5s was skipped without an error"
    );
}

// ----- names from request data in the new errors

const FORGER: &str = "x\n2099-01-01T00:00:00Z ERROR forged\u{1b}[2K\u{202e}";

/// Names are printed escaped in rejections, timeouts and log messages "so a
/// name from request data cannot forge log lines"; `RegistryError::Full`,
/// the error a name from request data meets at the limit, prints it raw.
#[test]
fn a_full_registry_error_prints_a_hostile_name_escaped() {
    let registry = Registry::new();
    registry.set_max_dynamic(Some(0));
    let error = registry
        .get_or_create(FORGER, Config::default())
        .unwrap_err();
    let message = error.to_string();
    assert!(
        !message.contains('\n') && !message.contains('\u{1b}') && !message.contains('\u{202e}'),
        "a raw control character in {message:?}"
    );
}

// ----- values with surrounding whitespace

/// Every value read from a variable is trimmed (`" 30s"`, `"3\r"`), except
/// `store`: a CRLF env file gives `BREAKER_DB__STORE=fleet\r`, and the
/// breaker waits for a store named `"fleet\r"` that is never registered,
/// staying local without a word.
#[test]
fn a_store_variable_is_read_as_the_other_values_are_trimmed_or_refused() {
    let read = ConfigFile::new().with_vars([
        ("BREAKER_DB__STORE", "fleet\r"),
        ("BREAKER_DB__TIMEOUT", "30s\r"),
    ]);
    let Ok(file) = read else {
        return; // refused: not silent
    };
    let registry = Registry::new();
    file.apply(&registry).unwrap();
    let cb = registry.get_or_create("db", Config::default()).unwrap();
    assert_eq!(cb.config().settings().timeout, 30 * SEC);
    assert_eq!(cb.config().settings().store.as_deref(), Some("fleet"));
}

// ===== guards ====================================================================

/// The leases handed back, with their outcomes.
type Ended = Arc<Mutex<Vec<(u64, Option<Outcome>)>>>;

/// A probe's fleet slot goes back to the store after its breaker left it
/// (removed from the registry while the probe ran).
#[test]
fn guard_a_lease_held_across_remove_goes_back_to_the_store() {
    struct Leasing {
        ended: Ended,
    }
    impl SharedState for Leasing {
        fn acquire_probe(&self) -> ProbeSlot {
            ProbeSlot::Leased(ProbeLease::new(std::num::NonZeroU64::new(7).unwrap()))
        }
        fn probe_ended(&self, lease: ProbeLease, outcome: Option<Outcome>) {
            self.ended.lock().unwrap().push((lease.id().get(), outcome));
        }
        fn transitioned(&self, _: State, _: State, _: Duration) {}
    }
    struct Store {
        ended: Ended,
    }
    impl StateStore for Store {
        fn join(&self, _: &Arc<CircuitBreaker>) -> Arc<dyn SharedState> {
            Arc::new(Leasing {
                ended: Arc::clone(&self.ended),
            })
        }
    }
    let ended = Arc::new(Mutex::new(Vec::new()));
    let registry = Registry::new();
    registry.register_store(
        "fleet",
        Store {
            ended: Arc::clone(&ended),
        },
    );
    let clock = ManualClock::new();
    let cb = registry
        .get_or_create(
            "leased",
            Config::default()
                .max_failures(1)
                .store("fleet")
                .clock(clock.clone()),
        )
        .unwrap();
    trip(&cb);
    clock.advance(60 * SEC);
    let probe = cb.try_acquire().expect("a probe");
    registry.remove("leased");
    assert!(!cb.is_shared());
    probe.record(Outcome::Success);
    assert_eq!(*ended.lock().unwrap(), [(7, Some(Outcome::Success))]);
}

/// A store recording each membership's leave; the first leave waits for
/// the test's word.
struct Memberships {
    left: Arc<Mutex<Vec<Arc<AtomicBool>>>>,
    leaving: Mutex<mpsc::Sender<()>>,
    go: Arc<Mutex<mpsc::Receiver<()>>>,
}

struct Member {
    left: Arc<AtomicBool>,
    first: bool,
    leaving: mpsc::Sender<()>,
    go: Arc<Mutex<mpsc::Receiver<()>>>,
}

impl SharedState for Member {
    fn acquire_probe(&self) -> ProbeSlot {
        ProbeSlot::Unleased
    }
    fn probe_ended(&self, _: ProbeLease, _: Option<Outcome>) {}
    fn transitioned(&self, _: State, _: State, _: Duration) {}
    fn leave(&self) {
        if self.first {
            let _ = self.leaving.send(());
            let _ = self.go.lock().unwrap().recv();
        }
        self.left.store(true, Ordering::SeqCst);
    }
}

impl StateStore for Memberships {
    fn join(&self, _: &Arc<CircuitBreaker>) -> Arc<dyn SharedState> {
        let left = Arc::new(AtomicBool::new(false));
        let mut all = self.left.lock().unwrap();
        all.push(Arc::clone(&left));
        Arc::new(Member {
            left,
            first: all.len() == 1,
            leaving: self.leaving.lock().unwrap().clone(),
            go: Arc::clone(&self.go),
        })
    }
}

/// `remove` ends the old breaker's membership after the registry's lock is
/// released; a `get_or_create` of the same name in between gets a new
/// breaker whose own membership the late leave does not end.
#[test]
fn guard_a_late_leave_of_a_removed_breaker_does_not_end_its_successors_membership() {
    let (leaving, leaving_rx) = mpsc::channel();
    let (go, go_rx) = mpsc::channel();
    let left = Arc::new(Mutex::new(Vec::new()));
    let registry = Arc::new(Registry::new());
    registry.register_store(
        "fleet",
        Memberships {
            left: Arc::clone(&left),
            leaving: Mutex::new(leaving),
            go: Arc::new(Mutex::new(go_rx)),
        },
    );
    let old = registry
        .get_or_create("x", Config::default().store("fleet"))
        .unwrap();
    let remover = {
        let registry = Arc::clone(&registry);
        thread::spawn(move || registry.remove("x").is_some())
    };
    leaving_rx.recv().unwrap();
    let new = registry
        .get_or_create("x", Config::default().store("fleet"))
        .unwrap();
    go.send(()).unwrap();
    assert!(remover.join().unwrap());
    assert!(!Arc::ptr_eq(&old, &new));
    assert!(new.is_shared() && !old.is_shared());
    let left: Vec<bool> = left
        .lock()
        .unwrap()
        .iter()
        .map(|l| l.load(Ordering::SeqCst))
        .collect();
    assert_eq!(left, [true, false]);
}

/// A store registered while a breaker is being removed never joins the
/// removed breaker (it left, or was told to leave while joining).
#[test]
fn guard_a_store_registered_while_a_breaker_is_removed_leaves_it_unshared() {
    struct Plain;
    impl StateStore for Plain {
        fn join(&self, _: &Arc<CircuitBreaker>) -> Arc<dyn SharedState> {
            struct Q;
            impl SharedState for Q {
                fn acquire_probe(&self) -> ProbeSlot {
                    ProbeSlot::Unleased
                }
                fn probe_ended(&self, _: ProbeLease, _: Option<Outcome>) {}
                fn transitioned(&self, _: State, _: State, _: Duration) {}
            }
            Arc::new(Q)
        }
    }
    for _ in 0..200 {
        let registry = Arc::new(Registry::new());
        let cb = registry
            .get_or_create("x", Config::default().store("late"))
            .unwrap();
        let (start, started) = mpsc::channel();
        let remover = {
            let registry = Arc::clone(&registry);
            thread::spawn(move || {
                started.recv().unwrap();
                registry.remove("x");
            })
        };
        start.send(()).unwrap();
        registry.register_store("late", Plain);
        remover.join().unwrap();
        assert!(!cb.is_shared(), "a removed breaker is a store member");
    }
}

/// A store whose `join` signals and then waits for the test's word; each
/// membership records whether it was told to leave.
struct SlowJoin {
    entered: Mutex<mpsc::Sender<()>>,
    release: Mutex<mpsc::Receiver<()>>,
    left: Arc<AtomicBool>,
}

struct Flagged(Arc<AtomicBool>);

impl SharedState for Flagged {
    fn acquire_probe(&self) -> ProbeSlot {
        ProbeSlot::Unleased
    }
    fn probe_ended(&self, _: ProbeLease, _: Option<Outcome>) {}
    fn transitioned(&self, _: State, _: State, _: Duration) {}
    fn leave(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

impl StateStore for SlowJoin {
    fn join(&self, _: &Arc<CircuitBreaker>) -> Arc<dyn SharedState> {
        let _ = self.entered.lock().unwrap().send(());
        let _ = self.release.lock().unwrap().recv();
        Arc::new(Flagged(Arc::clone(&self.left)))
    }
}

/// A store registered for existing breakers joins them outside the
/// registry's lock; a `remove` while that join is under way ends the
/// membership as soon as the join returns.
#[test]
fn guard_remove_while_a_registered_store_is_joining_the_breaker_ends_the_membership() {
    let registry = Arc::new(Registry::new());
    let cb = registry
        .get_or_create("x", Config::default().store("late"))
        .unwrap();
    let (entered, joining) = mpsc::channel();
    let (release, release_rx) = mpsc::channel();
    let left = Arc::new(AtomicBool::new(false));
    let registering = {
        let (registry, left) = (Arc::clone(&registry), Arc::clone(&left));
        thread::spawn(move || {
            registry.register_store(
                "late",
                SlowJoin {
                    entered: Mutex::new(entered),
                    release: Mutex::new(release_rx),
                    left,
                },
            )
        })
    };
    joining.recv().unwrap();
    assert!(registry.remove("x").is_some());
    release.send(()).unwrap();
    registering.join().unwrap();
    assert!(!cb.is_shared());
    assert!(left.load(Ordering::SeqCst), "the membership was not ended");
}

/// A call in flight on a removed breaker finishes on it; the name comes
/// back fresh.
#[test]
fn guard_a_call_in_flight_across_remove_counts_on_the_removed_breaker() {
    let registry = Registry::new();
    let old = registry
        .get_or_create("x", Config::default().max_failures(1))
        .unwrap();
    let permit = old.try_acquire().unwrap();
    registry.remove("x");
    permit.record(Outcome::Failure);
    assert_eq!(old.state(), State::Open);
    let new = registry.get_or_create("x", Config::default()).unwrap();
    assert_eq!(new.state(), State::Closed);
    assert_eq!(new.stats().totals.calls, 0);
}

/// A half-open breaker whose only holder is a probe's owned permit is not
/// evicted: the permit holds it.
#[test]
fn guard_a_half_open_breaker_with_a_probe_in_flight_is_not_evicted() {
    let registry = Registry::new();
    let clock = ManualClock::new();
    registry.set_clock(clock.clone());
    registry.set_idle_eviction(Some(600 * SEC));
    let cb = registry
        .get_or_create(
            "probing",
            Config::default()
                .max_failures(1)
                .timeout(60 * SEC)
                .clock(clock.clone()),
        )
        .unwrap();
    trip(&cb);
    clock.advance(60 * SEC);
    let probe = cb.try_acquire_owned().expect("a probe");
    drop(cb);
    clock.advance(6000 * SEC);
    assert!(registry.evict_idle().is_empty());
    probe.record(Outcome::Success);
    assert_eq!(registry.get("probing").unwrap().state(), State::Closed);
}

/// The limit counts what is in the registry: a removed or evicted name
/// frees its place, a recreated one takes it again.
#[test]
fn guard_the_dynamic_count_follows_remove_evict_and_recreate() {
    let registry = Registry::new();
    let clock = ManualClock::new();
    registry.set_clock(clock.clone());
    registry.set_idle_eviction(Some(600 * SEC));
    registry.set_max_dynamic(Some(2));
    let a = registry.get_or_create("a", Config::default()).unwrap();
    registry.get_or_create("b", Config::default()).unwrap();
    assert!(matches!(
        registry.get_or_create("c", Config::default()),
        Err(RegistryError::Full { max: 2, .. })
    ));
    registry.remove("b");
    registry.get_or_create("b", Config::default()).unwrap();
    assert!(registry.get_or_create("c", Config::default()).is_err());
    clock.advance(600 * SEC); // `b` idle, `a` held
    registry.get_or_create("c", Config::default()).unwrap();
    assert_eq!(registry.names(), ["a", "c"]);
    assert!(registry.get_or_create("d", Config::default()).is_err());
    drop(a);
}

/// `configure` after `remove` registers the name's next configuration.
#[test]
fn guard_configure_after_remove_configures_the_next_breaker() {
    let registry = Registry::new();
    registry.get_or_create("x", Config::default()).unwrap();
    registry.remove("x");
    registry
        .configure("x", Config::default().max_failures(2))
        .unwrap();
    let cb = registry.get_or_create("x", Config::default()).unwrap();
    assert_eq!(cb.config().settings().max_failures, Some(2));
}

/// A later layer's window replaces an earlier one's: the environment's
/// over the file's, either way round.
#[test]
fn guard_the_environments_window_replaces_the_files() {
    let windows = |file: &str, var: (&str, &str)| {
        let registry = Registry::new();
        ConfigFile::parse("ops.toml", file)
            .unwrap()
            .with_vars([var])
            .unwrap()
            .apply(&registry)
            .unwrap();
        let cb = registry
            .get_or_create("db", Config::default().failure_rate(0.5))
            .unwrap();
        assert!(registry.config_problems().is_empty());
        (
            field(cb.config(), "count_window"),
            field(cb.config(), "time_window"),
        )
    };
    assert_eq!(
        windows(
            "[db]\ncount_window = 20\n",
            ("BREAKER_DB__TIME_WINDOW", "30s")
        ),
        ("None".to_owned(), "Some(30s)".to_owned())
    );
    assert_eq!(
        windows(
            "[db]\ntime_window = \"30s\"\ntime_window_buckets = 3\n",
            ("BREAKER_DB__COUNT_WINDOW", "20")
        ),
        ("Some(20)".to_owned(), "None".to_owned())
    );
}

/// An operator's count window smaller than the code's `minimum_calls`
/// judges once full, as documented.
#[test]
fn guard_a_count_window_below_minimum_calls_judges_once_full() {
    let registry = Registry::new();
    registry
        .override_config("db", ops("count_window", "5"))
        .unwrap();
    let cb = registry
        .get_or_create(
            "db",
            Config::default()
                .without_max_failures()
                .failure_rate(0.5)
                .minimum_calls(10),
        )
        .unwrap();
    for _ in 0..4 {
        let _ = cb.call(|| Err::<(), _>(()));
    }
    assert_eq!(cb.state(), State::Closed);
    let _ = cb.call(|| Err::<(), _>(()));
    assert_eq!(cb.state(), State::Open);
}

/// Every source reads a value alike: accepted or refused together.
#[test]
fn guard_values_are_read_alike_by_the_file_the_environment_and_json() {
    // (key, as TOML, as an environment variable, as JSON, accepted)
    let cases: &[(&str, &str, &str, &str, bool)] = &[
        ("timeout", "\"1m30s\"", "1m30s", "\"1m30s\"", true),
        ("timeout", "\"1m 30s\"", "1m 30s", "\"1m 30s\"", true),
        ("timeout", "\"0s\"", "0s", "\"0s\"", false),
        ("timeout", "\"30S\"", "30S", "\"30S\"", false),
        ("timeout", "\"\"", "", "\"\"", false),
        ("timeout", "\"1.5s\"", "1.5s", "\"1.5s\"", false),
        ("timeout", "30", "30", "30", false),
        (
            "timeout",
            "\"99999999999999999999999d\"",
            "99999999999999999999999d",
            "\"99999999999999999999999d\"",
            false,
        ),
        ("max_failures", "3.0", "3.0", "3.0", false),
        ("max_failures", "-1", "-1", "-1", false),
        ("max_failures", "0", "0", "0", false),
        (
            "max_failures",
            "4294967296",
            "4294967296",
            "4294967296",
            false,
        ),
        ("max_failures", "\"OFF\"", "OFF", "\"OFF\"", false),
        ("max_failures", "\"off\"", "off", "\"off\"", true),
        ("failure_rate", "1.5", "1.5", "1.5", false),
        ("half_open_max_calls", "0", "0", "0", false),
        ("store", "\"\"", "", "\"\"", false),
    ];
    for &(key, toml, env, json, accepted) in cases {
        let file = ConfigFile::parse("ops.toml", &format!("[db]\n{key} = {toml}\n")).is_ok();
        let var = format!("BREAKER_DB__{}", key.to_ascii_uppercase());
        let environment = ConfigFile::new().with_vars([(var.as_str(), env)]).is_ok();
        let partial = serde_json::from_str::<PartialConfig>(&format!("{{\"{key}\": {json}}}"))
            .ok()
            .is_some_and(|p| Registry::new().override_config("db", p).is_ok());
        let full = serde_json::from_str::<Config>(&format!("{{\"{key}\": {json}}}")).is_ok();
        assert_eq!(
            (file, environment, partial, full),
            (accepted, accepted, accepted, accepted),
            "(file, environment, serde PartialConfig, serde Config) for `{key}`: {toml} / {env:?} / {json}"
        );
    }
}

/// `max_failures = "off"` with a rate from each source makes a rate-only
/// breaker.
#[test]
fn guard_max_failures_off_from_each_source_with_a_rate_trips_on_the_rate_only() {
    let rate_only = |registry: &Registry| {
        let cb = registry
            .get_or_create(
                "db",
                Config::default()
                    .failure_rate(0.5)
                    .count_window(4)
                    .minimum_calls(4),
            )
            .unwrap();
        assert_eq!(cb.config().settings().max_failures, None);
        for _ in 0..3 {
            let _ = cb.call(|| Ok::<_, ()>(()));
        }
        let _ = cb.call(|| Err::<(), _>(()));
        assert_eq!(cb.state(), State::Closed);
        let _ = cb.call(|| Err::<(), _>(()));
        assert_eq!(cb.state(), State::Open);
    };
    let from_file = Registry::new();
    ConfigFile::parse("ops.toml", "[db]\nmax_failures = \"off\"\n")
        .unwrap()
        .apply(&from_file)
        .unwrap();
    rate_only(&from_file);
    let from_env = Registry::new();
    ConfigFile::new()
        .with_vars([("BREAKER_DB__MAX_FAILURES", "off")])
        .unwrap()
        .apply(&from_env)
        .unwrap();
    rate_only(&from_env);
    let from_json = Registry::new();
    from_json
        .override_config(
            "db",
            serde_json::from_str(r#"{"max_failures": "off"}"#).unwrap(),
        )
        .unwrap();
    rate_only(&from_json);
}

/// Tower's `named` at the limit reports the refusal when the layer is
/// built.
#[test]
fn guard_a_layer_named_at_the_limit_is_refused_when_built() {
    // The only test of this binary that creates names on demand in the
    // global registry; annotated functions' breakers do not count.
    registry().set_max_dynamic(Some(0));
    let refused =
        breakerbox::tower::CircuitBreakerLayer::named("review-tower-at-limit", Config::default());
    registry().set_max_dynamic(None);
    assert!(matches!(refused, Err(RegistryError::Full { .. })));
}

/// Every field of `Config`'s definition is its `Settings` or a setting
/// only code can give, and every field of `Settings`' definition is a key
/// of the file, the environment and serde (and the reverse): the key-set
/// tests read the fields from `Debug`, so a field added to a struct and
/// its setter but to neither `Debug` nor `KEYS` would pass them. This
/// reads the definitions themselves.
#[test]
fn guard_every_field_of_the_config_struct_is_a_key_or_code_only() {
    const CODE_ONLY: &[&str] = &["trip_when", "on_state_change", "clock", "system_clock"];
    let source = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/breaker/src/config.rs"
    ))
    .unwrap();
    let fields_of = |definition: &str, visibility: &str| -> Vec<String> {
        let start = source.find(definition).unwrap();
        let body = &source[start + definition.len()..];
        let body = &body[..body.find("\n}").unwrap()];
        body.lines()
            .filter_map(|line| line.trim().strip_prefix(visibility))
            .filter_map(|line| line.split(':').next())
            .map(str::to_owned)
            .collect()
    };
    let config = fields_of("pub struct Config {", "pub(crate) ");
    for field in &config {
        assert!(
            field == "settings" || CODE_ONLY.contains(&field.as_str()),
            "`Config::{field}` is neither the settings nor code-only"
        );
    }
    let mut settings = fields_of("pub struct Settings {", "pub ");
    let mut keys: Vec<String> = PartialConfig::keys().map(str::to_owned).collect();
    settings.sort();
    keys.sort();
    assert!(settings.len() > 10, "{settings:?}");
    assert_eq!(settings, keys, "`Settings`' fields and the keys differ");
}

/// A removed annotated function's name: the function keeps its breaker.
#[circuit_breaker(name = "review-removed-site", max_failures = 1)]
fn removed_site(up: bool) -> Result<(), CallError> {
    if up {
        Ok(())
    } else {
        Err(CallError::Rejected)
    }
}

#[test]
fn guard_an_annotated_function_keeps_its_breaker_after_remove_and_configure() {
    let _ = removed_site(false);
    let kept = registry().remove("review-removed-site").unwrap();
    assert_eq!(kept.state(), State::Open);
    registry()
        .configure("review-removed-site", Config::default().max_failures(9))
        .unwrap();
    // The function still uses the removed (open) breaker.
    assert_eq!(removed_site(true), Err(CallError::Rejected));
    assert_eq!(kept.stats().totals.rejected, 1);
}

// ===== the fleet (feature `redis`, a real `redis-server`) ========================

#[cfg(feature = "redis")]
mod fleet {
    use std::time::{Duration, Instant};

    use breakerbox::{Config, RedisStore, Registry, State};

    use super::support::redis_server::RedisServer;

    /// As `tests/fleet.rs`: the documented propagation bound plus slack.
    const BOUND: Duration = Duration::from_millis(110 + 900);

    /// Polls `done` until it holds, failing with `what` after `within`.
    fn poll_until(within: Duration, mut done: impl FnMut() -> bool, what: &str) {
        let deadline = Instant::now() + within;
        while !done() {
            assert!(Instant::now() < deadline, "{what}");
            std::thread::sleep(Duration::from_micros(500));
        }
    }

    /// The configuration guide: "a breaker that left its store still gives its slots back".
    /// A breaker removed from the registry while its probe runs is usually
    /// dropped as soon as that probe ends (the caller's `Arc` was the last
    /// one). The probe's end is queued in the store's member for the
    /// worker, but the member lives only as long as the breaker: the
    /// worker finds it gone, the slot is never given back, and the whole
    /// fleet's probes are refused until the lease expires (60 s by
    /// default).
    #[test]
    fn a_probe_slot_goes_back_when_its_removed_breaker_is_dropped_as_the_probe_ends() {
        let server = RedisServer::start();
        let store = RedisStore::builder(server.url())
            .prefix("review")
            .build()
            .unwrap();
        let registry = Registry::new();
        registry.register_store("fleet", store);
        let breaker = registry
            .get_or_create(
                "dropped-with-a-slot",
                Config::default()
                    .timeout(Duration::from_millis(200))
                    .store("fleet"),
            )
            .unwrap();
        assert!(breaker.is_shared());
        for _ in 0..5 {
            let _ = breaker.call(|| Err::<(), _>("down"));
        }
        assert_eq!(breaker.state(), State::Open);
        let mut con = server.client();
        let state_key = "review:{dropped-with-a-slot}:state";
        let probes_key = "review:{dropped-with-a-slot}:probes";
        poll_until(
            Duration::from_millis(200) + BOUND,
            || {
                breaker.state() == State::HalfOpen
                    && redis::cmd("HGET")
                        .arg(state_key)
                        .arg("state")
                        .query::<Option<String>>(&mut con)
                        .unwrap()
                        .as_deref()
                        == Some("half_open")
            },
            "the fleet never turned half-open",
        );
        let probe = breaker
            .try_acquire_owned()
            .expect("a probe on a fleet slot");
        let slots = |con: &mut redis::Connection| -> u64 {
            redis::cmd("ZCARD").arg(probes_key).query(con).unwrap()
        };
        assert_eq!(slots(&mut con), 1);
        let removed = registry.remove("dropped-with-a-slot").unwrap();
        drop((removed, breaker));
        // The probe ends, and with it the last `Arc` of its breaker.
        probe.ignore();
        poll_until(
            BOUND,
            || slots(&mut con) == 0,
            "the probe's fleet slot was never given back",
        );
    }
}
