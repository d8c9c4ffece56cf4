//! Async calls: `call_async`, cancellation, `call_timeout` and
//! `wait_until_ready`, on tokio's paused time where time matters.

use std::future::{self, Future};
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use breakerbox::{
    CircuitBreaker, Config, Error, ManualClock, Outcome, RejectReason, State, TokioClock,
};
use tokio::time::{self, Instant};

const SEC: Duration = Duration::from_secs(1);

fn breaker(config: Config) -> (CircuitBreaker, ManualClock) {
    let clock = ManualClock::new();
    let cb = CircuitBreaker::new("async", config.clock(clock.clone())).unwrap();
    (cb, clock)
}

/// Polls `fut` exactly once, asserting that it is still pending.
async fn poll_once<F: Future + ?Sized>(mut fut: Pin<&mut F>) {
    future::poll_fn(|cx| {
        assert!(fut.as_mut().poll(cx).is_pending(), "the call completed");
        Poll::Ready(())
    })
    .await;
}

fn assert_send<T: Send>(_: &T) {}

async fn trip(cb: &CircuitBreaker) {
    while cb.state() == State::Closed {
        let _ = cb.call_async(|| async { Err::<(), _>("down") }).await;
    }
}

// ----- call_async ---------------------------------------------------------------

#[tokio::test]
async fn call_async_returns_ok_and_records_a_success() {
    let (cb, _clock) = breaker(Config::default());
    let result = cb.call_async(|| async { Ok::<_, ()>(7) }).await;
    assert_eq!(result, Ok(7));
    assert_eq!(cb.stats().period.successes, 1);
}

#[tokio::test]
async fn call_async_returns_err_as_inner_and_records_a_failure() {
    let (cb, _clock) = breaker(Config::default());
    let result = cb.call_async(|| async { Err::<(), _>("refused") }).await;
    assert_eq!(result, Err(Error::Inner("refused")));
    let stats = cb.stats();
    assert_eq!(stats.period.failures, 1);
    assert_eq!(stats.totals.failures, 1);
}

#[tokio::test]
async fn call_async_with_takes_a_classifier_that_answers_whether_an_error_is_a_failure() {
    let cb = CircuitBreaker::new("async-bool", Config::default().max_failures(1)).unwrap();
    let is_outage = |e: &u16| *e >= 500;
    let _ = cb
        .call_async_with(is_outage, || async { Err::<(), u16>(404) })
        .await;
    assert_eq!(cb.stats().totals.ignored, 1);
    let _ = cb
        .call_async_with(is_outage, || async { Err::<(), u16>(503) })
        .await;
    assert_eq!(cb.state(), breakerbox::State::Open);
}

#[tokio::test]
async fn call_async_with_classifies_errors() {
    let (cb, _clock) = breaker(Config::default().max_failures(1));
    let result = cb
        .call_async_with(|_: &u16| Outcome::Ignored, || async { Err::<(), u16>(404) })
        .await;
    assert_eq!(result, Err(Error::Inner(404)));
    let stats = cb.stats();
    assert_eq!(stats.state, State::Closed);
    assert_eq!(stats.period.ignored, 1);
}

#[tokio::test]
async fn call_async_on_an_open_breaker_is_rejected_without_running() {
    let (cb, _clock) = breaker(Config::default().max_failures(1));
    trip(&cb).await;
    let mut ran = false;
    let result = cb
        .call_async(|| {
            ran = true;
            async { Ok::<_, ()>(()) }
        })
        .await;
    assert!(!ran);
    assert!(result.unwrap_err().is_rejected());
}

// ----- cancellation ---------------------------------------------------------------

#[tokio::test]
async fn a_dropped_call_async_future_releases_its_permit_and_records_cancelled() {
    let (cb, _clock) = breaker(Config::default().max_concurrent_calls(1));
    let mut call = Box::pin(cb.call_async(future::pending::<Result<(), ()>>));
    poll_once(call.as_mut()).await;
    assert_eq!(cb.stats().in_flight, 1);
    drop(call);
    let stats = cb.stats();
    assert_eq!(stats.in_flight, 0);
    assert_eq!(stats.totals.cancelled, 1);
    assert_eq!(
        stats.period.successes + stats.period.failures + stats.period.ignored,
        0
    );
    assert!(
        cb.try_acquire().is_ok(),
        "the bulkhead place was not given back"
    );
}

#[tokio::test]
async fn a_cancelled_half_open_probe_does_not_leave_the_breaker_stuck() {
    let (cb, clock) = breaker(Config::default().max_failures(1));
    trip(&cb).await;
    clock.advance(60 * SEC);
    let mut probe = Box::pin(cb.call_async(future::pending::<Result<(), ()>>));
    poll_once(probe.as_mut()).await;
    assert_eq!(
        cb.try_acquire().unwrap_err().reason(),
        RejectReason::HalfOpenFull
    );
    drop(probe);
    assert_eq!(cb.state(), State::HalfOpen);
    let result = cb.call_async(|| async { Ok::<_, ()>(()) }).await;
    assert_eq!(result, Ok(()), "the cancelled probe's slot was not freed");
    assert_eq!(cb.state(), State::Closed);
}

// ----- call_timeout -----------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn call_timeout_returns_timed_out_and_records_a_timeout() {
    let (cb, _clock) = breaker(Config::default().call_timeout(SEC));
    let start = Instant::now();
    let result = cb
        .call_async(|| async {
            time::sleep(5 * SEC).await;
            Ok::<_, ()>(())
        })
        .await;
    assert_eq!(start.elapsed(), SEC, "the call was not cut at call_timeout");
    match result {
        Err(Error::TimedOut(timed_out)) => {
            assert_eq!(timed_out.breaker(), "async");
            assert_eq!(timed_out.after(), SEC);
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
    let stats = cb.stats();
    assert_eq!(stats.period.timeouts, 1);
    assert_eq!(stats.period.failures, 1, "a timeout is a failure");
    assert_eq!(stats.totals.timeouts, 1);
    assert_eq!(stats.totals.failures, 1);
    assert_eq!(stats.in_flight, 0);
}

#[tokio::test(start_paused = true)]
async fn call_timeout_lets_a_quicker_call_finish() {
    let (cb, _clock) = breaker(Config::default().call_timeout(SEC));
    let result = cb
        .call_async(|| async {
            time::sleep(SEC / 2).await;
            Ok::<_, ()>(3)
        })
        .await;
    assert_eq!(result, Ok(3));
    assert_eq!(cb.stats().period.timeouts, 0);
}

#[tokio::test(start_paused = true)]
async fn call_timeouts_trip_the_breaker() {
    let (cb, _clock) = breaker(Config::default().max_failures(2).call_timeout(SEC));
    for _ in 0..2 {
        let _ = cb.call_async(future::pending::<Result<(), ()>>).await;
    }
    assert_eq!(cb.state(), State::Open);
}

#[tokio::test(start_paused = true)]
async fn io_error_from_timed_out_is_of_kind_timed_out() {
    let (cb, _clock) = breaker(Config::default().call_timeout(SEC));
    let result = cb.call_async(future::pending::<Result<(), ()>>).await;
    let Err(Error::TimedOut(timed_out)) = result else {
        panic!("expected a timeout, got {result:?}");
    };
    let error = io::Error::from(timed_out);
    assert_eq!(error.kind(), io::ErrorKind::TimedOut);
}

// ----- wait_until_ready -------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn wait_until_ready_resolves_at_once_when_closed() {
    let cb = CircuitBreaker::new("ready", Config::default().clock(TokioClock::new())).unwrap();
    let start = Instant::now();
    cb.wait_until_ready().await;
    assert_eq!(start.elapsed(), Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn wait_until_ready_resolves_when_the_open_period_ends() {
    let config = Config::default()
        .max_failures(1)
        .timeout(30 * SEC)
        .clock(TokioClock::new());
    let cb = CircuitBreaker::new("ready", config).unwrap();
    trip(&cb).await;
    let start = Instant::now();
    cb.wait_until_ready().await;
    let waited = start.elapsed();
    assert!(waited >= 30 * SEC, "ready after only {waited:?}");
    assert!(waited < 31 * SEC, "ready only after {waited:?}");
    assert_eq!(cb.state(), State::HalfOpen);
    assert!(cb.try_acquire().is_ok());
}

#[tokio::test(start_paused = true)]
async fn wait_until_ready_does_not_resolve_before_the_open_period_ends() {
    let config = Config::default()
        .max_failures(1)
        .timeout(30 * SEC)
        .clock(TokioClock::new());
    let cb = CircuitBreaker::new("ready", config).unwrap();
    trip(&cb).await;
    let early = time::timeout(29 * SEC, cb.wait_until_ready()).await;
    assert!(early.is_err(), "ready while still open");
    assert_eq!(cb.state(), State::Open);
}

#[tokio::test(start_paused = true)]
async fn wait_until_ready_never_resolves_while_forced_open() {
    let cb = CircuitBreaker::new("ready", Config::default().clock(TokioClock::new())).unwrap();
    cb.force_open();
    let waited = time::timeout(10 * SEC, cb.wait_until_ready()).await;
    assert!(waited.is_err());
}

// ----- Send -------------------------------------------------------------------------

#[test]
fn the_call_async_future_is_send() {
    let cb = CircuitBreaker::new("send", Config::default()).unwrap();
    let plain = cb.call_async(|| async { Ok::<_, ()>(()) });
    assert_send(&plain);
    let classified = cb.call_async_with(|_: &()| Outcome::Ignored, || async { Ok::<_, ()>(()) });
    assert_send(&classified);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn call_async_runs_on_spawned_tasks_of_a_multi_thread_runtime() {
    let cb = Arc::new(CircuitBreaker::new("send", Config::default().max_failures(100)).unwrap());
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let cb = Arc::clone(&cb);
            tokio::spawn(async move {
                cb.call_async(|| async move {
                    tokio::task::yield_now().await;
                    if i % 2 == 0 {
                        Ok(i)
                    } else {
                        Err(i)
                    }
                })
                .await
            })
        })
        .collect();
    for task in tasks {
        let _ = task.await.unwrap();
    }
    let totals = cb.stats().totals;
    assert_eq!((totals.successes, totals.failures), (4, 4));
    assert_eq!(cb.stats().in_flight, 0);
}
