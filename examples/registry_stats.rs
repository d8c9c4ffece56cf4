//! The global registry: names, sharing, configuration precedence and stats.
//!
//! ```sh
//! cargo run --example registry_stats
//! ```

use std::io;
use std::time::Duration;

use breakerbox::{circuit_breaker, registry, Config, Registry, RegistryError, Stats};

// Two functions with the same `name` share one breaker: failures of either
// count toward opening it, and when it is open both are rejected.
#[circuit_breaker(name = "orders-db", max_failures = 3)]
fn insert_order(id: u32) -> io::Result<u32> {
    if id.is_multiple_of(2) {
        Ok(id)
    } else {
        Err(io::Error::other("deadlock detected"))
    }
}

#[circuit_breaker(name = "orders-db", max_failures = 3)]
fn find_order(id: u32) -> io::Result<u32> {
    Ok(id)
}

// The attribute says `max_failures = 5`, but `main` registers a
// configuration for "payments" before its first call: that one wins.
#[circuit_breaker(name = "payments", max_failures = 5, timeout = "10s")]
fn charge(cents: u64) -> io::Result<u64> {
    Err(io::Error::other(format!("card declined: {cents} cents")))
}

// Without `name`, the breaker is named after the module path and the
// function: here "registry_stats::ping".
#[circuit_breaker(max_failures = 1)]
fn ping() -> io::Result<()> {
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // 1. Configuration registered before a name's first use wins over the
    //    attribute's literals (for deployments that tune breakers from a
    //    config file, or to add `on_state_change` listeners).
    registry().configure(
        "payments",
        Config::default()
            .max_failures(2)
            .timeout(Duration::from_secs(45))
            .on_state_change(|change| {
                println!("   [{}] {} -> {}", change.name, change.from, change.to)
            }),
    )?;

    println!("-- charge() with the registered configuration: opens after 2 failures");
    for _ in 0..3 {
        if let Err(error) = charge(1299) {
            println!("charge(1299) failed: {error}");
        }
    }
    let payments = registry()
        .get("payments")
        .expect("created by the first call");
    println!(
        "payments: max_failures = {:?}, timeout = {:?}",
        payments.config().settings().max_failures,
        payments.config().settings().timeout
    );

    // After first use, configuration is refused rather than silently ignored.
    match registry().configure("payments", Config::default()) {
        Err(RegistryError::AlreadyCreated { name }) => {
            println!("configure({name:?}) refused: already in use")
        }
        other => println!("unexpected: {other:?}"),
    }

    // get_or_create returns an existing breaker unchanged: its config
    // argument is used only when the name is new.
    let same = registry().get_or_create("payments", Config::conservative())?;
    println!(
        "get_or_create(\"payments\", ..): max_failures still {:?}",
        same.config().settings().max_failures
    );

    println!("\n-- insert_order() and find_order() share the breaker \"orders-db\"");
    for id in [2, 3, 5, 7] {
        println!(
            "insert_order({id}) = {:?}",
            insert_order(id).map_err(|e| e.to_string())
        );
    }
    println!(
        "find_order(4)   = {:?}",
        find_order(4).map_err(|e| e.to_string())
    );

    ping()?;

    println!("\n-- every breaker, from registry().stats_all()");
    println!(
        "{:<22} {:<11} {:>6} {:>9} {:>8} {:>8} {:>6}",
        "name", "state", "calls", "successes", "failures", "rejected", "opened"
    );
    for stats in registry().stats_all() {
        print_row(&stats);
    }

    // reset_all closes every breaker (lifetime totals are kept).
    registry().reset_all();
    let states: Vec<&str> = registry()
        .stats_all()
        .iter()
        .map(|s| s.state.as_str())
        .collect();
    println!("\nafter reset_all(): {states:?}");

    // A registry of your own, separate from the global one (for a library
    // that keeps its breakers private, or for tests).
    let mine = Registry::new();
    mine.get_or_create("private", Config::aggressive())?;
    println!(
        "a private registry: {:?}; the global one: {:?}",
        mine.names(),
        registry().names()
    );
    Ok(())
}

fn print_row(stats: &Stats) {
    let t = &stats.totals;
    println!(
        "{:<22} {:<11} {:>6} {:>9} {:>8} {:>8} {:>6}",
        stats.name, stats.state, t.calls, t.successes, t.failures, t.rejected, stats.open_count
    );
}
