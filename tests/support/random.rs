//! A seeded source of random numbers for the tests that draw their calls
//! at random (xorshift64): the same draws on every run, so that a round
//! that fails fails again.

/// The numbers that follow `seed`, which must not be 0.
pub fn xorshift(seed: u64) -> impl FnMut() -> u64 {
    let mut x = seed;
    move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    }
}
