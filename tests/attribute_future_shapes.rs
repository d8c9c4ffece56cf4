//! `#[circuit_breaker]` on the functions whose calls run in a future
//! spelled otherwise than `async fn`: `#[async_trait]` methods, `async fn`
//! in a trait impl, and functions that return `impl Future` or a boxed
//! future they build themselves.
//!
//! Each breaker opens after one failure for 10 s on a `ManualClock`
//! registered before its first call: a test trips it, sees a call rejected
//! (or answered by the fallback), moves the clock past the open period and
//! closes it with a probe. Tests share the global registry and run in
//! parallel, so each uses breaker names of its own.

mod support;

use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicU32, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use async_trait::async_trait;
use breakerbox::{circuit_breaker, registry, State};
use support::registered::{state_of, trips_after_one_failure};

#[derive(Debug, PartialEq)]
enum AppError {
    Down,
    Rejected,
    TimedOut,
}

impl From<breakerbox::Rejected> for AppError {
    fn from(_: breakerbox::Rejected) -> Self {
        AppError::Rejected
    }
}

impl From<breakerbox::TimedOut> for AppError {
    fn from(_: breakerbox::TimedOut) -> Self {
        AppError::TimedOut
    }
}

fn outcome(value: u64, fail: bool) -> Result<u64, AppError> {
    match fail {
        true => Err(AppError::Down),
        false => Ok(value),
    }
}

/// Polls `future` once, with a waker that does nothing, and drops it.
fn poll_once_and_drop<F: Future>(future: F) -> bool {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    future.as_mut().poll(&mut cx).is_pending()
}

/// A future that is pending on its first poll and ready on the next.
async fn yield_once() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            return Poll::Ready(());
        }
        yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    })
    .await
}

// `#[async_trait]` methods: the attribute finds the `async move` block
// inside the `Box::pin` that `async_trait` wrote, and runs it under the
// permit, as for an `async fn`.

#[async_trait]
trait Repo {
    async fn load(&self, id: u64, fail: bool) -> Result<u64, AppError>;
    async fn load_pair(&self, pair: (u64, u64), fail: bool) -> Result<u64, AppError>;
    async fn wait(&self, fail: bool) -> Result<u64, AppError>;
}

struct Db {
    cached: u64,
}

#[async_trait]
impl Repo for Db {
    #[circuit_breaker(name = "future-shapes-async-trait")]
    async fn load(&self, id: u64, fail: bool) -> Result<u64, AppError> {
        yield_once().await;
        outcome(id, fail)
    }

    #[circuit_breaker(name = "future-shapes-async-trait-fallback", fallback = Self::cached_sum)]
    async fn load_pair(&self, (a, b): (u64, u64), fail: bool) -> Result<u64, AppError> {
        yield_once().await;
        outcome(a + b, fail)
    }

    #[circuit_breaker(name = "future-shapes-async-trait-cancelled")]
    async fn wait(&self, fail: bool) -> Result<u64, AppError> {
        yield_once().await;
        outcome(self.cached, fail)
    }
}

impl Db {
    async fn cached_sum(&self, pair: (u64, u64), _fail: bool) -> Result<u64, AppError> {
        yield_once().await;
        Ok(self.cached + pair.0 + pair.1)
    }
}

#[tokio::test]
async fn async_trait_method_trips_rejects_and_recovers() {
    let name = "future-shapes-async-trait";
    let clock = trips_after_one_failure(name);
    let repo: &dyn Repo = &Db { cached: 0 };

    assert_eq!(repo.load(1, false).await, Ok(1));
    assert_eq!(repo.load(1, true).await, Err(AppError::Down));
    assert_eq!(state_of(name), Some(State::Open));
    assert_eq!(repo.load(1, false).await, Err(AppError::Rejected));

    clock.advance(Duration::from_secs(10));
    assert_eq!(repo.load(2, false).await, Ok(2));
    assert_eq!(state_of(name), Some(State::Closed));
}

#[tokio::test]
async fn async_trait_method_falls_back_with_its_arguments() {
    let name = "future-shapes-async-trait-fallback";
    let clock = trips_after_one_failure(name);
    let repo: &dyn Repo = &Db { cached: 100 };

    assert_eq!(repo.load_pair((1, 2), true).await, Err(AppError::Down));
    assert_eq!(repo.load_pair((1, 2), false).await, Ok(103));

    clock.advance(Duration::from_secs(10));
    assert_eq!(repo.load_pair((1, 2), false).await, Ok(3));
    assert_eq!(state_of(name), Some(State::Closed));
}

#[tokio::test]
async fn async_trait_method_asks_for_its_permit_when_first_polled() {
    let name = "future-shapes-async-trait-polled";
    let clock = trips_after_one_failure(name);

    struct Late;
    #[async_trait]
    impl Repo for Late {
        #[circuit_breaker(name = "future-shapes-async-trait-polled")]
        async fn load(&self, id: u64, fail: bool) -> Result<u64, AppError> {
            outcome(id, fail)
        }
        async fn load_pair(&self, _: (u64, u64), _: bool) -> Result<u64, AppError> {
            Ok(0)
        }
        async fn wait(&self, _: bool) -> Result<u64, AppError> {
            Ok(0)
        }
    }

    assert_eq!(Late.load(1, true).await, Err(AppError::Down));
    let made_while_open = Late.load(3, false);
    clock.advance(Duration::from_secs(10));
    assert_eq!(made_while_open.await, Ok(3));
    assert_eq!(state_of(name), Some(State::Closed));
}

#[tokio::test]
async fn async_trait_method_dropped_while_running_releases_its_probe() {
    let name = "future-shapes-async-trait-cancelled";
    let clock = trips_after_one_failure(name);
    let repo = Db { cached: 7 };

    assert_eq!(repo.wait(true).await, Err(AppError::Down));
    assert_eq!(state_of(name), Some(State::Open));
    clock.advance(Duration::from_secs(10));

    // The probe starts, is pending, and is dropped: the permit is released
    // unrecorded, so the next call is the probe.
    assert!(poll_once_and_drop(repo.wait(false)));
    assert_eq!(state_of(name), Some(State::HalfOpen));
    assert_eq!(repo.wait(false).await, Ok(7));
    assert_eq!(state_of(name), Some(State::Closed));
}

#[async_trait(?Send)]
trait LocalRepo {
    async fn local(&self, fail: bool) -> Result<u64, AppError>;
}

#[async_trait(?Send)]
impl LocalRepo for Db {
    #[circuit_breaker(name = "future-shapes-async-trait-local")]
    async fn local(&self, fail: bool) -> Result<u64, AppError> {
        let not_send = std::rc::Rc::new(self.cached);
        yield_once().await;
        outcome(*not_send, fail)
    }
}

#[tokio::test]
async fn async_trait_method_without_send_trips_rejects_and_recovers() {
    let name = "future-shapes-async-trait-local";
    let clock = trips_after_one_failure(name);
    let repo = Db { cached: 5 };

    assert_eq!(repo.local(true).await, Err(AppError::Down));
    assert_eq!(repo.local(false).await, Err(AppError::Rejected));
    clock.advance(Duration::from_secs(10));
    assert_eq!(repo.local(false).await, Ok(5));
    assert_eq!(state_of(name), Some(State::Closed));
}

// `async fn` in a trait impl, without `async_trait`: an `async fn` like
// any other.

trait Lookup {
    async fn find(&self, id: u64, fail: bool) -> Result<u64, AppError>;
}

impl Lookup for Db {
    #[circuit_breaker(name = "future-shapes-native-async-trait", fallback = Self::find_cached)]
    async fn find(&self, id: u64, fail: bool) -> Result<u64, AppError> {
        yield_once().await;
        outcome(id, fail)
    }
}

impl Db {
    fn find_cached(&self, _id: u64, _fail: bool) -> Result<u64, AppError> {
        Ok(self.cached)
    }
}

#[tokio::test]
async fn native_async_fn_in_a_trait_impl_trips_falls_back_and_recovers() {
    let name = "future-shapes-native-async-trait";
    let clock = trips_after_one_failure(name);
    let db = Db { cached: 42 };

    assert_eq!(db.find(1, false).await, Ok(1));
    assert_eq!(db.find(1, true).await, Err(AppError::Down));
    assert_eq!(state_of(name), Some(State::Open));
    assert_eq!(db.find(1, false).await, Ok(42));

    clock.advance(Duration::from_secs(10));
    assert_eq!(db.find(2, false).await, Ok(2));
    assert_eq!(state_of(name), Some(State::Closed));
}

// Functions that build the future they return: the breaker decides when
// the function is called; the body runs only for an admitted call.

static BODY_RUNS: AtomicU32 = AtomicU32::new(0);

impl Db {
    /// A future that keeps nothing borrowed: `'static`, so it can be
    /// spawned, although `self` is a borrow.
    #[circuit_breaker(name = "future-shapes-impl-future", fallback = Self::fetch_cached)]
    fn fetch(
        &self,
        id: u64,
        fail: bool,
    ) -> impl Future<Output = Result<u64, AppError>> + Send + 'static {
        BODY_RUNS.fetch_add(1, Ordering::SeqCst);
        let base = self.cached;
        async move {
            yield_once().await;
            outcome(base + id, fail)
        }
    }

    fn fetch_cached(&self, id: u64, _fail: bool) -> Result<u64, AppError> {
        Ok(id)
    }
}

#[tokio::test]
async fn impl_future_fn_trips_falls_back_without_running_its_body_and_recovers() {
    let name = "future-shapes-impl-future";
    let clock = trips_after_one_failure(name);
    let db = Db { cached: 1000 };

    assert_eq!(tokio::spawn(db.fetch(1, false)).await.ok(), Some(Ok(1001)));
    assert_eq!(db.fetch(1, true).await, Err(AppError::Down));
    assert_eq!(state_of(name), Some(State::Open));
    assert_eq!(BODY_RUNS.load(Ordering::SeqCst), 2);

    assert_eq!(db.fetch(5, false).await, Ok(5));
    assert_eq!(BODY_RUNS.load(Ordering::SeqCst), 2);

    clock.advance(Duration::from_secs(10));
    assert_eq!(db.fetch(5, false).await, Ok(1005));
    assert_eq!(state_of(name), Some(State::Closed));
}

#[circuit_breaker(name = "future-shapes-impl-future-decided")]
fn decided_when_called(fail: bool) -> impl Future<Output = Result<u64, AppError>> {
    std::future::ready(outcome(1, fail))
}

#[tokio::test]
async fn impl_future_fn_is_decided_when_called_not_when_polled() {
    let name = "future-shapes-impl-future-decided";
    let clock = trips_after_one_failure(name);

    assert_eq!(decided_when_called(true).await, Err(AppError::Down));
    let made_while_open = decided_when_called(false);
    clock.advance(Duration::from_secs(10));
    assert_eq!(made_while_open.await, Err(AppError::Rejected));
    // The probe is still to come.
    assert_eq!(decided_when_called(false).await, Ok(1));
    assert_eq!(state_of(name), Some(State::Closed));
}

#[circuit_breaker(name = "future-shapes-impl-future-dropped")]
fn dropped(fail: bool) -> impl Future<Output = Result<u64, AppError>> {
    async move {
        yield_once().await;
        outcome(2, fail)
    }
}

#[tokio::test]
async fn impl_future_dropped_before_it_completes_releases_its_probe() {
    let name = "future-shapes-impl-future-dropped";
    let clock = trips_after_one_failure(name);
    assert_eq!(dropped(true).await, Err(AppError::Down));
    clock.advance(Duration::from_secs(10));

    // Admitted as the one probe, then dropped unpolled, and another one
    // dropped while pending: neither is recorded, and the probe is free.
    drop(dropped(false));
    assert!(poll_once_and_drop(dropped(false)));
    assert_eq!(state_of(name), Some(State::HalfOpen));
    assert_eq!(dropped(false).await, Ok(2));
    assert_eq!(state_of(name), Some(State::Closed));
    let totals = registry().get(name).map(|cb| cb.stats().totals);
    assert_eq!(totals.map(|t| (t.successes, t.failures)), Some((1, 1)));
}

#[circuit_breaker(name = "future-shapes-boxed")]
fn boxed(id: u64, fail: bool) -> Pin<Box<dyn Future<Output = Result<u64, AppError>> + Send>> {
    // Two future types, which the declared type unifies.
    if id == 0 {
        return Box::pin(std::future::ready(Ok(0)));
    }
    Box::pin(async move {
        yield_once().await;
        outcome(id, fail)
    })
}

#[tokio::test]
async fn boxed_future_fn_trips_rejects_and_recovers() {
    let name = "future-shapes-boxed";
    let clock = trips_after_one_failure(name);

    assert_eq!(boxed(0, false).await, Ok(0));
    assert_eq!(boxed(1, true).await, Err(AppError::Down));
    assert_eq!(state_of(name), Some(State::Open));
    assert_eq!(boxed(1, false).await, Err(AppError::Rejected));

    clock.advance(Duration::from_secs(10));
    assert_eq!(boxed(3, false).await, Ok(3));
    assert_eq!(state_of(name), Some(State::Closed));
}

impl Db {
    /// Futures that borrow the receiver, as their return types say.
    #[circuit_breaker(name = "future-shapes-impl-future-borrowing")]
    fn borrowing(&self, fail: bool) -> impl Future<Output = Result<u64, AppError>> + '_ {
        async move {
            yield_once().await;
            outcome(self.cached, fail)
        }
    }

    #[circuit_breaker(name = "future-shapes-boxed-borrowing", fallback = Self::fetch_cached)]
    fn boxed_borrowing(
        &self,
        id: u64,
        fail: bool,
    ) -> Pin<Box<dyn Future<Output = Result<u64, AppError>> + Send + '_>> {
        Box::pin(async move { outcome(self.cached + id, fail) })
    }
}

#[tokio::test]
async fn impl_future_borrowing_the_receiver_trips_rejects_and_recovers() {
    let name = "future-shapes-impl-future-borrowing";
    let clock = trips_after_one_failure(name);
    let db = Db { cached: 4 };

    assert_eq!(db.borrowing(true).await, Err(AppError::Down));
    assert_eq!(db.borrowing(false).await, Err(AppError::Rejected));
    clock.advance(Duration::from_secs(10));
    assert_eq!(db.borrowing(false).await, Ok(4));
    assert_eq!(state_of(name), Some(State::Closed));
}

#[tokio::test]
async fn boxed_future_borrowing_the_receiver_falls_back_and_recovers() {
    let name = "future-shapes-boxed-borrowing";
    let clock = trips_after_one_failure(name);
    let db = Db { cached: 4 };

    assert_eq!(db.boxed_borrowing(1, true).await, Err(AppError::Down));
    assert_eq!(db.boxed_borrowing(1, false).await, Ok(1));
    clock.advance(Duration::from_secs(10));
    assert_eq!(db.boxed_borrowing(1, false).await, Ok(5));
    assert_eq!(state_of(name), Some(State::Closed));
}

#[circuit_breaker(
    name = "future-shapes-impl-future-timeout",
    max_failures = 1,
    call_timeout = "1s"
)]
fn slow(work: Duration) -> impl Future<Output = Result<&'static str, AppError>> {
    async move {
        tokio::time::sleep(work).await;
        Ok("done")
    }
}

#[tokio::test(start_paused = true)]
async fn impl_future_fn_is_bounded_by_call_timeout() {
    let name = "future-shapes-impl-future-timeout";
    assert_eq!(slow(Duration::from_millis(999)).await, Ok("done"));
    assert_eq!(slow(Duration::from_secs(5)).await, Err(AppError::TimedOut));
    assert_eq!(state_of(name), Some(State::Open));
    assert_eq!(
        slow(Duration::from_millis(1)).await,
        Err(AppError::Rejected)
    );
}

// With `#[tracing::instrument]` on the same method, in either order: the
// attribute that expands second finds the `Box::pin(async move { .. })`
// shape the first left, and guards (or instruments) the block inside.

#[async_trait]
trait Traced {
    async fn breaker_outside(&self, fail: bool) -> Result<u64, AppError>;
    async fn breaker_inside(&self, fail: bool) -> Result<u64, AppError>;
}

#[async_trait]
impl Traced for Db {
    #[circuit_breaker(name = "future-shapes-instrument-inside")]
    #[tracing::instrument(skip(self))]
    async fn breaker_outside(&self, fail: bool) -> Result<u64, AppError> {
        yield_once().await;
        outcome(self.cached, fail)
    }

    #[tracing::instrument(skip(self))]
    #[circuit_breaker(name = "future-shapes-instrument-outside")]
    async fn breaker_inside(&self, fail: bool) -> Result<u64, AppError> {
        yield_once().await;
        outcome(self.cached, fail)
    }
}

#[tokio::test]
async fn async_trait_method_under_instrument_trips_rejects_and_recovers() {
    let name = "future-shapes-instrument-outside";
    let clock = trips_after_one_failure(name);
    let db = Db { cached: 9 };

    assert_eq!(db.breaker_inside(true).await, Err(AppError::Down));
    assert_eq!(db.breaker_inside(false).await, Err(AppError::Rejected));
    clock.advance(Duration::from_secs(10));
    assert_eq!(db.breaker_inside(false).await, Ok(9));
    assert_eq!(state_of(name), Some(State::Closed));
}

#[tokio::test]
async fn async_trait_method_over_instrument_trips_rejects_and_recovers() {
    let name = "future-shapes-instrument-inside";
    let clock = trips_after_one_failure(name);
    let db = Db { cached: 9 };

    assert_eq!(db.breaker_outside(true).await, Err(AppError::Down));
    assert_eq!(db.breaker_outside(false).await, Err(AppError::Rejected));
    clock.advance(Duration::from_secs(10));
    assert_eq!(db.breaker_outside(false).await, Ok(9));
    assert_eq!(state_of(name), Some(State::Closed));
}
