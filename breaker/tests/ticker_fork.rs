//! The system clock's ticker in a forked child, which inherits the
//! parent's last tick but not its thread (as a daemon that forks after
//! using a breaker does).
#![cfg(all(target_os = "linux", not(loom), not(miri)))]
#![allow(unsafe_code)]

use std::time::{Duration, Instant};

use breakerbox::{CircuitBreaker, Clock, Config, SystemClock};

extern "C" {
    fn fork() -> i32;
    fn waitpid(pid: i32, status: *mut i32, options: i32) -> i32;
    fn _exit(status: i32) -> !;
}

/// In the child: trips a breaker on the system clock and reports (as the
/// exit status) whether its open period ended within a second.
fn child() -> ! {
    let cb = CircuitBreaker::new(
        "forked",
        Config::default()
            .max_failures(1)
            .timeout(Duration::from_millis(20)),
    )
    .unwrap();
    let _ = cb.call(|| Err::<(), _>(()));
    let deadline = Instant::now() + Duration::from_secs(1);
    let ended = loop {
        if cb.try_acquire().is_ok() {
            break true;
        }
        if Instant::now() > deadline {
            break false;
        }
        // Real time must pass: the system clock is what is under test.
        std::thread::sleep(Duration::from_millis(2));
    };
    // SAFETY: ends the child without running the parent's test harness's
    // exit handlers.
    unsafe { _exit(if ended { 0 } else { 1 }) }
}

#[test]
fn an_open_period_ends_on_time_in_a_child_forked_after_the_ticker_started() {
    // The ticker starts with the first coarse reading.
    let _ = SystemClock.now_coarse();
    let _ = SystemClock.now_coarse();
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
        "the child's open period never ended: {status:#x}"
    );
}
