//! The process-wide registry of named breakers (the group API).

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, RwLock};
use std::time::Duration;

use crate::__private::At;
use crate::breaker::CircuitBreaker;
use crate::clock::{Clock, SystemClock};
use crate::config::{Config, ConfigError, LOCAL_STORE};
use crate::error::{Escaped, Name};
use crate::observe;
use crate::overrides::{ConfigProblem, Layer, Overrides, Target, UnusedConfiguration};
use crate::partial::PartialConfig;
use crate::stats::Stats;
use crate::store::StateStore;

/// Named breakers, shared across the process.
///
/// All functions annotated with the same `name` share the breaker the
/// registry holds under it. A configuration registered with
/// [`configure`](Self::configure) before a name's first use wins over the
/// attribute's literals and over the config passed to
/// [`get_or_create`](Self::get_or_create).
///
/// ```
/// use breakerbox::{registry, Config};
///
/// registry().configure("doc-registry", Config::default().max_failures(2)).unwrap();
/// let cb = registry().get_or_create("doc-registry", Config::default()).unwrap();
/// assert_eq!(cb.config().settings().max_failures, Some(2));
/// assert!(registry().names().contains(&"doc-registry".to_string()));
/// ```
#[derive(Default)]
pub struct Registry {
    breakers: RwLock<HashMap<String, Arc<CircuitBreaker>>>,
    configs: RwLock<HashMap<String, Configured>>,
    /// Operators' values (a configuration file, environment variables),
    /// merged key by key over the code's configuration.
    overrides: RwLock<Overrides>,
    /// The settings refused when breakers were created.
    problems: RwLock<Vec<ConfigProblem>>,
    /// Shared state stores by name, and the one breakers use when their
    /// configuration names none.
    stores: RwLock<Stores>,
    /// The breakers created on demand, their limit and idle eviction.
    /// Locked after `breakers`, never before.
    dynamic: Mutex<Dynamic>,
}

/// A configuration registered with `configure`, and whether a breaker has
/// been created with it.
struct Configured {
    config: Config,
    used: bool,
}

/// The breakers `get_or_create` created (names that may come from request
/// data), and what bounds them.
struct Dynamic {
    max: Option<usize>,
    idle_after: Option<Duration>,
    clock: Arc<dyn Clock>,
    /// By name, each one's calls and since when (on `clock`) they have
    /// not changed, as the last sweep saw them.
    samples: HashMap<String, Sample>,
    /// When a new name next sweeps: the earliest a breaker can have been
    /// idle long enough, and no sooner than an eighth of `idle_after`
    /// after the last sweep, so that sweeping stays rare.
    next_sweep: Duration,
}

#[derive(Clone, Copy)]
struct Sample {
    calls: u64,
    since: Duration,
}

impl Default for Dynamic {
    fn default() -> Self {
        Dynamic {
            max: None,
            idle_after: None,
            clock: Arc::new(SystemClock),
            samples: HashMap::new(),
            next_sweep: Duration::MAX,
        }
    }
}

impl Dynamic {
    /// The idle clock's reading. User code (`set_clock`), read under the
    /// registry's locks: a panic is contained and reads as no time at all
    /// (nothing is evicted on it).
    fn now(&self) -> Option<Duration> {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.clock.now())).ok()
    }

    /// Sweeps if a breaker may have been idle long enough.
    fn sweep_if_due(
        &mut self,
        breakers: &mut HashMap<String, Arc<CircuitBreaker>>,
    ) -> Vec<(String, Arc<CircuitBreaker>)> {
        if self.idle_after.is_some() && self.now().is_some_and(|now| now >= self.next_sweep) {
            self.sweep(breakers)
        } else {
            Vec::new()
        }
    }

    /// Takes out of `breakers` every breaker created on demand that only
    /// the registry holds, whose state lets it go, and that no call has
    /// reached since a sweep (or its creation) at least `idle_after` ago.
    /// Atomic loads per breaker: no breaker's lock, no user code.
    fn sweep(
        &mut self,
        breakers: &mut HashMap<String, Arc<CircuitBreaker>>,
    ) -> Vec<(String, Arc<CircuitBreaker>)> {
        let (Some(idle_after), Some(now)) = (self.idle_after, self.now()) else {
            return Vec::new();
        };
        let mut evicted = Vec::new();
        let mut next: Option<Duration> = None;
        self.samples.retain(|name, sample| {
            let Some(breaker) = breakers.get(name) else {
                return false;
            };
            let (calls, may_go) = breaker.idle_sample();
            // Held elsewhere (a layer, an annotated function, a caller):
            // evicting it would leave two breakers for one name.
            let held = Arc::strong_count(breaker) > 1;
            // `since` is `Duration::MAX` when the clock failed as it was
            // noted: this good reading starts its idle time.
            let unseen = sample.since == Duration::MAX;
            if held || !may_go || calls != sample.calls || unseen {
                *sample = Sample { calls, since: now };
            } else if now.saturating_sub(sample.since) >= idle_after {
                if let Some(breaker) = breakers.remove(name) {
                    evicted.push((name.clone(), breaker));
                }
                return false;
            }
            let due = sample.since.saturating_add(idle_after);
            next = Some(next.map_or(due, |next| next.min(due)));
            true
        });
        self.next_sweep = next.map_or(Duration::MAX, |next| {
            next.max(now.saturating_add(idle_after / 8))
        });
        evicted
    }

    /// Notes a breaker just created on demand.
    fn created(&mut self, name: &str) {
        // Should the clock fail, the breaker counts as busy until a sweep
        // with a good reading sees it again.
        let now = self.now().unwrap_or(Duration::MAX);
        self.samples.insert(
            name.to_owned(),
            Sample {
                calls: 0,
                since: now,
            },
        );
        if let Some(idle_after) = self.idle_after {
            self.next_sweep = self.next_sweep.min(now.saturating_add(idle_after));
        }
    }
}

#[derive(Default)]
struct Stores {
    by_name: HashMap<String, Arc<dyn StateStore>>,
    default: Option<String>,
}

impl Stores {
    /// The store a breaker configured with `config` shares its state
    /// through, if it is registered.
    fn for_config(&self, config: &Config) -> Option<Arc<dyn StateStore>> {
        let name = config
            .settings
            .store
            .as_deref()
            .or(self.default.as_deref())?;
        if name == LOCAL_STORE {
            return None;
        }
        self.by_name.get(name).cloned()
    }
}

/// Why the registry refused a configuration ([`Registry::configure`]) or
/// a new breaker ([`Registry::get_or_create`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistryError {
    /// The configuration is invalid.
    Invalid(ConfigError),
    /// The code's configuration and the operators' values registered for
    /// the breaker ([`override_config`](Registry::override_config), a
    /// configuration file) conflict: the problem names the operators' key,
    /// its value and where it came from.
    Conflict(ConfigProblem),
    /// A breaker of that name exists already: configuration must come
    /// before first use.
    AlreadyCreated {
        /// The breaker's name.
        name: String,
    },
    /// The registry holds its limit of breakers created on demand
    /// ([`Registry::set_max_dynamic`]), so `name` was not created.
    Full {
        /// The name refused.
        name: String,
        /// The limit.
        max: usize,
    },
}

impl fmt::Display for RegistryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegistryError::Invalid(e) => e.fmt(f),
            RegistryError::Conflict(problem) => problem.fmt(f),
            RegistryError::AlreadyCreated { name } => write!(
                f,
                "circuit breaker `{}` is already in use; register its configuration before its first call",
                Escaped(name)
            ),
            RegistryError::Full { name, max } => write!(
                f,
                "circuit breaker `{}` not created: the registry holds its limit of {max} breakers \
                 created on demand (Registry::set_max_dynamic); remove unused names with Registry::remove",
                Escaped(name)
            ),
        }
    }
}

impl std::error::Error for RegistryError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RegistryError::Invalid(e) => Some(e),
            RegistryError::Conflict(problem) => Some(problem),
            RegistryError::AlreadyCreated { .. } | RegistryError::Full { .. } => None,
        }
    }
}

impl From<ConfigError> for RegistryError {
    fn from(e: ConfigError) -> Self {
        RegistryError::Invalid(e)
    }
}

static REGISTRY: LazyLock<Registry> = LazyLock::new(Registry::new);

/// The process-wide registry.
pub fn registry() -> &'static Registry {
    &REGISTRY
}

impl Registry {
    /// An empty registry. Most programs use the global [`registry()`]; a
    /// separate one suits tests and libraries that keep their own breakers.
    pub fn new() -> Self {
        Self::default()
    }

    /// The breaker named `name`, if it exists.
    pub fn get(&self, name: &str) -> Option<Arc<CircuitBreaker>> {
        read(&self.breakers).get(name).cloned()
    }

    /// The breaker named `name`, created from `config` if it does not exist
    /// yet (or from the configuration registered for it, which wins), with
    /// the operators' values over it key by key. An existing breaker is
    /// returned unchanged and `config` is ignored.
    ///
    /// An invalid `config` is an error. An operators' value that conflicts
    /// with it is not: that value is refused, the breaker keeps `config`'s,
    /// and the refusal is listed by [`config_problems`](Self::config_problems).
    ///
    /// A breaker it creates is a *dynamic* one (its name may come from
    /// request data: a breaker per host or tenant): it counts toward
    /// [`set_max_dynamic`](Self::set_max_dynamic), which refuses a new name
    /// with [`RegistryError::Full`] once the limit is reached, and it may
    /// be evicted when idle ([`set_idle_eviction`](Self::set_idle_eviction)).
    pub fn get_or_create(
        &self,
        name: &str,
        config: Config,
    ) -> Result<Arc<CircuitBreaker>, RegistryError> {
        if let Some(existing) = self.get(name) {
            return Ok(existing);
        }
        self.create(Name::from(name), || config, true)
    }

    /// Creates the breaker `name` unless it exists: from the configuration
    /// registered for it or else `config` (the code's, which must be
    /// valid), then the operators' values, key by key, less those that
    /// conflict with the code's, which are listed. A `dynamic` breaker
    /// counts toward the limit, which may refuse it.
    fn create(
        &self,
        owned_name: Name,
        config: impl FnOnce() -> Config,
        dynamic: bool,
    ) -> Result<Arc<CircuitBreaker>, RegistryError> {
        let mut evicted = Vec::new();
        let mut contained = None;
        let created = self.create_locked(owned_name, config, dynamic, &mut evicted, &mut contained);
        // Outside the registry's locks: the store's `leave` is its code,
        // and a report may reach a subscriber that reads the registry.
        for (_, breaker) in evicted {
            breaker.leave_store();
        }
        if let (Ok(breaker), Some(contained)) = (&created, contained) {
            breaker.report(&contained);
        }
        created
    }

    fn create_locked(
        &self,
        owned_name: Name,
        config: impl FnOnce() -> Config,
        dynamic: bool,
        evicted: &mut Vec<(String, Arc<CircuitBreaker>)>,
        contained: &mut Option<crate::breaker::Contained>,
    ) -> Result<Arc<CircuitBreaker>, RegistryError> {
        let shared = owned_name.clone();
        let name: &str = &shared;
        let mut breakers = write(&self.breakers);
        // Another thread may have created it between our read and write.
        if let Some(existing) = breakers.get(name) {
            return Ok(Arc::clone(existing));
        }
        if dynamic {
            let mut bounds = lock(&self.dynamic);
            *evicted = bounds.sweep_if_due(&mut breakers);
            self.forget_problems(evicted.iter().map(|(name, _)| name.as_str()));
            if let Some(max) = bounds.max.filter(|&max| bounds.samples.len() >= max) {
                return Err(RegistryError::Full {
                    name: name.to_owned(),
                    max,
                });
            }
        }
        let configured = write(&self.configs).get_mut(name).map(|configured| {
            configured.used = true;
            configured.config.clone()
        });
        let code = configured.unwrap_or_else(config);
        code.validate().map_err(|e| e.for_breaker(name))?;
        let mut overrides = write(&self.overrides);
        overrides.mark_used(name);
        let (config, refused) = overrides.settle(name, code);
        drop(overrides);
        // A panic of the user's clock or store is contained and reported
        // by `create`, once the registry's locks are released.
        let (breaker, clock_panic) = CircuitBreaker::build(owned_name, config)?;
        *contained = clock_panic;
        let breaker = Arc::new(breaker);
        // Joined before anyone can find it: a call in between would be
        // admitted without asking a strict store.
        let store = read(&self.stores).for_config(breaker.config());
        if let Some(store) = store {
            let (_, join_panic) = breaker.join(&*store);
            if contained.is_none() {
                *contained = join_panic;
            }
        }
        breakers.insert(name.to_owned(), Arc::clone(&breaker));
        if dynamic {
            lock(&self.dynamic).created(name);
        }
        // Listed with the breaker, so that a `remove` cannot come between
        // and leave them listed for a breaker that is gone.
        let refused = self.list(refused);
        drop(breakers);
        for problem in &refused {
            observe::setting_refused(problem);
        }
        Ok(breaker)
    }

    /// Registers a shared state store under `name`. Breakers whose
    /// configuration names it ([`Config::store`], the attribute's
    /// `store = "..."`), or every breaker without a store of its own once
    /// it is the [default](Self::set_default_store), join it: those created
    /// from now on, and those that exist already. A breaker joins one store
    /// for its lifetime; registering a name again replaces the store for
    /// breakers created afterwards only.
    pub fn register_store(&self, name: &str, store: impl StateStore) {
        let store: Arc<dyn StateStore> = Arc::new(store);
        write(&self.stores).by_name.insert(name.to_owned(), store);
        self.join_existing();
    }

    /// Makes the store registered as `name` the one breakers use when their
    /// configuration names none ([`LOCAL_STORE`](crate::LOCAL_STORE) keeps
    /// a breaker local). It may be registered before or after this call.
    pub fn set_default_store(&self, name: &str) {
        write(&self.stores).default = Some(name.to_owned());
        self.join_existing();
    }

    /// Joins the existing breakers to the stores their configurations now
    /// resolve to.
    fn join_existing(&self) {
        // The breakers' lock before the stores', never inside it: `create`
        // reads the stores under the breakers' lock.
        let breakers = self.snapshot();
        let joins: Vec<_> = {
            let stores = read(&self.stores);
            breakers
                .into_iter()
                .filter(|breaker| !breaker.is_shared())
                .filter_map(|breaker| Some((stores.for_config(breaker.config())?, breaker)))
                .collect()
        };
        for (store, breaker) in joins {
            breaker.join_store(&*store);
        }
    }

    /// The breaker for an annotated function's first call, at `site`.
    ///
    /// Nothing here fails the call: an operators' value that conflicts with
    /// the code's configuration, or a `call_timeout` the function cannot
    /// enforce, is refused and listed. The attribute checked its literals
    /// at compile time and `configure` checks its configuration, so the
    /// code's configuration is valid; should it not be, the breaker is
    /// built from `Config::default()` and that is listed too.
    pub(crate) fn site_breaker(
        &self,
        name: &'static str,
        config: fn() -> Config,
        site: &At,
    ) -> Arc<CircuitBreaker> {
        let breaker = match self.get(name) {
            Some(existing) => existing,
            // A `&'static str` name: rejections copy it instead of counting
            // references to a shared string, however long it is.
            None => match self.create(Name::from_static(name), config, false) {
                Ok(breaker) => breaker,
                Err(error) => {
                    // `create` refuses no name of an annotated function
                    // (only dynamic ones count toward the limit): the code's
                    // configuration was invalid.
                    if let RegistryError::Invalid(error) = &error {
                        self.refuse(vec![site.invalid_code(error)]);
                    }
                    match self.create(Name::from_static(name), Config::default, false) {
                        Ok(breaker) => breaker,
                        Err(_) => unreachable!("the default configuration is valid"),
                    }
                }
            },
        };
        // The breaker keeps its `call_timeout` whoever created it: another
        // function sharing the name may enforce it. This one's refusal, or
        // the loss of its own value to the breaker's, is listed.
        let after = breaker.config().settings().call_timeout;
        let refused = match after {
            Some(after) => {
                let origin = self.call_timeout_origin(name);
                site.call_timeout_refused(name, after, &origin)
            }
            None => None,
        };
        let lost = match self.site_call_timeout(name, config) {
            Some(own) if after != Some(own) => Some(site.call_timeout_lost(name, own, after)),
            _ => None,
        };
        self.refuse(refused.into_iter().chain(lost).collect());
        breaker
    }

    /// Where the `call_timeout` of the breaker `name` came from, as far as
    /// the registry knows: the operators' value, `configure`'s, or else the
    /// code of whichever first created the breaker.
    fn call_timeout_origin(&self, name: &str) -> String {
        if let Some(origin) = read(&self.overrides).origin(name, "call_timeout") {
            return origin;
        }
        if read(&self.configs).contains_key(name) {
            return "Registry::configure".to_owned();
        }
        "the breaker's configuration".to_owned()
    }

    /// The `call_timeout` an annotated function whose attribute gives
    /// `config` would have created the breaker `name` with: the configured
    /// configuration's or its own, under the operators' values.
    fn site_call_timeout(&self, name: &str, config: fn() -> Config) -> Option<Duration> {
        let configured = read(&self.configs)
            .get(name)
            .map(|configured| configured.config.clone());
        let code = configured.unwrap_or_else(config);
        code.validate().ok()?;
        let (config, _) = read(&self.overrides).settle(name, code);
        config.settings.call_timeout
    }

    /// The settings refused when breakers were created, oldest first: an
    /// operators' value (a configuration file, an environment variable,
    /// [`override_config`](Self::override_config)) that conflicts with the
    /// code's configuration, when that conflict could not be reported
    /// earlier; a `call_timeout` that an annotated function cannot
    /// enforce (a sync function, or an error type without
    /// `From<breakerbox::TimedOut>`); and an annotated `async fn`'s own
    /// `call_timeout` that did not take effect because another function
    /// sharing its name (or `get_or_create`) created the breaker first
    /// with another value or none. Each was also logged as a `tracing`
    /// warning under the target `breakerbox`.
    ///
    /// Each problem is listed once, for as long as its breaker is in the
    /// registry: [`remove`](Self::remove) and idle eviction drop a
    /// breaker's problems with it, so that names created on demand do not
    /// pile them up. A name created again lists (and logs) its problems
    /// again.
    ///
    /// For a conflict, the breaker was created without the refused value:
    /// it keeps the code's value of that key. A `call_timeout` a function
    /// cannot enforce stays in the breaker's configuration, for the
    /// functions sharing the name that can: only the function named in
    /// the problem runs its calls without it.
    pub fn config_problems(&self) -> Vec<ConfigProblem> {
        read(&self.problems).clone()
    }

    /// The settings registered for names that no breaker of this registry
    /// has been created with, sorted by name and origin: a configuration
    /// file's table, environment variables, [`override_config`](Self::override_config)
    /// or [`configure`](Self::configure) for a name that is misspelled, or
    /// whose breaker is not used yet (an annotated function's breaker is
    /// created at its first call). Settings stay used once a breaker of
    /// their name has been created, even after it is removed or evicted.
    ///
    /// Nothing else reports them: a setting for a name never created has
    /// no effect. Look at the list once the application is up (after its
    /// warm-up, when every breaker it uses has had a call), with
    /// [`warn_unused_configurations`](Self::warn_unused_configurations),
    /// which also logs it, or in [`status_json`](Self::status_json)
    /// (feature `serde`).
    ///
    /// ```
    /// use breakerbox::{Config, Registry};
    ///
    /// let registry = Registry::new();
    /// registry.configure("inventory", Config::default().max_failures(3)).unwrap();
    /// assert_eq!(registry.unused_configurations()[0].name(), "inventory");
    /// registry.get_or_create("inventory", Config::default()).unwrap();
    /// assert!(registry.unused_configurations().is_empty());
    /// ```
    pub fn unused_configurations(&self) -> Vec<UnusedConfiguration> {
        let mut unused = read(&self.overrides).unused();
        unused.extend(
            read(&self.configs)
                .iter()
                .filter(|(_, configured)| !configured.used)
                .map(|(name, _)| UnusedConfiguration::new(name, "Registry::configure")),
        );
        unused.sort();
        unused.dedup();
        unused
    }

    /// [`unused_configurations`](Self::unused_configurations), each also
    /// logged as a `tracing` warning under the target `breakerbox` (with the
    /// fields `breaker` and `origin`). Call it once the application is up,
    /// when every breaker it uses has been created:
    ///
    /// ```
    /// # #[cfg(feature = "toml")] fn main() -> Result<(), breakerbox::FileConfigError> {
    /// breakerbox::ConfigFile::parse("breakers.toml", "[paymnets]\ntimeout = \"5s\"\n")?
    ///     .apply(breakerbox::registry())?;
    /// // ... start the application; once it has served its first requests:
    /// let unused = breakerbox::registry().warn_unused_configurations();
    /// assert_eq!(unused[0].name(), "paymnets");
    /// # Ok(()) }
    /// # #[cfg(not(feature = "toml"))] fn main() {}
    /// ```
    pub fn warn_unused_configurations(&self) -> Vec<UnusedConfiguration> {
        let unused = self.unused_configurations();
        for configuration in &unused {
            observe::unused_configuration(configuration);
        }
        unused
    }

    /// Lists and logs `problems`, those not listed already.
    fn refuse(&self, problems: Vec<ConfigProblem>) {
        for problem in &self.list(problems) {
            observe::setting_refused(problem);
        }
    }

    /// Lists those of `problems` not listed already, and returns them.
    fn list(&self, mut problems: Vec<ConfigProblem>) -> Vec<ConfigProblem> {
        if problems.is_empty() {
            return problems;
        }
        let mut listed = write(&self.problems);
        problems.retain(|problem| {
            let new = !listed.contains(problem);
            if new {
                listed.push(problem.clone());
            }
            new
        });
        problems
    }

    /// Drops the problems listed for the breakers `names`, which are
    /// leaving the registry: the list describes the registry's breakers,
    /// and stays as bounded as they are.
    fn forget_problems<'a>(&self, names: impl IntoIterator<Item = &'a str>) {
        let mut names = names.into_iter().peekable();
        if names.peek().is_none() {
            return;
        }
        let names: std::collections::HashSet<&str> = names.collect();
        write(&self.problems).retain(|problem| !names.contains(problem.breaker()));
    }

    /// Registers the configuration the breaker `name` will be created with,
    /// before its first use. It wins over an attribute's literals and over
    /// the `config` given to [`get_or_create`](Self::get_or_create).
    ///
    /// The operators' values registered for `name` before (a configuration
    /// file, [`override_config`](Self::override_config)) will be merged
    /// over it: one that conflicts with it is an error,
    /// [`RegistryError::Conflict`], naming that value and where it came
    /// from.
    pub fn configure(&self, name: &str, config: Config) -> Result<(), RegistryError> {
        config.validate().map_err(|e| e.for_breaker(name))?;
        // Hold the breakers' lock so that no breaker of this name is
        // created between the check and the insert.
        let _breakers = self.not_created(name)?;
        let (_, conflicts) = read(&self.overrides).settle(name, config.clone());
        if let Some(conflict) = conflicts.into_iter().next() {
            return Err(RegistryError::Conflict(conflict));
        }
        let configured = Configured {
            config,
            used: false,
        };
        write(&self.configs).insert(name.to_owned(), configured);
        Ok(())
    }

    /// The breakers' lock, held so that no breaker of `name` is created
    /// until it is released, if none is yet.
    fn not_created(
        &self,
        name: &str,
    ) -> Result<std::sync::RwLockWriteGuard<'_, HashMap<String, Arc<CircuitBreaker>>>, RegistryError>
    {
        let breakers = write(&self.breakers);
        if breakers.contains_key(name) {
            return Err(RegistryError::AlreadyCreated {
                name: name.to_owned(),
            });
        }
        Ok(breakers)
    }

    /// Registers operators' values for the breaker `name`, before its first
    /// use: each key set in `partial` replaces the same key of the
    /// configuration the code gives (the attribute's literals,
    /// `get_or_create`'s argument, or [`configure`](Self::configure)'s),
    /// and the other keys stay as the code says; a window replaces the
    /// code's window (see [`PartialConfig`]). Called again for the same
    /// name, the later values win key by key.
    ///
    /// When `name` is [`configure`](Self::configure)d, the merge is checked
    /// now: a value that conflicts with the configured configuration is an
    /// error, [`RegistryError::Conflict`]. Otherwise the code's
    /// configuration is known only when the breaker is created; a value
    /// that conflicts with it is then refused and listed by
    /// [`config_problems`](Self::config_problems).
    ///
    /// ```
    /// use breakerbox::{Config, PartialConfig, Registry};
    /// use std::time::Duration;
    ///
    /// let registry = Registry::new();
    /// let mut ops = PartialConfig::new();
    /// ops.set("timeout", "5s").unwrap();
    /// registry.override_config("db", ops).unwrap();
    ///
    /// let db = registry.get_or_create("db", Config::default().max_failures(2)).unwrap();
    /// assert_eq!(db.config().settings().timeout, Duration::from_secs(5));
    /// assert_eq!(db.config().settings().max_failures, Some(2));
    /// ```
    pub fn override_config(&self, name: &str, partial: PartialConfig) -> Result<(), RegistryError> {
        partial.validate().map_err(|e| e.for_breaker(name))?;
        let layer = Layer::new(partial, "Registry::override_config");
        self.add_overrides(vec![(Target::Name(name.to_owned()), layer)])
            .map_err(|(_, e)| e)
    }

    /// Registers every entry's values, or none: `Err` says which entry was
    /// refused (by index) and why. An entry is refused when a breaker it
    /// is for exists, or when its values conflict with a configured
    /// breaker's configuration.
    pub(crate) fn add_overrides(
        &self,
        entries: Vec<(Target, Layer)>,
    ) -> Result<(), (usize, RegistryError)> {
        // Held throughout, so that no breaker is created meanwhile.
        let breakers = write(&self.breakers);
        for (index, (target, _)) in entries.iter().enumerate() {
            if let Some(name) = breakers.keys().find(|name| target.is_for(name)) {
                let name = name.clone();
                return Err((index, RegistryError::AlreadyCreated { name }));
            }
        }
        let configs = read(&self.configs);
        let mut overrides = write(&self.overrides);
        let mut pending = overrides.clone();
        for (target, layer) in &entries {
            pending.add(target, layer);
        }
        for (name, Configured { config: code, .. }) in configs.iter() {
            let Some(index) = entries.iter().position(|(target, _)| target.is_for(name)) else {
                continue;
            };
            let (_, conflicts) = pending.settle(name, code.clone());
            if let Some(conflict) = conflicts.into_iter().next() {
                return Err((index, RegistryError::Conflict(conflict)));
            }
        }
        *overrides = pending;
        Ok(())
    }

    /// The names of all breakers, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = read(&self.breakers).keys().cloned().collect();
        names.sort();
        names
    }

    /// The stats of every breaker, sorted by name.
    pub fn stats_all(&self) -> Vec<Stats> {
        let mut stats: Vec<Stats> = self.snapshot().iter().map(|cb| cb.stats()).collect();
        stats.sort_by(|a, b| a.name.cmp(&b.name));
        stats
    }

    /// Resets every breaker.
    pub fn reset_all(&self) {
        for cb in self.snapshot() {
            cb.reset();
        }
    }

    /// Removes the breaker `name` and forgets what the code registered for
    /// the name: the breaker leaves its shared store (which stops sending
    /// its outcomes and polling its state), and the configuration
    /// [`configure`](Self::configure)d for the name is dropped. Returns the
    /// breaker, if there was one. The operators' values for the name (a
    /// configuration file, environment variables) stay: they were written
    /// for the name, and apply again if it comes back.
    ///
    /// The problems [`config_problems`](Self::config_problems) lists for
    /// the breaker are dropped with it.
    ///
    /// The name is free again: [`configure`](Self::configure) works, and
    /// the next [`get_or_create`](Self::get_or_create) creates a new
    /// breaker, closed, with fresh counts.
    ///
    /// Whoever still holds the removed breaker keeps a working, now local,
    /// breaker that the registry no longer lists ([`names`](Self::names),
    /// [`stats_all`](Self::stats_all), [`reset_all`](Self::reset_all)). That
    /// includes an annotated function, which keeps the breaker it took on
    /// its first call for the life of the process: after its name is
    /// removed it goes on with that breaker, and a new breaker of the same
    /// name (from `get_or_create`) is another one, which the function does
    /// not see. So remove names created on demand, not annotated
    /// functions' names.
    ///
    /// Metrics (feature `metrics`): the `metrics` facade cannot delete a
    /// series, so the removed breaker's series stay at their last values
    /// until the exporter drops them (metrics-exporter-prometheus:
    /// `PrometheusBuilder::idle_timeout`).
    ///
    /// ```
    /// use breakerbox::{Config, Registry};
    ///
    /// let registry = Registry::new();
    /// let host = registry.get_or_create("host-203.0.113.7", Config::default()).unwrap();
    /// let removed = registry.remove("host-203.0.113.7").unwrap();
    /// assert!(std::sync::Arc::ptr_eq(&host, &removed));
    /// assert!(registry.names().is_empty());
    /// ```
    pub fn remove(&self, name: &str) -> Option<Arc<CircuitBreaker>> {
        let removed = {
            let mut breakers = write(&self.breakers);
            let removed = breakers.remove(name);
            write(&self.configs).remove(name);
            self.forget_problems([name]);
            lock(&self.dynamic).samples.remove(name);
            removed
        };
        if let Some(breaker) = &removed {
            breaker.leave_store();
        }
        removed
    }

    /// Limits the breakers [`get_or_create`](Self::get_or_create) creates
    /// (and so the `tower` feature's `CircuitBreakerLayer::named`): while
    /// `max` of them are in the registry, a new name is refused with
    /// [`RegistryError::Full`] (after evicting idle ones, with
    /// [`set_idle_eviction`](Self::set_idle_eviction)). Existing names are
    /// still returned. `None` (the default) sets no limit. Lowering it
    /// below the current count removes nothing; it refuses new names until
    /// enough are removed or evicted.
    ///
    /// Annotated functions' breakers are neither counted nor refused:
    /// their number is fixed by the code, and a function has no way to
    /// report a refusal.
    ///
    /// ```
    /// use breakerbox::{Config, Registry, RegistryError};
    ///
    /// let registry = Registry::new();
    /// registry.set_max_dynamic(Some(1));
    /// registry.get_or_create("tenant-1", Config::default()).unwrap();
    /// let refused = registry.get_or_create("tenant-2", Config::default());
    /// assert!(matches!(refused, Err(RegistryError::Full { max: 1, .. })));
    /// ```
    pub fn set_max_dynamic(&self, max: Option<usize>) {
        lock(&self.dynamic).max = max;
    }

    /// Evicts breakers created by [`get_or_create`](Self::get_or_create)
    /// once no call has reached them for `after`, as
    /// [`remove`](Self::remove) would, but keeping the name's registered
    /// configuration: a name that comes back gets a new breaker built as
    /// the first one was. `None` (the default) evicts nothing.
    ///
    /// A breaker is evicted only if nothing but the registry holds it (a
    /// caller's `Arc`, a tower layer, an annotated function all keep it),
    /// and never while forced open or disabled, nor while open before its
    /// open period ends: choose `after` longer than the longest open
    /// period you configure, so that a dead dependency's breaker is not
    /// replaced by a closed one.
    ///
    /// There is no background thread: a new name sweeps when a breaker may
    /// have been idle long enough (at most every eighth of `after`), and
    /// [`evict_idle`](Self::evict_idle) sweeps on demand. A sweep reads a
    /// few atomic counters per breaker created on demand and takes no
    /// breaker's lock. Idle time is measured with the registry's
    /// [clock](Self::set_clock), as the calls counted between two sweeps:
    /// a breaker goes at the first sweep that finds no new call since a
    /// sweep (or its creation) at least `after` earlier.
    pub fn set_idle_eviction(&self, after: Option<Duration>) {
        let mut bounds = lock(&self.dynamic);
        bounds.idle_after = after;
        // The next new name sweeps, whatever the earlier setting planned.
        bounds.next_sweep = Duration::ZERO;
    }

    /// The clock idle eviction measures with: [`SystemClock`] unless set
    /// (a [`ManualClock`](crate::ManualClock) makes eviction testable).
    /// Set it before the breakers it measures are created.
    pub fn set_clock(&self, clock: impl Clock + 'static) {
        let mut bounds = lock(&self.dynamic);
        bounds.clock = Arc::new(clock);
        let now = bounds.now().unwrap_or(Duration::MAX);
        for sample in bounds.samples.values_mut() {
            sample.since = now;
        }
        bounds.next_sweep = Duration::ZERO;
    }

    /// Evicts now the breakers idle for the time set with
    /// [`set_idle_eviction`](Self::set_idle_eviction) (nothing without
    /// it), and returns their names, sorted. For a timer of your own;
    /// new names also sweep by themselves.
    pub fn evict_idle(&self) -> Vec<String> {
        let evicted = {
            let mut breakers = write(&self.breakers);
            let evicted = lock(&self.dynamic).sweep(&mut breakers);
            self.forget_problems(evicted.iter().map(|(name, _)| name.as_str()));
            evicted
        };
        let mut names: Vec<String> = evicted
            .into_iter()
            .map(|(name, breaker)| {
                breaker.leave_store();
                name
            })
            .collect();
        names.sort();
        names
    }

    /// The breakers, copied out so that no registry lock is held while
    /// they run listeners (which may call back into the registry).
    fn snapshot(&self) -> Vec<Arc<CircuitBreaker>> {
        read(&self.breakers).values().cloned().collect()
    }
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("names", &self.names())
            .finish()
    }
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A breaker's name as environment variables spell it: ASCII letters
/// upper-cased, digits kept, every other character `_` (`orders-db` and
/// `orders.db` are both `ORDERS_DB`).
pub(crate) fn env_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annotated_functions_breakers_are_neither_refused_nor_counted_by_the_limit() {
        let registry = Registry::new();
        registry.set_max_dynamic(Some(1));
        let at = At::new(|| "tests::site::marker", None);
        registry.site_breaker("site-a", Config::default, &at);
        registry.site_breaker("site-b", Config::default, &at);
        registry
            .get_or_create("host-a", Config::default())
            .expect("the sites took none of the limit");
        assert_eq!(registry.names(), ["host-a", "site-a", "site-b"]);
    }
}
