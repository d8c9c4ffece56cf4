//! The registry of named breakers: lookup, creation, configuration before
//! first use, and the group operations. Private registries except where
//! the global one is the subject (with names no other test uses).

use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use breaker::{registry, Config, Registry, RegistryError, State};

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

// ----- the operators' values against the code's -----------------------------------

fn ops(key: &str, value: &str) -> breaker::PartialConfig {
    let mut partial = breaker::PartialConfig::new();
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
    assert_eq!(cb.config().get_timeout(), Duration::from_secs(60));
    assert_eq!(cb.config().get_success_threshold(), 3);
    let problems = registry.config_problems();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(
        (problems[0].breaker(), problems[0].key()),
        ("db", "timeout")
    );
    assert_eq!(problems[0].origin(), "Registry::override_config");
}
