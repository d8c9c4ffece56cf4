//! serde: the stats' JSON field names, and `Config` from human-readable
//! values.

use std::time::Duration;

use breakerbox::{CircuitBreaker, Config, ManualClock};
use serde_json::json;

#[test]
fn stats_serialize_with_stable_field_names() {
    let clock = ManualClock::new();
    let config = Config::default()
        .max_failures(2)
        .timeout(Duration::from_secs(30))
        .clock(clock.clone());
    let cb = CircuitBreaker::new("serde-db", config).unwrap();
    let _ = cb.call(|| Ok::<_, ()>(()));
    let _ = cb.call(|| Err::<(), _>(()));
    let _ = cb.call(|| Err::<(), _>(()));
    clock.advance(Duration::from_secs(5));

    let value = serde_json::to_value(cb.stats()).unwrap();
    let empty = json!({
        "calls": 0, "successes": 0, "failures": 0, "ignored": 0, "cancelled": 0,
        "rejected": 0, "consecutive_successes": 0, "consecutive_failures": 0,
        "slow_calls": 0, "timeouts": 0
    });
    assert_eq!(
        value,
        json!({
            "name": "serde-db",
            "state": "open",
            "period": empty,
            "tripped_by": {
                "reason": "consecutive_failures",
                "period": {
                    "calls": 3, "successes": 1, "failures": 2, "ignored": 0, "cancelled": 0,
                    "rejected": 0, "consecutive_successes": 0, "consecutive_failures": 2,
                    "slow_calls": 0, "timeouts": 0
                },
                "failure_rate": 2.0 / 3.0,
                "slow_call_rate": 0.0,
                "ago_secs": 5.0
            },
            "totals": {
                "calls": 3, "successes": 1, "failures": 2, "ignored": 0,
                "cancelled": 0, "rejected": 0, "slow_calls": 0, "timeouts": 0, "stale": 0
            },
            "failure_rate": 0.0,
            "slow_call_rate": 0.0,
            "in_flight": 0,
            "time_until_half_open_secs": 25.0,
            "open_count": 1,
            "time_in_state_secs": 5.0,
            "open_duration_secs": 30.0,
            "generation": 1
        })
    );
}

#[test]
fn the_json_fields_are_the_struct_fields_in_their_order() {
    let cb = CircuitBreaker::new("serde-order", Config::default()).unwrap();
    let text = serde_json::to_string(&cb.stats()).unwrap();
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    let keys: Vec<&str> = value
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut expected = vec![
        "name",
        "state",
        "period",
        "tripped_by",
        "totals",
        "failure_rate",
        "slow_call_rate",
        "in_flight",
        "time_until_half_open_secs",
        "open_count",
        "time_in_state_secs",
        "open_duration_secs",
        "generation",
    ];
    let mut sorted = keys.clone();
    sorted.sort_unstable();
    expected.sort_unstable();
    assert_eq!(sorted, expected);
    assert!(
        text.starts_with(r#"{"name":"serde-order","state":"closed","period":{"calls":0,"#),
        "{text}"
    );
    assert_eq!(value["tripped_by"], serde_json::Value::Null);
}

#[test]
fn rates_and_streaks_describe_the_current_period() {
    let cb = CircuitBreaker::new("serde-rates", Config::default()).unwrap();
    let _ = cb.call(|| Ok::<_, ()>(()));
    let _ = cb.call(|| Err::<(), _>(()));
    let value = serde_json::to_value(cb.stats()).unwrap();
    assert_eq!(value["failure_rate"], 0.5);
    assert_eq!(value["period"]["consecutive_failures"], 1);
    assert_eq!(value["period"]["calls"], 2);
    assert_eq!(value["time_until_half_open_secs"], serde_json::Value::Null);
}

#[test]
fn config_deserializes_with_human_readable_durations() {
    let config: Config = serde_json::from_str(
        r#"{"max_failures": 3, "timeout": "1m30s", "failure_rate": 0.5, "count_window": 20}"#,
    )
    .unwrap();
    assert_eq!(config.settings().max_failures, Some(3));
    assert_eq!(config.settings().timeout, Duration::from_secs(90));
    assert_eq!(
        config.settings().half_open_max_calls,
        1,
        "a missing key keeps its default"
    );
}

#[test]
fn config_deserialization_names_an_invalid_value() {
    let error = serde_json::from_str::<Config>(r#"{"half_open_max_calls": 0}"#).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("`half_open_max_calls` = 0: must be at least 1"),
        "{error}"
    );
    let error = serde_json::from_str::<Config>(r#"{"max_failures": 0}"#).unwrap_err();
    assert!(
        error
            .to_string()
            .contains(r#"`max_failures` = 0: must be a whole number of at least 1, or "off""#),
        "{error}"
    );
    let error = serde_json::from_str::<Config>(r#"{"timeout": "30 parsecs"}"#).unwrap_err();
    assert!(error.to_string().contains("`timeout`"), "{error}");
    let error = serde_json::from_str::<Config>(r#"{"max_failure": 3}"#).unwrap_err();
    assert!(error.to_string().contains("unknown key"), "{error}");
}

#[test]
fn max_failures_off_deserializes_to_a_rate_only_config() {
    let config: Config =
        serde_json::from_str(r#"{"max_failures": "off", "failure_rate": 0.5}"#).unwrap();
    assert_eq!(config.settings().max_failures, None);
}

#[test]
fn store_deserializes_into_the_config() {
    let config: Config = serde_json::from_str(r#"{"store": "fleet"}"#).unwrap();
    assert_eq!(config.settings().store.as_deref(), Some("fleet"));
}

/// A value for `key`, as JSON (and a file) writes it.
fn sample(key: &str) -> &'static str {
    match key {
        "max_failures"
        | "half_open_max_calls"
        | "success_threshold"
        | "max_concurrent_calls"
        | "count_window"
        | "time_window_buckets"
        | "minimum_calls" => "7",
        "failure_rate" | "slow_call_rate" | "jitter" => "0.25",
        "backoff_multiplier" => "1.5",
        "timeout" | "interval" | "time_window" | "slow_call_duration" | "backoff_max"
        | "half_open_max_wait" | "call_timeout" => "\"7s\"",
        "store" => "\"fleet\"",
        other => panic!("no sample for the key `{other}`: add one here"),
    }
}

#[test]
fn every_key_deserializes_as_the_file_and_the_environment_read_it() {
    for key in breakerbox::PartialConfig::keys() {
        let value = sample(key);
        let json = format!("{{\"{key}\": {value}}}");
        let partial: breakerbox::PartialConfig =
            serde_json::from_str(&json).unwrap_or_else(|e| panic!("serde refused `{key}`: {e}"));
        let mut expected = breakerbox::PartialConfig::new();
        expected.set(key, value.trim_matches('"')).unwrap();
        assert_eq!(partial, expected, "{json}");
    }
}

#[test]
fn a_count_window_above_the_limit_is_a_deserialization_error_naming_it() {
    let error = serde_json::from_str::<Config>(r#"{"count_window": 4294967295}"#).unwrap_err();
    let message = error.to_string();
    assert!(message.contains("`count_window` = 4294967295"), "{message}");
    assert!(message.contains("100000"), "{message}");
}

#[test]
fn an_unknown_key_is_reported_with_its_value_as_written() {
    let error = serde_json::from_str::<Config>(r#"{"foo": 1}"#).unwrap_err();
    let message = error.to_string();
    assert!(message.contains("`foo` = 1: unknown key"), "{message}");
}

#[test]
fn a_value_beyond_i64_is_reported_as_written() {
    let error =
        serde_json::from_str::<Config>(r#"{"count_window": 18446744073709551615}"#).unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains("`count_window` = 18446744073709551615"),
        "{message}"
    );
}

#[test]
fn a_huge_float_is_reported_as_written() {
    let error = serde_json::from_str::<Config>(r#"{"max_failures": 1e300}"#).unwrap_err();
    let message = error.to_string();
    assert!(message.contains("`max_failures` = 1e300"), "{message}");
}

#[test]
fn a_value_of_the_wrong_shape_is_an_error_naming_the_key() {
    let error = serde_json::from_str::<Config>(r#"{"timeout": [1, 2]}"#).unwrap_err();
    let message = error.to_string();
    assert!(message.contains("`timeout`"), "{message}");
}

#[test]
fn the_status_json_lists_the_configurations_no_breaker_uses() {
    let registry = breakerbox::Registry::new();
    let mut ops = breakerbox::PartialConfig::new();
    ops.set("timeout", "5s").unwrap();
    registry.override_config("paymnets", ops).unwrap();
    registry
        .get_or_create("payments", Config::default())
        .unwrap();
    let status: serde_json::Value = serde_json::from_str(&registry.status_json()).unwrap();
    assert_eq!(
        status["unused_configurations"],
        json!([{"name": "paymnets", "origin": "Registry::override_config"}])
    );
}

#[test]
fn a_huge_rate_is_reported_as_written() {
    let error = serde_json::from_str::<Config>(r#"{"failure_rate": 1e300}"#).unwrap_err();
    let message = error.to_string();
    assert!(message.contains("`failure_rate` = 1e300:"), "{message}");
}
