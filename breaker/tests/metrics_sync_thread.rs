//! The metrics sync thread, alone in its process: no other test's
//! `sync_now` can do its work for it.
#![cfg(all(feature = "metrics", not(loom)))]

use std::time::{Duration, Instant};

use breakerbox::{CircuitBreaker, Config};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// Renders the recorder until `line` shows (the background thread's work,
/// which no test can drive), or gives up after `within`.
fn shows_within(handle: &PrometheusHandle, line: &str, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if handle.render().lines().any(|l| l == line) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    false
}

/// Shortening the interval takes effect at once, not after the thread's
/// current (long: the longest there is) wait ends.
#[test]
fn a_shorter_sync_interval_takes_effect_during_a_long_wait() {
    let handle = PrometheusBuilder::new().install_recorder().unwrap();
    // The thread starts with the first breaker and waits for ever.
    breakerbox::metrics::set_sync_interval(Duration::MAX);
    let cb = CircuitBreaker::new("sync-interval", Config::default()).unwrap();
    let _ = cb.call(|| Ok::<_, ()>(()));
    // Time for the new thread to begin that wait (nothing shows when it
    // has: it is the one thing this test cannot observe).
    std::thread::sleep(Duration::from_millis(200));

    breakerbox::metrics::set_sync_interval(Duration::from_millis(5));
    let one = r#"circuit_breaker_successes_total{name="sync-interval"} 1"#;
    assert!(
        shows_within(&handle, one, Duration::from_secs(10)),
        "{}",
        handle.render()
    );
}
