//! A configuration of which every key is optional: what an operator's file
//! or environment says about one breaker, merged key by key over the
//! configuration the code gives (an attribute's literals, `get_or_create`'s
//! argument or `Registry::configure`'s).

use std::fmt;
use std::time::Duration;

use crate::config::{Config, ConfigError};

/// Some of a breaker's settings, each optional; [`apply`](Self::apply)
/// sets those that are present and keeps the others.
///
/// Keys and values are spelled as the attribute's: `max_failures = 3`,
/// `timeout = "30s"`, `failure_rate = 0.5`.
///
/// ```
/// use breaker::{Config, PartialConfig};
/// use std::time::Duration;
///
/// let mut file = PartialConfig::new();
/// file.set("timeout", "30s").unwrap();
/// let config = file.apply(Config::default().max_failures(3));
/// assert_eq!(config.get_timeout(), Duration::from_secs(30)); // from the file
/// assert_eq!(config.get_max_failures(), Some(3));            // kept
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PartialConfig {
    max_failures: Option<u32>,
    timeout: Option<Duration>,
    half_open_max_calls: Option<u32>,
    success_threshold: Option<u32>,
    max_concurrent_calls: Option<u32>,
    interval: Option<Duration>,
    failure_rate: Option<f64>,
    count_window: Option<u32>,
    time_window: Option<Duration>,
    time_window_buckets: Option<u32>,
    minimum_calls: Option<u32>,
    slow_call_duration: Option<Duration>,
    slow_call_rate: Option<f64>,
    backoff_multiplier: Option<f64>,
    backoff_max: Option<Duration>,
    half_open_max_wait: Option<Duration>,
    call_timeout: Option<Duration>,
}

/// What kind of value a key takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A whole number (`u32`).
    Count,
    /// A number, possibly fractional.
    Number,
    /// A duration: `"30s"`, `"1m30s"`.
    Duration,
}

/// Every key a partial configuration may set, with its kind.
pub(crate) const KEYS: &[(&str, Kind)] = &[
    ("max_failures", Kind::Count),
    ("timeout", Kind::Duration),
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
];

/// A value before it is checked against its key's kind: what TOML, an
/// environment variable or a serde format hands over.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Raw<'a> {
    Int(i64),
    Float(f64),
    Str(&'a str),
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
        write!(f, "`{}` = {}: {}", self.key, self.value, self.reason)
    }
}

impl std::error::Error for ValueError {}

impl PartialConfig {
    /// An empty partial configuration: applying it changes nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether no key is set.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// Sets `key` from its text, as it would be written in a file or an
    /// environment variable: `"3"`, `"0.5"`, `"30s"`.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), ValueError> {
        let raw = match kind_of(key) {
            Some(Kind::Count) | Some(Kind::Number) => match value.trim().parse::<i64>() {
                Ok(n) => Raw::Int(n),
                Err(_) => match value.trim().parse::<f64>() {
                    Ok(x) => Raw::Float(x),
                    Err(_) => Raw::Str(value),
                },
            },
            Some(Kind::Duration) | None => Raw::Str(value),
        };
        self.set_raw(key, raw)
    }

    /// Sets `key` from a value of any shape, checking it against the key's
    /// kind.
    pub(crate) fn set_raw(&mut self, key: &str, raw: Raw<'_>) -> Result<(), ValueError> {
        let fail = |reason: String| ValueError {
            key: key.to_owned(),
            value: match raw {
                Raw::Int(n) => n.to_string(),
                Raw::Float(x) => x.to_string(),
                Raw::Str(s) => format!("{s:?}"),
            },
            reason,
        };
        let Some(kind) = kind_of(key) else {
            let known: Vec<&str> = KEYS.iter().map(|(k, _)| *k).collect();
            return Err(fail(format!(
                "unknown key; the keys are {}",
                known.join(", ")
            )));
        };
        if key == "call_timeout" && !cfg!(feature = "tokio") {
            return Err(fail("needs the `tokio` feature".to_owned()));
        }
        match kind {
            Kind::Count => {
                let n = match raw {
                    Raw::Int(n) => u32::try_from(n).map_err(|_| {
                        fail(format!("must be a whole number from 0 to {}", u32::MAX))
                    })?,
                    _ => return Err(fail("must be a whole number".to_owned())),
                };
                self.set_count(key, n);
            }
            Kind::Number => {
                let x = match raw {
                    Raw::Int(n) => n as f64,
                    Raw::Float(x) => x,
                    Raw::Str(_) => return Err(fail("must be a number".to_owned())),
                };
                self.set_number(key, x);
            }
            Kind::Duration => {
                let d = match raw {
                    Raw::Str(s) => parse_duration(s).map_err(fail)?,
                    _ => {
                        return Err(fail(
                            "must be a duration string such as \"30s\", \"500ms\" or \"1m30s\""
                                .to_owned(),
                        ))
                    }
                };
                self.set_duration(key, d);
            }
        }
        Ok(())
    }

    fn set_count(&mut self, key: &str, n: u32) {
        let slot = match key {
            "max_failures" => &mut self.max_failures,
            "half_open_max_calls" => &mut self.half_open_max_calls,
            "success_threshold" => &mut self.success_threshold,
            "max_concurrent_calls" => &mut self.max_concurrent_calls,
            "count_window" => &mut self.count_window,
            "time_window_buckets" => &mut self.time_window_buckets,
            "minimum_calls" => &mut self.minimum_calls,
            _ => unreachable!("`{key}` is listed as a count"),
        };
        *slot = Some(n);
    }

    fn set_number(&mut self, key: &str, x: f64) {
        let slot = match key {
            "failure_rate" => &mut self.failure_rate,
            "slow_call_rate" => &mut self.slow_call_rate,
            "backoff_multiplier" => &mut self.backoff_multiplier,
            _ => unreachable!("`{key}` is listed as a number"),
        };
        *slot = Some(x);
    }

    fn set_duration(&mut self, key: &str, d: Duration) {
        let slot = match key {
            "timeout" => &mut self.timeout,
            "interval" => &mut self.interval,
            "time_window" => &mut self.time_window,
            "slow_call_duration" => &mut self.slow_call_duration,
            "backoff_max" => &mut self.backoff_max,
            "half_open_max_wait" => &mut self.half_open_max_wait,
            "call_timeout" => &mut self.call_timeout,
            _ => unreachable!("`{key}` is listed as a duration"),
        };
        *slot = Some(d);
    }

    /// `config` with every key this partial configuration sets replaced.
    pub fn apply(&self, mut config: Config) -> Config {
        fn put<T: Copy>(slot: &mut T, value: Option<T>) {
            if let Some(v) = value {
                *slot = v;
            }
        }
        fn put_opt<T: Copy>(slot: &mut Option<T>, value: Option<T>) {
            if value.is_some() {
                *slot = value;
            }
        }
        put_opt(&mut config.max_failures, self.max_failures);
        put(&mut config.timeout, self.timeout);
        put(&mut config.half_open_max_calls, self.half_open_max_calls);
        put(&mut config.success_threshold, self.success_threshold);
        put_opt(&mut config.max_concurrent_calls, self.max_concurrent_calls);
        put_opt(&mut config.interval, self.interval);
        put_opt(&mut config.failure_rate, self.failure_rate);
        put_opt(&mut config.count_window, self.count_window);
        put_opt(&mut config.time_window, self.time_window);
        put_opt(&mut config.time_window_buckets, self.time_window_buckets);
        put(&mut config.minimum_calls, self.minimum_calls);
        put_opt(&mut config.slow_call_duration, self.slow_call_duration);
        put_opt(&mut config.slow_call_rate, self.slow_call_rate);
        put_opt(&mut config.backoff_multiplier, self.backoff_multiplier);
        put_opt(&mut config.backoff_max, self.backoff_max);
        put_opt(&mut config.half_open_max_wait, self.half_open_max_wait);
        put_opt(&mut config.call_timeout, self.call_timeout);
        config
    }

    /// Every key set in `other` replaces the same key here.
    pub fn merge(&mut self, other: &PartialConfig) {
        macro_rules! take {
            ($($field:ident),*) => { $( if other.$field.is_some() { self.$field = other.$field; } )* };
        }
        take!(
            max_failures,
            timeout,
            half_open_max_calls,
            success_threshold,
            max_concurrent_calls,
            interval,
            failure_rate,
            count_window,
            time_window,
            time_window_buckets,
            minimum_calls,
            slow_call_duration,
            slow_call_rate,
            backoff_multiplier,
            backoff_max,
            half_open_max_wait,
            call_timeout
        );
    }

    /// Checks the values this partial configuration sets, on their own:
    /// ranges, and the combinations it sets entirely. A rule that also
    /// involves a key it leaves to the code (`backoff_max` needs
    /// `backoff_multiplier`) is judged when the breaker is created.
    pub fn validate(&self) -> Result<(), ConfigError> {
        // Stand-ins for partners the code may provide, so that only this
        // partial configuration's own values can fail.
        let mut base = Config::default();
        if self.time_window_buckets.is_some() && self.count_window.is_none() {
            base.time_window = Some(Duration::from_secs(1));
        }
        if self.slow_call_rate.is_some() {
            base.slow_call_duration = Some(Duration::from_secs(1));
        }
        if self.backoff_max.is_some() {
            base.backoff_multiplier = Some(1.0);
            base.timeout = Duration::from_nanos(1);
        }
        self.apply(base).validate()
    }
}

pub(crate) fn kind_of(key: &str) -> Option<Kind> {
    KEYS.iter().find(|(k, _)| *k == key).map(|(_, kind)| *kind)
}

/// Parses `"500ms"`, `"30s"`, `"1m30s"`, `"2h"`: whole numbers with units
/// (`ns`, `us`, `ms`, `s`, `m`, `h`, `d`), largest first, each at most
/// once, optionally separated by spaces. The attribute's grammar.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    const UNITS: &[(&str, u128)] = &[
        ("d", 86_400_000_000_000),
        ("h", 3_600_000_000_000),
        ("m", 60_000_000_000),
        ("s", 1_000_000_000),
        ("ms", 1_000_000),
        ("us", 1_000),
        ("ns", 1),
    ];
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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn set_checks_the_kind_of_each_key() {
        let mut p = PartialConfig::new();
        assert!(p.set("max_failures", "3").is_ok());
        assert_eq!(
            p.set("max_failures", "-1").unwrap_err().key(),
            "max_failures"
        );
        assert!(p.set("failure_rate", "0.5").is_ok());
        assert!(p.set("timeout", "30").is_err());
        assert!(p
            .set("max_failure", "3")
            .unwrap_err()
            .reason()
            .starts_with("unknown key"));
    }

    #[test]
    fn validate_judges_only_the_keys_that_are_set() {
        let mut p = PartialConfig::new();
        p.set("backoff_max", "10m").unwrap();
        assert!(
            p.validate().is_ok(),
            "the multiplier may come from the code"
        );
        p.set("max_failures", "0").unwrap();
        assert_eq!(p.validate().unwrap_err().field(), "max_failures");
    }
}
