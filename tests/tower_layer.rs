//! The tower layer in a real tower stack (`ServiceBuilder`, `service_fn`):
//! where rejections come from, what counts as a failure, cancellation.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use breakerbox::tower::CircuitBreakerLayer;
use breakerbox::{CircuitBreaker, Config, ManualClock, Outcome, Rejected, State};
use tower::{service_fn, BoxError, Service, ServiceBuilder, ServiceExt};

fn breaker(name: &str, clock: &ManualClock) -> Arc<CircuitBreaker> {
    let config = Config::default()
        .max_failures(2)
        .timeout(Duration::from_secs(30))
        .clock(clock.clone());
    Arc::new(CircuitBreaker::new(name, config).unwrap())
}

/// Fails when the request is negative.
async fn backend(request: i32) -> Result<i32, BoxError> {
    if request < 0 {
        Err("backend down".into())
    } else {
        Ok(request * 2)
    }
}

fn poll_once<F: Future>(future: F) -> Poll<F::Output> {
    let mut future = pin!(future);
    future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
}

#[tokio::test]
async fn errors_trip_the_breaker_and_later_calls_are_rejected_without_reaching_the_service() {
    let clock = ManualClock::new();
    let cb = breaker("tower-trip", &clock);
    let reached = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let seen = Arc::clone(&reached);
    let mut service = ServiceBuilder::new()
        .layer(CircuitBreakerLayer::new(Arc::clone(&cb)))
        .service(service_fn(move |request: i32| {
            seen.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            backend(request)
        }));

    assert_eq!(service.ready().await.unwrap().call(1).await.unwrap(), 2);
    for _ in 0..2 {
        assert!(service.ready().await.unwrap().call(-1).await.is_err());
    }
    assert_eq!(cb.state(), State::Open);

    let error = service.ready().await.unwrap().call(1).await.unwrap_err();
    let rejected = error.downcast_ref::<Rejected>().expect("a rejection");
    assert_eq!(rejected.breaker(), "tower-trip");
    assert_eq!(reached.load(std::sync::atomic::Ordering::Relaxed), 3);
}

#[tokio::test]
async fn an_open_breaker_leaves_poll_ready_to_the_inner_service() {
    let clock = ManualClock::new();
    let cb = breaker("tower-ready", &clock);
    cb.force_open();
    let mut service = CircuitBreakerLayer::new(Arc::clone(&cb)).layer_on(service_fn(backend));
    assert!(matches!(
        poll_once(std::future::poll_fn(|cx| service.poll_ready(cx))),
        Poll::Ready(Ok(()))
    ));
    assert_eq!(
        cb.stats().totals.rejected,
        0,
        "readiness counted a rejection"
    );
    assert!(service.call(1).await.is_err());
    assert_eq!(cb.stats().totals.rejected, 1);
}

#[tokio::test]
async fn the_breaker_recovers_after_its_open_period() {
    let clock = ManualClock::new();
    let cb = breaker("tower-recover", &clock);
    let mut service = CircuitBreakerLayer::new(Arc::clone(&cb)).layer_on(service_fn(backend));
    for _ in 0..2 {
        let _ = service.ready().await.unwrap().call(-1).await;
    }
    assert_eq!(cb.state(), State::Open);
    clock.advance(Duration::from_secs(30));
    assert_eq!(service.ready().await.unwrap().call(4).await.unwrap(), 8);
    assert_eq!(cb.state(), State::Closed);
}

#[tokio::test]
async fn a_classifier_can_fail_an_ok_response() {
    let clock = ManualClock::new();
    let cb = breaker("tower-classify", &clock);
    // The response is a status code: 500 and above is a failure.
    let server_errors = |result: Result<&u16, &BoxError>| match result {
        Ok(status) if *status >= 500 => Outcome::Failure,
        Ok(_) => Outcome::Success,
        Err(_) => Outcome::Failure,
    };
    let mut service = ServiceBuilder::new()
        .layer(CircuitBreakerLayer::new(Arc::clone(&cb)).classify(server_errors))
        .service(service_fn(|status: u16| async move {
            Ok::<_, BoxError>(status)
        }));
    assert_eq!(service.ready().await.unwrap().call(404).await.unwrap(), 404);
    for _ in 0..2 {
        assert_eq!(service.ready().await.unwrap().call(503).await.unwrap(), 503);
    }
    let stats = cb.stats();
    assert_eq!(stats.totals.successes, 1);
    assert_eq!(stats.totals.failures, 2);
    assert_eq!(stats.state, State::Open);
}

/// The shape `call_with` and the attribute take: a look at the error
/// alone, answering `bool` (is it a failure?) or an `Outcome`.
#[tokio::test]
async fn an_error_classifier_can_ignore_errors() {
    let clock = ManualClock::new();
    let cb = breaker("tower-classify-errors", &clock);
    let is_outage = |error: &BoxError| error.to_string() != "not found";
    let mut service = ServiceBuilder::new()
        .layer(CircuitBreakerLayer::new(Arc::clone(&cb)).classify_errors(is_outage))
        .service(service_fn(|request: i32| async move {
            match request {
                404 => Err::<i32, BoxError>("not found".into()),
                500 => Err("backend down".into()),
                _ => Ok(request),
            }
        }));
    for _ in 0..3 {
        let _ = service.ready().await.unwrap().call(404).await;
    }
    assert_eq!(cb.stats().totals.ignored, 3);
    assert_eq!(cb.state(), State::Closed);
    assert_eq!(service.ready().await.unwrap().call(1).await.unwrap(), 1);
    assert_eq!(cb.stats().totals.successes, 1, "an Ok is a success");
    for _ in 0..2 {
        let _ = service.ready().await.unwrap().call(500).await;
    }
    assert_eq!(cb.state(), State::Open);
}

#[tokio::test]
async fn an_error_classifier_may_answer_an_outcome() {
    let clock = ManualClock::new();
    let cb = breaker("tower-classify-outcome", &clock);
    let mut service = CircuitBreakerLayer::new(Arc::clone(&cb))
        .classify_errors(|_: &BoxError| Outcome::Ignored)
        .layer_on(service_fn(|_: i32| async {
            Err::<i32, BoxError>("nope".into())
        }));
    let _ = service.ready().await.unwrap().call(1).await;
    assert_eq!(cb.stats().totals.ignored, 1);
}

#[tokio::test]
async fn a_dropped_response_future_releases_its_permit_as_cancelled() {
    let clock = ManualClock::new();
    let cb = breaker("tower-cancel", &clock);
    let mut service = CircuitBreakerLayer::new(Arc::clone(&cb)).layer_on(service_fn(|_: i32| {
        std::future::pending::<Result<i32, BoxError>>()
    }));
    let future = service.ready().await.unwrap().call(1);
    assert_eq!(cb.stats().in_flight, 1);
    assert!(poll_once(future).is_pending()); // polled once, then dropped
    let stats = cb.stats();
    assert_eq!(stats.in_flight, 0);
    assert_eq!(stats.totals.cancelled, 1);
    assert_eq!(stats.period.failures, 0);
}

#[tokio::test]
async fn a_rejection_converts_into_an_io_error_service_error() {
    let clock = ManualClock::new();
    let cb = breaker("tower-io", &clock);
    cb.force_open();
    let mut service = CircuitBreakerLayer::new(cb)
        .layer_on(service_fn(|_: ()| async { Ok::<_, std::io::Error>(()) }));
    let error = service.ready().await.unwrap().call(()).await.unwrap_err();
    assert!(error.get_ref().unwrap().is::<Rejected>());
}

#[tokio::test]
async fn a_named_layer_shares_the_registry_breaker() {
    let layer =
        CircuitBreakerLayer::named("tower-named", Config::default().max_failures(1)).unwrap();
    let mut first = layer.layer_on(service_fn(backend));
    let _ = first.ready().await.unwrap().call(-1).await;
    let registered = breakerbox::registry().get("tower-named").unwrap();
    assert!(Arc::ptr_eq(layer.breaker(), &registered));
    assert_eq!(registered.state(), State::Open);
}

/// `Layer::layer`, spelled so that the tests read left to right.
trait LayerOn<S>: tower::Layer<S> + Sized {
    fn layer_on(&self, service: S) -> Self::Service {
        self.layer(service)
    }
}
impl<S, L: tower::Layer<S>> LayerOn<S> for L {}
