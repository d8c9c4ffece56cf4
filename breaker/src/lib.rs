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
//! # Guide
//!
//! The [`guide`] explains the library page by page, next to the API it
//! describes:
//! - [Semantics](guide::semantics): states and transitions, what counts as
//!   a failure, when the fallback runs, timeouts, the bulkhead, half-open
//!   probes, concurrency and listeners.
//! - [Configuration](guide::configuration): every key, and how the
//!   attribute, [`Config`], the registry, a file, the environment and serde
//!   take precedence over each other.
//! - [The runtime API](guide::runtime_api): breakers, permits, manual control,
//!   stats and the registry, without the attribute.
//! - [Integrations](guide::integrations): tokio, tower, tracing, metrics,
//!   serde and TOML.
//! - [Fleet-wide breakers](guide::fleet): one breaker shared by every
//!   process of a service, through Redis.
//! - [Testing your code](guide::testing): time by hand, forced states and
//!   registries of your own.
//! - [Guarantees](guide::guarantees): what the library promises and the
//!   tests that check each promise.
//! - [Performance](guide::performance): what a call costs, and how to
//!   measure it.
//!
//! # Features
//! - `tokio` (default): `call_timeout`, [`CircuitBreaker::wait_until_ready`]
//!   and [`TokioClock`].
//! - `tracing`: an event on every state change and rejection,
//!   under the target `breakerbox`.
//! - `tower`: the [`tower`] module, a `Layer` and `Service`.
//! - `metrics`: a state gauge, call counters and a duration histogram per
//!   breaker, through the `metrics` facade (names in [`metrics`]).
//! - `serde`: `Serialize` for [`Stats`], `Deserialize` for [`Config`] and
//!   [`PartialConfig`], and [`Registry::status_json`].
//! - `toml`: [`load_config`] and [`ConfigFile`], named configurations from
//!   a TOML file and environment variables.
//! - `redis`: [`RedisStore`], fleet-wide breakers whose state is shared
//!   between processes through Redis.
//! - `dashboard`: the [`dashboard`] module, a live page of every breaker
//!   served as a tower `Service`, and each breaker's
//!   [recent transitions](CircuitBreaker::recent_transitions).
//!
//! The [integrations page](guide::integrations) says what each one adds
//! and costs.

#![warn(missing_docs)]
#![deny(unsafe_code)]
// On docs.rs, mark each item that needs a feature with the feature's name.
#![cfg_attr(docsrs, feature(doc_cfg))]

// The attribute's expansions name the runtime as `::breakerbox`, which must
// resolve inside this crate too.
extern crate self as breakerbox;

mod breaker;
mod clock;
mod config;
#[cfg(feature = "dashboard")]
pub mod dashboard;
mod error;
#[cfg(feature = "metrics")]
mod exporter;
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
pub use crate::clock::{Clock, ManualClock, SystemClock, TICKER_LAG};
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
///
/// A Grafana dashboard of these series ships with the crate, in
/// `dashboards/grafana.json` (import it, and pick the Prometheus data
/// source): states over time, calls by outcome, failure rate, rejections,
/// slow calls, timeouts and durations per breaker.
#[cfg(feature = "metrics")]
pub mod metrics {
    pub use crate::exporter::{set_sync_interval, sync_now, SAMPLE_EVERY};
    pub use crate::observe::names::*;
    pub use crate::observe::{describe_metrics, state_code};
}

/// The guide: how breakers behave, how to configure, integrate, share and
/// test them, and what they promise and cost.
///
/// Doc-only pages, each example on them a doctest. The
/// [crate documentation](crate#guide) lists them in reading order, from
/// [`semantics`](guide::semantics) to [`performance`](guide::performance).
pub mod guide {
    #[doc = include_str!("../docs/semantics.md")]
    pub mod semantics {}
    #[doc = include_str!("../docs/configuration.md")]
    pub mod configuration {}
    #[doc = include_str!("../docs/runtime_api.md")]
    pub mod runtime_api {}
    #[doc = include_str!("../docs/integrations.md")]
    pub mod integrations {}
    #[doc = include_str!("../docs/fleet.md")]
    pub mod fleet {}
    #[doc = include_str!("../docs/testing.md")]
    pub mod testing {}
    #[doc = include_str!("../docs/guarantees.md")]
    pub mod guarantees {}
    #[doc = include_str!("../docs/performance.md")]
    pub mod performance {}
}

// The README's examples are complete programs, written to be pasted into a
// new crate; testing them here keeps them compiling.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
mod readme_doctests {}

/// Protects a function with a named circuit breaker.
///
/// Every key is described in the [configuration guide](guide::configuration),
/// and what the breaker does with them in [its semantics](guide::semantics).
pub use breakerbox_macros::circuit_breaker;
