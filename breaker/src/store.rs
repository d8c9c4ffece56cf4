//! Where a breaker's state lives.
//!
//! By default a breaker's state lives in its process: that is the hot path,
//! and nothing in this module touches it. A [`StateStore`] shares the state
//! of each breaker *name* between processes (the `redis` feature's
//! [`RedisStore`](crate::redis::RedisStore) is one): every process keeps
//! its own breaker, and the store keeps the breakers of one name in step.
//!
//! The contract between a breaker and its store is small on purpose:
//! - the breaker keeps deciding locally, lock-free where it can, and the
//!   store learns of its outcomes by reading the breaker's [`Stats`]
//!   (so the store costs the call path nothing);
//! - the breaker tells the store of the transitions it makes on its own
//!   ([`SharedState::transitioned`]) and of each half-open probe, which
//!   needs a slot of the whole fleet ([`SharedState::acquire_probe`]); a
//!   slot granted is a [`ProbeLease`] that the probe's permit carries and
//!   hands back when it ends ([`SharedState::probe_ended`]), so that a
//!   probe admitted without one never gives back another's;
//! - the store applies the fleet's transitions to the breaker with
//!   [`CircuitBreaker::apply_shared`];
//! - in strict mode ([`SharedState::strict`]) the breaker asks the store
//!   before every admission ([`SharedState::admit`]).
//!
//! Every call a breaker makes into its store must return promptly and must
//! not panic: a store that cannot reach its server answers as if the
//! breaker were alone ("fail safe"), never by rejecting calls.
//!
//! [`Stats`]: crate::Stats

use std::num::NonZeroU64;
use std::sync::Arc;
use std::time::Duration;

use crate::breaker::{CircuitBreaker, State};
use crate::permit::Outcome;

/// Shares the state of breakers between processes, by breaker name.
///
/// Register one with [`Registry::register_store`](crate::Registry::register_store)
/// and name it in a breaker's configuration ([`Config::store`](crate::Config::store),
/// or the attribute's `store = "..."`), or join a breaker you built
/// yourself with [`CircuitBreaker::join_store`].
pub trait StateStore: Send + Sync + 'static {
    /// Joins `breaker` to the shared state of its name: from now on the
    /// store reports its outcomes and applies the fleet's transitions to
    /// it. The store must hold the breaker weakly, so that dropping the
    /// breaker ends its membership.
    ///
    /// Called at most once per breaker. The registry calls it while it
    /// creates the breaker, before anyone else can see it, with its lock
    /// held: it must return promptly (no network round trip) and must not
    /// call into the registry.
    fn join(&self, breaker: &Arc<CircuitBreaker>) -> Arc<dyn SharedState>;
}

/// One breaker's membership in a [`StateStore`]: the calls the breaker
/// makes into it. None of them may block for long or panic.
pub trait SharedState: Send + Sync + 'static {
    /// Whether the breaker asks [`admit`](Self::admit) before every
    /// admission. When `false` (the default mode), admissions are local
    /// and lock-free as without a store.
    fn strict(&self) -> bool {
        false
    }

    /// Strict mode: asked before every admission. `Err(retry_after)`
    /// rejects the call as if the breaker were open; a store that cannot
    /// answer in time must return `Ok(())`.
    fn admit(&self) -> Result<(), Duration> {
        Ok(())
    }

    /// The breaker is half-open and about to admit a probe: whether the
    /// fleet has a probe slot for it. A store that cannot answer must
    /// return [`ProbeSlot::Unleased`], leaving the limit to the local
    /// breaker.
    fn acquire_probe(&self) -> ProbeSlot;

    /// A probe admitted on `lease` (a [`ProbeSlot::Leased`]) ended with
    /// `outcome` (`None`: cancelled, or dropped without an outcome). Each
    /// lease comes back once, from the permit it was granted to; a probe
    /// admitted [`Unleased`](ProbeSlot::Unleased) hands back nothing.
    fn probe_ended(&self, lease: ProbeLease, outcome: Option<Outcome>);

    /// The breaker changed state on its own (not through
    /// [`CircuitBreaker::apply_shared`]); `open_for` is the open period
    /// when `to` is [`State::Open`].
    ///
    /// Called under the breaker's lock, as the transition is made, so that
    /// the store hears of one breaker's transitions in order and without
    /// waiting behind a slow `on_state_change` listener. So it must return
    /// at once (queue the news, as `RedisStore` does) and must not call
    /// into the breaker; a panic is contained and logged.
    fn transitioned(&self, from: State, to: State, open_for: Duration);

    /// The breaker left ([`CircuitBreaker::leave_store`], which
    /// [`Registry::remove`](crate::Registry::remove) calls): the store
    /// stops sending its outcomes, polling its state and applying the
    /// fleet's transitions to it. The breaker calls nothing else on this
    /// membership afterwards, except `probe_ended` for the probes that
    /// still hold a slot. The default does nothing, for stores that hold
    /// no work per member.
    fn leave(&self) {}
}

/// The fleet's answer to a probe's request for a slot
/// ([`SharedState::acquire_probe`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeSlot {
    /// One of the fleet's slots, held by this probe alone: its permit
    /// carries the lease and hands it back to
    /// [`SharedState::probe_ended`] when the probe ends.
    Leased(ProbeLease),
    /// Admitted without a slot of the fleet's (the store could not ask,
    /// and fails safe): the local probe limit applies, and nothing is
    /// handed back.
    Unleased,
    /// The fleet has no slot free: the probe is rejected.
    Refused,
}

/// One probe's slot of the fleet, as the store numbers it. The breaker
/// keeps it in the probe's permit and hands it back to the store that
/// granted it when that permit ends, whatever order probes end in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProbeLease(NonZeroU64);

impl ProbeLease {
    /// A lease numbered `id`, unique among the store's leases in flight.
    pub const fn new(id: NonZeroU64) -> Self {
        ProbeLease(id)
    }

    /// Its number.
    pub const fn id(self) -> NonZeroU64 {
        self.0
    }
}
