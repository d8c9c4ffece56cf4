//! The process-wide registry of named breakers (the group API).

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, LazyLock, RwLock};

use crate::breaker::CircuitBreaker;
use crate::config::{Config, ConfigError, LOCAL_STORE};
use crate::error::Name;
use crate::observe;
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
/// use breaker::{registry, Config};
///
/// registry().configure("doc-registry", Config::default().max_failures(2)).unwrap();
/// let cb = registry().get_or_create("doc-registry", Config::default()).unwrap();
/// assert_eq!(cb.config().get_max_failures(), Some(2));
/// assert!(registry().names().contains(&"doc-registry".to_string()));
/// ```
#[derive(Default)]
pub struct Registry {
    breakers: RwLock<HashMap<String, Arc<CircuitBreaker>>>,
    configs: RwLock<HashMap<String, Config>>,
    /// Operators' values by breaker name (a configuration file), merged
    /// key by key over the code's configuration.
    overrides: RwLock<HashMap<String, PartialConfig>>,
    /// Operators' values by normalized name (environment variables, whose
    /// names cannot spell every breaker name), merged after `overrides`.
    env_overrides: RwLock<HashMap<String, PartialConfig>>,
    /// Shared state stores by name, and the one breakers use when their
    /// configuration names none.
    stores: RwLock<Stores>,
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
        let name = config.get_store().or(self.default.as_deref())?;
        if name == LOCAL_STORE {
            return None;
        }
        self.by_name.get(name).cloned()
    }
}

/// Why [`Registry::configure`] refused a configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistryError {
    /// The configuration is invalid.
    Invalid(ConfigError),
    /// A breaker of that name exists already: configuration must come
    /// before first use.
    AlreadyCreated {
        /// The breaker's name.
        name: String,
    },
}

impl fmt::Display for RegistryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegistryError::Invalid(e) => e.fmt(f),
            RegistryError::AlreadyCreated { name } => write!(
                f,
                "circuit breaker `{name}` is already in use; register its configuration before its first call"
            ),
        }
    }
}

impl std::error::Error for RegistryError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RegistryError::Invalid(e) => Some(e),
            RegistryError::AlreadyCreated { .. } => None,
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
    /// yet (or from the configuration registered for `name`, which wins).
    /// An existing breaker is returned unchanged and `config` is ignored.
    pub fn get_or_create(
        &self,
        name: &str,
        config: Config,
    ) -> Result<Arc<CircuitBreaker>, ConfigError> {
        if let Some(existing) = self.get(name) {
            return Ok(existing);
        }
        self.create(Name::from(name.to_owned()), || config, true)
    }

    /// Creates the breaker `name` unless it exists: from the configuration
    /// registered for it or else `config`, then (with `overridden`) the
    /// operators' values, key by key.
    fn create(
        &self,
        owned_name: Name,
        config: impl FnOnce() -> Config,
        overridden: bool,
    ) -> Result<Arc<CircuitBreaker>, ConfigError> {
        let shared = owned_name.clone();
        let name: &str = &shared;
        let mut breakers = write(&self.breakers);
        // Another thread may have created it between our read and write.
        if let Some(existing) = breakers.get(name) {
            return Ok(Arc::clone(existing));
        }
        let mut config = read(&self.configs)
            .get(name)
            .cloned()
            .unwrap_or_else(config);
        if overridden {
            if let Some(file) = read(&self.overrides).get(name) {
                config = file.apply(config);
            }
            if let Some(env) = read(&self.env_overrides).get(&env_name(name)) {
                config = env.apply(config);
            }
        }
        let breaker = Arc::new(CircuitBreaker::new(owned_name, config)?);
        // Joined before anyone can find it: a call in between would be
        // admitted without asking a strict store.
        let store = read(&self.stores).for_config(breaker.config());
        if let Some(store) = store {
            breaker.join_store(&*store);
        }
        breakers.insert(name.to_owned(), Arc::clone(&breaker));
        drop(breakers);
        observe::created(name, breaker.state());
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

    /// The breaker for an annotated function's first call. The attribute
    /// checked its literals at compile time, so the fallback to the default
    /// configuration is only a guard: it never panics.
    pub(crate) fn site_breaker(
        &self,
        name: &'static str,
        config: fn() -> Config,
    ) -> Arc<CircuitBreaker> {
        if let Some(existing) = self.get(name) {
            return existing;
        }
        // A `&'static str` name: rejections copy it instead of counting
        // references to a shared string.
        match self.create(Name::from(name), config, true) {
            Ok(breaker) => breaker,
            Err(error) => {
                eprintln!("breaker: {error}; using the default configuration");
                self.create(Name::from(name), Config::default, false)
                    .unwrap_or_else(|_| unreachable!("the default configuration is valid"))
            }
        }
    }

    /// Registers the configuration the breaker `name` will be created with,
    /// before its first use. It wins over an attribute's literals and over
    /// the `config` given to [`get_or_create`](Self::get_or_create).
    pub fn configure(&self, name: &str, config: Config) -> Result<(), RegistryError> {
        config.validate().map_err(|e| e.for_breaker(name))?;
        // Hold the breakers' lock so that no breaker of this name is
        // created between the check and the insert.
        let _breakers = self.not_created(name)?;
        write(&self.configs).insert(name.to_owned(), config);
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
    /// and the other keys stay as the code says. Called again for the same
    /// name, the later values win key by key.
    ///
    /// ```
    /// use breaker::{Config, PartialConfig, Registry};
    /// use std::time::Duration;
    ///
    /// let registry = Registry::new();
    /// let mut ops = PartialConfig::new();
    /// ops.set("timeout", "5s").unwrap();
    /// registry.override_config("db", ops).unwrap();
    ///
    /// let db = registry.get_or_create("db", Config::default().max_failures(2)).unwrap();
    /// assert_eq!(db.config().get_timeout(), Duration::from_secs(5));
    /// assert_eq!(db.config().get_max_failures(), Some(2));
    /// ```
    pub fn override_config(&self, name: &str, partial: PartialConfig) -> Result<(), RegistryError> {
        partial.validate().map_err(|e| e.for_breaker(name))?;
        let _breakers = self.not_created(name)?;
        write(&self.overrides)
            .entry(name.to_owned())
            .or_default()
            .merge(&partial);
        Ok(())
    }

    /// Like [`override_config`](Self::override_config), for the breakers
    /// whose [normalized name](env_name) is `normalized`: environment
    /// variables' values, applied after the file's.
    #[cfg(feature = "toml")]
    pub(crate) fn override_normalized(
        &self,
        normalized: &str,
        partial: PartialConfig,
    ) -> Result<(), RegistryError> {
        partial.validate()?;
        let breakers = write(&self.breakers);
        if let Some(name) = breakers.keys().find(|name| env_name(name) == normalized) {
            return Err(RegistryError::AlreadyCreated { name: name.clone() });
        }
        write(&self.env_overrides)
            .entry(normalized.to_owned())
            .or_default()
            .merge(&partial);
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
