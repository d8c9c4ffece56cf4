//! The registry's idle clock failing as a breaker is created, and a JSON
//! float literal beyond 64 bits: each test was written against the code
//! before its fix, where it failed (the JSON one is ignored, with the
//! limitation that keeps it from passing).
//!
//! Time is a `ManualClock`; interleavings are forced with a store's hooks.

use std::panic::{self, AssertUnwindSafe};
use std::time::Duration;

use breakerbox::{Config, ManualClock, Registry};

mod support;

use support::faulty_clock::FaultyClock;

const SEC: Duration = Duration::from_secs(1);

/// A breaker created on demand while the registry's idle clock panicked
/// is noted as busy "until a sweep with a good reading sees it again";
/// but its sample keeps `since = Duration::MAX`, so no later sweep with a
/// good clock ever finds it idle: never called again, it is never
/// evicted and holds a place under `set_max_dynamic` for good.
#[test]
fn a_breaker_created_while_the_idle_clock_panicked_is_evicted_once_the_clock_recovers() {
    let manual = ManualClock::new();
    let clock = FaultyClock::new(manual.clone());
    let registry = Registry::new();
    registry.set_clock(clock.clone());
    registry.set_idle_eviction(Some(SEC));

    clock.set_broken(true);
    let created = panic::catch_unwind(AssertUnwindSafe(|| {
        registry.get_or_create("review-final-idle", Config::default())
    }));
    clock.set_broken(false);
    drop(
        created
            .expect("the idle clock's panic is contained")
            .unwrap(),
    );

    // The clock is good again: one sweep notes the breaker idle from now,
    // and one `idle_after` later it goes.
    assert!(registry.evict_idle().is_empty());
    manual.advance(SEC * 2);
    let first = registry.evict_idle();
    manual.advance(SEC * 2);
    let second = registry.evict_idle();
    manual.advance(SEC * 3600);
    let later = registry.evict_idle();
    assert!(
        [first, second, later]
            .iter()
            .any(|swept| swept == &["review-final-idle".to_owned()]),
        "never evicted: {:?}",
        registry.names()
    );
}

/// JSON values are shown as written; the new conversion of whole floats
/// beyond 2^63 into integers (meant for integer literals beyond 64 bits,
/// which reach the visitor as `f64`) also rewrites a float literal:
/// `1e19` is shown as `10000000000000000000`, a value the operator never
/// wrote.
#[test]
#[ignore = "known limitation: serde_json hands over `1e19` and `10000000000000000000` as the same f64, shown as the integer"]
fn a_json_float_literal_beyond_64_bits_is_shown_as_written() {
    let error = serde_json::from_str::<Config>(r#"{"max_failures": 1e19}"#)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("1e19") || error.contains("1e+19"),
        "not shown as written: {error}"
    );
}
