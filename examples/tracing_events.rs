//! A breaker's transitions in the logs: `tracing-subscriber` prints the
//! events the breaker emits under the target `breakerbox` (state changes at
//! INFO/WARN with the counts that caused them, rejections at DEBUG).
//!
//! ```sh
//! cargo run --example tracing_events --features tracing
//! ```

use std::io;
use std::time::Duration;

use breakerbox::circuit_breaker;

#[circuit_breaker(name = "inventory", max_failures = 2, timeout = "100ms")]
fn reserve(sku: u32) -> io::Result<u32> {
    if sku == 0 {
        Err(io::Error::other("inventory service unavailable"))
    } else {
        Ok(sku)
    }
}

fn main() {
    // Everything from the breaker at DEBUG and above; in an application,
    // `RUST_LOG=breaker=debug` with an env filter does the same.
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_target(true)
        .init();

    let _ = reserve(1);
    let _ = reserve(0);
    let _ = reserve(0); // WARN: closed -> open, consecutive_failures=2
    let _ = reserve(1); // DEBUG: rejected, reason="open"
    std::thread::sleep(Duration::from_millis(100));
    let _ = reserve(1); // INFO: open -> half_open, then half_open -> closed
}
