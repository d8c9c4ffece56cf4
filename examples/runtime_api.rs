//! The runtime without the attribute: `CircuitBreaker::new`, `call`,
//! `call_with`, permits from `try_acquire`, and manual control. Time is a
//! `ManualClock`, moved by hand, so every step is deterministic.
//!
//! ```sh
//! cargo run --example runtime_api
//! ```

use std::sync::Arc;
use std::thread;
use std::time::Duration;

use breakerbox::{CircuitBreaker, Config, Error, ManualClock, Outcome, State};

#[derive(Debug)]
enum HttpError {
    Status(u16),
}

/// 4xx are the caller's mistakes, not an outage: ignored. 5xx are failures.
fn classify(error: &HttpError) -> Outcome {
    match error {
        HttpError::Status(400..=499) => Outcome::Ignored,
        HttpError::Status(_) => Outcome::Failure,
    }
}

fn main() {
    // ----- building one -------------------------------------------------------
    let clock = ManualClock::new();
    let config = Config::default()
        .max_failures(2)
        .timeout(Duration::from_secs(30))
        .success_threshold(2)
        .half_open_max_calls(2)
        .on_state_change(|change| println!("   [{}] {} -> {}", change.name, change.from, change.to))
        .clock(clock.clone());
    let cb = CircuitBreaker::new("users-api", config).expect("a valid configuration");

    // Invalid configurations are refused with the field, value and rule.
    let invalid = CircuitBreaker::new("users-api", Config::default().failure_rate(1.5));
    println!("invalid config: {}", invalid.unwrap_err());

    // ----- call and call_with ---------------------------------------------------
    println!("\n-- call: Ok is a success, Err a failure");
    let user = cb.call(|| Ok::<_, HttpError>("ada"));
    println!("call(..) = {user:?}");

    println!("\n-- call_with: a classifier decides what an Err is");
    let missing = cb.call_with(classify, || Err::<&str, _>(HttpError::Status(404)));
    println!(
        "call_with(404) = {missing:?} (ignored: the breaker stays {})",
        cb.state()
    );
    for _ in 0..2 {
        let down = cb.call_with(classify, || Err::<&str, _>(HttpError::Status(503)));
        println!("call_with(503) = {down:?}");
    }

    // While open, the closure does not run.
    let rejected = cb.call(|| -> Result<&str, HttpError> { unreachable!("not called while open") });
    if let Err(Error::Rejected(r)) = &rejected {
        println!(
            "rejected by {:?}: {:?}, retry after {:?}",
            r.breaker(),
            r.reason(),
            r.retry_after()
        );
    }

    // ----- permits ----------------------------------------------------------------
    // `try_acquire` splits a call in two: ask, then report. For code that
    // cannot be wrapped in a closure (callbacks, streams, manual retries).
    println!("\n-- 30s later: half-open, two probes at a time, two successes close it");
    clock.advance(Duration::from_secs(30));
    let first = cb.try_acquire().expect("a probe slot");
    let second = cb.try_acquire().expect("a second probe slot");
    println!(
        "two permits, probes: {} {}",
        first.is_probe(),
        second.is_probe()
    );
    match cb.try_acquire() {
        Ok(_) => println!("a third permit?"),
        Err(rejected) => println!("third try_acquire: {rejected}"),
    }
    first.success();
    // A permit dropped without an outcome gives its slot back and counts
    // nothing (a cancelled call).
    drop(second);
    let third = cb.try_acquire().expect("the dropped permit's slot");
    third.record(Outcome::Success);
    println!(
        "state {}, cancelled permits so far: {}",
        cb.state(),
        cb.stats().totals.cancelled
    );

    // ----- sharing between threads -----------------------------------------------
    println!("\n-- an Arc<CircuitBreaker> shared by 4 threads");
    let shared = Arc::new(CircuitBreaker::new("jobs", Config::default()).expect("valid"));
    let workers: Vec<_> = (0..4)
        .map(|n| {
            let cb = Arc::clone(&shared);
            thread::spawn(move || cb.call(|| Ok::<_, HttpError>(n * n)))
        })
        .collect();
    for worker in workers {
        let _ = worker.join().expect("worker panicked");
    }
    println!("jobs: {} successes", shared.stats().totals.successes);

    // ----- manual control ------------------------------------------------------
    println!("\n-- force_open, disable, reset");
    cb.force_open(); // every call rejected until reset (maintenance, kill switch)
    println!(
        "force_open: call ok? {}",
        cb.call(|| Ok::<_, HttpError>(())).is_ok()
    );
    cb.disable(); // every call runs and is counted, nothing trips
    for _ in 0..5 {
        let _ = cb.call(|| Err::<(), _>(HttpError::Status(500)));
    }
    println!("disabled after 5 failures: {}", cb.state());
    cb.reset(); // closed again, fresh counts, lifetime totals kept
    assert_eq!(cb.state(), State::Closed);

    let stats = cb.stats();
    println!(
        "\nusers-api lifetime: {} calls: {} ok, {} failed, {} ignored, {} rejected, {} cancelled; opened {} times",
        stats.totals.calls,
        stats.totals.successes,
        stats.totals.failures,
        stats.totals.ignored,
        stats.totals.rejected,
        stats.totals.cancelled,
        stats.open_count
    );
}
