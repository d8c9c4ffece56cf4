//! A configuration of which every key is optional: what an operator's file
//! or environment says about one breaker, merged key by key over the
//! configuration the code gives (an attribute's literals, `get_or_create`'s
//! argument or `Registry::configure`'s).
//!
//! [`KEYS`] is the one list of the keys a file, an environment variable or
//! serde may set; the attribute's keys are checked against it by a test in
//! `breakerbox-macros`, and `Config`'s fields by a test here.

use std::fmt;
use std::time::Duration;

use crate::config::{Config, ConfigError};
use crate::error::{Escaped, Name};

/// Some of a breaker's settings, each optional; [`apply`](Self::apply)
/// sets those that are present and keeps the others.
///
/// Keys and values are spelled as the attribute's: `max_failures = 3`,
/// `timeout = "30s"`, `failure_rate = 0.5`, `store = "fleet"`, and
/// `max_failures = "off"` for a breaker without a consecutive-failure
/// policy (one that trips on a rate only). Registered with a
/// [`Registry`](crate::Registry), an `"off"` that would leave the breaker
/// no trip policy at all (the code sets no rate and no `trip_when`, and
/// no rate is set here) conflicts with the code's configuration.
///
/// Choosing a window replaces the other window: a `count_window` here
/// replaces the code's `time_window` and `time_window_buckets`, and a
/// `time_window` replaces the code's `count_window`, since a breaker judges
/// its rates over one window.
///
/// ```
/// use breakerbox::{Config, PartialConfig};
/// use std::time::Duration;
///
/// let mut file = PartialConfig::new();
/// file.set("timeout", "30s").unwrap();
/// file.set("max_failures", "off").unwrap();
/// file.set("failure_rate", "0.5").unwrap();
/// let config = file.apply(Config::default().max_failures(3).half_open_max_calls(2));
/// assert_eq!(config.settings().timeout, Duration::from_secs(30)); // from the file
/// assert_eq!(config.settings().max_failures, None);               // "off"
/// assert_eq!(config.settings().half_open_max_calls, 2);           // kept
/// ```
#[derive(Clone, Default, PartialEq)]
pub struct PartialConfig {
    /// The keys that are set, by their index in [`KEYS`], in that order:
    /// only those, so that the thousands of tables a file may hold (or the
    /// registry keeps for the names they configure) cost a few bytes each.
    values: Vec<(u8, Value)>,
}

/// A key's value, checked against its kind.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Count(u32),
    /// `"off"`: the policy the key sets is turned off.
    Off,
    Number(f64),
    Duration(Duration),
    Text(String),
}

/// What kind of value a key takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A whole number (`u32`).
    Count,
    /// A whole number of at least 1, or `"off"`.
    CountOrOff,
    /// A number, possibly fractional.
    Number,
    /// A duration: `"30s"`, `"1m30s"`.
    Duration,
    /// The name of a registered state store, or `"local"`.
    Store,
}

/// Every key a partial configuration may set, with its kind, in `Config`'s
/// field order: what a file, an environment variable and serde accept.
pub(crate) const KEYS: &[(&str, Kind)] = &[
    ("max_failures", Kind::CountOrOff),
    ("timeout", Kind::Duration),
    ("jitter", Kind::Number),
    ("half_open_max_calls", Kind::Count),
    ("success_threshold", Kind::Count),
    ("max_concurrent_calls", Kind::Count),
    ("interval", Kind::Duration),
    ("failure_rate", Kind::Number),
    ("count_window", Kind::Count),
    ("time_window", Kind::Duration),
    ("time_window_buckets", Kind::Count),
    ("minimum_calls", Kind::Count),
    ("slow_call_duration", Kind::Duration),
    ("slow_call_rate", Kind::Number),
    ("backoff_multiplier", Kind::Number),
    ("backoff_max", Kind::Duration),
    ("half_open_max_wait", Kind::Duration),
    ("call_timeout", Kind::Duration),
    ("store", Kind::Store),
];

/// The value that turns a policy off (`max_failures = "off"`).
pub(crate) const OFF: &str = "off";

/// A key set here that replaces other keys of the configuration it is
/// applied or merged over: the operator chose one window.
const REPLACES: &[(&str, &[&str])] = &[
    ("count_window", &["time_window", "time_window_buckets"]),
    ("time_window", &["count_window"]),
];

/// What the count keys say when given 0, or a word other than `"off"`,
/// where `"off"` is allowed.
const COUNT_OR_OFF: &str = "must be a whole number of at least 1, or \"off\" for a breaker without a consecutive-failure policy (one that trips on a rate only)";

/// A value before it is checked against its key's kind: what TOML, an
/// environment variable or a serde format hands over.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Raw<'a> {
    /// A whole number: TOML's and serde's `i64` and `u64` alike.
    Int(i128),
    Float(f64),
    Str(&'a str),
    /// A value of another shape (a boolean, a list, a table), as an error
    /// shows it: no key takes one.
    #[cfg_attr(not(any(feature = "toml", feature = "serde")), allow(dead_code))]
    Other(&'a str),
}

impl Raw<'_> {
    /// The value as an error shows it, as close to how it was written as
    /// the format lets us know: strings quoted, a float as `1e300` rather
    /// than its 301 digits.
    pub(crate) fn shown(&self) -> String {
        match self {
            Raw::Int(n) => n.to_string(),
            Raw::Float(x) => format!("{x:?}"),
            Raw::Str(s) => format!("{s:?}"),
            Raw::Other(shown) => (*shown).to_owned(),
        }
    }
}

/// `text` as a number, if it is one: a whole number (of any size: one
/// beyond `i128` is out of every key's range, and kept as the nearest
/// `i128`) or else a float.
fn number(text: &str) -> Option<Raw<'_>> {
    if let Ok(n) = text.parse::<i128>() {
        return Some(Raw::Int(n));
    }
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        let nearest = if text.starts_with('-') {
            i128::MIN
        } else {
            i128::MAX
        };
        return Some(Raw::Int(nearest));
    }
    text.parse::<f64>().ok().map(Raw::Float)
}

/// A value [`PartialConfig::set`] refused: the key, the value and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueError {
    pub(crate) key: String,
    pub(crate) value: String,
    pub(crate) reason: String,
}

impl ValueError {
    /// The key, as given.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The value, as given.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// What was expected.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl fmt::Display for ValueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` = {}: {}",
            Escaped(&self.key),
            Escaped(&self.value),
            Escaped(&self.reason)
        )
    }
}

impl std::error::Error for ValueError {}

impl fmt::Debug for PartialConfig {
    /// The keys that are set, with their values as a file would write them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Written(String);
        impl fmt::Debug for Written {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        let mut shown = f.debug_struct("PartialConfig");
        for key in self.set_keys() {
            shown.field(key, &Written(self.written(key).unwrap_or_default()));
        }
        shown.finish()
    }
}

impl PartialConfig {
    /// An empty partial configuration: applying it changes nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every key a partial configuration (and so a configuration file, an
    /// environment variable or serde) may set, in `Config`'s field order.
    /// They are the attribute's configuration keys, with the same names as
    /// the [`Config`] setters.
    ///
    /// ```
    /// let keys: Vec<&str> = breakerbox::PartialConfig::keys().collect();
    /// assert!(keys.contains(&"max_failures") && keys.contains(&"store"));
    /// ```
    pub fn keys() -> impl Iterator<Item = &'static str> {
        KEYS.iter().map(|(key, _)| *key)
    }

    /// Whether no key is set.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Sets `key` from its text, as it would be written in a file or an
    /// environment variable: `"3"`, `"0.5"`, `"30s"`, `"off"`, `"fleet"`.
    /// Whitespace around a value is ignored (`" 30s"`, the `"fleet\r"` of
    /// an env file with CRLF line ends); a store's name with a control
    /// character inside is refused.
    ///
    /// An error shows the value as written: a number as its text
    /// (`18446744073709551615`, `1E+300`), anything else quoted.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), ValueError> {
        let text = value.trim();
        let raw = match kind_of(key) {
            Some(Kind::Count | Kind::CountOrOff | Kind::Number) => {
                number(text).unwrap_or(Raw::Str(value))
            }
            Some(Kind::Duration | Kind::Store) | None => Raw::Str(value),
        };
        let shown = || match raw {
            Raw::Int(_) | Raw::Float(_) => text.to_owned(),
            Raw::Str(_) | Raw::Other(_) => raw.shown(),
        };
        self.set_shown(key, raw, shown)
    }

    /// Sets `key` from a value of any shape, checking it against the key's
    /// kind.
    #[cfg_attr(not(any(feature = "toml", feature = "serde")), allow(dead_code))]
    pub(crate) fn set_raw(&mut self, key: &str, raw: Raw<'_>) -> Result<(), ValueError> {
        self.set_shown(key, raw, || raw.shown())
    }

    /// [`set_raw`](Self::set_raw), with `shown` for the value in an error.
    fn set_shown(
        &mut self,
        key: &str,
        raw: Raw<'_>,
        shown: impl Fn() -> String,
    ) -> Result<(), ValueError> {
        let fail = |reason: &str| ValueError {
            key: key.to_owned(),
            value: shown(),
            reason: reason.to_owned(),
        };
        let Some(index) = index_of(key) else {
            let known: Vec<&str> = Self::keys().collect();
            return Err(fail(&format!(
                "unknown key; the keys are {}",
                known.join(", ")
            )));
        };
        if key == "call_timeout" && !cfg!(feature = "tokio") {
            return Err(fail("needs the `tokio` feature"));
        }
        let whole = |n: i128| {
            u32::try_from(n)
                .map_err(|_| fail(&format!("must be a whole number from 0 to {}", u32::MAX)))
        };
        if let Raw::Other(_) = raw {
            return Err(fail("must be a number or a string"));
        }
        let value = match (KEYS[index].1, raw) {
            (Kind::Count, Raw::Int(n)) => Value::Count(whole(n)?),
            (Kind::Count, _) => return Err(fail("must be a whole number")),
            (Kind::CountOrOff, Raw::Str(s)) if s.trim() == OFF => Value::Off,
            (Kind::CountOrOff, Raw::Int(n)) if n > 0 => Value::Count(whole(n)?),
            (Kind::CountOrOff, _) => return Err(fail(COUNT_OR_OFF)),
            (Kind::Number, Raw::Int(n)) => Value::Number(n as f64),
            (Kind::Number, Raw::Float(x)) => Value::Number(x),
            (Kind::Number, _) => return Err(fail("must be a number")),
            (Kind::Duration, Raw::Str(s)) => Value::Duration(parse_duration(s).map_err(|e| fail(&e))?),
            (Kind::Duration, _) => {
                return Err(fail(
                    "must be a duration string such as \"30s\", \"500ms\" or \"1m30s\"",
                ))
            }
            // Trimmed, as every other value is (a CRLF env file's `fleet\r`).
            (Kind::Store, Raw::Str(s)) if s.trim().chars().any(char::is_control) => {
                return Err(fail(
                    "must not contain control characters: a store is registered under a plain name",
                ))
            }
            (Kind::Store, Raw::Str(s)) if !s.trim().is_empty() => Value::Text(s.trim().to_owned()),
            (Kind::Store, _) => {
                return Err(fail(
                    "must be the name of a store registered with `Registry::register_store`, or \"local\"",
                ))
            }
        };
        self.put(index, value);
        Ok(())
    }

    /// `config` with every key this partial configuration sets replaced
    /// (and, for a window, the other window removed).
    pub fn apply(&self, mut config: Config) -> Config {
        for (key, replaced) in REPLACES {
            if self.is_set(key) {
                for key in *replaced {
                    clear_field(&mut config, key);
                }
            }
        }
        for (index, value) in &self.values {
            set_field(&mut config, KEYS[usize::from(*index)].0, value);
        }
        config
    }

    /// Every key set in `other` replaces the same key here (and, for a
    /// window, the other window).
    pub fn merge(&mut self, other: &PartialConfig) {
        for (key, replaced) in REPLACES {
            if other.is_set(key) {
                for key in *replaced {
                    self.clear(key);
                }
            }
        }
        for (index, value) in &other.values {
            self.put(usize::from(*index), value.clone());
        }
    }

    /// Checks the values this partial configuration sets, on their own:
    /// ranges, and the combinations it sets entirely. A rule that also
    /// involves a key it leaves to the code (`backoff_max` needs
    /// `backoff_multiplier`) is judged against the code's configuration
    /// when that is known (see [`Registry::override_config`](crate::Registry::override_config)).
    pub fn validate(&self) -> Result<(), ConfigError> {
        // Stand-ins for partners the code may provide, so that only this
        // partial configuration's own values can fail.
        let mut base = Config::default();
        if self.is_set("time_window_buckets") && !self.is_set("count_window") {
            base.settings.time_window = Some(Duration::from_secs(1));
        }
        if self.is_set("slow_call_rate") {
            base.settings.slow_call_duration = Some(Duration::from_secs(1));
        }
        if self.is_set("backoff_max") {
            base.settings.backoff_multiplier = Some(1.0);
            base.settings.timeout = Duration::from_nanos(1);
        }
        self.apply(base).validate()
    }

    /// Whether `key` is set.
    pub(crate) fn is_set(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// Unsets `key`.
    pub(crate) fn clear(&mut self, key: &str) {
        if let Some(i) = index_of(key) {
            self.values.retain(|(index, _)| usize::from(*index) != i);
        }
    }

    /// The keys that are set, in [`KEYS`] order.
    pub(crate) fn set_keys(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.values
            .iter()
            .map(|(index, _)| KEYS[usize::from(*index)].0)
    }

    /// `key`'s value, if set.
    fn get(&self, key: &str) -> Option<&Value> {
        let i = index_of(key)?;
        self.values
            .iter()
            .find(|(index, _)| usize::from(*index) == i)
            .map(|(_, value)| value)
    }

    /// Sets the key of index `i` in [`KEYS`] to `value`, keeping the keys
    /// in [`KEYS`] order.
    fn put(&mut self, i: usize, value: Value) {
        // `KEYS` has fewer than 256 keys (a test checks it).
        let index = i as u8;
        match self
            .values
            .binary_search_by_key(&index, |(index, _)| *index)
        {
            Ok(at) => self.values[at].1 = value,
            Err(at) => self.values.insert(at, (index, value)),
        }
    }

    /// `key`'s value as a file would write it (`3`, `"30s"`, `"off"`), if
    /// set.
    pub(crate) fn written(&self, key: &str) -> Option<String> {
        let value = self.get(key)?;
        Some(match value {
            Value::Count(n) => n.to_string(),
            Value::Off => format!("{OFF:?}"),
            Value::Number(x) => format!("{x:?}"),
            Value::Duration(d) => format!("{:?}", display_duration(*d)),
            Value::Text(s) => format!("{s:?}"),
        })
    }
}

/// Sets `config`'s field `key` to `value`. Every key of [`KEYS`] has its
/// arm (a test checks that each changes the field of its name).
fn set_field(config: &mut Config, key: &str, value: &Value) {
    let count = match value {
        Value::Count(n) => Some(*n),
        _ => None,
    };
    let number = match value {
        Value::Number(x) => Some(*x),
        _ => None,
    };
    let duration = match value {
        Value::Duration(d) => Some(*d),
        _ => None,
    };
    match key {
        "max_failures" => config.settings.max_failures = count,
        "timeout" => config.settings.timeout = duration.unwrap_or(config.settings.timeout),
        "jitter" => config.settings.jitter = number.unwrap_or(config.settings.jitter),
        "half_open_max_calls" => {
            config.settings.half_open_max_calls =
                count.unwrap_or(config.settings.half_open_max_calls)
        }
        "success_threshold" => {
            config.settings.success_threshold = count.unwrap_or(config.settings.success_threshold)
        }
        "max_concurrent_calls" => config.settings.max_concurrent_calls = count,
        "interval" => config.settings.interval = duration,
        "failure_rate" => config.settings.failure_rate = number,
        "count_window" => config.settings.count_window = count,
        "time_window" => config.settings.time_window = duration,
        "time_window_buckets" => config.settings.time_window_buckets = count,
        "minimum_calls" => {
            config.settings.minimum_calls = count.unwrap_or(config.settings.minimum_calls)
        }
        "slow_call_duration" => config.settings.slow_call_duration = duration,
        "slow_call_rate" => config.settings.slow_call_rate = number,
        "backoff_multiplier" => config.settings.backoff_multiplier = number,
        "backoff_max" => config.settings.backoff_max = duration,
        "half_open_max_wait" => config.settings.half_open_max_wait = duration,
        "call_timeout" => config.settings.call_timeout = duration,
        "store" => {
            if let Value::Text(name) = value {
                config.settings.store = Some(Name::from(name.clone()));
            }
        }
        _ => {}
    }
}

/// Unsets `config`'s optional field `key` (a window, replaced by the other).
fn clear_field(config: &mut Config, key: &str) {
    match key {
        "count_window" => config.settings.count_window = None,
        "time_window" => config.settings.time_window = None,
        "time_window_buckets" => config.settings.time_window_buckets = None,
        _ => {}
    }
}

fn index_of(key: &str) -> Option<usize> {
    KEYS.iter().position(|(k, _)| *k == key)
}

pub(crate) fn kind_of(key: &str) -> Option<Kind> {
    index_of(key).map(|i| KEYS[i].1)
}

/// The units of a duration, largest first, in nanoseconds.
const UNITS: &[(&str, u128)] = &[
    ("d", 86_400_000_000_000),
    ("h", 3_600_000_000_000),
    ("m", 60_000_000_000),
    ("s", 1_000_000_000),
    ("ms", 1_000_000),
    ("us", 1_000),
    ("ns", 1),
];

/// Parses `"500ms"`, `"30s"`, `"1m30s"`, `"2h"`: whole numbers with units
/// (`ns`, `us`, `ms`, `s`, `m`, `h`, `d`), largest first, each at most
/// once, optionally separated by spaces. The attribute's grammar.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let expected = "must be a duration such as \"30s\", \"500ms\" or \"1m30s\" (whole numbers; units ns, us, ms, s, m, h, d, largest first)";
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(expected.to_owned());
    }
    let mut total: u128 = 0;
    let mut next_unit = 0; // index into UNITS: components go largest first
    while !rest.is_empty() {
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits == 0 {
            return Err(expected.to_owned());
        }
        let number: u128 = rest[..digits].parse().map_err(|_| expected.to_owned())?;
        rest = rest[digits..].trim_start();
        let letters = rest.len()
            - rest
                .trim_start_matches(|c: char| c.is_ascii_alphabetic())
                .len();
        let unit = &rest[..letters];
        let Some(index) = UNITS.iter().position(|(u, _)| *u == unit) else {
            return Err(expected.to_owned());
        };
        if index < next_unit {
            return Err(expected.to_owned());
        }
        next_unit = index + 1;
        total = total.saturating_add(number.saturating_mul(UNITS[index].1));
        rest = rest[letters..].trim_start();
    }
    let secs = u64::try_from(total / 1_000_000_000).map_err(|_| "is too long".to_owned())?;
    Ok(Duration::new(secs, (total % 1_000_000_000) as u32))
}

/// `duration` in the grammar [`parse_duration`] reads: `"1m30s"`.
pub(crate) fn display_duration(duration: Duration) -> String {
    let mut nanos = duration.as_nanos();
    if nanos == 0 {
        return "0s".to_owned();
    }
    let mut out = String::new();
    for &(unit, size) in UNITS {
        if nanos >= size {
            out.push_str(&(nanos / size).to_string());
            out.push_str(unit);
            nanos %= size;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A value of `kind` that differs from every default.
    fn sample(kind: Kind) -> &'static str {
        match kind {
            Kind::Count | Kind::CountOrOff => "7",
            Kind::Number => "0.25",
            Kind::Duration => "7s",
            Kind::Store => "fleet",
        }
    }

    /// The keys this build can set: `call_timeout` needs the `tokio`
    /// feature.
    fn settable() -> impl Iterator<Item = (&'static str, Kind)> {
        KEYS.iter()
            .copied()
            .filter(|(key, _)| *key != "call_timeout" || cfg!(feature = "tokio"))
    }

    /// `Config`'s fields as its `Debug` lists them, with their values.
    fn fields(config: &Config) -> Vec<(String, String)> {
        let shown = format!("{config:#?}");
        let mut fields: Vec<(String, String)> = Vec::new();
        for line in shown.lines() {
            let top_level = line.starts_with("    ") && !line.starts_with("     ");
            match line.trim().split_once(": ") {
                Some((name, value)) if top_level => {
                    fields.push((name.to_owned(), value.to_owned()))
                }
                _ => {
                    if let Some(last) = fields.last_mut() {
                        last.1.push_str(line.trim());
                    }
                }
            }
        }
        fields
    }

    #[test]
    fn every_key_has_an_index_that_fits_in_a_byte() {
        assert!(KEYS.len() <= usize::from(u8::MAX));
    }

    #[test]
    fn config_fields_are_the_keys_and_the_settings_only_code_can_give() {
        const CODE_ONLY: &[&str] = &["trip_when", "on_state_change", "clock"];
        let mut fields: Vec<String> = fields(&Config::default())
            .into_iter()
            .map(|(name, _)| name)
            .filter(|name| !CODE_ONLY.contains(&name.as_str()))
            .collect();
        let mut keys: Vec<String> = PartialConfig::keys().map(str::to_owned).collect();
        fields.sort();
        keys.sort();
        assert_eq!(
            fields, keys,
            "a `Config` field that is no key of the file, the environment and serde (or the reverse); add it to `KEYS`, or to `CODE_ONLY` if only code can say it"
        );
    }

    #[test]
    fn every_key_sets_the_config_field_of_its_name_and_no_other() {
        let before = fields(&Config::default());
        for (key, kind) in settable() {
            let mut partial = PartialConfig::new();
            if let Err(e) = partial.set(key, sample(kind)) {
                panic!("`{key}` = {}: {e}", sample(kind));
            }
            let after = fields(&partial.apply(Config::default()));
            let changed: Vec<&str> = before
                .iter()
                .zip(&after)
                .filter(|(b, a)| b != a)
                .map(|(_, (name, _))| name.as_str())
                .collect();
            assert_eq!(changed, [key], "setting `{key}`");
        }
    }

    #[test]
    fn every_value_reads_back_from_its_written_form() {
        for (key, kind) in settable() {
            let mut partial = PartialConfig::new();
            partial.set(key, sample(kind)).unwrap();
            let written = partial.written(key).unwrap();
            let mut again = PartialConfig::new();
            again.set(key, written.trim_matches('"')).unwrap();
            assert_eq!(again, partial, "`{key}` written as {written}");
        }
    }

    #[test]
    fn durations_parse_with_units_largest_first() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("1m 30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(
            parse_duration("1h2m3s4ms"),
            Ok(Duration::new(3723, 4_000_000))
        );
        assert!(parse_duration("30").is_err());
        assert!(parse_duration("30s1m").is_err());
        assert!(parse_duration("1.5s").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_duration("5 parsecs").is_err());
    }

    #[test]
    fn durations_display_in_the_grammar_they_parse_from() {
        for d in [
            Duration::from_secs(90),
            Duration::from_millis(1500),
            Duration::new(86_400 * 2 + 1, 7),
            Duration::ZERO,
        ] {
            assert_eq!(parse_duration(&display_duration(d)), Ok(d));
        }
        assert_eq!(display_duration(Duration::from_secs(90)), "1m30s");
    }

    #[test]
    fn set_checks_the_kind_of_each_key() {
        let mut p = PartialConfig::new();
        assert!(p.set("max_failures", "3").is_ok());
        assert_eq!(
            p.set("max_failures", "-1").unwrap_err().key(),
            "max_failures"
        );
        assert!(p.set("failure_rate", "0.5").is_ok());
        assert!(p.set("timeout", "30").is_err());
        assert!(p.set("store", "").is_err());
        assert!(p
            .set("max_failure", "3")
            .unwrap_err()
            .reason()
            .starts_with("unknown key"));
    }

    #[test]
    fn max_failures_off_turns_the_consecutive_failure_policy_off() {
        let mut p = PartialConfig::new();
        p.set("max_failures", "off").unwrap();
        let config = p.apply(Config::default().max_failures(3));
        assert_eq!(config.settings().max_failures, None);
    }

    #[test]
    fn zero_max_failures_is_refused_with_the_way_to_turn_the_policy_off() {
        let error = PartialConfig::new().set("max_failures", "0").unwrap_err();
        assert!(error.reason().contains("\"off\""), "{error}");
        let error = PartialConfig::new()
            .set("max_failures", "none")
            .unwrap_err();
        assert!(error.reason().contains("\"off\""), "{error}");
    }

    #[test]
    fn a_store_name_is_trimmed_as_other_values_are() {
        let mut p = PartialConfig::new();
        p.set("store", " fleet\r").unwrap();
        assert_eq!(
            p.apply(Config::default()).settings().store.as_deref(),
            Some("fleet")
        );
    }

    #[test]
    fn a_store_name_with_a_control_character_is_refused() {
        let error = PartialConfig::new()
            .set("store", "fle\u{1b}et")
            .unwrap_err();
        assert_eq!(error.key(), "store");
        assert!(error.reason().contains("control"), "{error}");
    }

    #[test]
    fn off_is_only_for_max_failures() {
        assert!(PartialConfig::new()
            .set("max_concurrent_calls", "off")
            .is_err());
    }

    #[test]
    fn a_count_window_replaces_a_time_window_and_its_buckets() {
        let mut p = PartialConfig::new();
        p.set("count_window", "20").unwrap();
        let code = Config::default()
            .failure_rate(0.5)
            .time_window(Duration::from_secs(60))
            .time_window_buckets(6);
        let config = p.apply(code);
        assert_eq!(config.settings.count_window, Some(20));
        assert_eq!(
            (
                config.settings.time_window,
                config.settings.time_window_buckets
            ),
            (None, None)
        );
        assert!(config.validate().is_ok());
    }

    #[test]
    fn a_time_window_replaces_a_count_window() {
        let mut p = PartialConfig::new();
        p.set("time_window", "30s").unwrap();
        let config = p.apply(Config::default().failure_rate(0.5).count_window(20));
        assert_eq!(config.settings.count_window, None);
        assert_eq!(config.settings.time_window, Some(Duration::from_secs(30)));
    }

    #[test]
    fn a_later_window_replaces_an_earlier_one_when_merged() {
        let mut file = PartialConfig::new();
        file.set("time_window", "30s").unwrap();
        file.set("time_window_buckets", "6").unwrap();
        let mut env = PartialConfig::new();
        env.set("count_window", "20").unwrap();
        file.merge(&env);
        assert_eq!(file.set_keys().collect::<Vec<_>>(), ["count_window"]);
    }

    #[test]
    fn validate_judges_only_the_keys_that_are_set() {
        let mut p = PartialConfig::new();
        p.set("backoff_max", "10m").unwrap();
        assert!(
            p.validate().is_ok(),
            "the multiplier may come from the code"
        );
        p.set("count_window", "0").unwrap();
        assert_eq!(p.validate().unwrap_err().field(), "count_window");
    }
}
