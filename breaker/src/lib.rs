//! Circuit breakers for Rust.
//!
//! A circuit breaker protects calls to a dependency that can fail (a
//! database, an HTTP or gRPC backend, a cache, a queue). While the
//! dependency is healthy the breaker is **closed** and calls run. When the
//! calls fail often enough it **trips** and is **open**: calls are rejected
//! at once, without running, so that a dead dependency costs nothing and
//! gets time to recover. After the open period it is **half-open**: a few
//! probe calls run; enough successes close it, a failure opens it again.
//!
//! ```
//! use breakerbox::circuit_breaker;
//!
//! #[derive(Debug)]
//! enum DbError { Down, Breaker(breakerbox::Rejected) }
//! impl From<breakerbox::Rejected> for DbError {
//!     fn from(r: breakerbox::Rejected) -> Self { DbError::Breaker(r) }
//! }
//!
//! #[circuit_breaker(name = "crate-doc-db", max_failures = 2, timeout = "30s")]
//! fn load_user(id: u64) -> Result<String, DbError> {
//!     if id == 0 { Err(DbError::Down) } else { Ok(format!("user {id}")) }
//! }
//!
//! assert!(load_user(1).is_ok());
//! let _ = load_user(0);
//! let _ = load_user(0);
//! // Two failures in a row tripped the breaker: calls now fail fast.
//! assert!(matches!(load_user(1), Err(DbError::Breaker(_))));
//! ```
//!
//! The same machinery is available without the attribute: build a
//! [`CircuitBreaker`] and use [`call`](CircuitBreaker::call),
//! [`call_async`](CircuitBreaker::call_async) or the two-step
//! [`try_acquire`](CircuitBreaker::try_acquire) API; named breakers live in
//! the [`registry()`].
//!
//! # Features
//! - `tokio` (default): `call_timeout`, [`CircuitBreaker::wait_until_ready`]
//!   and [`TokioClock`].
//! - `tracing`: an event on every state change and rejection,
//!   under the target `breakerbox`.
//! - `tower`: the [`tower`](crate::tower) module, a `Layer` and `Service`.
//! - `metrics`: a state gauge, call counters and a duration histogram per
//!   breaker, through the `metrics` facade (names in [`metrics`](crate::metrics)).
//! - `serde`: `Serialize` for [`Stats`], `Deserialize` for [`Config`] and
//!   [`PartialConfig`], and [`Registry::status_json`].
//! - `toml`: [`load_config`] and [`ConfigFile`], named configurations from
//!   a TOML file and environment variables.
//! - `redis`: [`RedisStore`], fleet-wide breakers whose state is shared
//!   between processes through Redis.

#![warn(missing_docs)]
#![deny(unsafe_code)]

// The attribute's expansions name the runtime as `::breakerbox`, which must
// resolve inside this crate too.
extern crate self as breakerbox;

mod breaker;
mod clock;
mod config;
mod error;
#[cfg(feature = "toml")]
mod file_config;
mod observe;
mod overrides;
mod partial;
mod permit;
#[cfg(feature = "redis")]
mod redis_store;
mod registry;
#[cfg(feature = "serde")]
mod serde_impl;
mod stats;
mod store;
mod sync;
#[cfg(feature = "tower")]
pub mod tower;
mod window;

#[doc(hidden)]
pub mod __private;

pub use crate::breaker::{CircuitBreaker, State};
#[cfg(feature = "tokio")]
pub use crate::clock::TokioClock;
pub use crate::clock::{Clock, ManualClock, SystemClock};
pub use crate::config::{
    Config, ConfigError, Settings, StateChange, DEFAULT_HALF_OPEN_MAX_WAIT, LOCAL_STORE,
    MAX_COUNT_WINDOW, MAX_TIME_BUCKETS,
};
pub use crate::error::{Error, Name, RejectReason, Rejected, TimedOut};
#[cfg(feature = "toml")]
pub use crate::file_config::{
    load_config, ConfigFile, FileConfigError, ENV_PREFIX, ENV_SEPARATOR, MAX_CONFIG_FILE_BYTES,
};
pub use crate::overrides::{ConfigProblem, UnusedConfiguration};
pub use crate::partial::{PartialConfig, ValueError};
pub use crate::permit::{IntoOutcome, Outcome, OwnedPermit, Permit};
#[cfg(feature = "redis")]
pub use crate::redis_store::{RedisStore, RedisStoreBuilder, RedisStoreError, DEFAULT_PREFIX};
pub use crate::registry::{registry, Registry, RegistryError};
pub use crate::stats::{Counts, Stats, Totals, Trip, TripReason};
pub use crate::store::{ProbeLease, ProbeSlot, SharedState, StateStore};

/// The metrics each breaker reports (feature `metrics`): names, the state
/// gauge's values and descriptions.
#[cfg(feature = "metrics")]
pub mod metrics {
    pub use crate::observe::names::*;
    pub use crate::observe::{describe_metrics, state_code};
}

#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
mod readme_doctests {}
/// Protects a function with a named circuit breaker.
///
/// See the [crate documentation](crate) and the README for every key.
pub use breakerbox_macros::circuit_breaker;
