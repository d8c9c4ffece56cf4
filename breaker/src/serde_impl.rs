//! serde support (feature `serde`): `Serialize` for the stats, with field
//! names that are part of the API, and `Deserialize` for [`Config`] and
//! [`PartialConfig`] with human-readable durations (`"30s"`).
//!
//! A serialized [`Stats`], as the [status endpoint](crate::Registry::status_json)
//! returns it (durations in seconds, as floating-point numbers):
//!
//! ```json
//! {
//!   "name": "db", "state": "open",
//!   "period": { "calls": 4, "successes": 0, "failures": 0, "rejected": 4, ... },
//!   "tripped_by": {
//!     "reason": "consecutive_failures",
//!     "period": { "calls": 6, "successes": 1, "failures": 5, ... },
//!     "failure_rate": 0.8333333333333334, "slow_call_rate": 0.0, "ago_secs": 2.5
//!   },
//!   "totals": { "calls": 10, "successes": 1, "failures": 5, "rejected": 4, ... },
//!   "failure_rate": 0.0, "slow_call_rate": 0.0, "in_flight": 0,
//!   "time_until_half_open_secs": 27.5, "open_count": 1,
//!   "time_in_state_secs": 2.5, "open_duration_secs": 30.0, "generation": 1
//! }
//! ```

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeStruct, Serializer};

use crate::breaker::State;
use crate::config::Config;
use crate::overrides::UnusedConfiguration;
use crate::partial::{PartialConfig, Raw};
use crate::registry::Registry;
use crate::stats::{Counts, Stats, Totals, Trip, TripReason};

impl Serialize for State {
    /// As [`State::as_str`]: `"closed"`, `"open"`, `"half_open"`,
    /// `"forced_open"`, `"disabled"`.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl Serialize for Counts {
    /// Every field, under its name.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("Counts", 10)?;
        s.serialize_field("calls", &self.calls)?;
        s.serialize_field("successes", &self.successes)?;
        s.serialize_field("failures", &self.failures)?;
        s.serialize_field("ignored", &self.ignored)?;
        s.serialize_field("cancelled", &self.cancelled)?;
        s.serialize_field("rejected", &self.rejected)?;
        s.serialize_field("consecutive_successes", &self.consecutive_successes)?;
        s.serialize_field("consecutive_failures", &self.consecutive_failures)?;
        s.serialize_field("slow_calls", &self.slow_calls)?;
        s.serialize_field("timeouts", &self.timeouts)?;
        s.end()
    }
}

impl Serialize for Totals {
    /// Every field, under its name.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("Totals", 9)?;
        s.serialize_field("calls", &self.calls)?;
        s.serialize_field("successes", &self.successes)?;
        s.serialize_field("failures", &self.failures)?;
        s.serialize_field("ignored", &self.ignored)?;
        s.serialize_field("cancelled", &self.cancelled)?;
        s.serialize_field("rejected", &self.rejected)?;
        s.serialize_field("slow_calls", &self.slow_calls)?;
        s.serialize_field("timeouts", &self.timeouts)?;
        s.serialize_field("stale", &self.stale)?;
        s.end()
    }
}

impl Serialize for TripReason {
    /// As [`TripReason::as_str`]: `"consecutive_failures"`, `"failure_rate"`,
    /// `"slow_call_rate"`, `"trip_when"`, `"fleet"`.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl Serialize for Trip {
    /// Every field under its name; `ago` as `ago_secs`, in seconds.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("Trip", 5)?;
        s.serialize_field("reason", &self.reason)?;
        s.serialize_field("period", &self.period)?;
        s.serialize_field("failure_rate", &self.failure_rate)?;
        s.serialize_field("slow_call_rate", &self.slow_call_rate)?;
        s.serialize_field("ago_secs", &self.ago.as_secs_f64())?;
        s.end()
    }
}

impl Serialize for Stats {
    /// Every field under its name, in the struct's order; a duration's
    /// name ends in `_secs` and its value is in seconds:
    /// `time_until_half_open_secs` (`null` unless open),
    /// `time_in_state_secs`, `open_duration_secs`. `tripped_by` is `null`
    /// or a [`Trip`].
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("Stats", 13)?;
        s.serialize_field("name", &self.name)?;
        s.serialize_field("state", &self.state)?;
        s.serialize_field("period", &self.period)?;
        s.serialize_field("tripped_by", &self.tripped_by)?;
        s.serialize_field("totals", &self.totals)?;
        s.serialize_field("failure_rate", &self.failure_rate)?;
        s.serialize_field("slow_call_rate", &self.slow_call_rate)?;
        s.serialize_field("in_flight", &self.in_flight)?;
        s.serialize_field(
            "time_until_half_open_secs",
            &self.time_until_half_open.map(|d| d.as_secs_f64()),
        )?;
        s.serialize_field("open_count", &self.open_count)?;
        s.serialize_field("time_in_state_secs", &self.time_in_state.as_secs_f64())?;
        s.serialize_field("open_duration_secs", &self.open_duration.as_secs_f64())?;
        s.serialize_field("generation", &self.generation)?;
        s.end()
    }
}

impl Serialize for UnusedConfiguration {
    /// `{"name": ..., "origin": ...}`.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("UnusedConfiguration", 2)?;
        s.serialize_field("name", self.name())?;
        s.serialize_field("origin", self.origin())?;
        s.end()
    }
}

impl Registry {
    /// Every registered breaker's [`Stats`] as a JSON document,
    /// `{"breakers": [...], "unused_configurations": [...]}`, the breakers
    /// sorted by name: the body of a status endpoint for dashboards and
    /// health checks (feature `serde`).
    ///
    /// `unused_configurations` lists the
    /// [settings no breaker has used](Registry::unused_configurations),
    /// each as `{"name": "paymnets", "origin": "breakers.toml"}`: a
    /// misspelled name in a configuration file shows there.
    ///
    /// ```
    /// use breakerbox::{Config, Registry};
    ///
    /// let registry = Registry::new();
    /// registry.get_or_create("db", Config::default()).unwrap();
    /// let json = registry.status_json();
    /// assert!(json.starts_with(r#"{"breakers":[{"name":"db","state":"closed""#));
    /// ```
    pub fn status_json(&self) -> String {
        struct Status(Vec<Stats>, Vec<UnusedConfiguration>);
        impl Serialize for Status {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let mut s = serializer.serialize_struct("Status", 2)?;
                s.serialize_field("breakers", &self.0)?;
                s.serialize_field("unused_configurations", &self.1)?;
                s.end()
            }
        }
        let status = Status(self.stats_all(), self.unused_configurations());
        serde_json::to_string(&status)
            .unwrap_or_else(|e| unreachable!("stats always serialize to JSON: {e}"))
    }
}

impl<'de> Deserialize<'de> for PartialConfig {
    /// A map of the keys of [`PartialConfig::keys`] (the attribute's and
    /// the file's), each optional, with the same values as a file:
    /// durations are strings such as `"30s"` or `"1m30s"`, `max_failures`
    /// may be `"off"`, `store` is a store's name. An unknown key is an
    /// error.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(PartialVisitor)
    }
}

impl<'de> Deserialize<'de> for Config {
    /// Like [`PartialConfig`], over [`Config::default()`], then validated:
    /// an invalid value is a deserialization error naming the field.
    ///
    /// ```
    /// use breakerbox::Config;
    /// use std::time::Duration;
    ///
    /// let config: Config = serde_json::from_str(r#"{"max_failures": 3, "timeout": "30s"}"#).unwrap();
    /// assert_eq!(config.settings().timeout, Duration::from_secs(30));
    ///
    /// let rate_only: Config = serde_json::from_str(r#"{"max_failures": "off", "failure_rate": 0.5}"#).unwrap();
    /// assert_eq!(rate_only.settings().max_failures, None);
    /// ```
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let partial = PartialConfig::deserialize(deserializer)?;
        let config = partial.apply(Config::default());
        config.validate().map_err(de::Error::custom)?;
        Ok(config)
    }
}

struct PartialVisitor;

impl<'de> Visitor<'de> for PartialVisitor {
    type Value = PartialConfig;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map of circuit breaker settings")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<PartialConfig, A::Error> {
        let mut partial = PartialConfig::new();
        // Keys seen so far: a key given twice is refused, as TOML refuses
        // it, rather than the last value winning without a word. (Every
        // key that is not ours is an error at once, so this stays short.)
        let mut seen: Vec<String> = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            if seen.contains(&key) {
                return Err(de::Error::custom(format_args!(
                    "`{}` is given twice",
                    crate::error::Escaped(&key)
                )));
            }
            seen.push(key.clone());
            // Any shape is read, so that the error names the key (and,
            // for an unknown key, shows its value).
            let set = match map.next_value::<OwnedRaw>()? {
                OwnedRaw::Int(n) => partial.set_raw(&key, Raw::Int(n)),
                OwnedRaw::Float(x) => partial.set_raw(&key, Raw::Float(x)),
                OwnedRaw::Str(text) => partial.set_raw(&key, Raw::Str(&text)),
                OwnedRaw::Other(shown) => partial.set_raw(&key, Raw::Other(shown)),
            };
            set.map_err(de::Error::custom)?;
        }
        Ok(partial)
    }
}

/// A setting's value as the format gives it: a number or a string, as in
/// a TOML file, checked against its key by `PartialConfig::set_raw`; or
/// another shape, which no key takes.
enum OwnedRaw {
    Int(i128),
    Float(f64),
    Str(String),
    /// How an error shows the value.
    Other(&'static str),
}

impl<'de> Deserialize<'de> for OwnedRaw {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(RawVisitor)
    }
}

struct RawVisitor;

impl<'de> Visitor<'de> for RawVisitor {
    type Value = OwnedRaw;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a number or a string")
    }

    fn visit_i64<E: de::Error>(self, n: i64) -> Result<OwnedRaw, E> {
        Ok(OwnedRaw::Int(n.into()))
    }

    fn visit_u64<E: de::Error>(self, n: u64) -> Result<OwnedRaw, E> {
        Ok(OwnedRaw::Int(n.into()))
    }

    fn visit_i128<E: de::Error>(self, n: i128) -> Result<OwnedRaw, E> {
        Ok(OwnedRaw::Int(n))
    }

    fn visit_u128<E: de::Error>(self, n: u128) -> Result<OwnedRaw, E> {
        // Beyond `i128::MAX` is out of every key's range, as `i128::MAX` is.
        Ok(OwnedRaw::Int(i128::try_from(n).unwrap_or(i128::MAX)))
    }

    fn visit_f64<E: de::Error>(self, x: f64) -> Result<OwnedRaw, E> {
        // A whole number beyond the 64-bit integers reaches a JSON visitor
        // as a float: shown as the integer it is, not as `1.8e19`.
        const BEYOND_64_BITS: f64 = 9_223_372_036_854_775_808.0;
        if x.is_finite() && x.fract() == 0.0 && x.abs() >= BEYOND_64_BITS && x.abs() < 1e38 {
            return Ok(OwnedRaw::Int(x as i128));
        }
        Ok(OwnedRaw::Float(x))
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<OwnedRaw, E> {
        Ok(OwnedRaw::Str(text.to_owned()))
    }

    fn visit_bool<E: de::Error>(self, b: bool) -> Result<OwnedRaw, E> {
        Ok(OwnedRaw::Other(if b { "true" } else { "false" }))
    }

    fn visit_unit<E: de::Error>(self) -> Result<OwnedRaw, E> {
        Ok(OwnedRaw::Other("null"))
    }

    fn visit_none<E: de::Error>(self) -> Result<OwnedRaw, E> {
        Ok(OwnedRaw::Other("null"))
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<OwnedRaw, D::Error> {
        deserializer.deserialize_any(self)
    }

    fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<OwnedRaw, E> {
        Ok(OwnedRaw::Other("bytes"))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<OwnedRaw, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(OwnedRaw::Other("a list"))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<OwnedRaw, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(OwnedRaw::Other("a map"))
    }
}
