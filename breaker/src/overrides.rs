//! Operators' values for the registry's breakers (a configuration file,
//! environment variables, `Registry::override_config`), where each came
//! from, and how they settle over the code's configuration.
//!
//! Every key is checked on its own when it is read. A rule that ties an
//! operator's key to one the code sets (`backoff_max` at least `timeout`;
//! `max_failures = "off"` only where a rate or the code's `trip_when` is
//! left to trip the breaker) can only be judged against the code's configuration, once it is known:
//! when the values are registered (if the breaker is `configure`d), when a
//! configuration is registered after them, or else when the breaker is
//! created. There, a value that conflicts is refused and the breaker keeps
//! the code's value for that key: the refusal is listed by
//! [`Registry::config_problems`](crate::Registry::config_problems) and
//! logged, never silent.

use std::collections::{HashMap, HashSet};
use std::fmt;

use crate::config::{Config, ConfigError};
use crate::error::Escaped;
use crate::partial::{PartialConfig, OFF};
use crate::registry::env_name;

/// A setting the registry refused when it created a breaker: the operators'
/// value that conflicts with the code's configuration, or a `call_timeout`
/// that the function using the breaker cannot enforce. Which breaker, which
/// key and value, where the value came from and why it was refused.
///
/// ```
/// use breakerbox::{Config, PartialConfig, Registry};
/// use std::time::Duration;
///
/// let registry = Registry::new();
/// let mut ops = PartialConfig::new();
/// ops.set("timeout", "5m").unwrap();
/// registry.override_config("db", ops).unwrap();
///
/// // The code caps the backoff below the operators' timeout: their value is
/// // refused, the code's kept, and the refusal listed.
/// let code = Config::default().backoff_multiplier(2.0).backoff_max(Duration::from_secs(120));
/// let db = registry.get_or_create("db", code).unwrap();
/// assert_eq!(db.config().settings().timeout, Duration::from_secs(60));
/// let problem = &registry.config_problems()[0];
/// assert_eq!((problem.breaker(), problem.key()), ("db", "timeout"));
/// assert_eq!(
///     problem.to_string(),
///     "Registry::override_config: circuit breaker `db`: `timeout` = \"5m\": conflicts with the code's `backoff_max` = 120s: must be at least `timeout`"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    breaker: String,
    key: &'static str,
    value: String,
    origin: String,
    reason: String,
}

impl ConfigProblem {
    pub(crate) fn new(
        breaker: &str,
        key: &'static str,
        value: String,
        origin: &str,
        reason: String,
    ) -> Self {
        ConfigProblem {
            breaker: breaker.to_owned(),
            key,
            value,
            origin: origin.to_owned(),
            reason,
        }
    }

    /// The operators' value `key` of `values`, which conflicts with the
    /// code's configuration as `error` says.
    fn conflict(
        breaker: &str,
        key: &'static str,
        layer: &Layer,
        values: &PartialConfig,
        error: &ConfigError,
    ) -> Self {
        let reason = if error.field() == key {
            format!(
                "conflicts with the code's configuration: {}",
                error.reason()
            )
        } else {
            format!(
                "conflicts with the code's `{}` = {}: {}",
                error.field(),
                error.value(),
                error.reason()
            )
        };
        let value = values.written(key).unwrap_or_default();
        Self::new(breaker, key, value, layer.origin(key), reason)
    }

    /// The breaker's name.
    pub fn breaker(&self) -> &str {
        &self.breaker
    }

    /// The key, spelled as the attribute's and the file's.
    pub fn key(&self) -> &str {
        self.key
    }

    /// The value, as a file would write it (`3`, `"30s"`).
    pub fn value(&self) -> &str {
        &self.value
    }

    /// Where the value came from: the file's path, `environment variable
    /// BREAKER_DB__TIMEOUT`, `Registry::override_config` or
    /// `Registry::configure`.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Why it was refused.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: circuit breaker `{}`: `{}` = {}: {}",
            Escaped(&self.origin),
            Escaped(&self.breaker),
            self.key,
            Escaped(&self.value),
            Escaped(&self.reason)
        )
    }
}

impl std::error::Error for ConfigProblem {}

/// Settings registered for a breaker name that no breaker of the registry
/// has been created with: a file's table or an environment variable for a
/// misspelled name (`[paymnets]`, `BREAKER_PAYMNETS__TIMEOUT`), or a name
/// whose breaker is not used yet. Listed by
/// [`Registry::unused_configurations`](crate::Registry::unused_configurations).
///
/// ```
/// use breakerbox::{Config, PartialConfig, Registry};
///
/// let registry = Registry::new();
/// let mut ops = PartialConfig::new();
/// ops.set("timeout", "5s").unwrap();
/// registry.override_config("paymnets", ops).unwrap();
/// registry.get_or_create("payments", Config::default()).unwrap();
///
/// let unused = &registry.unused_configurations()[0];
/// assert_eq!((unused.name(), unused.origin()), ("paymnets", "Registry::override_config"));
/// assert_eq!(
///     unused.to_string(),
///     "Registry::override_config: circuit breaker `paymnets`: configured, but no breaker of that name has been created"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UnusedConfiguration {
    name: String,
    origin: String,
}

impl UnusedConfiguration {
    pub(crate) fn new(name: &str, origin: &str) -> Self {
        UnusedConfiguration {
            name: name.to_owned(),
            origin: origin.to_owned(),
        }
    }

    /// The name the settings are for: as the file or the code wrote it, or
    /// as an environment variable spells it (`PAYMNETS`, which is the name
    /// of every breaker whose name upper-cases to it).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Where the settings came from: the file's path, `environment
    /// variable BREAKER_PAYMNETS__TIMEOUT`, `Registry::override_config` or
    /// `Registry::configure`.
    pub fn origin(&self) -> &str {
        &self.origin
    }
}

impl fmt::Display for UnusedConfiguration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: circuit breaker `{}`: configured, but no breaker of that name has been created",
            Escaped(&self.origin),
            Escaped(&self.name)
        )
    }
}

/// Operators' values for one breaker, each key with where it came from.
#[derive(Debug, Clone, Default)]
pub(crate) struct Layer {
    values: PartialConfig,
    origins: Vec<(&'static str, String)>,
}

impl Layer {
    /// `values`, all from `origin`.
    pub(crate) fn new(values: PartialConfig, origin: &str) -> Self {
        let origins = values
            .set_keys()
            .map(|key| (key, origin.to_owned()))
            .collect();
        Layer { values, origins }
    }

    /// `values`, each key from its own origin in `origins`.
    #[cfg_attr(not(feature = "toml"), allow(dead_code))]
    pub(crate) fn with_origins(
        values: PartialConfig,
        origins: Vec<(&'static str, String)>,
    ) -> Self {
        Layer { values, origins }
    }

    /// Where `key`'s value came from.
    fn origin(&self, key: &str) -> &str {
        self.origins
            .iter()
            .find(|(k, _)| *k == key)
            .map_or("", |(_, origin)| origin.as_str())
    }

    /// Where its values came from, each once.
    fn origins(&self) -> impl Iterator<Item = &str> {
        let mut seen = HashSet::new();
        self.origins
            .iter()
            .map(|(_, origin)| origin.as_str())
            .filter(move |origin| seen.insert(*origin))
    }

    /// `other`'s keys replace this layer's.
    fn merge(&mut self, other: &Layer) {
        self.values.merge(&other.values);
        for (key, origin) in &other.origins {
            self.origins.retain(|(k, _)| k != key);
            self.origins.push((key, origin.clone()));
        }
        let values = &self.values;
        self.origins.retain(|(key, _)| values.is_set(key));
    }
}

/// Which breakers a layer is for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Target {
    /// The breaker of this name (a file's table, `override_config`).
    Name(String),
    /// Every breaker whose [normalized name](env_name) this is (an
    /// environment variable, whose name cannot spell every breaker name).
    #[cfg_attr(not(feature = "toml"), allow(dead_code))]
    EnvName(String),
}

impl Target {
    /// Whether this is the target of the breaker `name`.
    pub(crate) fn is_for(&self, name: &str) -> bool {
        match self {
            Target::Name(target) => target == name,
            Target::EnvName(target) => *target == env_name(name),
        }
    }
}

/// The operators' values of every breaker.
#[derive(Debug, Clone, Default)]
pub(crate) struct Overrides {
    by_name: HashMap<String, Layer>,
    /// Applied after `by_name`: environment variables win over the file.
    by_env_name: HashMap<String, Layer>,
    /// The keys of `by_name` and `by_env_name` a breaker has been created
    /// with: never more than those maps hold, whatever names requests
    /// bring.
    used: HashSet<Target>,
}

impl Overrides {
    /// Adds `layer` for `target`; its keys win over those registered
    /// before.
    pub(crate) fn add(&mut self, target: &Target, layer: &Layer) {
        let (map, key) = match target {
            Target::Name(name) => (&mut self.by_name, name),
            Target::EnvName(name) => (&mut self.by_env_name, name),
        };
        map.entry(key.clone()).or_default().merge(layer);
    }

    /// Notes that the breaker `name` is being created: the values for it
    /// are used.
    pub(crate) fn mark_used(&mut self, name: &str) {
        if self.by_name.contains_key(name) {
            self.used.insert(Target::Name(name.to_owned()));
        }
        if !self.by_env_name.is_empty() {
            let env = env_name(name);
            if self.by_env_name.contains_key(&env) {
                self.used.insert(Target::EnvName(env));
            }
        }
    }

    /// The values no breaker has been created with, by name and origin.
    pub(crate) fn unused(&self) -> Vec<UnusedConfiguration> {
        let by_name = self
            .by_name
            .iter()
            .map(|(name, layer)| (Target::Name(name.clone()), name, layer));
        let by_env_name = self
            .by_env_name
            .iter()
            .map(|(name, layer)| (Target::EnvName(name.clone()), name, layer));
        by_name
            .chain(by_env_name)
            .filter(|(target, _, _)| !self.used.contains(target))
            .flat_map(|(_, name, layer)| {
                layer
                    .origins()
                    .map(|origin| UnusedConfiguration::new(name, origin))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// The operators' values for the breaker `name`: the file's, then the
    /// environment's over them.
    pub(crate) fn layer(&self, name: &str) -> Option<Layer> {
        let file = self.by_name.get(name);
        let env = self.by_env_name.get(&env_name(name));
        let mut layer = file.or(env)?.clone();
        if let (Some(_), Some(env)) = (file, env) {
            layer.merge(env);
        }
        Some(layer)
    }

    /// Where the operators' value of `key` for the breaker `name` came
    /// from, if they set it.
    pub(crate) fn origin(&self, name: &str, key: &str) -> Option<String> {
        let layer = self.layer(name)?;
        layer
            .values
            .is_set(key)
            .then(|| layer.origin(key).to_owned())
    }

    /// The code's configuration for `name` with the operators' values over
    /// it, less the values that conflict with it, which are returned as
    /// problems. `code` must be valid.
    pub(crate) fn settle(&self, name: &str, code: Config) -> (Config, Vec<ConfigProblem>) {
        let Some(layer) = self.layer(name) else {
            return (code, Vec::new());
        };
        let mut values = layer.values.clone();
        let mut problems = Vec::new();
        loop {
            let config = values.apply(code.clone());
            let Err(error) = check(&config, &values, &code) else {
                return (config, problems);
            };
            // Each turn refuses one value; the code's own configuration,
            // reached when every value is refused, is valid.
            let Some(key) = blame(&values, &code, &error) else {
                return (code, problems);
            };
            problems.push(ConfigProblem::conflict(name, key, &layer, &values, &error));
            values.clear(key);
        }
    }
}

/// `config` (the operators' `values` over `code`) validated, and refused
/// when the operators' `max_failures = "off"` leaves it no trip policy
/// where the code had one: that breaker would never trip. `"off"` is for
/// a breaker that trips on a rate (or the code's predicate) only.
fn check(config: &Config, values: &PartialConfig, code: &Config) -> Result<(), ConfigError> {
    config.validate()?;
    let trips = |config: &Config| {
        config.settings.max_failures.is_some()
            || config.settings.failure_rate.is_some()
            || config.settings.slow_call_rate.is_some()
            || config.trip_when.is_some()
    };
    let off = values.is_set("max_failures") && config.settings.max_failures.is_none();
    if off && !trips(config) && trips(code) {
        return Err(ConfigError::new(
            "max_failures",
            format!("{OFF:?}"),
            "leaves the breaker no trip policy (no `failure_rate`, `slow_call_rate` or `trip_when` is set), so it would never trip; set a rate with it",
        ));
    }
    Ok(())
}

/// The operators' key that makes `values` over `code` fail with `error`:
/// the key the error names if an operator set it, or else the first whose
/// removal changes the verdict (`timeout` for a code's `backoff_max` below
/// it).
fn blame(values: &PartialConfig, code: &Config, error: &ConfigError) -> Option<&'static str> {
    if let Some(key) = values.set_keys().find(|key| *key == error.field()) {
        return Some(key);
    }
    let fails_alike = |key: &str| {
        let mut without = values.clone();
        without.clear(key);
        without.apply(code.clone()).validate().err().as_ref() == Some(error)
    };
    values
        .set_keys()
        .find(|key| !fails_alike(key))
        .or_else(|| values.set_keys().next())
}
