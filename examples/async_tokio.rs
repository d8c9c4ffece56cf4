//! Async functions on tokio: `call_timeout`, a classifier, spawned calls,
//! `wait_until_ready`, and `call_async` without the attribute.
//!
//! ```sh
//! cargo run --example async_tokio
//! ```

use std::fmt;
use std::time::Duration;

use breakerbox::{circuit_breaker, registry, CircuitBreaker, Config, Rejected, TimedOut};

#[derive(Debug)]
enum SearchError {
    /// The query is malformed: the caller's fault, not the backend's.
    BadQuery,
    /// The breaker refused the call.
    Rejected(Rejected),
    /// The call ran longer than `call_timeout` and was cancelled.
    TimedOut(TimedOut),
}

// A rejected call is returned as `Err(SearchError::from(Rejected))`, and
// with `call_timeout` a cancelled one as `Err(SearchError::from(TimedOut))`.
impl From<Rejected> for SearchError {
    fn from(rejected: Rejected) -> Self {
        SearchError::Rejected(rejected)
    }
}

impl From<TimedOut> for SearchError {
    fn from(timed_out: TimedOut) -> Self {
        SearchError::TimedOut(timed_out)
    }
}

impl fmt::Display for SearchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SearchError::BadQuery => f.write_str("bad query"),
            SearchError::Rejected(rejected) => rejected.fmt(f),
            SearchError::TimedOut(timed_out) => timed_out.fmt(f),
        }
    }
}

/// Only outages count toward opening the breaker: a bad query is ignored
/// (`false`), everything else is a failure (`true`).
fn is_outage(error: &SearchError) -> bool {
    !matches!(error, SearchError::BadQuery)
}

/// A call longer than 100ms is cancelled and counted as a failure; two
/// failures in a row open the breaker for 300ms.
#[circuit_breaker(
    name = "search",
    max_failures = 2,
    timeout = "300ms",
    call_timeout = "100ms",
    classify = is_outage
)]
async fn search(query: &'static str) -> Result<Vec<String>, SearchError> {
    match query {
        "" => Err(SearchError::BadQuery),
        "slow" => {
            // A backend that hangs: `call_timeout` gives up on it.
            tokio::time::sleep(Duration::from_secs(10)).await;
            Ok(vec![])
        }
        _ => {
            tokio::time::sleep(Duration::from_millis(5)).await;
            Ok(vec![format!("{query}-lang.org"), format!("{query} book")])
        }
    }
}

async fn run(query: &'static str) {
    match search(query).await {
        Ok(hits) => println!("search({query:?}) = {hits:?}"),
        Err(error) => println!("search({query:?}) failed: {error}"),
    }
}

#[tokio::main]
async fn main() {
    println!("-- the breaker is closed");
    run("rust").await;
    run("").await;
    println!("   (a bad query is classified as ignored: it does not count toward opening)");

    println!("\n-- the backend hangs: each call is cancelled after 100ms");
    run("slow").await;
    run("slow").await;
    run("rust").await;

    let cb = registry().get("search").expect("created on first call");
    let stats = cb.stats();
    println!(
        "   breaker is {}: {} failures ({} timeouts), {} ignored, {} rejected",
        stats.state,
        stats.totals.failures,
        stats.totals.timeouts,
        stats.totals.ignored,
        stats.totals.rejected
    );

    println!("\n-- wait_until_ready() resolves when the breaker admits a call again");
    let started = tokio::time::Instant::now();
    cb.wait_until_ready().await;
    println!(
        "   ready after {}ms, state {}",
        started.elapsed().as_millis(),
        cb.state()
    );

    // Annotated async fns return `Send` futures (when the body's is), so
    // they can be spawned. The first to run is the half-open probe; the
    // others are rejected until it succeeds.
    println!("\n-- three spawned calls while half-open (one probe at a time)");
    let tasks = ["tokio", "serde", "axum"].map(|q| tokio::spawn(run(q)));
    for task in tasks {
        task.await.expect("task panicked");
    }
    println!("   breaker is {}", cb.state());

    // Without the attribute: a breaker of your own and `call_async`.
    println!("\n-- call_async on a breaker built by hand");
    let cache =
        CircuitBreaker::new("cache", Config::default().max_failures(1)).expect("valid config");
    let hit = cache
        .call_async(|| async { Ok::<_, std::io::Error>("cached value") })
        .await;
    println!("   cache.call_async(..) = {hit:?}");
}
