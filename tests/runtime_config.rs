//! Configuration: every validation rule names the breaker, the field and
//! the value; the presets hold the documented values.

use std::time::Duration;

use breakerbox::{CircuitBreaker, Config, ConfigError, ManualClock, State};

const SEC: Duration = Duration::from_secs(1);

/// The error `CircuitBreaker::new("db", config)` refuses `config` with,
/// after checking that it names the breaker, `field` and `value`.
fn invalid(config: Config, field: &str, value: &str) -> ConfigError {
    let err = CircuitBreaker::new("db", config).expect_err("an invalid configuration was accepted");
    assert_eq!((err.field(), err.value()), (field, value), "{err}");
    assert_eq!(err.breaker(), Some("db"));
    let shown = err.to_string();
    assert!(
        shown.contains("`db`"),
        "the message does not name the breaker: {shown}"
    );
    assert!(
        shown.contains(&format!("`{field}` = {value}")),
        "the message does not name the field and value: {shown}"
    );
    assert!(!err.reason().is_empty());
    err
}

fn valid(config: Config) {
    if let Err(err) = config.validate() {
        panic!("a valid configuration was refused: {err}");
    }
}

// ----- one rule per test ---------------------------------------------------------

#[test]
fn max_failures_must_be_at_least_one() {
    let err = invalid(Config::default().max_failures(0), "max_failures", "0");
    assert_eq!(err.reason(), "must be at least 1");
}

#[test]
fn timeout_must_be_positive() {
    invalid(Config::default().timeout(Duration::ZERO), "timeout", "0s");
}

#[test]
fn half_open_max_calls_must_be_at_least_one() {
    invalid(
        Config::default().half_open_max_calls(0),
        "half_open_max_calls",
        "0",
    );
}

#[test]
fn success_threshold_must_be_at_least_one() {
    invalid(
        Config::default().success_threshold(0),
        "success_threshold",
        "0",
    );
}

#[test]
fn max_concurrent_calls_must_be_at_least_one() {
    invalid(
        Config::default().max_concurrent_calls(0),
        "max_concurrent_calls",
        "0",
    );
}

#[test]
fn interval_must_be_positive() {
    invalid(Config::default().interval(Duration::ZERO), "interval", "0s");
}

#[test]
fn failure_rate_must_be_above_zero() {
    invalid(Config::default().failure_rate(0.0), "failure_rate", "0.0");
}

#[test]
fn failure_rate_must_be_at_most_one() {
    invalid(Config::default().failure_rate(1.5), "failure_rate", "1.5");
    valid(Config::default().failure_rate(1.0));
}

#[test]
fn failure_rate_must_be_a_number() {
    invalid(
        Config::default().failure_rate(f64::NAN),
        "failure_rate",
        "NaN",
    );
}

#[test]
fn a_huge_rate_is_reported_as_written_not_as_its_digits() {
    invalid(
        Config::default().failure_rate(1e300),
        "failure_rate",
        "1e300",
    );
}

#[test]
fn count_window_must_be_at_least_one() {
    invalid(Config::default().count_window(0), "count_window", "0");
}

#[test]
fn count_window_must_be_at_most_100000() {
    let err = invalid(
        Config::default().count_window(u32::MAX),
        "count_window",
        "4294967295",
    );
    assert!(
        err.reason().contains("100000"),
        "the limit is not named: {err}"
    );
    invalid(
        Config::default().count_window(100_001),
        "count_window",
        "100001",
    );
    valid(Config::default().count_window(100_000));
    assert_eq!(breakerbox::MAX_COUNT_WINDOW, 100_000);
}

#[test]
fn count_window_and_time_window_are_exclusive() {
    let err = CircuitBreaker::new(
        "db",
        Config::default().count_window(20).time_window(10 * SEC),
    )
    .unwrap_err();
    let (other, value) = match err.field() {
        "count_window" => ("time_window", "20"),
        "time_window" => ("count_window", "10s"),
        field => panic!("the error names neither window but `{field}`: {err}"),
    };
    assert_eq!(err.value(), value);
    assert!(
        err.reason().contains(other),
        "the reason does not name `{other}`: {err}"
    );
}

#[test]
fn time_window_must_be_positive() {
    invalid(
        Config::default().time_window(Duration::ZERO),
        "time_window",
        "0s",
    );
}

#[test]
fn time_window_buckets_needs_time_window() {
    let err = invalid(
        Config::default().time_window_buckets(5),
        "time_window_buckets",
        "5",
    );
    assert!(err.reason().contains("time_window"), "{err}");
}

#[test]
fn time_window_buckets_must_be_at_least_one() {
    invalid(
        Config::default()
            .time_window(10 * SEC)
            .time_window_buckets(0),
        "time_window_buckets",
        "0",
    );
    valid(
        Config::default()
            .time_window(10 * SEC)
            .time_window_buckets(1),
    );
}

#[test]
fn time_window_buckets_must_be_at_most_1000() {
    invalid(
        Config::default()
            .time_window(10 * SEC)
            .time_window_buckets(1001),
        "time_window_buckets",
        "1001",
    );
    valid(
        Config::default()
            .time_window(10 * SEC)
            .time_window_buckets(1000),
    );
    assert_eq!(breakerbox::MAX_TIME_BUCKETS, 1000);
}

#[test]
fn minimum_calls_must_be_at_least_one() {
    invalid(Config::default().minimum_calls(0), "minimum_calls", "0");
}

#[test]
fn slow_call_duration_must_be_positive() {
    invalid(
        Config::default().slow_call_duration(Duration::ZERO),
        "slow_call_duration",
        "0s",
    );
}

#[test]
fn slow_call_rate_must_be_a_fraction() {
    invalid(
        Config::default()
            .slow_call_duration(SEC)
            .slow_call_rate(2.0),
        "slow_call_rate",
        "2.0",
    );
    invalid(
        Config::default()
            .slow_call_duration(SEC)
            .slow_call_rate(-0.5),
        "slow_call_rate",
        "-0.5",
    );
}

#[test]
fn slow_call_rate_needs_slow_call_duration() {
    let err = invalid(
        Config::default().slow_call_rate(0.5),
        "slow_call_rate",
        "0.5",
    );
    assert!(err.reason().contains("slow_call_duration"), "{err}");
}

#[test]
fn backoff_multiplier_must_be_at_least_one() {
    invalid(
        Config::default().backoff_multiplier(0.5),
        "backoff_multiplier",
        "0.5",
    );
    valid(Config::default().backoff_multiplier(1.0));
}

#[test]
fn backoff_multiplier_must_be_finite() {
    invalid(
        Config::default().backoff_multiplier(f64::INFINITY),
        "backoff_multiplier",
        "inf",
    );
}

#[test]
fn backoff_max_needs_backoff_multiplier() {
    let err = invalid(
        Config::default().backoff_max(600 * SEC),
        "backoff_max",
        "600s",
    );
    assert!(err.reason().contains("backoff_multiplier"), "{err}");
}

#[test]
fn backoff_max_must_be_at_least_timeout() {
    let err = invalid(
        Config::default()
            .timeout(60 * SEC)
            .backoff_multiplier(2.0)
            .backoff_max(30 * SEC),
        "backoff_max",
        "30s",
    );
    assert!(err.reason().contains("timeout"), "{err}");
    valid(
        Config::default()
            .timeout(60 * SEC)
            .backoff_multiplier(2.0)
            .backoff_max(60 * SEC),
    );
}

#[test]
fn half_open_max_wait_must_be_positive() {
    invalid(
        Config::default().half_open_max_wait(Duration::ZERO),
        "half_open_max_wait",
        "0s",
    );
}

#[test]
fn call_timeout_must_be_positive() {
    invalid(
        Config::default().call_timeout(Duration::ZERO),
        "call_timeout",
        "0s",
    );
}

#[test]
fn a_configuration_using_every_setter_validly_is_accepted() {
    valid(
        Config::default()
            .max_failures(3)
            .timeout(30 * SEC)
            .half_open_max_calls(2)
            .success_threshold(4)
            .max_concurrent_calls(10)
            .interval(60 * SEC)
            .failure_rate(0.5)
            .time_window(10 * SEC)
            .time_window_buckets(20)
            .minimum_calls(5)
            .slow_call_duration(2 * SEC)
            .slow_call_rate(0.8)
            .backoff_multiplier(1.5)
            .backoff_max(300 * SEC)
            .half_open_max_wait(5 * SEC)
            .call_timeout(SEC)
            .trip_when(|_| false)
            .on_state_change(|_| {})
            .clock(ManualClock::new()),
    );
}

// ----- ConfigError ------------------------------------------------------------------

#[test]
fn config_error_display_names_breaker_field_value_and_reason() {
    let err = CircuitBreaker::new("db", Config::default().max_failures(0)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid configuration for circuit breaker `db`: `max_failures` = 0: must be at least 1"
    );
}

#[test]
fn config_error_from_validate_names_no_breaker() {
    let err = Config::default()
        .timeout(Duration::ZERO)
        .validate()
        .unwrap_err();
    assert_eq!(err.breaker(), None);
    assert_eq!(err.field(), "timeout");
    let shown = err.to_string();
    assert!(shown.contains("`timeout` = 0s"), "{shown}");
    assert!(shown.contains(err.reason()), "{shown}");
}

#[test]
fn config_error_is_a_std_error() {
    let err: Box<dyn std::error::Error> =
        Box::new(Config::default().max_failures(0).validate().unwrap_err());
    assert!(err.source().is_none());
    assert!(err.to_string().contains("max_failures"));
}

// ----- presets ------------------------------------------------------------------------

#[test]
fn default_config_values() {
    let config = Config::default();
    assert_eq!(config.settings().max_failures, Some(5));
    assert_eq!(config.settings().timeout, 60 * SEC);
    assert_eq!(config.settings().half_open_max_calls, 1);
    assert_eq!(config.settings().success_threshold, 1);
    assert_eq!(config.settings().max_concurrent_calls, None);
    assert_eq!(config.settings().call_timeout, None);
    valid(config);
}

#[test]
fn default_config_trips_after_five_consecutive_failures_for_sixty_seconds() {
    let clock = ManualClock::new();
    let cb = CircuitBreaker::new("db", Config::default().clock(clock.clone())).unwrap();
    for _ in 0..4 {
        let _ = cb.call(|| Err::<(), _>(()));
    }
    assert_eq!(cb.state(), State::Closed);
    let _ = cb.call(|| Err::<(), _>(()));
    assert_eq!(cb.stats().time_until_half_open, Some(60 * SEC));
}

#[test]
fn without_max_failures_turns_the_policy_off() {
    assert_eq!(
        Config::default()
            .without_max_failures()
            .settings()
            .max_failures,
        None
    );
    valid(Config::default().without_max_failures());
}

#[test]
fn aggressive_preset_values() {
    let config = Config::aggressive();
    assert_eq!(config.settings().max_failures, Some(3));
    assert_eq!(config.settings().timeout, 30 * SEC);
    assert_eq!(config.settings().max_concurrent_calls, Some(100));
    assert_eq!(config.settings().success_threshold, 3);
    assert_eq!(config.settings().half_open_max_calls, 1);
    valid(config);
}

#[test]
fn conservative_preset_values() {
    let config = Config::conservative();
    assert_eq!(config.settings().max_failures, Some(10));
    assert_eq!(config.settings().timeout, 120 * SEC);
    assert_eq!(config.settings().success_threshold, 5);
    assert_eq!(config.settings().max_concurrent_calls, None);
    assert_eq!(config.settings().half_open_max_calls, 1);
    valid(config);
}

#[test]
fn a_breaker_keeps_the_config_it_was_built_with() {
    let cb = CircuitBreaker::new("db", Config::conservative().max_failures(7)).unwrap();
    assert_eq!(cb.name(), "db");
    assert_eq!(cb.config().settings().max_failures, Some(7));
    assert_eq!(cb.config().settings().timeout, 120 * SEC);
}

// ----- settings registered for an annotated function -----------------------------

#[derive(Debug, PartialEq)]
enum CallError {
    Rejected,
    TimedOut,
}

impl From<breakerbox::Rejected> for CallError {
    fn from(_: breakerbox::Rejected) -> Self {
        CallError::Rejected
    }
}

impl From<breakerbox::TimedOut> for CallError {
    fn from(_: breakerbox::TimedOut) -> Self {
        CallError::TimedOut
    }
}

#[breakerbox::circuit_breaker(name = "config-configured-call-timeout")]
async fn configured_call_timeout(work: Duration) -> Result<(), CallError> {
    tokio::time::sleep(work).await;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn a_call_timeout_registered_with_configure_bounds_an_async_site() {
    breakerbox::registry()
        .configure(
            "config-configured-call-timeout",
            Config::default().call_timeout(SEC),
        )
        .unwrap();
    assert_eq!(
        configured_call_timeout(5 * SEC).await,
        Err(CallError::TimedOut)
    );
}

#[breakerbox::circuit_breaker(name = "config-sync-call-timeout")]
fn sync_site() -> Result<(), CallError> {
    Ok(())
}

#[test]
fn a_call_timeout_registered_for_a_sync_site_is_refused_naming_the_breaker_and_the_key() {
    let name = "config-sync-call-timeout";
    breakerbox::registry()
        .configure(name, Config::default().call_timeout(SEC))
        .unwrap();
    assert_eq!(sync_site(), Ok(()));
    // The breaker keeps it: another function sharing the name may enforce
    // it. This function's calls run without it, and that is listed.
    let cb = breakerbox::registry().get(name).unwrap();
    assert_eq!(cb.config().settings().call_timeout, Some(SEC));
    let problem = breakerbox::registry()
        .config_problems()
        .into_iter()
        .find(|p| p.breaker() == name)
        .expect("the refusal is not listed");
    assert_eq!(
        problem.to_string(),
        "Registry::configure: circuit breaker `config-sync-call-timeout`: `call_timeout` = \"1s\": cannot take effect at `runtime_config::sync_site`: a sync function's call cannot be interrupted; its calls run without a time limit"
    );
}

/// An error type that can say "rejected" but not "timed out".
#[derive(Debug, PartialEq)]
struct RejectedOnly;

impl From<breakerbox::Rejected> for RejectedOnly {
    fn from(_: breakerbox::Rejected) -> Self {
        RejectedOnly
    }
}

#[breakerbox::circuit_breaker(name = "config-no-from-timed-out")]
async fn without_from_timed_out(work: Duration) -> Result<(), RejectedOnly> {
    tokio::time::sleep(work).await;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn a_call_timeout_registered_for_an_error_without_from_timed_out_is_refused() {
    let name = "config-no-from-timed-out";
    breakerbox::registry()
        .configure(name, Config::default().call_timeout(SEC))
        .unwrap();
    assert_eq!(without_from_timed_out(5 * SEC).await, Ok(()));
    let problem = breakerbox::registry()
        .config_problems()
        .into_iter()
        .find(|p| p.breaker() == name)
        .expect("the refusal is not listed");
    assert_eq!(problem.key(), "call_timeout");
    assert!(
        problem.reason().contains("From<breakerbox::TimedOut>"),
        "{problem}"
    );
}

#[breakerbox::circuit_breaker(
    name = "config-rate-only",
    max_failures = "off",
    failure_rate = 0.9,
    count_window = 20,
    minimum_calls = 20
)]
fn rate_only() -> Result<(), CallError> {
    Err(CallError::Rejected)
}

#[test]
fn max_failures_off_in_the_attribute_declares_a_rate_only_breaker() {
    for _ in 0..10 {
        assert_eq!(rate_only(), Err(CallError::Rejected));
    }
    let cb = breakerbox::registry().get("config-rate-only").unwrap();
    assert_eq!(cb.config().settings().max_failures, None);
    assert_eq!(
        cb.state(),
        State::Closed,
        "ten failures in a row tripped it"
    );
}

#[breakerbox::circuit_breaker(name = "config-shared-call-timeout")]
async fn shared_async(work: Duration) -> Result<(), CallError> {
    tokio::time::sleep(work).await;
    Ok(())
}

#[breakerbox::circuit_breaker(name = "config-shared-call-timeout")]
fn shared_sync() -> Result<(), CallError> {
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn a_sync_function_sharing_a_breaker_with_a_call_timeout_is_listed() {
    let name = "config-shared-call-timeout";
    breakerbox::registry()
        .configure(name, Config::default().call_timeout(SEC))
        .unwrap();
    assert_eq!(shared_async(5 * SEC).await, Err(CallError::TimedOut));
    assert_eq!(shared_sync(), Ok(()));
    let problem = breakerbox::registry()
        .config_problems()
        .into_iter()
        .find(|p| p.breaker() == name)
        .expect("the sync function's refusal is not listed");
    assert_eq!(problem.key(), "call_timeout");
    assert!(
        problem.reason().contains("`runtime_config::shared_sync`"),
        "{problem}"
    );
}

// ----- reading the settings back ---------------------------------------------

/// The field names of `Settings`, as its `Debug` lists them.
fn settings_fields(config: &Config) -> Vec<(String, String)> {
    let shown = format!("{:#?}", config.settings());
    shown
        .lines()
        .filter(|line| line.starts_with("    ") && !line.starts_with("     "))
        .filter_map(|line| line.trim().split_once(": "))
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect()
}

#[test]
fn every_key_can_be_read_back_from_the_settings() {
    let mut fields: Vec<String> = settings_fields(&Config::default())
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    let mut keys: Vec<String> = breakerbox::PartialConfig::keys()
        .map(str::to_owned)
        .collect();
    fields.sort();
    keys.sort();
    assert_eq!(fields, keys);
}

#[test]
fn a_merged_configuration_reads_back_each_sources_values() {
    let mut file = breakerbox::PartialConfig::new();
    file.set("time_window", "30s").unwrap();
    file.set("time_window_buckets", "6").unwrap();
    file.set("store", "fleet").unwrap();
    let config = file.apply(
        Config::default()
            .failure_rate(0.5)
            .count_window(20)
            .slow_call_duration(SEC)
            .half_open_max_wait(5 * SEC),
    );
    let settings = config.settings();
    assert_eq!(settings.failure_rate, Some(0.5));
    assert_eq!(settings.count_window, None, "the file's window replaced it");
    assert_eq!(settings.time_window, Some(30 * SEC));
    assert_eq!(settings.time_window_buckets, Some(6));
    assert_eq!(settings.slow_call_duration, Some(SEC));
    assert_eq!(settings.half_open_max_wait, Some(5 * SEC));
    assert_eq!(settings.store.as_deref(), Some("fleet"));
    assert_eq!(settings.minimum_calls, 10, "the default");
}
