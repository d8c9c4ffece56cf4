//! The smallest useful program: a sync function behind a circuit breaker.
//!
//! ```sh
//! cargo run --example quickstart
//! ```

use std::io;

use breakerbox::{circuit_breaker, registry, State};

/// After 2 failures in a row the breaker opens for 30 seconds: calls then
/// return at once with an error, without running the body.
///
/// `io::Error` can hold the breaker's rejection (`From<breakerbox::Rejected>`),
/// so it works as the error type as it is.
#[circuit_breaker(name = "config-server", max_failures = 2, timeout = "30s")]
fn fetch_config(key: &str) -> io::Result<String> {
    if key == "feature-flags" {
        Ok("dark_mode=on".to_string())
    } else {
        Err(io::Error::new(
            io::ErrorKind::ConnectionRefused,
            "config server unreachable",
        ))
    }
}

fn main() {
    for key in ["feature-flags", "limits", "limits", "feature-flags"] {
        match fetch_config(key) {
            Ok(value) => println!("fetch_config({key:?}) = {value:?}"),
            Err(error) => println!("fetch_config({key:?}) failed: {error}"),
        }
    }

    // The breaker lives in the global registry, under its name.
    let stats = registry()
        .get("config-server")
        .expect("created on first call")
        .stats();
    assert_eq!(stats.state, State::Open);
    println!(
        "\nbreaker \"{}\" is {}: {} calls ({} ok, {} failed, {} rejected); it admits a probe in {:.0}s",
        stats.name,
        stats.state,
        stats.totals.calls,
        stats.totals.successes,
        stats.totals.failures,
        stats.totals.rejected,
        stats.time_until_half_open.unwrap_or_default().as_secs_f64(),
    );
}
