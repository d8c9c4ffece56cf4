//! `#[circuit_breaker]` on every shape of function it accepts: each test
//! checks that the function still compiles as written and that its calls
//! go through its breaker.
//!
//! Tests share the global registry and run in parallel, so each uses a
//! breaker name of its own.

use std::sync::Arc;

use breakerbox::{circuit_breaker, registry, CircuitBreaker, State};

#[derive(Debug, PartialEq)]
enum AppError {
    Down,
    Rejected(String),
}

impl From<breakerbox::Rejected> for AppError {
    fn from(rejected: breakerbox::Rejected) -> Self {
        AppError::Rejected(rejected.breaker().to_owned())
    }
}

fn breaker_named(name: &str) -> Arc<CircuitBreaker> {
    match registry().get(name) {
        Some(cb) => cb,
        None => panic!("no breaker named `{name}` in the registry"),
    }
}

#[circuit_breaker(name = "shapes-sync", max_failures = 1)]
fn sync_load(fail: bool) -> Result<u32, AppError> {
    if fail {
        return Err(AppError::Down);
    }
    Ok(7)
}

#[test]
fn sync_fn_runs_under_its_breaker() {
    assert_eq!(sync_load(false), Ok(7));
    assert_eq!(sync_load(true), Err(AppError::Down));
    assert_eq!(
        sync_load(false),
        Err(AppError::Rejected("shapes-sync".into()))
    );

    let totals = breaker_named("shapes-sync").stats().totals;
    assert_eq!(
        (totals.successes, totals.failures, totals.rejected),
        (1, 1, 1)
    );
}

#[circuit_breaker(name = "shapes-async", max_failures = 1)]
async fn async_load(fail: bool) -> Result<u32, AppError> {
    tokio::task::yield_now().await;
    if fail {
        Err(AppError::Down)
    } else {
        Ok(8)
    }
}

#[tokio::test]
async fn async_fn_runs_under_its_breaker() {
    assert_eq!(async_load(false).await, Ok(8));
    assert_eq!(async_load(true).await, Err(AppError::Down));
    assert_eq!(
        async_load(false).await,
        Err(AppError::Rejected("shapes-async".into()))
    );
}

struct Repo {
    rows: Vec<String>,
    writes: u32,
}

impl Repo {
    fn new() -> Self {
        Repo {
            rows: vec!["a".into(), "b".into()],
            writes: 0,
        }
    }

    #[circuit_breaker(name = "shapes-ref-self")]
    fn first(&self) -> Result<&str, AppError> {
        self.rows.first().map(String::as_str).ok_or(AppError::Down)
    }

    #[circuit_breaker(name = "shapes-mut-self")]
    fn push(&mut self, row: &str) -> Result<usize, AppError> {
        self.rows.push(row.to_owned());
        self.writes += 1;
        Ok(self.rows.len())
    }

    #[circuit_breaker(name = "shapes-owned-self")]
    fn into_rows(self) -> Result<Vec<String>, AppError> {
        Ok(self.rows)
    }

    #[circuit_breaker(name = "shapes-associated")]
    fn open(rows: usize) -> Result<Self, AppError> {
        let mut repo = Repo::new();
        repo.rows.truncate(rows);
        Ok(repo)
    }

    #[circuit_breaker(name = "shapes-async-mut-self")]
    async fn push_async(&mut self, row: String) -> Result<u32, AppError> {
        tokio::task::yield_now().await;
        self.rows.push(row);
        self.writes += 1;
        Ok(self.writes)
    }
}

#[test]
fn method_taking_ref_self_can_return_a_borrow() {
    let repo = Repo::new();
    assert_eq!(repo.first(), Ok("a"));
    assert_eq!(breaker_named("shapes-ref-self").stats().totals.successes, 1);
}

#[test]
fn method_taking_mut_self_mutates_the_receiver() {
    let mut repo = Repo::new();
    assert_eq!(repo.push("c"), Ok(3));
    assert_eq!(repo.writes, 1);
}

#[tokio::test]
async fn async_method_taking_mut_self_mutates_the_receiver() {
    let mut repo = Repo::new();
    assert_eq!(repo.push_async("c".into()).await, Ok(1));
    assert_eq!(repo.rows.len(), 3);
}

#[test]
fn method_taking_self_consumes_the_receiver() {
    assert_eq!(
        Repo::new().into_rows(),
        Ok(vec!["a".to_owned(), "b".to_owned()])
    );
}

#[test]
fn associated_fn_can_return_self() {
    let repo = Repo::open(1);
    assert_eq!(repo.map(|r| r.rows.len()), Ok(1));
}

trait Store {
    fn get(&self, key: u32) -> Result<u32, AppError>;
}

struct Doubler;

impl Store for Doubler {
    #[circuit_breaker(name = "shapes-trait-impl")]
    fn get(&self, key: u32) -> Result<u32, AppError> {
        Ok(key * 2)
    }
}

#[test]
fn trait_impl_method_runs_under_its_breaker() {
    let store: &dyn Store = &Doubler;
    assert_eq!(store.get(21), Ok(42));
    assert_eq!(breaker_named("shapes-trait-impl").stats().totals.calls, 1);
}

#[circuit_breaker(name = "shapes-generic")]
fn longest<'a, 'b: 'a, T>(left: &'a T, right: &'b T) -> Result<&'a str, AppError>
where
    T: AsRef<str> + ?Sized,
{
    let (left, right) = (left.as_ref(), right.as_ref());
    Ok(if right.len() > left.len() {
        right
    } else {
        left
    })
}

#[test]
fn generic_fn_with_lifetimes_and_where_clause_keeps_them() {
    assert_eq!(longest("ab", "abc"), Ok("abc"));
    let owned = String::from("xyz");
    assert_eq!(longest(&owned, &String::new()), Ok("xyz"));
    // One breaker for every instantiation.
    assert_eq!(breaker_named("shapes-generic").stats().totals.calls, 2);
}

#[circuit_breaker(name = "shapes-impl-trait-arg")]
fn total(
    values: impl IntoIterator<Item = u32>,
    scale: impl Fn(u32) -> u32,
) -> Result<u32, AppError> {
    Ok(values.into_iter().map(scale).sum())
}

#[test]
fn impl_trait_arguments_are_accepted() {
    assert_eq!(total(vec![1, 2, 3], |v| v * 10), Ok(60));
}

#[circuit_breaker(name = "shapes-async-impl-trait-return")]
async fn shown(value: u32) -> Result<impl std::fmt::Display, AppError> {
    Ok(value)
}

#[tokio::test]
async fn async_fn_returning_impl_trait_runs_under_its_breaker() {
    let shown = shown(7).await.map(|v| v.to_string());
    assert_eq!(shown, Ok("7".to_owned()));
    assert_eq!(
        breaker_named("shapes-async-impl-trait-return")
            .stats()
            .totals
            .successes,
        1
    );
}

#[circuit_breaker(name = "shapes-patterns")]
fn patterns(
    (a, b): (u32, u32),
    mut count: u32,
    _: &str,
    Wrapper(inner): Wrapper,
) -> Result<u32, AppError> {
    count += 1;
    Ok(a + b + count + inner)
}

struct Wrapper(u32);

#[test]
fn pattern_arguments_are_destructured() {
    assert_eq!(patterns((1, 2), 3, "ignored", Wrapper(4)), Ok(11));
}

#[circuit_breaker(name = "shapes-io", max_failures = 1)]
fn read_config(fail: bool) -> std::io::Result<String> {
    if fail {
        return Err(std::io::Error::other("disk"));
    }
    Ok("config".into())
}

#[test]
fn io_result_alias_is_a_result() {
    assert_eq!(read_config(false).ok().as_deref(), Some("config"));
    let _ = read_config(true);
    let rejected = read_config(false).err().and_then(|e| e.into_inner());
    let rejected = rejected.and_then(|e| e.downcast::<breakerbox::Rejected>().ok());
    assert_eq!(
        rejected.map(|r| r.breaker().to_owned()).as_deref(),
        Some("shapes-io")
    );
}

#[circuit_breaker(name = "shapes-anyhow", max_failures = 1)]
fn fetch_anyhow(fail: bool) -> anyhow::Result<u32> {
    if fail {
        anyhow::bail!("backend down");
    }
    Ok(1)
}

#[test]
fn anyhow_result_is_a_result() {
    assert_eq!(fetch_anyhow(false).ok(), Some(1));
    assert!(fetch_anyhow(true).is_err());
    let error = fetch_anyhow(false).err();
    let rejected = error
        .as_ref()
        .and_then(|e| e.downcast_ref::<breakerbox::Rejected>());
    assert_eq!(
        rejected.map(breakerbox::Rejected::breaker),
        Some("shapes-anyhow")
    );
}

#[circuit_breaker(name = "shapes-boxed", max_failures = 1)]
fn fetch_boxed(fail: bool) -> Result<u32, Box<dyn std::error::Error + Send + Sync>> {
    if fail {
        return Err("backend down".into());
    }
    Ok(1)
}

#[test]
fn boxed_dyn_error_type_is_accepted() {
    assert_eq!(fetch_boxed(false).ok(), Some(1));
    assert!(fetch_boxed(true).is_err());
    let error = fetch_boxed(false).err();
    let rejected = error
        .as_ref()
        .and_then(|e| e.downcast_ref::<breakerbox::Rejected>());
    assert_eq!(
        rejected.map(breakerbox::Rejected::breaker),
        Some("shapes-boxed")
    );
}

/// A module whose lints fail the build if the attribute dropped the
/// function's attributes (on the function or on its parameters) or its
/// visibility (the test calls it from outside the module).
#[deny(non_snake_case, unused_variables)]
mod kept {
    use super::*;

    /// Doc comments are `#[doc]` attributes, kept like the others.
    #[allow(non_snake_case)]
    #[inline]
    #[must_use = "the result says whether the breaker let the call through"]
    #[circuit_breaker(name = "shapes-kept")]
    pub(crate) fn Kept(#[allow(unused_variables)] unused: u32) -> Result<u32, AppError> {
        Ok(1)
    }
}

#[test]
fn visibility_docs_and_attributes_are_kept() {
    assert_eq!(kept::Kept(0), Ok(1));
}

#[circuit_breaker]
fn default_named() -> Result<(), AppError> {
    Ok(())
}

mod nested {
    use super::*;

    #[circuit_breaker]
    pub(super) fn default_named() -> Result<(), AppError> {
        Ok(())
    }
}

#[test]
fn default_name_is_module_path_and_fn_name() {
    default_named().ok();
    nested::default_named().ok();
    assert_eq!(
        breaker_named("attribute_shapes::default_named")
            .stats()
            .totals
            .calls,
        1
    );
    assert_eq!(
        breaker_named("attribute_shapes::nested::default_named")
            .stats()
            .totals
            .calls,
        1
    );
}

#[circuit_breaker(name = "shapes-shared", max_failures = 1)]
fn shared_reader() -> Result<(), AppError> {
    Err(AppError::Down)
}

#[circuit_breaker(name = "shapes-shared", max_failures = 1)]
fn shared_writer() -> Result<(), AppError> {
    Ok(())
}

#[test]
fn functions_with_the_same_name_share_one_breaker() {
    assert_eq!(shared_reader(), Err(AppError::Down));
    assert_eq!(breaker_named("shapes-shared").state(), State::Open);
    assert_eq!(
        shared_writer(),
        Err(AppError::Rejected("shapes-shared".into()))
    );
}

#[circuit_breaker(name = "shapes-send")]
async fn send_future(data: Vec<u8>) -> Result<usize, AppError> {
    tokio::task::yield_now().await;
    Ok(data.len())
}

#[circuit_breaker(name = "shapes-send-fallback", fallback = send_fallback)]
async fn send_future_with_fallback(data: Vec<u8>) -> Result<usize, AppError> {
    tokio::task::yield_now().await;
    Ok(data.len())
}

async fn send_fallback(data: Vec<u8>) -> Result<usize, AppError> {
    tokio::task::yield_now().await;
    Ok(data.len())
}

fn assert_send<F: std::future::Future + Send>(future: F) -> F {
    future
}

/// An error type with `From<TimedOut>`: the call is bounded by any
/// `call_timeout` the breaker's configuration has.
#[circuit_breaker(name = "shapes-send-bounded")]
async fn send_future_bounded(data: Vec<u8>) -> std::io::Result<usize> {
    tokio::task::yield_now().await;
    Ok(data.len())
}

#[tokio::test]
async fn annotated_async_fn_future_is_send() {
    assert_eq!(assert_send(send_future(vec![1, 2])).await, Ok(2));
    assert_eq!(assert_send(send_future_with_fallback(vec![1])).await, Ok(1));
    assert_eq!(
        assert_send(send_future_bounded(vec![1])).await.ok(),
        Some(1)
    );
    // Spawning on the multi-threaded runtime requires `Send` too.
    let handle = tokio::spawn(send_future(vec![1, 2, 3]));
    assert_eq!(handle.await.ok(), Some(Ok(3)));
}

/// A crate that re-exports `breakerbox` for its users, with a `__private`
/// that counts the permits asked for, so the test can tell that expansions
/// went through this path and not through `::breakerbox`.
mod facade {
    pub mod __private {
        pub use breakerbox::__private::*;

        use std::sync::atomic::{AtomicUsize, Ordering};

        pub static ACQUIRED: AtomicUsize = AtomicUsize::new(0);

        pub fn acquire(cb: &'static CircuitBreaker) -> Result<Permit<'static>, Rejected> {
            ACQUIRED.fetch_add(1, Ordering::SeqCst);
            breakerbox::__private::acquire(cb)
        }
    }
}

#[circuit_breaker(crate = "crate::facade", name = "shapes-crate-override")]
fn through_facade() -> Result<u8, AppError> {
    Ok(5)
}

#[test]
fn crate_override_reaches_the_runtime_through_the_given_path() {
    assert_eq!(through_facade(), Ok(5));
    assert_eq!(
        facade::__private::ACQUIRED.load(std::sync::atomic::Ordering::SeqCst),
        1
    );
}
