//! The `#[circuit_breaker]` attribute of the [`breakerbox`] crate, which
//! re-exports it: depend on `breakerbox`, not on this crate.
//!
//! [`breakerbox`]: https://docs.rs/breakerbox
#![warn(missing_docs)]

mod args;
mod duration;
mod expand;
mod shape;

use proc_macro::TokenStream;

/// Puts a function behind a circuit breaker.
///
/// Every call first asks the breaker for a permit. While the breaker is
/// open the call is rejected without running the body: the function
/// returns `Err(E::from(breakerbox::Rejected))`, or the `fallback`'s result.
/// Otherwise the body runs and its result is recorded: `Ok` as a success,
/// `Err` as a failure (or as `classify` decides).
///
/// ```ignore
/// use breakerbox::circuit_breaker;
///
/// #[circuit_breaker(name = "db", max_failures = 5, timeout = "60s", fallback = cached)]
/// async fn load_user(id: u64) -> Result<User, DbError> {
///     db::query(id).await
/// }
///
/// fn cached(id: u64) -> Result<User, DbError> {
///     CACHE.get(id).ok_or(DbError::Unavailable)
/// }
/// ```
///
/// The function must return `Result<T, E>` (aliases such as
/// `io::Result<T>` included), or a future of one, with `E:
/// From<breakerbox::Rejected>` unless a `fallback` answers rejected calls.
/// It may be a free function, an associated function or a method, in an
/// impl or a trait impl, generic, `unsafe`; it may not be a `const fn` or
/// an `extern` fn.
///
/// The breaker is taken from the global registry on the first call and kept
/// in a static of the function. A configuration registered with
/// `breakerbox::registry().configure(name, config)` before that call wins over
/// the attribute's values; operators' values (a TOML file, environment
/// variables) are merged over either, key by key, with the same keys.
///
/// # Shapes
///
/// | function | the breaker decides | |
/// | --- | --- | --- |
/// | `fn f(..) -> Result<T, E>` | when it is called | the body runs only for an admitted call |
/// | `async fn f(..) -> Result<T, E>`, a method of an `#[async_trait]` impl | when the future is first polled | the body runs only for an admitted call; a future dropped before it completes releases its permit unrecorded (a cancelled call) |
/// | `fn f(..) -> impl Future<Output = Result<T, E>>`, `fn f(..) -> Pin<Box<dyn Future<Output = Result<T, E>> + ..>>` | when it is called, as a tower service's `call` | the body runs only for an admitted call, and the future it returns holds the permit: dropped before it completes, it releases the permit unrecorded. A rejected call returns a future of the rejection or of the fallback's answer |
///
/// `#[async_trait]` on the impl expands first and turns each `async fn`
/// into a function that returns `Box::pin(async move { .. })`; the
/// attribute recognises that shape and guards the `async move` block, so
/// such a method behaves as an `async fn`. A function that builds its
/// future itself is decided when it is called because it may build a
/// `'static` future from borrowed arguments it does not keep: the
/// fallback needs those arguments, and the body may start work before the
/// future is polled.
///
/// # Keys
///
/// | key | value | meaning |
/// | --- | --- | --- |
/// | `name` | `"db"` | registry name. Only functions given the same `name` share a breaker. Default: the function's path, as Rust prints it: `app::db::load`; `app::Users::get` for a method or associated function; `<app::Db as app::UserRepo>::get` for a trait impl's; an impl's generic parameters left out, `app::Cache::get` for `impl<T> Cache<T>`, whose instantiations share the breaker; `app::Repo::get` for a trait's default method, shared by the types that use it. Functions whose paths print alike (one name nested in sibling blocks or closures of one function) still get a breaker each: the first called has the path, the others the path and their line, `app::main::load (line 12)`. Give a `name` to a breaker that a file or the environment configures: the default changes when the function moves |
/// | `crate` | `"path::to::breakerbox"` | where the `breakerbox` crate is, for crates that re-export it |
/// | `fallback` | `path` | called with the same arguments when a call is rejected, and returns the function's `Result<T, E>`; for a function whose calls run in a future, it may return a future of it. A method's receiver is passed first, and its fallback is written `Self::name` (for a free function, `self::name`) |
/// | `classify` | `path` | `fn(&E) -> bool` (true: a failure) or `fn(&E) -> breakerbox::Outcome` |
/// | `max_failures` | `5` or `"off"` | a whole number ≥ 1; `"off"` for a breaker without a consecutive-failure policy, which trips on a rate only |
/// | `half_open_max_calls`, `success_threshold`, `max_concurrent_calls`, `count_window`, `minimum_calls` | `5` | a whole number ≥ 1 |
/// | `time_window_buckets` | `10` | a whole number from 1 to 1000; needs `time_window` |
/// | `timeout`, `interval`, `time_window`, `slow_call_duration`, `backoff_max`, `half_open_max_wait` | `"1m30s"` | a duration > 0 |
/// | `call_timeout` | `"2s"` | a duration > 0; for a function whose calls run in a future (not a sync `fn`), with `E: From<breakerbox::TimedOut>` and the `tokio` feature (a default feature). Set elsewhere (`configure`, a file, the environment), it is applied by every such function whose `E` has that `From`, and refused by the others |
/// | `failure_rate`, `slow_call_rate` | `0.5` | a fraction: above 0, at most 1 |
/// | `backoff_multiplier` | `2.0` | at least 1.0 |
/// | `store` | `"fleet"` | share the breaker's state between processes through the store registered under that name (`breakerbox::registry().register_store`, feature `redis`); `"local"` keeps it in the process when the registry has a default store |
///
/// Durations are strings of whole numbers with units `ns`, `us`, `ms`,
/// `s`, `m`, `h`, `d`, largest first: `"500ms"`, `"1m30s"`, `"2h"`.
///
/// The keys that configure the breaker are named like the
/// `breakerbox::Config` setters they call, and are checked as `Config` checks
/// them: `count_window` and `time_window` exclude each other,
/// `slow_call_rate` needs `slow_call_duration`, `backoff_max` needs
/// `backoff_multiplier` and is at least `timeout`. Mistakes are compile
/// errors at the offending token.
#[proc_macro_attribute]
pub fn circuit_breaker(args: TokenStream, item: TokenStream) -> TokenStream {
    let item = proc_macro2::TokenStream::from(item);
    let parsed = (args::parse(args.into()), expand::parse_item(item.clone()));
    let result = match parsed {
        (Ok(args), Ok(function)) => expand::expand(args, function),
        (Err(error), Ok(_)) | (Ok(_), Err(error)) => Err(error),
        (Err(mut error), Err(item_error)) => {
            error.combine(item_error);
            Err(error)
        }
    };
    match result {
        Ok(expanded) => expanded.into(),
        // As tokio-macros does: the item as written, plus the error, so
        // that one mistake in the attribute does not turn every use of the
        // function into an error too.
        Err(error) => {
            let mut output = item;
            output.extend(error.into_compile_error());
            output.into()
        }
    }
}
