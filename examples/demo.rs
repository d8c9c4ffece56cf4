//! A tour of `breakerbox` in about a second: a flaky inventory service behind
//! one circuit breaker, driven through closed -> open -> half-open -> open
//! -> half-open -> closed.
//!
//! ```sh
//! cargo run --example demo
//! ```
//!
//! Two functions call the service: `stock_level` (sync) and `price`
//! (async, with a fallback). Both are annotated with
//! `#[circuit_breaker(name = "inventory", ...)]`, so they share one breaker.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use breakerbox::{
    circuit_breaker, registry, Config, Counts, Rejected, State, StateChange, Trip, TripReason,
};

/// How long the breaker stays open before it lets a probe through. Short,
/// so that the demo does not keep you waiting.
const OPEN_FOR: Duration = Duration::from_millis(200);

// ----- a simulated service ---------------------------------------------------

/// Whether the simulated inventory service answers.
static SERVICE_UP: AtomicBool = AtomicBool::new(true);
/// How many calls reached the service: a rejected call never gets there.
static CALLS_SEEN: AtomicU32 = AtomicU32::new(0);

fn inventory_service(item: &str) -> Result<u32, InventoryError> {
    CALLS_SEEN.fetch_add(1, Ordering::Relaxed);
    if SERVICE_UP.load(Ordering::Relaxed) {
        Ok(item.len() as u32 * 7)
    } else {
        Err(InventoryError::Down)
    }
}

/// The error of the functions below. A rejected call is returned as
/// `Err(InventoryError::from(Rejected))`, hence the `From` impl.
#[derive(Debug)]
enum InventoryError {
    Down,
    Rejected(Rejected),
}

impl From<Rejected> for InventoryError {
    fn from(rejected: Rejected) -> Self {
        InventoryError::Rejected(rejected)
    }
}

impl fmt::Display for InventoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InventoryError::Down => f.write_str("the inventory service is down"),
            InventoryError::Rejected(rejected) => rejected.fmt(f),
        }
    }
}

// ----- the protected functions ---------------------------------------------

/// Sync: a rejected call returns `Err(InventoryError::Rejected(..))`.
#[circuit_breaker(name = "inventory", max_failures = 3, timeout = "200ms")]
fn stock_level(item: &str) -> Result<u32, InventoryError> {
    inventory_service(item)
}

/// Async, same breaker. A rejected call returns the fallback's result
/// instead. The fallback runs only when the breaker rejects the call: an
/// error from the service itself is returned as it is.
#[circuit_breaker(name = "inventory", max_failures = 3, timeout = "200ms", fallback = cached_price)]
async fn price(item: &str) -> Result<u32, InventoryError> {
    tokio::task::yield_now().await; // stands for a network round trip
    inventory_service(item).map(|n| n * 100)
}

/// Gets the same arguments as `price`.
fn cached_price(_item: &str) -> Result<u32, InventoryError> {
    Ok(999)
}

// ----- the tour --------------------------------------------------------------

#[tokio::main(flavor = "current_thread")]
async fn main() {
    // Print every state change. The attribute has no key for listeners, so
    // this registers a configuration for "inventory" before its first use.
    // Such a configuration replaces the attribute's values entirely, so it
    // repeats them.
    registry()
        .configure(
            "inventory",
            Config::default()
                .max_failures(3)
                .timeout(OPEN_FOR)
                .on_state_change(print_change),
        )
        .expect("configured before first use");

    println!("A flaky inventory service behind the circuit breaker \"inventory\".");
    println!("The breaker opens after 3 failures in a row and stays open for {OPEN_FOR:?}.");

    step("1. The service is up: calls run and succeed.");
    show("stock_level(\"apple\")", stock_level("apple"));
    show("price(\"apple\")      ", price("apple").await);
    print_stats();

    step("2. The service goes down: calls run and fail.");
    SERVICE_UP.store(false, Ordering::Relaxed);
    show("stock_level(\"apple\")", stock_level("apple"));
    show("price(\"apple\")      ", price("apple").await);
    println!("   (the breaker ran that call, so its error comes back as it is: no fallback)");
    show("stock_level(\"pear\") ", stock_level("pear"));
    print_stats();

    step("3. The breaker is open: calls are rejected without reaching the service.");
    let seen = CALLS_SEEN.load(Ordering::Relaxed);
    show("stock_level(\"apple\")", stock_level("apple"));
    show("price(\"apple\")      ", price("apple").await);
    println!("   (rejected, so `price` returned its fallback, `cached_price`)");
    let reached = CALLS_SEEN.load(Ordering::Relaxed) - seen;
    println!("   calls that reached the service: {reached}");
    print_stats();

    step("4. After the open period, one probe goes through. The service is still down.");
    tokio::time::sleep(OPEN_FOR + Duration::from_millis(50)).await;
    show("stock_level(\"apple\")", stock_level("apple"));
    print_stats();

    step("5. The service recovers. After another open period, the probe succeeds.");
    SERVICE_UP.store(true, Ordering::Relaxed);
    tokio::time::sleep(OPEN_FOR + Duration::from_millis(50)).await;
    show("price(\"apple\")      ", price("apple").await);
    show("stock_level(\"apple\")", stock_level("apple"));
    print_stats();

    step("Every breaker in the registry:");
    for stats in registry().stats_all() {
        println!(
            "   {}: {}, opened {} times; lifetime: {}",
            stats.name,
            stats.state,
            stats.open_count,
            calls(
                stats.totals.calls,
                stats.totals.successes,
                stats.totals.failures,
                stats.totals.rejected
            )
        );
    }
}

fn print_change(change: &StateChange<'_>) {
    // `period` holds the counts of the period that just ended: for a trip,
    // the calls that tripped the breaker.
    let why = match (change.from, change.to) {
        (State::Closed, State::Open) => match change.tripped_by {
            Some(reason) => format!(" ({})", tripped_by(reason, &change.period)),
            None => String::new(),
        },
        (State::HalfOpen, State::Open) => " (the probe failed)".to_string(),
        (State::Open, State::HalfOpen) => {
            " (the open period is over: the next call is a probe)".to_string()
        }
        (State::HalfOpen, State::Closed) => " (the probe succeeded)".to_string(),
        _ => String::new(),
    };
    println!(
        "   >>> breaker \"{}\": {} -> {}{why}",
        change.name, change.from, change.to
    );
}

fn step(title: &str) {
    println!("\n{title}");
}

fn show(call: &str, result: Result<u32, InventoryError>) {
    match result {
        Ok(value) => println!("   {call} = Ok({value})"),
        Err(error) => println!("   {call} = Err({error})"),
    }
}

/// Reads the breaker's stats from the global registry.
fn print_stats() {
    let cb = registry()
        .get("inventory")
        .expect("created by the first call");
    let stats = cb.stats();
    // `time_until_half_open` is the figure a rejection's "retry in" gives.
    match stats.time_until_half_open {
        Some(left) => println!(
            "   stats: {}, half-open in {}ms",
            stats.state,
            left.as_millis()
        ),
        None => println!("   stats: {}", stats.state),
    }
    // While open (and half-open), the period that tripped the breaker.
    if let Some(trip) = &stats.tripped_by {
        print_trip(trip);
    }
    let (p, t) = (stats.period, stats.totals);
    println!(
        "          this period: {}",
        calls(p.calls, p.successes, p.failures, p.rejected)
    );
    println!(
        "          lifetime:    {}",
        calls(t.calls, t.successes, t.failures, t.rejected)
    );
}

fn print_trip(trip: &Trip) {
    println!(
        "          tripped {}ms ago by {}",
        trip.ago.as_millis(),
        tripped_by(trip.reason, &trip.period)
    );
}

/// Why the breaker opened, in words.
fn tripped_by(reason: TripReason, period: &Counts) -> String {
    match reason {
        TripReason::ConsecutiveFailures => {
            format!("{} failures in a row", period.consecutive_failures)
        }
        other => other.to_string(),
    }
}

/// Every call asked of the breaker is counted once: it ran and succeeded,
/// ran and failed, or was rejected without running.
fn calls(calls: u64, ok: u64, failed: u64, rejected: u64) -> String {
    let s = if calls == 1 { "" } else { "s" };
    format!("{calls} call{s} ({ok} ok, {failed} failed, {rejected} rejected)")
}
