//! The metrics sync thread in a forked child, which inherits the parent's
//! record of a started thread but not the thread.
#![cfg(all(feature = "metrics", target_os = "linux", not(loom), not(miri)))]

mod forked;

use std::time::{Duration, Instant};

use breakerbox::{CircuitBreaker, Config};
use metrics_exporter_prometheus::PrometheusBuilder;

/// In the child: a breaker's call, and whether the background sync brought
/// it to the counters within two seconds.
fn child_syncs() -> bool {
    let handle = PrometheusBuilder::new().install_recorder().unwrap();
    breakerbox::metrics::set_sync_interval(Duration::from_millis(5));
    let cb = CircuitBreaker::new("forked-metrics", Config::default()).unwrap();
    let _ = cb.call(|| Ok::<_, ()>(()));
    let line = r#"circuit_breaker_successes_total{name="forked-metrics"} 1"#;
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        if handle.render().lines().any(|l| l == line) {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        // The background thread's work, which the test cannot drive.
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_child_forked_after_the_sync_thread_started_syncs_its_breakers() {
    // The parent's first breaker starts the sync thread.
    let _parent = CircuitBreaker::new("parent", Config::default()).unwrap();
    assert!(
        forked::in_forked_child(child_syncs),
        "the child's counters were never synced"
    );
}
