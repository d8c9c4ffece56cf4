//! Fleet-wide breakers: breaker state shared between processes through
//! Redis (feature `redis`).
//!
//! Every process keeps its own breaker and decides locally; the store keeps
//! the breakers of one name in step:
//! - a background thread reads each member breaker's [`Stats`] every
//!   `flush_interval` and sends the new outcomes in one pipelined batch;
//!   the server adds them to the fleet's counts and trips the fleet's
//!   breaker when a policy says so;
//! - a breaker that trips on its own proposes the trip at once;
//! - every transition on the server is published, and a second thread
//!   subscribed to the channel applies it to the local breaker at once;
//!   each batch's reply (and a poll every `poll_interval`) carries the
//!   state too, should a message be lost;
//! - half-open probes take a lease on one of the fleet's
//!   `half_open_max_calls` slots, with one round trip on the calling
//!   thread; the probe's permit carries its lease and gives it back when
//!   the probe ends (a probe admitted while Redis was unreachable has
//!   none, and gives back nothing).
//!
//! Transitions are Lua scripts (see `scripts.rs`): atomic on the server,
//! keyed by name and generation, so exactly one instance performs each and
//! a stale report is discarded. No lock is held across a user's call.
//!
//! The store fails safe: while Redis is unreachable or slow, every breaker
//! goes on alone, the outage is logged once, the threads reconnect with
//! backoff and the breakers rejoin the shared state when it returns; a
//! trip queued meanwhile is proposed then only if its breaker is still
//! open. A call path that asks Redis has one deadline, `operation_timeout`,
//! for all
//! it does (connecting and loading the scripts included). The deadline
//! bounds each wait for the server: a server (or a link) that keeps a
//! reply coming a few bytes at a time, each within the time left, can hold
//! the call longer; the redis crate's blocking connection offers no way to
//! bound a whole reply.
//!
//! Hostile input: every duration the store takes is bounded at `build()`,
//! every duration it sends to Redis is capped at a year (the scripts'
//! arithmetic stays exact), and every computation of time on the threads
//! saturates, so nothing in them panics; should something still (a
//! `tracing` subscriber can), the panic is logged as an error and the
//! thread goes on, rejoining as after an outage. Keys escape `%`, `{` and
//! `}` in the prefix and the name, so that no pair can pass for another
//! and a breaker's keys share one hash slot.
//!
//! [`Stats`]: crate::Stats

mod scripts;

use std::any::Any;
use std::borrow::Cow;
use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::num::NonZeroU64;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ::redis::{Client, Connection, RedisError, RedisResult};

use crate::breaker::{CircuitBreaker, State};
use crate::config::{Config, WindowKind};
use crate::error::Escaped;
use crate::observe::panic_message;
use crate::permit::Outcome;
use crate::store::{ProbeLease, ProbeSlot, SharedState, StateStore};

use self::scripts::{Script, Scripts};

/// A [`StateStore`] that shares breakers' state through Redis.
///
/// ```no_run
/// use breakerbox::{registry, RedisStore};
///
/// let store = RedisStore::builder("redis://127.0.0.1:6379/")
///     .prefix("checkout")
///     .build()
///     .expect("a valid Redis URL");
/// registry().register_store("fleet", store);
/// registry().set_default_store("fleet");
/// ```
///
/// Building the store does not connect: it connects in the background, and
/// until it does (or whenever it cannot), breakers work alone.
///
/// # Keys
///
/// With the prefix `checkout`, the breaker `payments` keeps its state in
/// `checkout:{payments}:state`, `checkout:{payments}:window` and
/// `checkout:{payments}:probes`; the store's channel is `checkout:events:db0` (on database 0:
/// pub/sub channels are shared by every database of a server).
/// The name is the hash tag, so that the three keys are in one hash slot
/// of a Redis Cluster. In the prefix and the name, `%`, `{` and `}` are
/// written `%25`, `%7B` and `%7D`, and an empty name is written `%`: two
/// different pairs of prefix and name never share a key (the prefix `app`
/// with the name `x}:{y` uses `app:{x%7D:%7By}:state`, the prefix
/// `app:{x}` with the name `y` uses `app:%7Bx%7D:{y}:state`).
///
/// # Limits
///
/// [`build`](RedisStoreBuilder::build) refuses, naming the setting and its
/// bound:
/// - a `flush_interval`, `poll_interval`, `operation_timeout` or reconnect
///   backoff
///   of zero or longer than [`MAX_INTERVAL`](Self::MAX_INTERVAL) (1 hour);
/// - a `key_ttl` shorter than [`MIN_KEY_TTL`](Self::MIN_KEY_TTL) (1 s) or
///   longer than [`MAX_SHARED_DURATION`](Self::MAX_SHARED_DURATION)
///   (365 days).
///
/// A breaker's durations are shared capped at
/// [`MAX_SHARED_DURATION`](Self::MAX_SHARED_DURATION): its open period,
/// its backoff cap, its probes' leases (`half_open_max_wait`) and a time
/// window's span. A breaker that would stay open longer than 365 days
/// opens the fleet for 365 days, and follows the fleet.
///
/// A call that asks Redis (a half-open probe; every admission in strict
/// mode) waits `operation_timeout` at most in all, connecting and loading the
/// scripts included. The store's two threads live as long as the store:
/// nothing in them should panic, and should something (a `tracing`
/// subscriber that panics), the panic is logged as an `ERROR` with target
/// `breaker`, the breakers go on alone, and the thread reconnects and
/// rejoins the shared state.
#[derive(Clone)]
pub struct RedisStore {
    inner: Arc<Inner>,
}

/// Settings for a [`RedisStore`], from [`RedisStore::builder`].
#[derive(Clone)]
pub struct RedisStoreBuilder {
    url: String,
    prefix: String,
    options: Options,
}

#[derive(Clone, Copy, Debug)]
struct Options {
    strict: bool,
    flush_interval: Duration,
    poll_interval: Duration,
    operation_timeout: Duration,
    key_ttl: Duration,
    reconnect_min: Duration,
    reconnect_max: Duration,
}

/// The prefix keys get when none is set.
pub const DEFAULT_PREFIX: &str = "breaker";

impl RedisStoreBuilder {
    /// Namespaces every key and the pub/sub channel (see
    /// [`RedisStore`]'s keys). Give each application its own, so that
    /// unrelated services sharing one Redis never mix their breakers
    /// (default `"breaker"`; any text but the empty one).
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Strict mode: every admission asks Redis (one round trip on the
    /// calling thread, bounded by [`operation_timeout`](Self::operation_timeout))
    /// and outcomes
    /// are sent every millisecond. Off by default.
    pub fn strict(mut self, strict: bool) -> Self {
        self.options.strict = strict;
        if strict {
            self.options.flush_interval = self.options.flush_interval.min(STRICT_FLUSH);
        }
        self
    }

    /// How often outcomes are sent in a batch (default 10 ms; 1 ms in
    /// strict mode; at most [`RedisStore::MAX_INTERVAL`], 1 hour). Part of
    /// the consistency bound: a trip decided on the fleet's counts is at
    /// most this late.
    pub fn flush_interval(mut self, every: Duration) -> Self {
        self.options.flush_interval = every;
        self
    }

    /// How often each breaker's shared state is read when it has nothing
    /// to send (default 100 ms; at most [`RedisStore::MAX_INTERVAL`], 1
    /// hour): the bound on propagation should a pub/sub message be lost.
    pub fn poll_interval(mut self, every: Duration) -> Self {
        self.options.poll_interval = every;
        self
    }

    /// The longest any Redis operation may take, connecting included
    /// (default 100 ms; at most [`RedisStore::MAX_INTERVAL`], 1 hour). A
    /// call path that asks Redis (a probe, or every admission in strict
    /// mode) never waits longer in all, even when it must connect and load
    /// the scripts first; past it the breaker decides alone.
    ///
    /// Not to be confused with a breaker's `timeout` (its open period) or
    /// `call_timeout` (the limit on a protected call).
    pub fn operation_timeout(mut self, limit: Duration) -> Self {
        self.options.operation_timeout = limit;
        self
    }

    /// How long a breaker's keys live after their last use (default one
    /// hour; from [`RedisStore::MIN_KEY_TTL`], 1 s, to
    /// [`RedisStore::MAX_SHARED_DURATION`], 365 days); an unused breaker's
    /// keys expire.
    pub fn key_ttl(mut self, ttl: Duration) -> Self {
        self.options.key_ttl = ttl;
        self
    }

    /// The first and the longest wait between reconnection attempts
    /// (default 50 ms, doubling up to 2 s; each at most
    /// [`RedisStore::MAX_INTERVAL`], 1 hour).
    pub fn reconnect_backoff(mut self, first: Duration, max: Duration) -> Self {
        self.options.reconnect_min = first;
        self.options.reconnect_max = max.max(first);
        self
    }

    /// The store, after checking the settings against [`RedisStore`]'s
    /// limits: a setting out of range is a [`RedisStoreError::Invalid`]
    /// naming it and its bound. Starts its two background threads; it
    /// connects from there.
    pub fn build(self) -> Result<RedisStore, RedisStoreError> {
        let invalid = |field: &'static str, value: String, reason: &'static str| {
            Err(RedisStoreError::Invalid {
                field,
                value,
                reason,
            })
        };
        let o = &self.options;
        for (field, value) in [
            ("flush_interval", o.flush_interval),
            ("poll_interval", o.poll_interval),
            ("operation_timeout", o.operation_timeout),
            ("reconnect_backoff", o.reconnect_min),
            ("reconnect_backoff", o.reconnect_max),
        ] {
            if value.is_zero() {
                return invalid(field, "0s".into(), "must be greater than zero");
            }
            if value > RedisStore::MAX_INTERVAL {
                return invalid(
                    field,
                    format!("{value:?}"),
                    "must be at most 1h (`RedisStore::MAX_INTERVAL`)",
                );
            }
        }
        if o.key_ttl < RedisStore::MIN_KEY_TTL {
            return invalid("key_ttl", format!("{:?}", o.key_ttl), "must be at least 1s");
        }
        if o.key_ttl > RedisStore::MAX_SHARED_DURATION {
            return invalid(
                "key_ttl",
                format!("{:?}", o.key_ttl),
                "must be at most 365 days (`RedisStore::MAX_SHARED_DURATION`)",
            );
        }
        if self.prefix.is_empty() {
            return invalid("prefix", String::new(), "must not be empty");
        }
        let client = Client::open(self.url.as_str()).map_err(|e| RedisStoreError::Url {
            url: self.url.clone(),
            reason: e.to_string(),
        })?;
        let inner = Arc::new(Inner {
            channel: channel(
                &self.prefix,
                client.get_connection_info().redis_settings().db(),
            ),
            client,
            prefix: self.prefix,
            options: self.options,
            scripts: Scripts::new(),
            members: Mutex::new(Vec::new()),
            orphans: Mutex::new(Vec::new()),
            wake: (Mutex::new(false), Condvar::new()),
            link: AtomicU8::new(NEVER),
            pool: Mutex::new(Vec::new()),
            instance: instance_id(),
            leases: AtomicU64::new(0),
        });
        let worker = Arc::downgrade(&inner);
        thread::Builder::new()
            .name("breaker-redis".into())
            .spawn(move || run_worker(worker))
            .map_err(|e| RedisStoreError::Thread(e.to_string()))?;
        let listener = Arc::downgrade(&inner);
        let (client, channel) = (inner.client.clone(), inner.channel.clone());
        thread::Builder::new()
            .name("breaker-redis-events".into())
            .spawn(move || run_listener(listener, client, channel))
            .map_err(|e| RedisStoreError::Thread(e.to_string()))?;
        Ok(RedisStore { inner })
    }
}

/// Why a [`RedisStore`] could not be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedisStoreError {
    /// The URL is not a Redis URL.
    Url {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A setting is out of range.
    Invalid {
        /// The builder method.
        field: &'static str,
        /// The value given.
        value: String,
        /// What is allowed.
        reason: &'static str,
    },
    /// The background threads could not start.
    Thread(String),
}

impl fmt::Display for RedisStoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RedisStoreError::Url { url, reason } => {
                write!(
                    f,
                    "invalid Redis URL `{}`: {}",
                    Escaped(url),
                    Escaped(reason)
                )
            }
            RedisStoreError::Invalid {
                field,
                value,
                reason,
            } => write!(f, "invalid Redis store `{field}` = `{value}`: {reason}"),
            RedisStoreError::Thread(reason) => write!(
                f,
                "could not start the Redis store's threads: {}",
                Escaped(reason)
            ),
        }
    }
}

impl std::error::Error for RedisStoreError {}

const STRICT_FLUSH: Duration = Duration::from_millis(1);

impl RedisStore {
    /// The longest `flush_interval`, `poll_interval`, `operation_timeout` and
    /// reconnect backoff a store accepts: one hour.
    pub const MAX_INTERVAL: Duration = Duration::from_secs(60 * 60);

    /// The longest duration the store sends to Redis, 365 days: the
    /// longest `key_ttl` it accepts, and the cap on the durations of a
    /// breaker it shares (open period, backoff cap, probe lease, time
    /// window). Server time plus this stays well within the integers
    /// Redis's Lua numbers hold exactly.
    pub const MAX_SHARED_DURATION: Duration = Duration::from_secs(365 * 24 * 60 * 60);

    /// The shortest `key_ttl` a store accepts: one second.
    pub const MIN_KEY_TTL: Duration = Duration::from_secs(1);

    /// A builder for a store at `url` (`redis://host:port/db`), with the
    /// default settings.
    pub fn builder(url: impl Into<String>) -> RedisStoreBuilder {
        RedisStoreBuilder {
            url: url.into(),
            prefix: DEFAULT_PREFIX.to_owned(),
            options: Options {
                strict: false,
                flush_interval: Duration::from_millis(10),
                poll_interval: Duration::from_millis(100),
                operation_timeout: Duration::from_millis(100),
                key_ttl: Duration::from_secs(3600),
                reconnect_min: Duration::from_millis(50),
                reconnect_max: Duration::from_secs(2),
            },
        }
    }

    /// A store at `url` with the default settings.
    pub fn open(url: impl Into<String>) -> Result<Self, RedisStoreError> {
        Self::builder(url).build()
    }

    /// Whether the store's last exchange with Redis succeeded.
    pub fn is_connected(&self) -> bool {
        self.inner.link.load(Ordering::Acquire) == UP
    }

    /// The key prefix.
    pub fn prefix(&self) -> &str {
        &self.inner.prefix
    }

    /// The names of the breakers the store shares now, sorted: those that
    /// joined it and have neither left nor been dropped.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .inner
            .live_members()
            .iter()
            .map(|member| member.name.clone())
            .collect();
        names.sort();
        names
    }
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.inner.prefix)
            .field("options", &self.inner.options)
            .field("connected", &self.is_connected())
            .finish()
    }
}

impl StateStore for RedisStore {
    fn join(&self, breaker: &Arc<CircuitBreaker>) -> Arc<dyn SharedState> {
        let name = breaker.name();
        // Outcomes from now on are the fleet's; earlier ones are not sent.
        let outcomes = breaker.store_view().outcomes;
        let member = Arc::new(Member {
            inner: Arc::clone(&self.inner),
            breaker: Arc::downgrade(breaker),
            name: name.to_owned(),
            keys: keys(&self.inner.prefix, name),
            policy: Policy::of(breaker.config()),
            left: AtomicBool::new(false),
            view: Mutex::new(View {
                known_gen: -1,
                seen: Some(outcomes),
                events: VecDeque::new(),
                leases: Vec::new(),
                last_sync: None,
            }),
        });
        lock(&self.inner.members).push(Arc::downgrade(&member));
        self.inner.wake();
        member
    }
}

/// The state hash, the window list and the probe leases of the breaker
/// `name` under `prefix`: `{prefix}:{{name}}:state` and so on, both parts
/// [escaped](escape). The name is the hash tag, so that the three keys are
/// in one hash slot of a Redis Cluster; the empty name is written `%`
/// (which no escape writes alone), so that the tag is never empty.
fn keys(prefix: &str, name: &str) -> [String; 3] {
    let tag = match name {
        "" => Cow::Borrowed("%"),
        _ => escape(name),
    };
    let base = format!("{}:{{{tag}}}", escape(prefix));
    [
        format!("{base}:state"),
        format!("{base}:window"),
        format!("{base}:probes"),
    ]
}

/// The pub/sub channel of the store with `prefix`.
/// Pub/sub channels are shared by every database of a server: the
/// database is part of the channel, so that two applications on databases 0
/// and 1 with one prefix never hear each other's transitions.
fn channel(prefix: &str, db: i64) -> String {
    format!("{}:events:db{db}", escape(prefix))
}

/// `part` with `%`, `{` and `}` written `%25`, `%7B` and `%7D`: no prefix
/// or name can then open or close the hash tag, and so look like another
/// pair (`app` and `x}:{y` against `app:{x}` and `y`).
fn escape(part: &str) -> Cow<'_, str> {
    if !part.contains(['%', '{', '}']) {
        return Cow::Borrowed(part);
    }
    let mut escaped = String::with_capacity(part.len() + 8);
    for c in part.chars() {
        match c {
            '%' => escaped.push_str("%25"),
            '{' => escaped.push_str("%7B"),
            '}' => escaped.push_str("%7D"),
            c => escaped.push(c),
        }
    }
    Cow::Owned(escaped)
}

// ----- the store's shared insides -------------------------------------------

struct Inner {
    client: Client,
    prefix: String,
    channel: String,
    options: Options,
    scripts: Scripts,
    members: Mutex<Vec<Weak<Member>>>,
    /// The ends of probes whose member was dropped before the worker sent
    /// them (a removed breaker whose last `Arc` was its probe's permit),
    /// ready to send: the slots they give back are the fleet's.
    orphans: Mutex<Vec<::redis::Cmd>>,
    /// Set and notified when a member has something to send at once.
    wake: (Mutex<bool>, Condvar),
    /// [`NEVER`], [`UP`] or [`DOWN`]: whether the last exchange
    /// succeeded; while not, the call paths do not try Redis (the worker
    /// reconnects).
    link: AtomicU8,
    /// Connections for the call paths' round trips.
    pool: Mutex<Vec<Connection>>,
    /// This process's id in lease names.
    instance: String,
    leases: AtomicU64,
}

impl Inner {
    fn wake(&self) {
        *lock(&self.wake.0) = true;
        self.wake.1.notify_one();
    }

    /// Waits up to `timeout` for a wake-up.
    fn wait(&self, timeout: Duration) {
        let mut woken = lock(&self.wake.0);
        if !*woken {
            woken = match self.wake.1.wait_timeout(woken, timeout) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
        *woken = false;
    }

    /// Every member whose breaker is alive, those that left included
    /// (they may still have probe slots to give back).
    fn all_members(&self) -> Vec<Arc<Member>> {
        let mut members = lock(&self.members);
        members.retain(|m| m.strong_count() > 0);
        members.iter().filter_map(Weak::upgrade).collect()
    }

    /// The members whose state the store shares: alive, and not left.
    fn live_members(&self) -> Vec<Arc<Member>> {
        let mut members = self.all_members();
        members.retain(|m| !m.has_left());
        members
    }

    /// A new connection with the scripts loaded, all before `deadline`.
    fn connect(&self, deadline: Instant) -> RedisResult<Connection> {
        let mut con = self
            .client
            .get_connection_with_timeout(left_until(deadline)?)?;
        let mut load = ::redis::pipe();
        for script in self.scripts.all() {
            load.cmd("SCRIPT").arg("LOAD").arg(&script.source);
        }
        limit(&mut con, deadline)?;
        load.query::<Vec<String>>(&mut con)?;
        Ok(con)
    }

    /// One round trip on the calling thread, unless Redis is known to be
    /// down: `None` then, and on any error (which marks it down). The call
    /// waits `operation_timeout` at most in all, connecting and loading the scripts
    /// included when no pooled connection is free.
    fn round_trip<T>(&self, op: impl FnOnce(&mut Connection) -> RedisResult<T>) -> Option<T> {
        if self.link.load(Ordering::Acquire) != UP {
            return None;
        }
        let deadline = later(self.options.operation_timeout);
        let pooled = lock(&self.pool).pop();
        let asked = pooled
            .map_or_else(|| self.connect(deadline), Ok)
            .and_then(|mut con| {
                limit(&mut con, deadline)?;
                let value = op(&mut con)?;
                Ok((con, value))
            });
        match asked {
            Ok((con, value)) => {
                lock(&self.pool).push(con);
                Some(value)
            }
            Err(e) => {
                self.down(&e);
                None
            }
        }
    }

    /// Marks Redis reachable; returns whether it was down (not merely
    /// not connected yet).
    fn up(&self) -> bool {
        self.link.swap(UP, Ordering::AcqRel) == DOWN
    }

    /// Marks Redis unreachable, logging it once per outage.
    fn down(&self, error: &RedisError) {
        if self.link.swap(DOWN, Ordering::AcqRel) != DOWN {
            lock(&self.pool).clear();
            // Logging is the application's code: a subscriber's panic must
            // not reach the call that found Redis down. It is reported
            // loudly instead, as a panic on the store's threads is.
            let logged = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                tracing::warn!(
                    target: "breakerbox",
                    prefix = %Escaped(&self.prefix),
                    error = %Escaped(&error.to_string()),
                    "Redis store unreachable: breakers continue on their own and rejoin when it returns"
                )
            }));
            if let Err(payload) = logged {
                let thread = std::thread::current();
                self.thread_panicked(thread.name().unwrap_or("a caller's"), &*payload);
            }
        }
    }

    /// One of the store's threads panicked (nothing in them should; a
    /// `tracing` subscriber that panics can), and goes on: logged loudly,
    /// even should the log itself panic.
    #[cold]
    fn thread_panicked(&self, thread: &str, payload: &(dyn Any + Send)) {
        let message = panic_message(payload);
        let _ = panic::catch_unwind(|| {
            tracing::error!(
                target: "breakerbox",
                prefix = %Escaped(&self.prefix),
                thread,
                panic = %Escaped(message),
                "Redis store's thread `{thread}` panicked and goes on: {}; breakers continue on their own and rejoin the shared state once it has reconnected",
                Escaped(message),
            );
        });
    }

    /// A new lease's number: unique in this store (numbers wrap after
    /// 2^64 leases, and a lease lives minutes at most).
    fn next_lease(&self) -> NonZeroU64 {
        let n = self.leases.fetch_add(1, Ordering::Relaxed).wrapping_add(1);
        NonZeroU64::new(n).unwrap_or(NonZeroU64::MIN)
    }

    /// The lease's member id in the fleet's sorted set of leases.
    fn lease_name(&self, lease: u64) -> String {
        format!("{}:{lease}", self.instance)
    }
}

/// A process id and start time: distinct for every process on a fleet.
/// `Inner::link`: not connected yet, connected, unreachable (logged).
const NEVER: u8 = 0;
const UP: u8 = 1;
const DOWN: u8 = 2;

fn instance_id() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{:x}.{:x}", std::process::id(), nanos)
}

/// `Instant::now() + by`. The settings are bounded, so it never
/// overflows; should it, the time is now.
fn later(by: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(by).unwrap_or(now)
}

/// What is left until `deadline`: a timeout error when nothing is.
fn left_until(deadline: Instant) -> RedisResult<Duration> {
    match deadline.checked_duration_since(Instant::now()) {
        Some(left) if !left.is_zero() => Ok(left),
        _ => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "the Redis store's `operation_timeout` has passed",
        )
        .into()),
    }
}

/// Bounds every read and write on `con` by what is left until `deadline`.
fn limit(con: &mut Connection, deadline: Instant) -> RedisResult<()> {
    let left = left_until(deadline)?;
    con.set_read_timeout(Some(left))?;
    con.set_write_timeout(Some(left))?;
    Ok(())
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A duration as Redis is sent it: in ms, at least 1 and at most a year,
/// so that the scripts' arithmetic on the server's clock (Lua numbers)
/// stays exact and every reply fits Redis's integers.
fn shared_ms(d: Duration) -> u64 {
    let capped = d.min(RedisStore::MAX_SHARED_DURATION).as_millis();
    u64::try_from(capped).unwrap_or(u64::MAX).max(1)
}

/// A duration in ms as Redis replies or publishes it: 0 when negative, a
/// year at most.
fn from_shared_ms(ms: i64) -> Duration {
    let ms = u64::try_from(ms).unwrap_or(0);
    Duration::from_millis(ms).min(RedisStore::MAX_SHARED_DURATION)
}

// ----- one breaker's membership ---------------------------------------------

/// The trip policies the server evaluates on the fleet's counts, from the
/// breaker's configuration.
struct Policy {
    timeout_ms: u64,
    max_failures: u32,
    failure_rate: f64,
    slow_rate: f64,
    minimum_calls: u32,
    /// 0: no window; 1: the last `window_size` calls; 2: the last
    /// `window_size` ms.
    window_kind: u32,
    window_size: u64,
    bucket_ms: u64,
    half_open_max_calls: u32,
    success_threshold: u32,
    lease_ms: u64,
    backoff: f64,
    backoff_max_ms: u64,
}

impl Policy {
    fn of(config: &Config) -> Self {
        let (window_kind, window_size, bucket_ms) = match config.window_kind() {
            None => (0, 0, 1),
            Some(WindowKind::Count(n)) => (1, u64::from(n), 50),
            Some(WindowKind::Time { span, buckets }) => {
                let span_ms = shared_ms(span);
                (2, span_ms, (span_ms / u64::from(buckets.max(1))).max(1))
            }
        };
        Policy {
            timeout_ms: shared_ms(config.settings.timeout),
            max_failures: config.settings.max_failures.unwrap_or(0),
            failure_rate: config.settings.failure_rate.unwrap_or(0.0),
            slow_rate: config.settings.slow_call_rate.unwrap_or(0.0),
            minimum_calls: config.settings.minimum_calls,
            window_kind,
            window_size,
            bucket_ms,
            half_open_max_calls: config.settings.half_open_max_calls,
            success_threshold: config.settings.success_threshold,
            // A lease outlives its probe's process by at most this long.
            lease_ms: shared_ms(config.effective_half_open_max_wait()),
            backoff: config.settings.backoff_multiplier.unwrap_or(0.0),
            backoff_max_ms: shared_ms(config.effective_backoff_max()),
        }
    }
}

struct Member {
    inner: Arc<Inner>,
    breaker: Weak<CircuitBreaker>,
    name: String,
    /// The state hash, the window list and the probe leases.
    keys: [String; 3],
    policy: Policy,
    /// The breaker left: nothing is sent or applied for it any more, but
    /// the probe slots it still holds are given back.
    left: AtomicBool,
    view: Mutex<View>,
}

/// What a member knows of the fleet, and what it has to tell it.
struct View {
    /// The fleet's generation as last applied; -1 before the first reply
    /// and after an outage.
    known_gen: i64,
    /// The breaker's lifetime successes, failures and slow calls as last
    /// sent (or when it joined); `None` after an outage until the next
    /// batch, whose outcomes are not sent.
    seen: Option<[u64; 3]>,
    events: VecDeque<Event>,
    /// The fleet probe slots held by this breaker's probes: each lease's
    /// number and the fleet's generation it was granted in.
    leases: Vec<(u64, i64)>,
    last_sync: Option<Instant>,
}

enum Event {
    /// The local breaker tripped on its own.
    Trip { known_gen: i64, open_ms: u64 },
    /// A probe that held a lease ended.
    ProbeDone {
        lease: String,
        gen: i64,
        outcome: u32,
    },
}

/// A script's reply: verdict, generation, state code, open ms left.
type Reply = (i64, i64, i64, i64);

impl Member {
    fn view(&self) -> MutexGuard<'_, View> {
        lock(&self.view)
    }

    fn has_left(&self) -> bool {
        self.left.load(Ordering::Acquire)
    }

    /// `EVALSHA` of `script` on this member's keys with the common
    /// arguments, then `extra`.
    fn invocation(&self, script: &Script, known_gen: i64) -> ::redis::Cmd {
        let mut cmd = ::redis::cmd("EVALSHA");
        cmd.arg(&script.sha)
            .arg(3)
            .arg(&self.keys[..])
            .arg(&self.inner.channel)
            .arg(&self.name)
            .arg(shared_ms(self.inner.options.key_ttl))
            .arg(known_gen);
        cmd
    }

    fn report(
        &self,
        known_gen: i64,
        delta: [u64; 3],
        trailing: u64,
        trip: Option<u64>,
    ) -> ::redis::Cmd {
        let p = &self.policy;
        let mut cmd = self.invocation(&self.inner.scripts.report, known_gen);
        cmd.arg(&delta[..])
            .arg(trailing)
            .arg(u32::from(trip.is_some()))
            .arg(trip.unwrap_or(p.timeout_ms))
            .arg(p.max_failures)
            .arg(p.failure_rate)
            .arg(p.slow_rate)
            .arg(p.minimum_calls)
            .arg(p.window_kind)
            .arg(p.window_size)
            .arg(p.bucket_ms);
        cmd
    }

    fn event(&self, event: &Event) -> ::redis::Cmd {
        match event {
            Event::Trip { known_gen, open_ms } => {
                self.report(*known_gen, [0; 3], 0, Some(*open_ms))
            }
            Event::ProbeDone {
                lease,
                gen,
                outcome,
            } => {
                let p = &self.policy;
                let mut cmd = self.invocation(&self.inner.scripts.probe_done, *gen);
                cmd.arg(lease)
                    .arg(outcome)
                    .arg(p.success_threshold)
                    .arg(p.timeout_ms)
                    .arg(p.backoff)
                    .arg(p.backoff_max_ms);
                cmd
            }
        }
    }

    /// Applies the fleet's state from a reply. `fresh`: the reply was read
    /// just now, so it wins whenever its generation differs from the one
    /// applied; a pub/sub message may be older than a reply applied since,
    /// so it wins only with a newer generation. `force`: apply even at
    /// the same generation (the local breaker asked and must follow).
    ///
    /// While a trip of the local breaker is queued, only an open fleet is
    /// applied: any other state was read before the fleet heard of that
    /// trip (the reply to a poll sent before it, say), and the trip's own
    /// reply, in the next batch, says what the fleet made of it.
    fn apply(&self, (_, gen, code, left_ms): Reply, fresh: bool, force: bool) {
        let state = match code {
            0 => State::Closed,
            1 => State::Open,
            2 => State::HalfOpen,
            _ => return,
        };
        {
            let mut view = self.view();
            let newer = if fresh {
                gen != view.known_gen
            } else {
                gen > view.known_gen
            };
            if !newer && !force {
                return;
            }
            view.known_gen = gen;
        }
        if let Some(breaker) = self.breaker.upgrade() {
            // Asked under the breaker's lock (then this view's, in the
            // order `transitioned` takes them), so a trip cannot be queued
            // between the question and the change.
            breaker.apply_shared_unless(state, from_shared_ms(left_ms), || {
                state != State::Open
                    && self
                        .view()
                        .events
                        .iter()
                        .any(|event| matches!(event, Event::Trip { .. }))
            });
        }
    }
}

impl Drop for Member {
    /// The ends of probes still queued go to the store: a breaker removed
    /// while its probe ran is usually dropped as that probe ends (its
    /// permit held the last `Arc`), and the worker, which finds members
    /// through weak references, would never send them, keeping the
    /// fleet's slot until its lease expired.
    fn drop(&mut self) {
        let view = self.view.get_mut().unwrap_or_else(|p| p.into_inner());
        let events = std::mem::take(&mut view.events);
        let ends: Vec<::redis::Cmd> = events
            .iter()
            .filter(|event| matches!(event, Event::ProbeDone { .. }))
            .map(|event| self.event(event))
            .collect();
        if !ends.is_empty() {
            lock(&self.inner.orphans).extend(ends);
            self.inner.wake();
        }
    }
}

impl SharedState for Member {
    fn strict(&self) -> bool {
        self.inner.options.strict
    }

    fn admit(&self) -> Result<(), Duration> {
        let known_gen = self.view().known_gen;
        let cmd = self.report(known_gen, [0; 3], 0, None);
        let Some(reply) = self.inner.round_trip(|con| cmd.query::<Reply>(con)) else {
            return Ok(());
        };
        self.apply(reply, true, false);
        match reply.2 {
            1 => Err(from_shared_ms(reply.3)),
            _ => Ok(()),
        }
    }

    fn acquire_probe(&self) -> ProbeSlot {
        let lease = self.inner.next_lease();
        let known_gen = self.view().known_gen;
        let mut cmd = self.invocation(&self.inner.scripts.probe, known_gen);
        cmd.arg(self.inner.lease_name(lease.get()))
            .arg(self.policy.lease_ms)
            .arg(self.policy.half_open_max_calls);
        let Some(reply) = self.inner.round_trip(|con| cmd.query::<Reply>(con)) else {
            // Fail safe: the local breaker's own probe limit applies.
            return ProbeSlot::Unleased;
        };
        let (granted, gen, code, _) = reply;
        if granted == 1 && code == 2 {
            self.view().leases.push((lease.get(), gen));
            return ProbeSlot::Leased(ProbeLease::new(lease));
        }
        // The fleet is not half-open (or has no slot): follow it.
        if code != 2 {
            self.apply(reply, true, true);
        }
        if granted == 1 {
            // Closed again: no slot is needed.
            ProbeSlot::Unleased
        } else {
            ProbeSlot::Refused
        }
    }

    fn probe_ended(&self, lease: ProbeLease, outcome: Option<Outcome>) {
        let mut view = self.view();
        let id = lease.id().get();
        let Some(at) = view.leases.iter().position(|&(held, _)| held == id) else {
            return;
        };
        let (_, gen) = view.leases.swap_remove(at);
        let lease = self.inner.lease_name(id);
        let outcome = match outcome {
            Some(Outcome::Success) => 1,
            Some(Outcome::Failure) => 0,
            Some(Outcome::Ignored) | None => 2,
        };
        view.events.push_back(Event::ProbeDone {
            lease,
            gen,
            outcome,
        });
        drop(view);
        self.inner.wake();
    }

    fn leave(&self) {
        self.left.store(true, Ordering::Release);
    }

    fn transitioned(&self, from: State, to: State, open_for: Duration) {
        let trip = from == State::Closed && to == State::Open;
        if !trip && to != State::Closed {
            return;
        }
        let mut view = self.view();
        // A trip still queued (Redis slow or unreachable) is proposed only
        // while it is the breaker's latest and the breaker has not closed
        // again since: one is queued at most.
        view.events
            .retain(|event| !matches!(event, Event::Trip { .. }));
        if trip {
            let known_gen = view.known_gen;
            view.events.push_back(Event::Trip {
                known_gen,
                open_ms: shared_ms(open_for),
            });
            drop(view);
            self.inner.wake();
        }
    }
}

// ----- the background threads ----------------------------------------------

/// The worker's connection, and when to try again without one.
struct Link {
    con: Option<Connection>,
    retry_at: Instant,
    backoff: Duration,
    /// No connection has been made yet.
    first: bool,
}

impl Link {
    /// Drops the connection, and waits the backoff's next step before
    /// connecting again.
    fn back_off(&mut self, options: &Options) {
        self.con = None;
        self.backoff = next_backoff(self.backoff, options);
        self.retry_at = later(self.backoff);
    }
}

/// Doubles `last`, within the reconnect backoff's bounds.
fn next_backoff(last: Duration, options: &Options) -> Duration {
    last.saturating_mul(2)
        .clamp(options.reconnect_min, options.reconnect_max)
}

/// Sends batches and events, polls, and reconnects, until the store is
/// dropped.
fn run_worker(inner: Weak<Inner>) {
    let mut link = Link {
        con: None,
        retry_at: Instant::now(),
        backoff: Duration::ZERO,
        first: true,
    };
    loop {
        let Some(inner) = inner.upgrade() else { return };
        inner.wait(inner.options.flush_interval);
        // Should a step panic all the same, the thread goes on: the link
        // is marked down (the call paths stop asking Redis), and once it
        // reconnects every breaker rejoins the shared state afresh.
        let step = panic::catch_unwind(AssertUnwindSafe(|| work(&inner, &mut link)));
        if let Err(payload) = step {
            inner.link.store(DOWN, Ordering::Release);
            lock(&inner.pool).clear();
            inner.thread_panicked("breaker-redis", &*payload);
            link.back_off(&inner.options);
        }
    }
}

/// One step of the worker: connects when it is time to, then sends a
/// batch.
fn work(inner: &Inner, link: &mut Link) {
    let options = &inner.options;
    if link.con.is_none() && Instant::now() >= link.retry_at {
        let connected = inner
            .connect(later(options.operation_timeout))
            .and_then(|con| {
                // From now on each exchange has an `operation_timeout` of its own.
                con.set_read_timeout(Some(options.operation_timeout))?;
                con.set_write_timeout(Some(options.operation_timeout))?;
                Ok(con)
            });
        match connected {
            Ok(con) => {
                link.con = Some(con);
                link.backoff = Duration::ZERO;
                rejoin(inner, link.first);
                link.first = false;
            }
            Err(e) => {
                inner.down(&e);
                link.back_off(options);
            }
        }
    }
    if let Some(con) = link.con.as_mut() {
        if let Err(e) = flush(inner, con) {
            inner.down(&e);
            link.backoff = Duration::ZERO;
            link.back_off(options);
        }
    }
}

/// After (re)connecting: every member reads the fleet's state afresh, and
/// one whose breaker is open on its own proposes that trip, for what is
/// left of its period; a trip queued earlier is not sent (the breaker may
/// have closed since). After an outage (not the `first` connection), the
/// outcomes seen during it are not sent: the breaker judged them alone.
fn rejoin(inner: &Inner, first: bool) {
    let was_down = inner.up();
    for member in inner.live_members() {
        let Some(breaker) = member.breaker.upgrade() else {
            continue;
        };
        let now = breaker.store_view();
        let mut view = member.view();
        view.known_gen = -1;
        if !first {
            view.seen = None;
        }
        view.events
            .retain(|event| !matches!(event, Event::Trip { .. }));
        if now.state == State::Open {
            let open_ms = shared_ms(now.open_for);
            view.events.push_back(Event::Trip {
                known_gen: -1,
                open_ms,
            });
        }
    }
    if was_down {
        tracing::info!(
            target: "breakerbox",
            prefix = %Escaped(&inner.prefix),
            "Redis store reachable again: breakers rejoin the shared state"
        );
    }
}

/// One batch: every member's events and new outcomes (or a poll), in one
/// pipelined round trip; then each reply's state is applied.
fn flush(inner: &Inner, con: &mut Connection) -> RedisResult<()> {
    let now = Instant::now();
    let mut pipe = ::redis::pipe();
    // First the probe ends of dropped members: their replies are not
    // applied (no breaker is left to apply them to).
    let orphans = std::mem::take(&mut *lock(&inner.orphans));
    for end in &orphans {
        pipe.add_command(end.clone());
    }
    let mut sent: Vec<Arc<Member>> = Vec::new();
    for member in inner.all_members() {
        if member.has_left() {
            // Only the ends of probes that held a slot.
            for event in member.view().events.drain(..) {
                if let Event::ProbeDone { .. } = event {
                    pipe.add_command(member.event(&event));
                    sent.push(Arc::clone(&member));
                }
            }
            continue;
        }
        let Some(breaker) = member.breaker.upgrade() else {
            continue;
        };
        let state = breaker.store_view();
        let totals = state.outcomes;
        let mut view = member.view();
        for event in view.events.drain(..) {
            pipe.add_command(member.event(&event));
            sent.push(Arc::clone(&member));
        }
        let delta = match view.seen {
            Some(seen) => [0, 1, 2].map(|i| totals[i].wrapping_sub(seen[i])),
            None => [0; 3],
        };
        view.seen = Some(totals);
        let poll = view.known_gen < 0
            || view
                .last_sync
                .is_none_or(|at| now.duration_since(at) >= inner.options.poll_interval);
        if delta[0] > 0 || delta[1] > 0 || poll {
            let trailing = state.consecutive_failures;
            pipe.add_command(member.report(view.known_gen, delta, trailing, None));
            sent.push(Arc::clone(&member));
            view.last_sync = Some(now);
        }
    }
    if sent.is_empty() && orphans.is_empty() {
        return Ok(());
    }
    let replies: Vec<Reply> = pipe.query(con)?;
    inner.up();
    for (member, reply) in sent.iter().zip(replies.into_iter().skip(orphans.len())) {
        if !member.has_left() {
            member.apply(reply, true, false);
        }
    }
    Ok(())
}

/// Applies every published transition as it happens, until the store is
/// dropped. Should listening panic, the thread logs it and listens again.
fn run_listener(inner: Weak<Inner>, client: Client, channel: String) {
    let mut backoff = Duration::ZERO;
    while inner.strong_count() > 0 {
        let options = match inner.upgrade() {
            Some(i) => i.options,
            None => return,
        };
        let listened = panic::catch_unwind(AssertUnwindSafe(|| {
            listen(&inner, &client, &channel, options.operation_timeout)
        }));
        match listened {
            Ok(Ok(())) => backoff = Duration::ZERO,
            Ok(Err(_)) => {
                backoff = next_backoff(backoff, &options);
                thread::sleep(backoff);
            }
            Err(payload) => {
                if let Some(inner) = inner.upgrade() {
                    inner.thread_panicked("breaker-redis-events", &*payload);
                }
                backoff = next_backoff(backoff, &options);
                thread::sleep(backoff);
            }
        }
    }
}

/// Listens until the connection fails or the store is gone.
fn listen(
    inner: &Weak<Inner>,
    client: &Client,
    channel: &str,
    timeout: Duration,
) -> RedisResult<()> {
    let mut con = client.get_connection_with_timeout(timeout)?;
    let mut pubsub = con.as_pubsub();
    pubsub.subscribe(channel)?;
    // Short reads, so that the thread notices the store is gone.
    pubsub.set_read_timeout(Some(Duration::from_millis(200)))?;
    loop {
        let message = match pubsub.get_message() {
            Ok(message) => message,
            Err(e) if e.is_timeout() => {
                if inner.strong_count() == 0 {
                    return Ok(());
                }
                continue;
            }
            Err(e) => return Err(e),
        };
        let Ok(payload) = message.get_payload::<String>() else {
            continue;
        };
        let Some(inner) = inner.upgrade() else {
            return Ok(());
        };
        if let Some((name, reply)) = parse_event(&payload) {
            for member in inner.live_members() {
                if member.name == name {
                    member.apply(reply, false, false);
                }
            }
        }
    }
}

/// `"{gen} {state code} {open ms left} {name}"`, as the scripts publish.
fn parse_event(payload: &str) -> Option<(&str, Reply)> {
    let mut parts = payload.splitn(4, ' ');
    let gen = parts.next()?.parse().ok()?;
    let code = parts.next()?.parse().ok()?;
    let left = parts.next()?.parse().ok()?;
    let name = parts.next()?;
    Some((name, (1, gen, code, left)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_events_parse_with_names_that_contain_spaces() {
        assert_eq!(
            parse_event("7 1 2500 payments api"),
            Some(("payments api", (1, 7, 1, 2500)))
        );
        assert_eq!(parse_event("7 1"), None);
        assert_eq!(parse_event("x 1 2 n"), None);
    }

    #[test]
    fn invalid_settings_name_the_setting() {
        let error = RedisStore::builder("redis://127.0.0.1:1/")
            .flush_interval(Duration::ZERO)
            .build()
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid Redis store `flush_interval` = `0s`: must be greater than zero"
        );
        let error = RedisStore::open("http://nowhere").unwrap_err();
        assert!(matches!(error, RedisStoreError::Url { .. }), "{error}");
    }

    /// A probe that ends as its breaker is dropped (the probe's permit held
    /// the last `Arc`) leaves its end where the worker finds it, although
    /// the member that queued it is gone. The store never connects here,
    /// so the worker cannot send the end before the member is dropped.
    #[test]
    fn a_probe_end_queued_by_a_dropped_member_is_kept_for_the_worker() {
        let store = RedisStore::builder("redis://127.0.0.1:1/").build().unwrap();
        let breaker = Arc::new(CircuitBreaker::new("x", Config::default()).unwrap());
        let membership = store.join(&breaker);
        let member = lock(&store.inner.members)[0].upgrade().unwrap();
        let lease = store.inner.next_lease();
        member.view().leases.push((lease.get(), 3));
        member.probe_ended(ProbeLease::new(lease), Some(Outcome::Success));
        drop((member, membership, breaker));
        assert!(store.inner.all_members().is_empty());
        assert_eq!(lock(&store.inner.orphans).len(), 1);
    }

    #[test]
    fn a_url_error_prints_the_url_escaped() {
        let error = RedisStore::open("http://x\n2099-01-01 ERROR forged\u{1b}[2K").unwrap_err();
        let shown = error.to_string();
        assert!(!shown.contains(['\n', '\u{1b}']), "{shown:?}");
    }

    /// A year: the longest duration the store sends to Redis.
    const YEAR: Duration = Duration::from_secs(365 * 24 * 60 * 60);

    fn refused(builder: RedisStoreBuilder) -> RedisStoreError {
        match builder.build() {
            Ok(store) => panic!("accepted: {store:?}"),
            Err(error) => error,
        }
    }

    #[test]
    fn every_duration_beyond_its_bound_is_refused_by_name() {
        let builder = || RedisStore::builder("redis://127.0.0.1:1/");
        let absurd = Duration::MAX;
        for (field, builder) in [
            ("flush_interval", builder().flush_interval(absurd)),
            ("poll_interval", builder().poll_interval(absurd)),
            ("operation_timeout", builder().operation_timeout(absurd)),
            ("key_ttl", builder().key_ttl(absurd)),
            (
                "reconnect_backoff",
                builder().reconnect_backoff(absurd, absurd),
            ),
            (
                "reconnect_backoff",
                builder().reconnect_backoff(Duration::from_millis(50), absurd),
            ),
        ] {
            let error = refused(builder);
            let RedisStoreError::Invalid { field: named, .. } = &error else {
                panic!("{error}");
            };
            assert_eq!(*named, field, "{error}");
            let message = error.to_string();
            assert!(message.contains(&format!("{absurd:?}")), "{message}");
            assert!(message.contains("at most"), "{message}");
        }
    }

    #[test]
    fn the_longest_accepted_durations_build_a_store() {
        let store = RedisStore::builder("redis://127.0.0.1:1/")
            .flush_interval(RedisStore::MAX_INTERVAL)
            .poll_interval(RedisStore::MAX_INTERVAL)
            .operation_timeout(RedisStore::MAX_INTERVAL)
            .key_ttl(RedisStore::MAX_SHARED_DURATION)
            .reconnect_backoff(RedisStore::MAX_INTERVAL, RedisStore::MAX_INTERVAL)
            .build();
        assert!(store.is_ok(), "{store:?}");
    }

    #[test]
    fn a_key_ttl_below_one_second_is_refused() {
        let error = refused(
            RedisStore::builder("redis://127.0.0.1:1/").key_ttl(Duration::from_millis(999)),
        );
        assert_eq!(
            error.to_string(),
            "invalid Redis store `key_ttl` = `999ms`: must be at least 1s"
        );
    }

    #[test]
    fn durations_sent_to_redis_are_capped_at_a_year() {
        let forever = Duration::from_secs(10_000_000_000_000_000);
        let config = Config::default()
            .timeout(forever)
            .backoff_multiplier(2.0)
            .backoff_max(forever)
            .half_open_max_wait(forever)
            .time_window(forever);
        let policy = Policy::of(&config);
        let year = u64::try_from(YEAR.as_millis()).unwrap();
        assert_eq!(policy.timeout_ms, year);
        assert_eq!(policy.backoff_max_ms, year);
        assert_eq!(policy.lease_ms, year);
        assert_eq!(policy.window_size, year);
        assert!(policy.bucket_ms <= year);
        assert_eq!(shared_ms(forever), year);
    }

    #[test]
    fn braces_in_a_prefix_or_a_name_cannot_make_two_breakers_share_keys() {
        // The issue's pair: both were `app:{x}:{y}:state`.
        let one = keys("app", "x}:{y");
        let other = keys("app:{x}", "y");
        for key in &one {
            assert!(!other.contains(key), "{key} is shared");
        }
    }

    /// The hash slot Redis Cluster gives `key`: CRC16 (XMODEM) of its
    /// hash tag (the text between the first `{` and the next `}`, when
    /// not empty), else of the whole key, modulo 16384.
    fn hash_slot(key: &str) -> u16 {
        let bytes = key.as_bytes();
        let tagged = bytes.iter().position(|&b| b == b'{').and_then(|open| {
            let close = bytes[open + 1..].iter().position(|&b| b == b'}')?;
            (close > 0).then(|| &bytes[open + 1..open + 1 + close])
        });
        let mut crc: u16 = 0;
        for &byte in tagged.unwrap_or(bytes) {
            crc ^= u16::from(byte) << 8;
            for _ in 0..8 {
                crc = if crc & 0x8000 != 0 {
                    (crc << 1) ^ 0x1021
                } else {
                    crc << 1
                };
            }
        }
        crc % 16384
    }

    #[test]
    fn hash_slots_are_computed_as_redis_cluster_does() {
        // Redis Cluster's specification: CRC16 of "123456789" is 0x31C3
        // (below 16384, so its own slot).
        assert_eq!(hash_slot("123456789"), 0x31C3);
        assert_eq!(hash_slot("foo"), 12182);
        assert_eq!(hash_slot("a:{foo}:b"), 12182);
        assert_ne!(hash_slot("{}foo"), hash_slot("foo"));
    }

    mod hostile_keys {
        use proptest::prelude::*;

        use super::{hash_slot, keys};

        /// Text made of the characters that build keys, so that a
        /// careless format collides often; and any text at all.
        fn part() -> impl Strategy<Value = String> {
            prop_oneof![
                prop::collection::vec(
                    prop_oneof![
                        Just("{"),
                        Just("}"),
                        Just(":"),
                        Just("%"),
                        Just("7B"),
                        Just("7D"),
                        Just("25"),
                        Just("x"),
                        Just("state"),
                    ],
                    0..6
                )
                .prop_map(|parts| parts.concat()),
                any::<String>(),
            ]
        }

        /// Pairs a careless key format would confuse with `(prefix,
        /// name)`: the same text split at another `:{`, and one part with
        /// a brace or a percent sign written as an escape (or the reverse).
        fn look_alikes((prefix, name): &(String, String)) -> Vec<(String, String)> {
            let joined = format!("{prefix}:{{{name}}}");
            let mut pairs: Vec<(String, String)> = joined
                .match_indices(":{")
                .map(|(at, _)| {
                    let name = &joined[at + 2..joined.len() - 1];
                    (joined[..at].to_owned(), name.to_owned())
                })
                .collect();
            for (from, to) in [
                ("{", "%7B"),
                ("}", "%7D"),
                ("%", "%25"),
                ("%7B", "{"),
                ("%7D", "}"),
                ("%25", "%"),
                ("%", ""),
            ] {
                pairs.push((prefix.replacen(from, to, 1), name.clone()));
                pairs.push((prefix.clone(), name.replacen(from, to, 1)));
            }
            pairs
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(2000))]

            #[test]
            fn two_different_prefix_and_name_pairs_never_share_a_key(
                a in (part(), part()),
                any_other in (part(), part()),
                pick in any::<prop::sample::Index>(),
            ) {
                let mut candidates = look_alikes(&a);
                candidates.push(any_other);
                candidates.retain(|b| *b != a);
                if candidates.is_empty() {
                    return Ok(());
                }
                let b = pick.get(&candidates).clone();
                let ours = keys(&a.0, &a.1);
                let theirs = keys(&b.0, &b.1);
                for key in &ours {
                    prop_assert!(!theirs.contains(key), "{:?} and {:?} share {}", a, b, key);
                }
            }

            #[test]
            fn every_key_of_one_breaker_is_in_one_hash_slot(prefix in part(), name in part()) {
                let [state, window, probes] = keys(&prefix, &name);
                prop_assert_ne!(&state, &window);
                prop_assert_ne!(&window, &probes);
                let slot = hash_slot(&state);
                prop_assert_eq!(hash_slot(&window), slot);
                prop_assert_eq!(hash_slot(&probes), slot);
            }
        }
    }
}
