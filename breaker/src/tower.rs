//! tower middleware (feature `tower`): [`CircuitBreakerLayer`] wraps any
//! [`Service`] with a breaker.
//!
//! # Readiness: rejections come from `call`, never from `poll_ready`
//!
//! `poll_ready` only asks the inner service; the breaker decides in `call`,
//! and a rejected request's future resolves at once to
//! `Err(S::Error::from(Rejected))` without reaching the inner service.
//! Why not answer from `poll_ready`:
//! - an error from `poll_ready` tells tower that the *service* has failed:
//!   `Buffer` and `Balance`, for instance, drop a service whose
//!   `poll_ready` errs. An open breaker refuses requests for a while; the
//!   service is fine, and each request deserves its own answer (a
//!   fallback, a 503) without rebuilding the stack;
//! - taking the permit in `poll_ready` would hold a half-open probe slot
//!   (or a bulkhead place) for a service that was made ready and then
//!   never called, as routers and load balancers routinely do, and would
//!   count rejections for calls nobody made;
//! - staying `Pending` while open would turn fast failure into queueing,
//!   the opposite of a breaker. To wait for the breaker instead, await
//!   [`CircuitBreaker::wait_until_ready`] before calling.
//!
//! # Outcomes
//!
//! A [`Classify`] decides what each response is: by default an `Ok` is a
//! success and an `Err` a failure. Two kinds of closures replace it:
//! - [`classify_errors`](CircuitBreakerLayer::classify_errors) takes the
//!   shape `call_with` and the attribute's `classify` take, a look at the
//!   error alone answering `bool` (is it a failure?) or an [`Outcome`];
//!   an `Ok` is a success;
//! - [`classify`](CircuitBreakerLayer::classify) takes a look at the whole
//!   result, answering an [`Outcome`], to fail an `Ok` response (an HTTP
//!   status of 500 and above, a gRPC status). It answers no `bool`: a
//!   `false` for an `Ok` response would ignore it, not count it a success.
//!
//! A response future dropped before it completes releases its permit and
//! records nothing (a cancelled call); a panic while polling it records a
//! failure.
//!
//! The layer does not apply `Config::call_timeout`: put tower's
//! `TimeoutLayer` inside the breaker layer, and its elapsed error is a
//! failure like any other.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tower_layer::Layer;
use tower_service::Service;

use crate::breaker::CircuitBreaker;
use crate::config::Config;
use crate::error::Rejected;
use crate::permit::{IntoOutcome, Outcome, OwnedPermit};
use crate::registry::{registry, RegistryError};

/// Decides what a response counts as.
///
/// Implemented for every `Fn(Result<&T, &E>) -> Outcome + Clone`, so a
/// closure will do:
///
/// ```
/// use breakerbox::Outcome;
///
/// // HTTP: a 5xx response is a failure even though the call returned Ok.
/// let server_errors = |result: Result<&http::Response<String>, &std::io::Error>| match result {
///     Ok(response) if response.status().is_server_error() => Outcome::Failure,
///     Ok(_) => Outcome::Success,
///     Err(_) => Outcome::Failure,
/// };
/// # let _ = server_errors;
/// ```
pub trait Classify<T, E> {
    /// The outcome of one call.
    fn classify(&self, result: Result<&T, &E>) -> Outcome;
}

impl<T, E, F> Classify<T, E> for F
where
    F: Fn(Result<&T, &E>) -> Outcome,
{
    fn classify(&self, result: Result<&T, &E>) -> Outcome {
        self(result)
    }
}

/// A classifier of errors alone, from
/// [`CircuitBreakerLayer::classify_errors`]: an `Ok` is a success, an `Err`
/// is what the closure answers, a `bool` (is it a failure?) or an
/// [`Outcome`].
#[derive(Debug, Clone, Copy)]
pub struct ClassifyErrors<F>(F);

impl<T, E, F, O> Classify<T, E> for ClassifyErrors<F>
where
    F: Fn(&E) -> O,
    O: IntoOutcome,
{
    fn classify(&self, result: Result<&T, &E>) -> Outcome {
        crate::permit::classify(result, &self.0)
    }
}

/// The default classifier: `Ok` is a success, `Err` a failure.
#[derive(Debug, Clone, Copy, Default)]
pub struct AnyError;

impl<T, E> Classify<T, E> for AnyError {
    fn classify(&self, result: Result<&T, &E>) -> Outcome {
        match result {
            Ok(_) => Outcome::Success,
            Err(_) => Outcome::Failure,
        }
    }
}

/// A [`Layer`] that puts a breaker in front of a service. Every service it
/// makes shares the one breaker.
///
/// ```
/// use breakerbox::tower::CircuitBreakerLayer;
/// use breakerbox::Config;
/// use tower::ServiceBuilder;
///
/// // The registry's breaker named "backend" (created on first use):
/// let layer = CircuitBreakerLayer::named("tower-doc-backend", Config::default().max_failures(3)).unwrap();
/// let service = ServiceBuilder::new()
///     .layer(layer)
///     .service(tower::service_fn(|request: u32| async move {
///         Ok::<_, tower::BoxError>(request * 2)
///     }));
/// # let _ = service;
/// ```
#[derive(Debug, Clone)]
pub struct CircuitBreakerLayer<C = AnyError> {
    breaker: Arc<CircuitBreaker>,
    classify: C,
}

impl CircuitBreakerLayer {
    /// A layer using `breaker`, one built in place
    /// (`CircuitBreaker::new(..)?`) or shared (`Arc<CircuitBreaker>`).
    pub fn new(breaker: impl Into<Arc<CircuitBreaker>>) -> Self {
        CircuitBreakerLayer {
            breaker: breaker.into(),
            classify: AnyError,
        }
    }

    /// A layer using the [registry](crate::registry())'s breaker named
    /// `name`, created from `config` if it does not exist yet (a configured
    /// name, file values included, takes its registered settings), as
    /// [`Registry::get_or_create`](crate::Registry::get_or_create) does.
    ///
    /// The error comes here, when the layer is built, never from a call:
    /// an invalid configuration, or a new name refused by the registry's
    /// [limit](crate::Registry::set_max_dynamic) ([`RegistryError::Full`]).
    /// The layer holds its breaker, so idle eviction never takes it.
    pub fn named(name: &str, config: Config) -> Result<Self, RegistryError> {
        Ok(Self::new(registry().get_or_create(name, config)?))
    }
}

impl<C> CircuitBreakerLayer<C> {
    /// Replaces the classifier with one that sees the whole result: a
    /// [`Classify`], such as a closure `Fn(Result<&Response, &Error>) -> Outcome`
    /// that fails an `Ok` response.
    pub fn classify<C2>(self, classify: C2) -> CircuitBreakerLayer<C2> {
        CircuitBreakerLayer {
            breaker: self.breaker,
            classify,
        }
    }

    /// Replaces the classifier with one that sees errors alone, the shape
    /// [`CircuitBreaker::call_with`] and the attribute's `classify` take:
    /// `Fn(&Error) -> bool` (is it a failure? `false` ignores it) or
    /// `Fn(&Error) -> Outcome`. Every `Ok` response is a success.
    ///
    /// ```
    /// use breakerbox::tower::CircuitBreakerLayer;
    /// use breakerbox::{CircuitBreaker, Config};
    ///
    /// let cb = CircuitBreaker::new("tower-doc-errors", Config::default()).unwrap();
    /// // A timeout says the backend is unwell; any other error does not.
    /// let layer = CircuitBreakerLayer::new(cb)
    ///     .classify_errors(|error: &std::io::Error| error.kind() == std::io::ErrorKind::TimedOut);
    /// # let _ = layer;
    /// ```
    pub fn classify_errors<F>(self, classify: F) -> CircuitBreakerLayer<ClassifyErrors<F>> {
        CircuitBreakerLayer {
            breaker: self.breaker,
            classify: ClassifyErrors(classify),
        }
    }

    /// The breaker.
    pub fn breaker(&self) -> &Arc<CircuitBreaker> {
        &self.breaker
    }
}

impl<S, C: Clone> Layer<S> for CircuitBreakerLayer<C> {
    type Service = CircuitBreakerService<S, C>;

    fn layer(&self, inner: S) -> Self::Service {
        CircuitBreakerService {
            inner,
            breaker: Arc::clone(&self.breaker),
            classify: self.classify.clone(),
        }
    }
}

/// A service behind a breaker, made by [`CircuitBreakerLayer`].
///
/// Its error type is the inner service's, which must convert from
/// [`Rejected`] (`tower::BoxError` and `std::io::Error` do).
#[derive(Debug, Clone)]
pub struct CircuitBreakerService<S, C = AnyError> {
    inner: S,
    breaker: Arc<CircuitBreaker>,
    classify: C,
}

impl<S, C> CircuitBreakerService<S, C> {
    /// The breaker.
    pub fn breaker(&self) -> &Arc<CircuitBreaker> {
        &self.breaker
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service, unwrapped.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, C, Request> Service<Request> for CircuitBreakerService<S, C>
where
    S: Service<Request>,
    S::Error: From<Rejected>,
    C: Classify<S::Response, S::Error> + Clone,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, C>;

    /// The inner service's readiness, unchanged: see the
    /// [module documentation](self) for why the breaker answers from
    /// `call`.
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let state = match self.breaker.try_acquire_owned() {
            Ok(permit) => State::Called {
                future: self.inner.call(request),
                permit: Some(permit),
                classify: self.classify.clone(),
            },
            Err(rejected) => State::Rejected {
                rejected: Some(rejected),
            },
        };
        ResponseFuture { state }
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`CircuitBreakerService`]: the inner
    /// service's, reporting its outcome to the breaker, or an immediate
    /// rejection.
    pub struct ResponseFuture<F, C> {
        #[pin]
        state: State<F, C>,
    }
}

pin_project_lite::pin_project! {
    #[project = StateProj]
    enum State<F, C> {
        Called {
            #[pin]
            future: F,
            // Dropped with the future when cancelled: the drop guard then
            // releases it as a cancelled call.
            permit: Option<OwnedPermit>,
            classify: C,
        },
        Rejected {
            rejected: Option<Rejected>,
        },
    }
}

impl<F, C, T, E> Future for ResponseFuture<F, C>
where
    F: Future<Output = Result<T, E>>,
    E: From<Rejected>,
    C: Classify<T, E>,
{
    type Output = Result<T, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Called {
                future,
                permit,
                classify,
            } => {
                let result = std::task::ready!(future.poll(cx));
                if let Some(permit) = permit.take() {
                    permit.record(classify.classify(result.as_ref()));
                }
                Poll::Ready(result)
            }
            StateProj::Rejected { rejected } => match rejected.take() {
                Some(rejected) => Poll::Ready(Err(E::from(rejected))),
                None => panic!("ResponseFuture polled after completion"),
            },
        }
    }
}

impl<F, C> std::fmt::Debug for ResponseFuture<F, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
