//! Helpers shared by the integration tests; each test binary uses some of
//! them.
#![allow(dead_code)]

pub mod faulty_clock;
pub mod gate;
pub mod on_event;
pub mod peak_alloc;
pub mod random;
// Opens a client connection: the `redis` crate comes with the feature.
#[cfg(feature = "redis")]
pub mod redis_server;
pub mod registered;
pub mod slow_proxy;
