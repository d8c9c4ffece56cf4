//! The registry of named breakers: lookup, creation, configuration before
//! first use, and the group operations. Private registries except where
//! the global one is the subject (with names no other test uses).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Barrier, Mutex};
use std::thread;
use std::time::Duration;

use breaker::{
    registry, CircuitBreaker, Config, ProbeLease, ProbeSlot, Registry, RegistryError, SharedState,
    State, StateStore,
};

fn trip(cb: &breaker::CircuitBreaker) {
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
    assert_eq!(cb.config().get_max_failures(), Some(2));
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
        again.config().get_max_failures(),
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
    assert_eq!(cb.config().get_max_failures(), Some(7));
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
    assert_eq!(cb.config().get_max_failures(), Some(2));
    let again = registry.get_or_create("db", Config::default()).unwrap();
    assert_eq!(again.config().get_max_failures(), Some(2));
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
        cb.config().get_max_failures(),
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
    assert_eq!(cb.config().get_max_failures(), Some(8));
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
    fn probe_ended(&self, _lease: ProbeLease, _outcome: Option<breaker::Outcome>) {}
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
    fn probe_ended(&self, _lease: ProbeLease, _outcome: Option<breaker::Outcome>) {}
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
