//! The metrics sync thread in a forked child, which inherits the parent's
//! record of a started thread but not the thread.
#![cfg(all(feature = "metrics", target_os = "linux", not(loom), not(miri)))]
#![allow(unsafe_code)]

use std::time::{Duration, Instant};

use breakerbox::{CircuitBreaker, Config};
use metrics_exporter_prometheus::PrometheusBuilder;

extern "C" {
    fn fork() -> i32;
    fn waitpid(pid: i32, status: *mut i32, options: i32) -> i32;
    fn _exit(status: i32) -> !;
}

/// In the child: a breaker's call, and whether the background sync brought
/// it to the counters within two seconds (as the exit status).
fn child() -> ! {
    let handle = PrometheusBuilder::new().install_recorder().unwrap();
    breakerbox::metrics::set_sync_interval(Duration::from_millis(5));
    let cb = CircuitBreaker::new("forked-metrics", Config::default()).unwrap();
    let _ = cb.call(|| Ok::<_, ()>(()));
    let line = r#"circuit_breaker_successes_total{name="forked-metrics"} 1"#;
    let deadline = Instant::now() + Duration::from_secs(2);
    let synced = loop {
        if handle.render().lines().any(|l| l == line) {
            break true;
        }
        if Instant::now() > deadline {
            break false;
        }
        // The background thread's work, which the test cannot drive.
        std::thread::sleep(Duration::from_millis(5));
    };
    // SAFETY: ends the child without running the test harness's exit
    // handlers.
    unsafe { _exit(if synced { 0 } else { 1 }) }
}

#[test]
fn a_child_forked_after_the_sync_thread_started_syncs_its_breakers() {
    // The parent's first breaker starts the sync thread.
    let _parent = CircuitBreaker::new("parent", Config::default()).unwrap();
    // SAFETY: the child runs only `child`, which exits.
    let pid = unsafe { fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        child();
    }
    let mut status = 0;
    // SAFETY: `status` is a valid out-pointer; `pid` is our child.
    let waited = unsafe { waitpid(pid, &mut status, 0) };
    assert_eq!(waited, pid);
    assert_eq!(
        status, 0,
        "the child's counters were never synced: {status:#x}"
    );
}
