//! Named breaker configurations from a TOML file and environment variables
//! (feature `toml`), so that operators tune breakers without recompiling.
//!
//! The file has one table per breaker, with the attribute's configuration
//! keys ([`PartialConfig::keys`](crate::PartialConfig::keys)):
//!
//! ```toml
//! [db]
//! timeout = "10s"
//! max_failures = 3
//!
//! [payments]
//! max_failures = "off"   # trips on the rate only
//! failure_rate = 0.5
//! count_window = 20
//! store = "fleet"
//! ```
//!
//! An environment variable `BREAKER_<NAME>__<KEY>` (two underscores between
//! the name and the key) sets one key: `BREAKER_DB__TIMEOUT=30s`,
//! `BREAKER_ORDERS_DB__MAX_FAILURES=3` (for `orders-db` or `orders.db`: the
//! name is upper-cased and every character but ASCII letters and digits
//! becomes `_`). One breaker's variables are read together and checked
//! as one table of the file is: two windows
//! (`BREAKER_DB__COUNT_WINDOW` and `BREAKER_DB__TIME_WINDOW`) are an error
//! naming both variables, whatever their order in the environment. A
//! variable with the prefix but one underscore short before a key
//! (`BREAKER_DB_TIMEOUT`) is an error that spells it right.
//!
//! Precedence, key by key, when a breaker is first created: environment
//! variables, then the file, then the code (`Registry::configure`, or else
//! the attribute's literals / `get_or_create`'s argument), then
//! `Config::default()`. A window chosen by an operator replaces the code's:
//! `count_window` removes the code's `time_window` and
//! `time_window_buckets`, `time_window` the code's `count_window`.
//!
//! Values that conflict with the code's (a `timeout` above the code's
//! `backoff_max`) are an error of [`ConfigFile::apply`] when the code's
//! configuration is known then (`Registry::configure` before it); else
//! they are refused when the breaker is created, which keeps the code's
//! value and lists the refusal in
//! [`Registry::config_problems`](crate::Registry::config_problems).
//!
//! Careless and hostile input is bounded: a file is at most
//! [`MAX_CONFIG_FILE_BYTES`] (64 KiB) and read no further; only the
//! `BREAKER_*__*` variables are read, so that another variable may hold
//! anything (bytes that are not UTF-8 included); an error shows the value
//! as written and prints names, keys, values and paths with control
//! characters escaped. Settings for a name no breaker is created with
//! have no effect, and are listed by
//! [`Registry::unused_configurations`](crate::Registry::unused_configurations).

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fmt;
use std::io::Read;
use std::path::Path;

use crate::config::ConfigError;
use crate::error::Escaped;
use crate::overrides::{Layer, Target};
use crate::partial::{PartialConfig, Raw, ValueError};
use crate::registry::{env_name, registry, Registry, RegistryError};

/// The prefix of the environment variables that configure breakers.
pub const ENV_PREFIX: &str = "BREAKER_";
/// What separates a breaker's name from the key in a variable's name.
pub const ENV_SEPARATOR: &str = "__";
/// The largest configuration file [`ConfigFile::read`] (and text
/// [`ConfigFile::parse`]) accepts: 64 KiB, room for a thousand breakers.
/// The bound is on the memory parsing takes: a TOML document takes up to
/// about 550 times its size while it is parsed (keys dotted seventy levels
/// deep, the worst measured; ordinary tables about a hundred times), so
/// 64 KiB parse in less than 40 MB.
pub const MAX_CONFIG_FILE_BYTES: usize = 64 << 10;

/// The error for a file or text above [`MAX_CONFIG_FILE_BYTES`].
fn too_large(origin: &str) -> FileConfigError {
    FileConfigError::new(
        origin,
        "larger than 64 KiB (`breakerbox::MAX_CONFIG_FILE_BYTES`), the most a configuration file may hold",
    )
}

/// Operators' breaker settings, read from a TOML file and/or environment
/// variables, to [`apply`](Self::apply) to a registry before the
/// breakers' first use.
///
/// ```
/// use breakerbox::{Config, ConfigFile, Registry};
/// use std::time::Duration;
///
/// let file = ConfigFile::parse("breakers.toml", "[db]\ntimeout = \"10s\"\n").unwrap();
/// let env = [("BREAKER_DB__MAX_FAILURES".to_string(), "2".to_string())];
/// let registry = Registry::new();
/// file.with_vars(env).unwrap().apply(&registry).unwrap();
///
/// let db = registry.get_or_create("db", Config::default().half_open_max_calls(3)).unwrap();
/// assert_eq!(db.config().settings().timeout, Duration::from_secs(10)); // the file
/// assert_eq!(db.config().settings().max_failures, Some(2));            // the environment
/// assert_eq!(db.config().settings().half_open_max_calls, 3);           // the code
/// ```
#[derive(Debug, Clone, Default)]
pub struct ConfigFile {
    origin: String,
    breakers: Vec<(String, PartialConfig)>,
    /// One table per breaker name as variables spell it, gathered from
    /// all its variables.
    env: Vec<EnvTable>,
}

/// The variables of one breaker name, read together as a file's table is.
#[derive(Debug, Clone)]
struct EnvTable {
    name: String,
    values: PartialConfig,
    /// Each key's variable (`environment variable BREAKER_DB__TIMEOUT`).
    origins: Vec<(&'static str, String)>,
    /// Each key's value as written (trimmed).
    written: Vec<(String, String)>,
}

impl EnvTable {
    /// Checks the table's values together, as a file's table is checked:
    /// two windows, or buckets without their window, are an error naming
    /// the variable of the key at fault and the others it clashes with.
    fn validate(&self) -> Result<(), FileConfigError> {
        let Err(error) = self.values.validate() else {
            return Ok(());
        };
        let origin = |key: &str| {
            self.origins
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, origin)| origin.as_str())
        };
        // The other variables without which the table would be valid.
        let partners: Vec<String> = self
            .values
            .set_keys()
            .filter(|key| *key != error.field())
            .filter(|key| {
                let mut without = self.values.clone();
                without.clear(key);
                without.validate().is_ok()
            })
            .filter_map(|key| {
                let value = self.values.written(key)?;
                Some(format!("`{key}` = {value} from {}", origin(key)?))
            })
            .collect();
        let at = origin(error.field()).unwrap_or("environment variables");
        let mut refused = FileConfigError::config(at, &self.name, &error, &self.written);
        if !partners.is_empty() {
            refused.reason = format!("{}; together with {}", refused.reason, partners.join(", "));
        }
        Err(refused)
    }
}

/// A malformed configuration file or variable: where (the file or the
/// variable), which breaker, which key, which value, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileConfigError {
    origin: String,
    breaker: Option<String>,
    key: Option<String>,
    value: Option<String>,
    reason: String,
}

impl FileConfigError {
    fn new(origin: &str, reason: impl Into<String>) -> Self {
        FileConfigError {
            origin: origin.to_owned(),
            breaker: None,
            key: None,
            value: None,
            reason: reason.into(),
        }
    }

    fn breaker(mut self, name: &str) -> Self {
        self.breaker = Some(name.to_owned());
        self
    }

    /// `e`, from the settings of the breaker `name`; `written` holds
    /// their values as written, so that the error shows the value of the
    /// key it names as the file or the variable wrote it (`1E+300`, `"2m"`)
    /// rather than as the configuration holds it.
    fn config(origin: &str, name: &str, e: &ConfigError, written: &[(String, String)]) -> Self {
        let value = written
            .iter()
            .find(|(key, _)| key == e.field())
            .map_or(e.value(), |(_, shown)| shown.as_str());
        FileConfigError {
            key: Some(e.field().to_owned()),
            value: Some(value.to_owned()),
            ..Self::new(origin, e.reason()).breaker(name)
        }
    }

    fn refused(origin: &str, name: &str, e: ValueError) -> Self {
        FileConfigError {
            key: Some(e.key),
            value: Some(e.value),
            ..Self::new(origin, e.reason).breaker(name)
        }
    }

    /// The file's path, or `environment variable NAME`.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The breaker the error is about, when it is about one.
    pub fn breaker_name(&self) -> Option<&str> {
        self.breaker.as_deref()
    }

    /// The key, when the error is about one.
    pub fn key(&self) -> Option<&str> {
        self.key.as_deref()
    }

    /// The value given, when the error is about one.
    pub fn value(&self) -> Option<&str> {
        self.value.as_deref()
    }

    /// Why it was refused.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl fmt::Display for FileConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", Escaped(&self.origin))?;
        if let Some(name) = &self.breaker {
            write!(f, "circuit breaker `{}`: ", Escaped(name))?;
        }
        if let Some(key) = &self.key {
            let value = self.value.as_deref().unwrap_or("?");
            write!(f, "`{}` = {}: ", Escaped(key), Escaped(value))?;
        }
        write!(f, "{}", Escaped(&self.reason))
    }
}

impl std::error::Error for FileConfigError {}

/// Reads the TOML file at `path` and the `BREAKER_*` environment variables
/// into the global [`registry()`], before the breakers' first use.
///
/// ```no_run
/// fn main() -> Result<(), breakerbox::FileConfigError> {
///     breakerbox::load_config("breakers.toml")?;
///     // ... then start the application: breakers take the file's values.
///     // Once it is up, report the settings no breaker used (a misspelled name):
///     breakerbox::registry().warn_unused_configurations();
///     Ok(())
/// }
/// ```
pub fn load_config(path: impl AsRef<Path>) -> Result<(), FileConfigError> {
    ConfigFile::read(path)?.with_env()?.apply(registry())
}

/// The error for `var`, one of our variables without the separator, when
/// it ends in `_` and a key (`BREAKER_DB_TIMEOUT`): surely meant for that
/// key, and otherwise skipped without a word. The longest key it ends in
/// is suggested (`BREAKER_DB__CALL_TIMEOUT` for `BREAKER_DB_CALL_TIMEOUT`).
fn near_miss(var: &str) -> Option<FileConfigError> {
    let rest = &var[ENV_PREFIX.len()..];
    let (name, key) = PartialConfig::keys()
        .filter_map(|key| {
            let name = rest.strip_suffix(key.to_ascii_uppercase().as_str())?;
            let name = name.strip_suffix('_').filter(|name| !name.is_empty())?;
            Some((name, key))
        })
        .min_by_key(|(name, _)| name.len())?;
    let right = format!(
        "{ENV_PREFIX}{name}{ENV_SEPARATOR}{}",
        key.to_ascii_uppercase()
    );
    Some(FileConfigError::new(
        &format!("environment variable {var}"),
        format!(
            "not read: a breaker's name and the key are separated by two underscores; for the key `{key}`, write {right}"
        ),
    ))
}

impl ConfigFile {
    /// No settings: start here for environment variables alone.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads and parses the TOML file at `path`: at most
    /// [`MAX_CONFIG_FILE_BYTES`] (64 KiB), UTF-8. A larger file is refused
    /// without reading more than the limit, so that a wrong path (a
    /// device, a log) cannot exhaust the process's memory.
    pub fn read(path: impl AsRef<Path>) -> Result<Self, FileConfigError> {
        let path = path.as_ref();
        let origin = path.display().to_string();
        let cannot =
            |e: std::io::Error| FileConfigError::new(&origin, format!("cannot read the file: {e}"));
        let file = std::fs::File::open(path).map_err(cannot)?;
        let mut bytes = Vec::new();
        file.take(MAX_CONFIG_FILE_BYTES as u64 + 1)
            .read_to_end(&mut bytes)
            .map_err(cannot)?;
        if bytes.len() > MAX_CONFIG_FILE_BYTES {
            return Err(too_large(&origin));
        }
        let text = String::from_utf8(bytes).map_err(|e| {
            FileConfigError::new(
                &origin,
                format!(
                    "not valid UTF-8 (at byte {}): a configuration file is TOML, which is UTF-8",
                    e.utf8_error().valid_up_to()
                ),
            )
        })?;
        Self::parse(&origin, &text)
    }

    /// Parses TOML `text`; `origin` names it in errors (usually the path).
    /// Text longer than [`MAX_CONFIG_FILE_BYTES`] is refused, as
    /// [`read`](Self::read) refuses such a file.
    pub fn parse(origin: &str, text: &str) -> Result<Self, FileConfigError> {
        if text.len() > MAX_CONFIG_FILE_BYTES {
            return Err(too_large(origin));
        }
        let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
            FileConfigError::new(origin, format!("not valid TOML: {}", e.message()))
        })?;
        let mut breakers = Vec::new();
        for (name, settings) in &table {
            let toml::Value::Table(settings) = settings else {
                return Err(FileConfigError::new(
                    origin,
                    "expected a table of settings, such as `[db]` followed by `timeout = \"30s\"`",
                )
                .breaker(name));
            };
            let mut partial = PartialConfig::new();
            let mut written = Vec::new();
            for (key, value) in settings {
                let date;
                let raw = match value {
                    toml::Value::Integer(n) => Raw::Int((*n).into()),
                    toml::Value::Float(x) => Raw::Float(*x),
                    toml::Value::String(s) => Raw::Str(s),
                    toml::Value::Boolean(b) => Raw::Other(if *b { "true" } else { "false" }),
                    toml::Value::Datetime(d) => {
                        date = d.to_string();
                        Raw::Other(&date)
                    }
                    toml::Value::Array(_) => Raw::Other("an array"),
                    toml::Value::Table(_) => Raw::Other("a table"),
                };
                partial
                    .set_raw(key, raw)
                    .map_err(|e| FileConfigError::refused(origin, name, e))?;
                written.push((key.clone(), raw.shown()));
            }
            partial
                .validate()
                .map_err(|e| FileConfigError::config(origin, name, &e, &written))?;
            breakers.push((name.clone(), partial));
        }
        Ok(ConfigFile {
            origin: origin.to_owned(),
            breakers,
            env: Vec::new(),
        })
    }

    /// Adds the `BREAKER_<NAME>__<KEY>` variables of the process's
    /// environment, which win over the file. Only those variables are
    /// read: any other may hold anything, bytes that are not UTF-8
    /// included. One of ours that is not UTF-8 is an error naming it, and
    /// so is a near miss (`BREAKER_DB_TIMEOUT`): see
    /// [`with_vars`](Self::with_vars).
    pub fn with_env(self) -> Result<Self, FileConfigError> {
        self.with_vars(std::env::vars_os())
    }

    /// Adds the `BREAKER_<NAME>__<KEY>` variables among `vars` (other
    /// names are skipped, whatever they hold, except a `BREAKER_` variable
    /// that ends in `_` and a key, such as `BREAKER_DB_TIMEOUT`: an error
    /// that spells it `BREAKER_DB__TIMEOUT`): [`with_env`](Self::with_env)
    /// with the variables given, as tests do. Names and values may be
    /// `&str`, `String` or `OsString`.
    ///
    /// The variables of one breaker name (with those added before) form
    /// one table, checked as a file's table is, so that their order does
    /// not matter: two windows are an error naming both variables.
    ///
    /// ```
    /// use breakerbox::ConfigFile;
    ///
    /// let error = ConfigFile::new()
    ///     .with_vars([("BREAKER_DB__TIME_WINDOW", "30s"), ("BREAKER_DB__COUNT_WINDOW", "20")])
    ///     .unwrap_err();
    /// assert_eq!(
    ///     error.to_string(),
    ///     "environment variable BREAKER_DB__COUNT_WINDOW: circuit breaker `DB`: `count_window` = 20: \
    ///      cannot be combined with `time_window`: choose one window; \
    ///      together with `time_window` = \"30s\" from environment variable BREAKER_DB__TIME_WINDOW"
    /// );
    /// ```
    pub fn with_vars<I, K, V>(mut self, vars: I) -> Result<Self, FileConfigError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        let mut tables: HashMap<String, usize> = self
            .env
            .iter()
            .enumerate()
            .map(|(at, table)| (table.name.clone(), at))
            .collect();
        let mut touched = Vec::new();
        // The keys this call has set, by table, with the variable that set each.
        let mut given: Vec<(usize, &str, String)> = Vec::new();
        for (var, value) in vars {
            let (var, value) = (var.as_ref(), value.as_ref());
            if !var.as_encoded_bytes().starts_with(ENV_PREFIX.as_bytes()) {
                continue;
            }
            let lossy = var.to_string_lossy();
            let Some((name, key)) = lossy[ENV_PREFIX.len()..].rsplit_once(ENV_SEPARATOR) else {
                if let Some(error) = near_miss(&lossy) {
                    return Err(error);
                }
                continue;
            };
            let origin = format!("environment variable {lossy}");
            if var.to_str().is_none() {
                return Err(FileConfigError::new(
                    &origin,
                    "the variable's name is not valid UTF-8",
                ));
            }
            let key = key.to_ascii_lowercase();
            if name.is_empty() || name != env_name(name) {
                return Err(FileConfigError::new(
                    &origin,
                    "the breaker's name must be upper case, with `_` for every character but letters and digits",
                ));
            }
            let Some(value) = value.to_str() else {
                return Err(FileConfigError {
                    key: Some(key),
                    value: Some(format!("{:?}", value.to_string_lossy())),
                    ..FileConfigError::new(&origin, "not valid UTF-8").breaker(name)
                });
            };
            // Set into the name's one table, not merged: two windows are
            // then an error, whatever the variables' order.
            let at = *tables.entry(name.to_owned()).or_insert_with(|| {
                self.env.push(EnvTable {
                    name: name.to_owned(),
                    values: PartialConfig::new(),
                    origins: Vec::new(),
                    written: Vec::new(),
                });
                self.env.len() - 1
            });
            let table = &mut self.env[at];
            table
                .values
                .set(&key, value)
                .map_err(|e| FileConfigError::refused(&origin, name, e))?;
            let Some(key) = PartialConfig::keys().find(|k| *k == key) else {
                continue; // `set` accepted it, so it is one of the keys
            };
            // Two variables of this environment for one key (their names
            // differ in case): which wins would depend on their order.
            if let Some((_, _, first)) = given.iter().find(|(t, k, _)| *t == at && *k == key) {
                return Err(FileConfigError::new(
                    &origin,
                    format!("sets `{key}` again, after {first}: keep one of them"),
                )
                .breaker(name));
            }
            given.push((at, key, origin.clone()));
            table.origins.retain(|(k, _)| *k != key);
            table.origins.push((key, origin));
            table.written.retain(|(k, _)| k != key);
            table
                .written
                .push((key.to_owned(), value.trim().to_owned()));
            touched.push(at);
        }
        // In name order: the error does not depend on the variables' order.
        touched.sort_unstable_by(|a, b| self.env[*a].name.cmp(&self.env[*b].name));
        touched.dedup();
        for at in touched {
            self.env[at].validate()?;
        }
        Ok(self)
    }

    /// The breakers' names the file configures, in file order.
    pub fn names(&self) -> Vec<&str> {
        self.breakers
            .iter()
            .map(|(name, _)| name.as_str())
            .collect()
    }

    /// Registers the settings with `registry`, to be merged key by key over
    /// the code's configuration when each breaker is first created: all of
    /// them, or none when one is refused. Refused: a breaker already in
    /// use, or a value that conflicts with the configuration registered
    /// for its breaker with [`Registry::configure`] (the error names the
    /// file or variable, the breaker, the key and the code's key it
    /// conflicts with). For a breaker whose code configuration is not
    /// known yet, a conflict is found when it is created: see
    /// [`Registry::config_problems`].
    pub fn apply(self, registry: &Registry) -> Result<(), FileConfigError> {
        let mut entries = Vec::new();
        let mut names = Vec::new();
        for (name, partial) in self.breakers {
            entries.push((
                Target::Name(name.clone()),
                Layer::new(partial, &self.origin),
            ));
            names.push((self.origin.clone(), name));
        }
        for table in self.env {
            let origin = table
                .origins
                .first()
                .map_or_else(String::new, |(_, origin)| origin.clone());
            let layer = Layer::with_origins(table.values, table.origins);
            entries.push((Target::EnvName(table.name.clone()), layer));
            names.push((origin, table.name));
        }
        registry.add_overrides(entries).map_err(|(index, e)| {
            let (origin, name) = &names[index];
            match e {
                RegistryError::Invalid(e) => FileConfigError::config(origin, name, &e, &[]),
                RegistryError::Conflict(problem) => FileConfigError {
                    key: Some(problem.key().to_owned()),
                    value: Some(problem.value().to_owned()),
                    ..FileConfigError::new(problem.origin(), problem.reason())
                        .breaker(problem.breaker())
                },
                RegistryError::AlreadyCreated { name } => FileConfigError::new(
                    origin,
                    "already in use; load the configuration before the breaker's first call",
                )
                .breaker(&name),
                // Registering values creates no breaker; kept for completeness.
                full @ RegistryError::Full { .. } => {
                    FileConfigError::new(origin, full.to_string()).breaker(name)
                }
            }
        })
    }
}
