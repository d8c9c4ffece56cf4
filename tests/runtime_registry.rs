//! The registry of named breakers: lookup, creation, configuration before
//! first use, and the group operations. Private registries except where
//! the global one is the subject (with names no other test uses).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Barrier, Mutex};
use std::thread;
use std::time::Duration;

use breakerbox::{
    registry, CircuitBreaker, Config, ManualClock, ProbeLease, ProbeSlot, Registry, RegistryError,
    SharedState, State, StateStore,
};

fn trip(cb: &breakerbox::CircuitBreaker) {
    while cb.state() == State::Closed {
        let _ = cb.call(|| Err::<(), _>(()));
    }
}

#[test]
fn get_of_an_unknown_name_is_none() {
    let registry = Registry::new();
    assert!(registry.get("nobody").is_none());
}

#[test]
fn get_or_create_creates_a_breaker_from_the_given_config() {
    let registry = Registry::new();
    let cb = registry
        .get_or_create("db", Config::default().max_failures(2))
        .unwrap();
    assert_eq!(cb.name(), "db");
    assert_eq!(cb.config().settings().max_failures, Some(2));
    assert!(Arc::ptr_eq(&cb, &registry.get("db").unwrap()));
}

#[test]
fn get_or_create_returns_an_existing_breaker_unchanged() {
    let registry = Registry::new();
    let first = registry
        .get_or_create("db", Config::default().max_failures(2))
        .unwrap();
    trip(&first);
    let again = registry
        .get_or_create("db", Config::default().max_failures(9))
        .unwrap();
    assert!(Arc::ptr_eq(&first, &again));
    assert_eq!(
        again.config().settings().max_failures,
        Some(2),
        "the new config was applied"
    );
    assert_eq!(again.state(), State::Open, "the existing breaker was reset");
}

#[test]
fn get_or_create_refuses_an_invalid_config() {
    let registry = Registry::new();
    let err = registry
        .get_or_create("db", Config::default().max_failures(0))
        .unwrap_err();
    let RegistryError::Invalid(err) = err else {
        panic!("expected an invalid configuration, got {err:?}");
    };
    assert_eq!(err.breaker(), Some("db"));
    assert_eq!(err.field(), "max_failures");
    assert!(
        registry.get("db").is_none(),
        "an invalid breaker was registered"
    );
}

#[test]
fn configure_before_first_use_wins_over_the_given_config() {
    let registry = Registry::new();
    registry
        .configure("db", Config::default().max_failures(7))
        .unwrap();
    let cb = registry
        .get_or_create("db", Config::default().max_failures(2))
        .unwrap();
    assert_eq!(cb.config().settings().max_failures, Some(7));
}

#[test]
fn configure_after_creation_fails_with_already_created() {
    let registry = Registry::new();
    let cb = registry
        .get_or_create("db", Config::default().max_failures(2))
        .unwrap();
    let err = registry
        .configure("db", Config::default().max_failures(7))
        .unwrap_err();
    assert_eq!(
        err,
        RegistryError::AlreadyCreated {
            name: "db".to_owned()
        }
    );
    assert!(err.to_string().contains("`db`"), "{err}");
    assert_eq!(cb.config().settings().max_failures, Some(2));
    let again = registry.get_or_create("db", Config::default()).unwrap();
    assert_eq!(again.config().settings().max_failures, Some(2));
}

#[test]
fn configure_refuses_an_invalid_config_naming_the_breaker() {
    let registry = Registry::new();
    let err = registry
        .configure("db", Config::default().timeout(Duration::ZERO))
        .unwrap_err();
    match &err {
        RegistryError::Invalid(invalid) => {
            assert_eq!(invalid.breaker(), Some("db"));
            assert_eq!(invalid.field(), "timeout");
        }
        other => panic!("expected an invalid configuration, got {other:?}"),
    }
    assert_eq!(
        err.to_string(),
        "invalid configuration for circuit breaker `db`: `timeout` = 0s: must be greater than zero"
    );
    let cb = registry
        .get_or_create("db", Config::default().max_failures(3))
        .unwrap();
    assert_eq!(
        cb.config().settings().max_failures,
        Some(3),
        "the refused config was kept"
    );
}

#[test]
fn names_are_sorted() {
    let registry = Registry::new();
    for name in ["payments", "auth", "db", "cache"] {
        registry.get_or_create(name, Config::default()).unwrap();
    }
    assert_eq!(registry.names(), ["auth", "cache", "db", "payments"]);
}

#[test]
fn configure_alone_does_not_create_a_breaker() {
    let registry = Registry::new();
    registry.configure("db", Config::default()).unwrap();
    assert!(registry.names().is_empty());
    assert!(registry.get("db").is_none());
}

#[test]
fn stats_all_reports_every_breaker_sorted_by_name() {
    let registry = Registry::new();
    let db = registry
        .get_or_create("db", Config::default().max_failures(1))
        .unwrap();
    registry.get_or_create("auth", Config::default()).unwrap();
    trip(&db);
    let stats = registry.stats_all();
    let seen: Vec<_> = stats.iter().map(|s| (s.name.as_str(), s.state)).collect();
    assert_eq!(seen, [("auth", State::Closed), ("db", State::Open)]);
}

#[test]
fn reset_all_closes_every_breaker() {
    let registry = Registry::new();
    let db = registry
        .get_or_create("db", Config::default().max_failures(1))
        .unwrap();
    let auth = registry.get_or_create("auth", Config::default()).unwrap();
    trip(&db);
    auth.force_open();
    registry.reset_all();
    assert_eq!(db.state(), State::Closed);
    assert_eq!(auth.state(), State::Closed);
}

#[test]
fn registries_are_independent() {
    let one = Registry::new();
    let other = Registry::new();
    one.get_or_create("db", Config::default()).unwrap();
    assert!(other.get("db").is_none());
}

#[test]
fn the_global_registry_returns_the_breaker_it_created() {
    let name = "runtime_registry::the_global_registry_returns_the_breaker_it_created";
    let created = registry()
        .get_or_create(name, Config::default().max_failures(4))
        .unwrap();
    let found = registry().get(name).unwrap();
    assert!(Arc::ptr_eq(&created, &found));
    assert!(registry().names().iter().any(|n| n == name));
}

#[test]
fn the_global_registry_honours_configure_before_first_use() {
    let name = "runtime_registry::the_global_registry_honours_configure_before_first_use";
    registry()
        .configure(name, Config::default().max_failures(8))
        .unwrap();
    let cb = registry().get_or_create(name, Config::default()).unwrap();
    assert_eq!(cb.config().settings().max_failures, Some(8));
}

#[test]
fn concurrent_get_or_create_of_one_name_yields_one_breaker() {
    const THREADS: usize = 8;
    let registry = Arc::new(Registry::new());
    let barrier = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|i| {
            let (registry, barrier) = (Arc::clone(&registry), Arc::clone(&barrier));
            thread::spawn(move || {
                barrier.wait();
                let config = Config::default().max_failures(i as u32 + 1);
                registry.get_or_create("shared", config).unwrap()
            })
        })
        .collect();
    let breakers: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    for cb in &breakers[1..] {
        assert!(
            Arc::ptr_eq(&breakers[0], cb),
            "two breakers were created for one name"
        );
    }
    assert!(Arc::ptr_eq(&breakers[0], &registry.get("shared").unwrap()));
    assert_eq!(registry.names(), ["shared"]);
}

// ----- the operators' values against the code's -----------------------------------

fn ops(key: &str, value: &str) -> breakerbox::PartialConfig {
    let mut partial = breakerbox::PartialConfig::new();
    partial.set(key, value).unwrap();
    partial
}

fn capped_backoff() -> Config {
    Config::default()
        .backoff_multiplier(2.0)
        .backoff_max(Duration::from_secs(120))
}

#[test]
fn an_operator_value_conflicting_with_a_configured_config_is_refused() {
    let registry = Registry::new();
    registry.configure("db", capped_backoff()).unwrap();
    let error = registry
        .override_config("db", ops("timeout", "5m"))
        .unwrap_err();
    let RegistryError::Conflict(problem) = error else {
        panic!("not a conflict: {error}");
    };
    assert_eq!(
        problem.to_string(),
        "Registry::override_config: circuit breaker `db`: `timeout` = \"5m\": conflicts with the code's `backoff_max` = 120s: must be at least `timeout`"
    );
}

#[test]
fn a_configuration_conflicting_with_registered_operator_values_is_refused() {
    let registry = Registry::new();
    registry
        .override_config("db", ops("timeout", "5m"))
        .unwrap();
    let error = registry.configure("db", capped_backoff()).unwrap_err();
    assert!(
        matches!(&error, RegistryError::Conflict(p) if p.key() == "timeout"),
        "{error}"
    );
}

#[test]
fn get_or_create_keeps_its_value_where_an_operator_value_conflicts_and_lists_the_refusal() {
    let registry = Registry::new();
    registry
        .override_config("db", ops("timeout", "5m"))
        .unwrap();
    registry
        .override_config("db", ops("success_threshold", "3"))
        .unwrap();
    let cb = registry.get_or_create("db", capped_backoff()).unwrap();
    assert_eq!(cb.config().settings().timeout, Duration::from_secs(60));
    assert_eq!(cb.config().settings().success_threshold, 3);
    let problems = registry.config_problems();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(
        (problems[0].breaker(), problems[0].key()),
        ("db", "timeout")
    );
    assert_eq!(problems[0].origin(), "Registry::override_config");
}

// ----- shared stores: joining ----------------------------------------------

/// How long a test store's `join` waits for a look-up that cannot happen
/// while the join is under way: the look-up is the failure, the wait only
/// bounds how long a correct registry keeps the join waiting.
const LOOK_WITHIN: Duration = Duration::from_millis(200);

/// A strict store that refuses every admission. Its `join` tells the test
/// it has started, then waits (at most [`LOOK_WITHIN`]) for the test's
/// look-up of the breaker.
struct RefusingStore {
    entered: Mutex<mpsc::Sender<()>>,
    looked: Mutex<mpsc::Receiver<()>>,
}

struct Refusing;

impl SharedState for Refusing {
    fn strict(&self) -> bool {
        true
    }
    fn admit(&self) -> Result<(), Duration> {
        Err(Duration::from_secs(1))
    }
    fn acquire_probe(&self) -> ProbeSlot {
        ProbeSlot::Unleased
    }
    fn probe_ended(&self, _lease: ProbeLease, _outcome: Option<breakerbox::Outcome>) {}
    fn transitioned(&self, _from: State, _to: State, _open_for: Duration) {}
}

impl StateStore for RefusingStore {
    fn join(&self, _breaker: &Arc<CircuitBreaker>) -> Arc<dyn SharedState> {
        let _ = self.entered.lock().unwrap().send(());
        let _ = self.looked.lock().unwrap().recv_timeout(LOOK_WITHIN);
        Arc::new(Refusing)
    }
}

#[test]
fn a_breaker_is_not_visible_before_it_has_joined_its_store() {
    let registry = Arc::new(Registry::new());
    let (entered, joining) = mpsc::channel();
    let (looked, looked_rx) = mpsc::channel();
    registry.register_store(
        "strict",
        RefusingStore {
            entered: Mutex::new(entered),
            looked: Mutex::new(looked_rx),
        },
    );
    registry.set_default_store("strict");
    let creator = {
        let registry = Arc::clone(&registry);
        thread::spawn(move || registry.get_or_create("gap", Config::default()).unwrap())
    };
    joining.recv().unwrap();
    // The breaker is joining its store: whoever finds it now must find it
    // joined, and the strict store refuses the call.
    let looker = {
        let registry = Arc::clone(&registry);
        thread::spawn(move || {
            let seen = registry
                .get("gap")
                .map(|cb| (cb.is_shared(), cb.try_acquire().is_ok()));
            let _ = looked.send(());
            seen
        })
    };
    let seen = looker.join().unwrap();
    let created = creator.join().unwrap();
    assert!(created.is_shared());
    assert_eq!(
        seen,
        Some((true, false)),
        "found as (joined, admitted) while joining its strict store"
    );
}

/// A store that counts its joins. The first waits until the test releases
/// it, so that a second join can be tried while it is under way.
struct CountingStore {
    joins: AtomicUsize,
    entered: Mutex<mpsc::Sender<()>>,
    release: Mutex<mpsc::Receiver<()>>,
}

struct Quiet;

impl SharedState for Quiet {
    fn acquire_probe(&self) -> ProbeSlot {
        ProbeSlot::Unleased
    }
    fn probe_ended(&self, _lease: ProbeLease, _outcome: Option<breakerbox::Outcome>) {}
    fn transitioned(&self, _from: State, _to: State, _open_for: Duration) {}
}

impl StateStore for CountingStore {
    fn join(&self, _breaker: &Arc<CircuitBreaker>) -> Arc<dyn SharedState> {
        if self.joins.fetch_add(1, Ordering::SeqCst) == 0 {
            let _ = self.entered.lock().unwrap().send(());
            let _ = self.release.lock().unwrap().recv();
        }
        Arc::new(Quiet)
    }
}

#[test]
fn two_threads_joining_one_breaker_at_once_join_the_store_once() {
    let (entered, joining) = mpsc::channel();
    let (release, release_rx) = mpsc::channel();
    let store = Arc::new(CountingStore {
        joins: AtomicUsize::new(0),
        entered: Mutex::new(entered),
        release: Mutex::new(release_rx),
    });
    let breaker = Arc::new(CircuitBreaker::new("twice", Config::default()).unwrap());
    let first = {
        let (breaker, store) = (Arc::clone(&breaker), Arc::clone(&store));
        thread::spawn(move || breaker.join_store(&*store))
    };
    joining.recv().unwrap();
    let second = breaker.join_store(&*store);
    release.send(()).unwrap();
    let first = first.join().unwrap();
    assert_eq!(store.joins.load(Ordering::SeqCst), 1, "calls to `join`");
    assert_eq!((first, second), (true, false));
    assert!(breaker.is_shared());
}

// ----- removal -------------------------------------------------------------

#[test]
fn remove_takes_the_breaker_out_of_the_registry() {
    let registry = Registry::new();
    let db = registry.get_or_create("db", Config::default()).unwrap();
    registry.get_or_create("auth", Config::default()).unwrap();
    let removed = registry.remove("db").expect("the breaker removed");
    assert!(Arc::ptr_eq(&removed, &db));
    assert!(registry.get("db").is_none());
    assert_eq!(registry.names(), ["auth"]);
    let names: Vec<_> = registry.stats_all().into_iter().map(|s| s.name).collect();
    assert_eq!(names, ["auth"]);
}

#[test]
fn remove_of_an_unknown_name_is_none() {
    let registry = Registry::new();
    assert!(registry.remove("nobody").is_none());
}

#[test]
fn a_removed_name_is_created_afresh() {
    let registry = Registry::new();
    let first = registry
        .get_or_create("db", Config::default().max_failures(1))
        .unwrap();
    trip(&first);
    registry.remove("db");
    let again = registry
        .get_or_create("db", Config::default().max_failures(3))
        .unwrap();
    assert!(!Arc::ptr_eq(&first, &again));
    assert_eq!(again.state(), State::Closed);
    assert_eq!(again.config().settings().max_failures, Some(3));
}

#[test]
fn remove_forgets_the_configuration_registered_for_the_name() {
    let registry = Registry::new();
    registry
        .configure("db", Config::default().max_failures(7))
        .unwrap();
    registry.get_or_create("db", Config::default()).unwrap();
    registry.remove("db");
    let again = registry
        .get_or_create("db", Config::default().max_failures(2))
        .unwrap();
    assert_eq!(again.config().settings().max_failures, Some(2));
}

#[test]
fn remove_keeps_the_operators_values_for_the_name() {
    let registry = Registry::new();
    let mut ops = breakerbox::PartialConfig::new();
    ops.set("timeout", "5s").unwrap();
    registry.override_config("db", ops).unwrap();
    registry.get_or_create("db", Config::default()).unwrap();
    registry.remove("db");
    let again = registry.get_or_create("db", Config::default()).unwrap();
    assert_eq!(again.config().settings().timeout, Duration::from_secs(5));
}

/// A store whose members note that they left.
struct LeavingStore {
    left: Arc<AtomicBool>,
}

struct Leaving {
    left: Arc<AtomicBool>,
}

impl SharedState for Leaving {
    fn acquire_probe(&self) -> ProbeSlot {
        ProbeSlot::Unleased
    }
    fn probe_ended(&self, _lease: ProbeLease, _outcome: Option<breakerbox::Outcome>) {}
    fn transitioned(&self, _from: State, _to: State, _open_for: Duration) {}
    fn leave(&self) {
        self.left.store(true, Ordering::SeqCst);
    }
}

impl StateStore for LeavingStore {
    fn join(&self, _breaker: &Arc<CircuitBreaker>) -> Arc<dyn SharedState> {
        Arc::new(Leaving {
            left: Arc::clone(&self.left),
        })
    }
}

#[test]
fn remove_ends_the_breakers_store_membership() {
    let registry = Registry::new();
    let left = Arc::new(AtomicBool::new(false));
    registry.register_store(
        "fleet",
        LeavingStore {
            left: Arc::clone(&left),
        },
    );
    let db = registry
        .get_or_create("db", Config::default().store("fleet"))
        .unwrap();
    assert!(db.is_shared());
    registry.remove("db");
    assert!(left.load(Ordering::SeqCst), "the store was not told");
    assert!(!db.is_shared());
    // And it stays out: registering the store again does not rejoin it.
    registry.register_store(
        "fleet",
        LeavingStore {
            left: Arc::new(AtomicBool::new(false)),
        },
    );
    assert!(!db.is_shared());
}

#[derive(Debug)]
enum SiteError {
    Down,
    Rejected,
}

impl From<breakerbox::Rejected> for SiteError {
    fn from(_: breakerbox::Rejected) -> Self {
        SiteError::Rejected
    }
}

#[breakerbox::circuit_breaker(name = "runtime-registry-removed-site", max_failures = 1)]
fn removed_site(up: bool) -> Result<(), SiteError> {
    if up {
        Ok(())
    } else {
        Err(SiteError::Down)
    }
}

#[test]
fn an_annotated_function_keeps_its_breaker_after_its_name_is_removed() {
    let name = "runtime-registry-removed-site";
    assert!(matches!(removed_site(false), Err(SiteError::Down)));
    let removed = registry().remove(name).expect("the function's breaker");
    assert_eq!(removed.state(), State::Open);
    assert!(registry().get(name).is_none());
    // The function goes on with the breaker it took on its first call...
    assert!(matches!(removed_site(true), Err(SiteError::Rejected)));
    assert_eq!(removed.stats().totals.rejected, 1);
    // ...which the registry no longer knows: the name's new breaker is
    // another one, which the function does not use.
    let fresh = registry().get_or_create(name, Config::default()).unwrap();
    assert!(!Arc::ptr_eq(&fresh, &removed));
    assert!(matches!(removed_site(true), Err(SiteError::Rejected)));
    assert_eq!(fresh.stats().totals.calls, 0);
}

// ----- a limit on names created on demand ------------------------------------

#[test]
fn get_or_create_refuses_a_new_name_over_the_limit_naming_the_name_and_the_limit() {
    let registry = Registry::new();
    registry.set_max_dynamic(Some(2));
    registry.get_or_create("host-a", Config::default()).unwrap();
    registry.get_or_create("host-b", Config::default()).unwrap();
    let refused = registry
        .get_or_create("host-c", Config::default())
        .unwrap_err();
    assert_eq!(
        refused,
        RegistryError::Full {
            name: "host-c".to_owned(),
            max: 2
        }
    );
    assert_eq!(
        refused.to_string(),
        "circuit breaker `host-c` not created: the registry holds its limit of 2 breakers \
         created on demand (Registry::set_max_dynamic); remove unused names with Registry::remove"
    );
    assert!(registry.get("host-c").is_none());
}

#[test]
fn at_the_limit_existing_names_are_still_returned() {
    let registry = Registry::new();
    registry.set_max_dynamic(Some(1));
    let first = registry.get_or_create("host-a", Config::default()).unwrap();
    let again = registry.get_or_create("host-a", Config::default()).unwrap();
    assert!(Arc::ptr_eq(&first, &again));
}

#[test]
fn removing_a_name_makes_room_under_the_limit() {
    let registry = Registry::new();
    registry.set_max_dynamic(Some(1));
    registry.get_or_create("host-a", Config::default()).unwrap();
    registry.remove("host-a");
    registry
        .get_or_create("host-b", Config::default())
        .expect("room for a new name");
}

// ----- idle eviction ---------------------------------------------------------

const IDLE: Duration = Duration::from_secs(600);

/// A registry that evicts breakers idle for [`IDLE`], and a clock for the
/// breakers it creates.
fn evicting() -> (Registry, ManualClock) {
    let registry = Registry::new();
    let clock = ManualClock::new();
    registry.set_clock(clock.clone());
    registry.set_idle_eviction(Some(IDLE));
    (registry, clock)
}

#[test]
fn a_dynamic_breaker_without_calls_for_the_idle_time_is_evicted() {
    let (registry, clock) = evicting();
    let host = registry
        .get_or_create("host-a", Config::default().clock(clock.clone()))
        .unwrap();
    let _ = host.call(|| Ok::<_, ()>(()));
    drop(host);
    assert!(registry.evict_idle().is_empty(), "evicted at once");
    clock.advance(IDLE);
    assert_eq!(registry.evict_idle(), ["host-a"]);
    assert!(registry.get("host-a").is_none());
}

/// The problems listed for a breaker go with it, so that names created
/// on demand and evicted do not pile up in `config_problems`.
#[test]
fn an_evicted_breakers_problems_are_no_longer_listed() {
    let (registry, clock) = evicting();
    let mut ops = breakerbox::PartialConfig::new();
    ops.set("timeout", "5m").unwrap();
    registry.override_config("host-a", ops).unwrap();
    let code = Config::default()
        .backoff_multiplier(2.0)
        .backoff_max(Duration::from_secs(120));
    registry.get_or_create("host-a", code).unwrap();
    assert_eq!(registry.config_problems().len(), 1);
    clock.advance(IDLE);
    assert_eq!(registry.evict_idle(), ["host-a"]);
    assert!(registry.config_problems().is_empty());
}

#[test]
fn a_breaker_called_within_the_idle_time_is_kept() {
    let (registry, clock) = evicting();
    registry
        .get_or_create("host-a", Config::default().clock(clock.clone()))
        .unwrap();
    clock.advance(IDLE - Duration::from_secs(1));
    let host = registry.get("host-a").unwrap();
    let _ = host.call(|| Ok::<_, ()>(()));
    drop(host);
    clock.advance(Duration::from_secs(1));
    assert!(registry.evict_idle().is_empty());
    assert!(registry.get("host-a").is_some());
}

#[test]
fn a_breaker_held_outside_the_registry_is_never_evicted() {
    let (registry, clock) = evicting();
    let held = registry
        .get_or_create("host-a", Config::default().clock(clock.clone()))
        .unwrap();
    clock.advance(IDLE * 2);
    assert!(registry.evict_idle().is_empty());
    assert!(Arc::ptr_eq(&held, &registry.get("host-a").unwrap()));
}

#[test]
fn an_open_breaker_is_not_evicted_before_its_open_period_ends() {
    let (registry, clock) = evicting();
    let config = Config::default()
        .max_failures(1)
        .timeout(IDLE * 10)
        .clock(clock.clone());
    trip(&registry.get_or_create("host-a", config).unwrap());
    assert!(registry.evict_idle().is_empty(), "evicted at once");
    clock.advance(IDLE * 2);
    assert!(registry.evict_idle().is_empty());
    assert_eq!(registry.get("host-a").unwrap().state(), State::Open);
}

#[test]
fn an_open_breaker_idle_past_its_open_period_is_evicted() {
    let (registry, clock) = evicting();
    let config = Config::default()
        .max_failures(1)
        .timeout(IDLE / 2)
        .clock(clock.clone());
    trip(&registry.get_or_create("host-a", config).unwrap());
    assert!(registry.evict_idle().is_empty(), "evicted at once");
    clock.advance(IDLE);
    assert_eq!(registry.evict_idle(), ["host-a"]);
}

#[test]
fn an_evicted_breaker_leaves_its_store() {
    let (registry, clock) = evicting();
    let left = Arc::new(AtomicBool::new(false));
    registry.register_store(
        "fleet",
        LeavingStore {
            left: Arc::clone(&left),
        },
    );
    let config = Config::default().store("fleet").clock(clock.clone());
    assert!(registry
        .get_or_create("host-a", config)
        .unwrap()
        .is_shared());
    clock.advance(IDLE);
    assert_eq!(registry.evict_idle(), ["host-a"]);
    assert!(left.load(Ordering::SeqCst), "the store was not told");
}

#[test]
fn a_forced_open_breaker_is_never_evicted() {
    let (registry, clock) = evicting();
    registry
        .get_or_create("host-a", Config::default().clock(clock.clone()))
        .unwrap()
        .force_open();
    clock.advance(IDLE * 2);
    assert!(registry.evict_idle().is_empty());
    assert_eq!(registry.get("host-a").unwrap().state(), State::ForcedOpen);
}

#[test]
fn at_the_limit_idle_breakers_make_room_for_a_new_name() {
    let (registry, clock) = evicting();
    registry.set_max_dynamic(Some(1));
    registry
        .get_or_create("host-a", Config::default().clock(clock.clone()))
        .unwrap();
    clock.advance(IDLE);
    registry
        .get_or_create("host-b", Config::default().clock(clock.clone()))
        .expect("room made by evicting host-a");
    assert_eq!(registry.names(), ["host-b"]);
}

#[test]
fn new_names_evict_idle_breakers_without_a_call_to_evict_idle() {
    let (registry, clock) = evicting();
    registry
        .get_or_create("host-a", Config::default().clock(clock.clone()))
        .unwrap();
    clock.advance(IDLE);
    registry
        .get_or_create("host-b", Config::default().clock(clock.clone()))
        .unwrap();
    assert_eq!(registry.names(), ["host-b"]);
}

#[test]
fn an_evicted_name_comes_back_with_its_registered_configuration() {
    let (registry, clock) = evicting();
    registry
        .configure(
            "host-a",
            Config::default().max_failures(7).clock(clock.clone()),
        )
        .unwrap();
    registry.get_or_create("host-a", Config::default()).unwrap();
    clock.advance(IDLE);
    assert_eq!(registry.evict_idle(), ["host-a"]);
    let again = registry.get_or_create("host-a", Config::default()).unwrap();
    assert_eq!(again.config().settings().max_failures, Some(7));
}

#[test]
fn nothing_is_evicted_without_idle_eviction() {
    let registry = Registry::new();
    let clock = ManualClock::new();
    registry
        .get_or_create("host-a", Config::default().clock(clock.clone()))
        .unwrap();
    clock.advance(IDLE * 100);
    assert!(registry.evict_idle().is_empty());
    assert!(registry.get("host-a").is_some());
}

#[test]
fn concurrent_new_names_never_exceed_the_limit() {
    const THREADS: usize = 8;
    let registry = Arc::new(Registry::new());
    registry.set_max_dynamic(Some(3));
    let barrier = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|i| {
            let (registry, barrier) = (Arc::clone(&registry), Arc::clone(&barrier));
            thread::spawn(move || {
                barrier.wait();
                registry
                    .get_or_create(&format!("host-{i}"), Config::default())
                    .is_ok()
            })
        })
        .collect();
    let created = handles
        .into_iter()
        .map(|h| h.join().unwrap())
        .filter(|&ok| ok)
        .count();
    assert_eq!(created, 3);
    assert_eq!(registry.names().len(), 3);
}

// ----- settings for names no breaker uses --------------------------------------

/// The unused configurations' names and origins.
fn unused(registry: &Registry) -> Vec<(String, String)> {
    registry
        .unused_configurations()
        .iter()
        .map(|u| (u.name().to_owned(), u.origin().to_owned()))
        .collect()
}

fn timeout_of(seconds: &str) -> breakerbox::PartialConfig {
    let mut ops = breakerbox::PartialConfig::new();
    ops.set("timeout", seconds).unwrap();
    ops
}

#[test]
fn values_for_a_name_no_breaker_uses_are_reported_unused() {
    let registry = Registry::new();
    registry
        .override_config("paymnets", timeout_of("5s"))
        .unwrap();
    registry
        .get_or_create("payments", Config::default())
        .unwrap();
    assert_eq!(
        unused(&registry),
        [(
            "paymnets".to_owned(),
            "Registry::override_config".to_owned()
        )]
    );
    let shown = registry.unused_configurations()[0].to_string();
    assert!(shown.contains("`paymnets`"), "{shown}");
}

#[test]
fn values_stop_being_unused_when_their_breaker_is_created() {
    let registry = Registry::new();
    registry.override_config("db", timeout_of("5s")).unwrap();
    assert_eq!(unused(&registry).len(), 1);
    registry.get_or_create("db", Config::default()).unwrap();
    assert_eq!(unused(&registry), []);
}

#[test]
fn values_stay_used_after_their_breaker_is_removed() {
    let registry = Registry::new();
    registry.override_config("db", timeout_of("5s")).unwrap();
    registry.get_or_create("db", Config::default()).unwrap();
    registry.remove("db");
    assert_eq!(unused(&registry), []);
}

#[test]
fn a_configuration_for_a_name_no_breaker_uses_is_reported_unused() {
    let registry = Registry::new();
    registry.configure("paymnets", Config::default()).unwrap();
    assert_eq!(
        unused(&registry),
        [("paymnets".to_owned(), "Registry::configure".to_owned())]
    );
    registry
        .get_or_create("paymnets", Config::default())
        .unwrap();
    assert_eq!(unused(&registry), []);
}
