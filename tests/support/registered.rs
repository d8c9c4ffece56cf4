//! Breakers of the global registry configured before their first call,
//! for the attribute's tests (an annotated function creates its breaker
//! from the registry's configuration for its name).

use std::time::Duration;

use breakerbox::{registry, Config, ManualClock, State};

/// Registers `name` to open after one failure for 10 s of a manual clock,
/// with one probe at a time, and returns the clock.
pub fn trips_after_one_failure(name: &str) -> ManualClock {
    let clock = ManualClock::new();
    let config = Config::default()
        .max_failures(1)
        .timeout(Duration::from_secs(10))
        .clock(clock.clone());
    if let Err(e) = registry().configure(name, config) {
        panic!("configuring `{name}`: {e}");
    }
    clock
}

/// The state of the registry's breaker `name`, if it exists yet.
pub fn state_of(name: &str) -> Option<State> {
    registry().get(name).map(|cb| cb.state())
}
