//! The system clock's ticker in a forked child, which inherits the
//! parent's last tick but not its thread (as a daemon that forks after
//! using a breaker does).
#![cfg(all(target_os = "linux", not(loom), not(miri)))]

mod forked;

use std::time::{Duration, Instant};

use breakerbox::{CircuitBreaker, Clock, Config, SystemClock};

/// In the child: trips a breaker on the system clock; whether its open
/// period ended within a second.
fn child_reopens() -> bool {
    let cb = CircuitBreaker::new(
        "forked",
        Config::default()
            .max_failures(1)
            .timeout(Duration::from_millis(20)),
    )
    .unwrap();
    let _ = cb.call(|| Err::<(), _>(()));
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        if cb.try_acquire().is_ok() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        // Real time must pass: the system clock is what is under test.
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn an_open_period_ends_on_time_in_a_child_forked_after_the_ticker_started() {
    // The ticker starts with the first coarse reading.
    let _ = SystemClock.now_coarse();
    let _ = SystemClock.now_coarse();
    assert!(
        forked::in_forked_child(child_reopens),
        "the child's open period never ended"
    );
}
