//! Named configurations from a TOML file and environment variables:
//! per-key precedence over the code, and errors that say where.

use std::time::Duration;

use breakerbox::{circuit_breaker, registry, Config, ConfigFile, Registry, MAX_CONFIG_FILE_BYTES};

#[circuit_breaker(name = "file-attr-db", max_failures = 7, timeout = "60s")]
fn query() -> Result<(), std::io::Error> {
    Ok(())
}

#[test]
fn a_file_key_wins_over_the_attribute_literal_and_other_keys_stay() {
    ConfigFile::parse("breakers.toml", "[file-attr-db]\ntimeout = \"5s\"\n")
        .unwrap()
        .apply(registry())
        .unwrap();
    query().unwrap();
    let cb = registry().get("file-attr-db").unwrap();
    assert_eq!(cb.config().settings().timeout, Duration::from_secs(5));
    assert_eq!(cb.config().settings().max_failures, Some(7));
}

#[test]
fn a_file_key_wins_over_a_configured_config() {
    let registry = Registry::new();
    registry
        .configure(
            "db",
            Config::default()
                .max_failures(3)
                .timeout(Duration::from_secs(9)),
        )
        .unwrap();
    ConfigFile::parse("breakers.toml", "[db]\nmax_failures = 4\n")
        .unwrap()
        .apply(&registry)
        .unwrap();
    let cb = registry.get_or_create("db", Config::default()).unwrap();
    assert_eq!(cb.config().settings().max_failures, Some(4));
    assert_eq!(cb.config().settings().timeout, Duration::from_secs(9));
}

#[test]
fn an_environment_variable_wins_over_the_file() {
    let registry = Registry::new();
    ConfigFile::parse(
        "breakers.toml",
        "[orders-db]\ntimeout = \"5s\"\nmax_failures = 2\n",
    )
    .unwrap()
    .with_vars([("BREAKER_ORDERS_DB__TIMEOUT", "7s"), ("LANG", "C")])
    .unwrap()
    .apply(&registry)
    .unwrap();
    let cb = registry
        .get_or_create("orders-db", Config::default())
        .unwrap();
    assert_eq!(cb.config().settings().timeout, Duration::from_secs(7));
    assert_eq!(cb.config().settings().max_failures, Some(2));
}

#[test]
fn an_environment_variable_configures_a_breaker_the_file_does_not_name() {
    let registry = Registry::new();
    ConfigFile::new()
        .with_vars([("BREAKER_PAYMENTS_API__SUCCESS_THRESHOLD", "4")])
        .unwrap()
        .apply(&registry)
        .unwrap();
    let cb = registry
        .get_or_create("payments.api", Config::default())
        .unwrap();
    assert_eq!(cb.config().settings().success_threshold, 4);
}

#[test]
fn a_malformed_value_names_the_file_the_breaker_and_the_key() {
    let error = ConfigFile::parse("conf/breakers.toml", "[db]\ntimeout = \"soon\"\n").unwrap_err();
    assert_eq!(error.origin(), "conf/breakers.toml");
    assert_eq!(error.breaker_name(), Some("db"));
    assert_eq!(error.key(), Some("timeout"));
    assert!(
        error.to_string().starts_with(
            r#"conf/breakers.toml: circuit breaker `db`: `timeout` = "soon": must be a duration"#
        ),
        "{error}"
    );
}

#[test]
fn an_out_of_range_value_is_refused_with_the_validation_rule() {
    let error = ConfigFile::parse("b.toml", "[db]\nsuccess_threshold = 0\n").unwrap_err();
    assert_eq!(
        error.to_string(),
        "b.toml: circuit breaker `db`: `success_threshold` = 0: must be at least 1"
    );
}

#[test]
fn zero_max_failures_is_refused_with_the_way_to_turn_the_policy_off() {
    let error = ConfigFile::parse("b.toml", "[db]\nmax_failures = 0\n").unwrap_err();
    assert_eq!(
        error.to_string(),
        "b.toml: circuit breaker `db`: `max_failures` = 0: must be a whole number of at least 1, or \"off\" for a breaker without a consecutive-failure policy (one that trips on a rate only)"
    );
}

#[test]
fn an_unknown_key_is_refused() {
    let error = ConfigFile::parse("b.toml", "[db]\nmax_failure = 3\n").unwrap_err();
    assert_eq!(error.key(), Some("max_failure"));
    assert!(error.reason().starts_with("unknown key"), "{error}");
}

#[test]
fn invalid_toml_names_the_file() {
    let error = ConfigFile::parse("b.toml", "[db\n").unwrap_err();
    assert!(
        error.to_string().starts_with("b.toml: not valid TOML"),
        "{error}"
    );
    let error = ConfigFile::parse("b.toml", "db = 3\n").unwrap_err();
    assert_eq!(error.breaker_name(), Some("db"));
}

#[test]
fn a_missing_file_is_an_error_naming_it() {
    let error = ConfigFile::read("no/such/breakers.toml").unwrap_err();
    assert_eq!(error.origin(), "no/such/breakers.toml");
    assert!(
        error.reason().starts_with("cannot read the file"),
        "{error}"
    );
}

#[test]
fn a_malformed_variable_is_an_error_naming_it() {
    let error = ConfigFile::new()
        .with_vars([("BREAKER_DB__MAX_FAILURES", "many")])
        .unwrap_err();
    assert_eq!(
        error.origin(),
        "environment variable BREAKER_DB__MAX_FAILURES"
    );
    assert_eq!(error.breaker_name(), Some("DB"));
    assert_eq!(error.key(), Some("max_failures"));
}

#[test]
fn a_buckets_variable_with_a_count_window_variable_is_an_error_naming_both() {
    let error = ConfigFile::new()
        .with_vars([
            ("BREAKER_DB__COUNT_WINDOW", "20"),
            ("BREAKER_DB__TIME_WINDOW_BUCKETS", "6"),
        ])
        .unwrap_err();
    assert_eq!(
        error.origin(),
        "environment variable BREAKER_DB__TIME_WINDOW_BUCKETS"
    );
    assert!(
        error
            .reason()
            .ends_with("from environment variable BREAKER_DB__COUNT_WINDOW"),
        "{error}"
    );
}

#[test]
fn a_variable_with_one_underscore_before_a_key_is_an_error_spelling_it_right() {
    let error = ConfigFile::new()
        .with_vars([("BREAKER_ORDERS_DB_CALL_TIMEOUT", "5s")])
        .unwrap_err();
    assert_eq!(
        error.origin(),
        "environment variable BREAKER_ORDERS_DB_CALL_TIMEOUT"
    );
    assert!(
        error.reason().contains("BREAKER_ORDERS_DB__CALL_TIMEOUT"),
        "{error}"
    );
}

#[test]
fn variables_without_the_prefix_and_separator_are_skipped() {
    let file = ConfigFile::new()
        .with_vars([("BREAKER_MODE", "fast"), ("EDITOR", "vi")])
        .unwrap();
    let registry = Registry::new();
    file.apply(&registry).unwrap();
    let cb = registry.get_or_create("mode", Config::default()).unwrap();
    assert_eq!(cb.config().settings().max_failures, Some(5));
}

#[test]
fn applying_after_first_use_is_refused() {
    let registry = Registry::new();
    registry.get_or_create("db", Config::default()).unwrap();
    let error = ConfigFile::parse("b.toml", "[db]\ntimeout = \"5s\"\n")
        .unwrap()
        .apply(&registry)
        .unwrap_err();
    assert!(error.reason().starts_with("already in use"), "{error}");
}

#[test]
fn a_file_is_read_from_disk() {
    let path =
        std::env::temp_dir().join(format!("breaker-file-config-{}.toml", std::process::id()));
    std::fs::write(&path, "[disk]\nhalf_open_max_calls = 3\n").unwrap();
    let file = ConfigFile::read(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(file.names(), ["disk"]);
    let registry = Registry::new();
    file.apply(&registry).unwrap();
    let cb = registry.get_or_create("disk", Config::default()).unwrap();
    assert_eq!(cb.config().settings().half_open_max_calls, 3);
}

// ----- call_timeout from outside the code ------------------------------------------

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

#[circuit_breaker(name = "file-call-timeout")]
async fn bounded_by_the_file(work: Duration) -> Result<(), CallError> {
    tokio::time::sleep(work).await;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn a_call_timeout_from_the_file_bounds_an_async_site() {
    ConfigFile::parse("b.toml", "[file-call-timeout]\ncall_timeout = \"1s\"\n")
        .unwrap()
        .apply(registry())
        .unwrap();
    assert_eq!(
        bounded_by_the_file(Duration::from_secs(5)).await,
        Err(CallError::TimedOut)
    );
}

#[circuit_breaker(name = "env-call-timeout")]
async fn bounded_by_the_environment(work: Duration) -> Result<(), CallError> {
    tokio::time::sleep(work).await;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn a_call_timeout_from_the_environment_bounds_an_async_site() {
    ConfigFile::new()
        .with_vars([("BREAKER_ENV_CALL_TIMEOUT__CALL_TIMEOUT", "1s")])
        .unwrap()
        .apply(registry())
        .unwrap();
    assert_eq!(
        bounded_by_the_environment(Duration::from_secs(5)).await,
        Err(CallError::TimedOut)
    );
}

// ----- conflicts between the operators' values and the code's ---------------------

/// `Config`'s field `field` as its `Debug` shows it, e.g. `Some(20)`.
fn field(config: &Config, field: &str) -> String {
    let shown = format!("{config:?}");
    let start = shown
        .find(&format!(" {field}: "))
        .unwrap_or_else(|| panic!("no `{field}` in {shown}"))
        + field.len()
        + 3;
    let rest = &shown[start..];
    let end = rest.find(", ").unwrap_or(rest.len() - 2);
    rest[..end].to_owned()
}

#[circuit_breaker(
    name = "file-window-choice",
    max_failures = 7,
    failure_rate = 0.5,
    time_window = "1m",
    time_window_buckets = 6
)]
fn windowed() -> Result<(), std::io::Error> {
    Ok(())
}

#[test]
fn a_count_window_from_the_file_replaces_the_attribute_time_window() {
    ConfigFile::parse("b.toml", "[file-window-choice]\ncount_window = 20\n")
        .unwrap()
        .apply(registry())
        .unwrap();
    windowed().unwrap();
    let config = registry()
        .get("file-window-choice")
        .unwrap()
        .config()
        .clone();
    assert_eq!(field(&config, "count_window"), "Some(20)");
    assert_eq!(field(&config, "time_window"), "None");
    assert_eq!(field(&config, "time_window_buckets"), "None");
    assert_eq!(
        config.settings().max_failures,
        Some(7),
        "the attribute's other literals were lost"
    );
    assert_eq!(field(&config, "failure_rate"), "Some(0.5)");
}

#[test]
fn a_time_window_from_the_environment_replaces_a_configured_count_window() {
    let registry = Registry::new();
    registry
        .configure("db", Config::default().failure_rate(0.5).count_window(20))
        .unwrap();
    ConfigFile::new()
        .with_vars([("BREAKER_DB__TIME_WINDOW", "30s")])
        .unwrap()
        .apply(&registry)
        .unwrap();
    let config = registry
        .get_or_create("db", Config::default())
        .unwrap()
        .config()
        .clone();
    assert_eq!(field(&config, "time_window"), "Some(30s)");
    assert_eq!(field(&config, "count_window"), "None");
}

#[test]
fn a_file_value_conflicting_with_a_configured_config_is_refused_when_applied() {
    let registry = Registry::new();
    registry
        .configure(
            "db",
            Config::default()
                .timeout(Duration::from_secs(60))
                .backoff_multiplier(2.0)
                .backoff_max(Duration::from_secs(120)),
        )
        .unwrap();
    let error = ConfigFile::parse("conf/b.toml", "[db]\ntimeout = \"5m\"\n")
        .unwrap()
        .apply(&registry)
        .unwrap_err();
    assert_eq!(error.origin(), "conf/b.toml");
    assert_eq!(error.breaker_name(), Some("db"));
    assert_eq!(error.key(), Some("timeout"));
    assert!(error.reason().contains("`backoff_max`"), "{error}");
}

#[test]
fn a_variable_conflicting_with_a_configured_config_is_refused_naming_the_variable() {
    let registry = Registry::new();
    registry
        .configure("db", Config::default().failure_rate(0.5).count_window(20))
        .unwrap();
    let error = ConfigFile::new()
        .with_vars([("BREAKER_DB__TIME_WINDOW_BUCKETS", "5")])
        .unwrap()
        .apply(&registry)
        .unwrap_err();
    assert_eq!(
        error.origin(),
        "environment variable BREAKER_DB__TIME_WINDOW_BUCKETS"
    );
    assert_eq!(error.breaker_name(), Some("db"));
    assert_eq!(error.key(), Some("time_window_buckets"));
    assert!(error.reason().contains("`time_window`"), "{error}");
}

#[test]
fn a_refused_file_registers_none_of_its_values() {
    let registry = Registry::new();
    registry
        .configure("db", Config::default().failure_rate(0.5).count_window(20))
        .unwrap();
    ConfigFile::parse(
        "b.toml",
        "[cache]\nmax_failures = 2\n\n[db]\ntime_window_buckets = 5\n",
    )
    .unwrap()
    .apply(&registry)
    .unwrap_err();
    let cache = registry.get_or_create("cache", Config::default()).unwrap();
    assert_eq!(cache.config().settings().max_failures, Some(5));
}

#[circuit_breaker(
    name = "file-late-conflict",
    max_failures = 7,
    timeout = "2m",
    backoff_multiplier = 2.0,
    backoff_max = "4m"
)]
fn late_conflict() -> Result<(), std::io::Error> {
    Ok(())
}

#[test]
fn a_conflict_found_at_the_first_call_keeps_the_code_value_and_the_other_file_values() {
    ConfigFile::parse(
        "b.toml",
        "[file-late-conflict]\ntimeout = \"5m\"\nsuccess_threshold = 3\n",
    )
    .unwrap()
    .apply(registry())
    .unwrap();
    late_conflict().unwrap();
    let config = registry()
        .get("file-late-conflict")
        .unwrap()
        .config()
        .clone();
    assert_eq!(
        config.settings().timeout,
        Duration::from_secs(120),
        "the code's timeout"
    );
    assert_eq!(
        config.settings().success_threshold,
        3,
        "the file's other value"
    );
    assert_eq!(
        config.settings().max_failures,
        Some(7),
        "the attribute's other literal"
    );
}

// ----- every policy and every key, from the file and the environment --------------

#[test]
fn max_failures_off_in_the_file_declares_a_rate_only_breaker() {
    let registry = Registry::new();
    ConfigFile::parse(
        "b.toml",
        "[db]\nmax_failures = \"off\"\nfailure_rate = 0.5\n",
    )
    .unwrap()
    .apply(&registry)
    .unwrap();
    let cb = registry
        .get_or_create("db", Config::default().max_failures(3))
        .unwrap();
    assert_eq!(cb.config().settings().max_failures, None);
}

#[test]
fn max_failures_off_in_the_environment_declares_a_rate_only_breaker() {
    let registry = Registry::new();
    ConfigFile::new()
        .with_vars([("BREAKER_DB__MAX_FAILURES", "off")])
        .unwrap()
        .apply(&registry)
        .unwrap();
    let cb = registry
        .get_or_create("db", Config::default().failure_rate(0.5))
        .unwrap();
    assert_eq!(cb.config().settings().max_failures, None);
}

/// Over a configured breaker with no rate policy, `"off"` would leave a
/// breaker that never trips: `apply` refuses it, naming the key.
#[test]
fn max_failures_off_over_a_configuration_without_a_rate_is_refused_by_apply() {
    let registry = Registry::new();
    registry.configure("db", Config::default()).unwrap();
    let error = ConfigFile::parse(
        "b.toml",
        "[db]
max_failures = \"off\"\n",
    )
    .unwrap()
    .apply(&registry)
    .unwrap_err();
    assert_eq!(
        (error.origin(), error.key(), error.value()),
        ("b.toml", Some("max_failures"), Some("\"off\""))
    );
    assert!(error.reason().contains("never trip"), "{error}");
}

#[test]
fn a_store_from_the_file_names_the_breaker_store() {
    let registry = Registry::new();
    ConfigFile::parse("b.toml", "[db]\nstore = \"fleet\"\n")
        .unwrap()
        .apply(&registry)
        .unwrap();
    let cb = registry.get_or_create("db", Config::default()).unwrap();
    assert_eq!(cb.config().settings().store.as_deref(), Some("fleet"));
}

#[circuit_breaker(
    name = "file-late-conflict-listed",
    backoff_multiplier = 2.0,
    backoff_max = "4m"
)]
fn late_conflict_listed() -> Result<(), std::io::Error> {
    Ok(())
}

#[test]
fn a_conflict_found_at_the_first_call_is_listed_naming_the_file_the_breaker_and_the_key() {
    ConfigFile::parse(
        "conf/b.toml",
        "[file-late-conflict-listed]\ntimeout = \"5m\"\n",
    )
    .unwrap()
    .apply(registry())
    .unwrap();
    late_conflict_listed().unwrap();
    let problem = registry()
        .config_problems()
        .into_iter()
        .find(|p| p.breaker() == "file-late-conflict-listed")
        .expect("the refusal is not listed");
    assert_eq!(
        problem.to_string(),
        "conf/b.toml: circuit breaker `file-late-conflict-listed`: `timeout` = \"5m\": conflicts with the code's `backoff_max` = 240s: must be at least `timeout`"
    );
}

/// A value for `key` that differs from the default, as a file writes it.
fn sample(key: &str) -> &'static str {
    match key {
        "max_failures"
        | "half_open_max_calls"
        | "success_threshold"
        | "max_concurrent_calls"
        | "count_window"
        | "minimum_calls" => "7",
        "time_window_buckets" => "7",
        "failure_rate" | "slow_call_rate" | "jitter" => "0.25",
        "backoff_multiplier" => "1.5",
        "timeout" | "interval" | "time_window" | "slow_call_duration" | "backoff_max"
        | "half_open_max_wait" | "call_timeout" => "\"7s\"",
        "store" => "\"fleet\"",
        other => panic!("no sample for the key `{other}`: add one here"),
    }
}

#[test]
fn every_key_can_be_set_from_the_file_and_from_the_environment() {
    // The partners some keys need (`time_window_buckets` needs a time
    // window), and a timeout below every sample `backoff_max`.
    let code = || {
        Config::default()
            .timeout(Duration::from_secs(1))
            .time_window(Duration::from_secs(60))
            .slow_call_duration(Duration::from_secs(1))
            .backoff_multiplier(2.0)
    };
    for key in breakerbox::PartialConfig::keys() {
        let value = sample(key);
        let mut expected = breakerbox::PartialConfig::new();
        expected.set(key, value.trim_matches('"')).unwrap();
        let expected = format!("{:?}", expected.apply(code()));

        let file = ConfigFile::parse("b.toml", &format!("[db]\n{key} = {value}\n"))
            .unwrap_or_else(|e| panic!("the file refused `{key}`: {e}"));
        let var = format!("BREAKER_DB__{}", key.to_ascii_uppercase());
        let env = ConfigFile::new()
            .with_vars([(var.as_str(), value.trim_matches('"'))])
            .unwrap_or_else(|e| panic!("the environment refused `{key}`: {e}"));
        for (source, settings) in [("the file", file), ("the environment", env)] {
            let registry = Registry::new();
            settings.apply(&registry).unwrap();
            let cb = registry.get_or_create("db", code()).unwrap();
            assert_eq!(registry.config_problems(), [], "`{key}` from {source}");
            assert_eq!(
                format!("{:?}", cb.config()),
                expected,
                "`{key}` from {source}"
            );
        }
    }
}

// ----- hostile and careless input ----------------------------------------------

/// Run in a child process by
/// `a_non_utf8_variable_elsewhere_in_the_environment_is_left_alone`, whose
/// environment holds a variable that is not UTF-8.
#[test]
#[ignore = "run in a child process, with a non-UTF-8 variable in its environment"]
fn load_config_in_an_environment_with_a_non_utf8_variable() {
    assert!(
        std::env::var_os("HOSTILE").is_some(),
        "run by a_non_utf8_variable_elsewhere_in_the_environment_is_left_alone"
    );
    let path = std::env::temp_dir().join(format!(
        "breaker-file-config-hostile-env-{}.toml",
        std::process::id()
    ));
    std::fs::write(&path, "[hostile-env]\ntimeout = \"5s\"\n").unwrap();
    let loaded = breakerbox::load_config(&path);
    let with_env = ConfigFile::new().with_env().map(|_| ());
    std::fs::remove_file(&path).unwrap();
    loaded.unwrap();
    with_env.unwrap();
    let cb = registry()
        .get_or_create("hostile-env", Config::default())
        .unwrap();
    assert_eq!(cb.config().settings().timeout, Duration::from_secs(5));
    assert_eq!(cb.config().settings().max_failures, Some(3));
}

#[cfg(unix)]
#[test]
fn a_non_utf8_variable_elsewhere_in_the_environment_is_left_alone() {
    use std::os::unix::ffi::OsStringExt;
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "load_config_in_an_environment_with_a_non_utf8_variable",
            "--exact",
            "--ignored",
            "--test-threads=1",
        ])
        .env("HOSTILE", std::ffi::OsString::from_vec(vec![0xff, 0xfe]))
        .env("BREAKER_HOSTILE_ENV__MAX_FAILURES", "3")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("1 passed"),
        "the child ran no test: {}",
        String::from_utf8_lossy(&output.stdout)
    );
}

#[cfg(unix)]
#[test]
fn a_value_of_ours_that_is_not_utf8_is_an_error_naming_the_variable() {
    use std::os::unix::ffi::OsStringExt;
    let value = std::ffi::OsString::from_vec(vec![b'5', 0xff, b's']);
    let error = ConfigFile::new()
        .with_vars([(std::ffi::OsString::from("BREAKER_DB__TIMEOUT"), value)])
        .unwrap_err();
    assert_eq!(error.origin(), "environment variable BREAKER_DB__TIMEOUT");
    assert_eq!(error.key(), Some("timeout"));
    assert_eq!(error.reason(), "not valid UTF-8");
}

#[cfg(unix)]
#[test]
fn a_name_of_ours_that_is_not_utf8_is_an_error_naming_the_variable() {
    use std::os::unix::ffi::OsStringExt;
    let var = std::ffi::OsString::from_vec(b"BREAKER_D\xffB__TIMEOUT".to_vec());
    let error = ConfigFile::new().with_vars([(var, "5s")]).unwrap_err();
    assert!(
        error.origin().starts_with("environment variable BREAKER_D"),
        "{error}"
    );
    assert!(error.reason().contains("UTF-8"), "{error}");
}

#[test]
fn a_count_window_above_the_limit_in_the_file_is_refused_naming_it() {
    let error = ConfigFile::parse("b.toml", "[db]\ncount_window = 4294967295\n").unwrap_err();
    assert_eq!(error.key(), Some("count_window"));
    assert_eq!(error.value(), Some("4294967295"));
    assert!(error.reason().contains("100000"), "{error}");
}

#[test]
fn a_count_window_above_the_limit_in_the_environment_is_refused_naming_it() {
    let error = ConfigFile::new()
        .with_vars([("BREAKER_DB__COUNT_WINDOW", "100000000")])
        .unwrap_err();
    assert_eq!(error.key(), Some("count_window"));
    assert!(error.reason().contains("100000"), "{error}");
}

/// A temporary file holding `bytes`, removed when dropped.
struct TempFile(std::path::PathBuf);

impl TempFile {
    fn new(tag: &str, bytes: &[u8]) -> Self {
        let path = std::env::temp_dir().join(format!(
            "breaker-file-config-{tag}-{}.toml",
            std::process::id()
        ));
        std::fs::write(&path, bytes).unwrap();
        TempFile(path)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// TOML text of exactly `len` bytes: one breaker's table, then comments.
fn padded(len: usize) -> String {
    let mut text = "[big]\nmax_failures = 3\n".to_owned();
    while text.len() < len {
        let line = "# padding padding padding padding padding padding padding\n";
        // The last line is cut short: still a comment, without its newline.
        text.push_str(&line[..line.len().min(len - text.len())]);
    }
    text
}

#[test]
fn a_file_larger_than_the_limit_is_refused() {
    let file = TempFile::new("big", padded(MAX_CONFIG_FILE_BYTES + 1).as_bytes());
    let error = ConfigFile::read(&file.0).unwrap_err();
    assert!(error.reason().contains("64 KiB"), "{error}");
    assert_eq!(MAX_CONFIG_FILE_BYTES, 64 * 1024);
}

#[test]
fn a_file_of_the_limit_is_read() {
    let file = TempFile::new("limit", padded(MAX_CONFIG_FILE_BYTES).as_bytes());
    assert_eq!(ConfigFile::read(&file.0).unwrap().names(), ["big"]);
}

#[test]
fn text_larger_than_the_limit_is_refused() {
    let error = ConfigFile::parse("b.toml", &padded(MAX_CONFIG_FILE_BYTES + 1)).unwrap_err();
    assert!(error.reason().contains("64 KiB"), "{error}");
}

#[cfg(unix)]
#[test]
fn an_endless_file_is_refused_at_the_limit() {
    let error = ConfigFile::read("/dev/zero").unwrap_err();
    assert_eq!(error.origin(), "/dev/zero");
    assert!(error.reason().contains("64 KiB"), "{error}");
}

#[test]
fn a_file_that_is_not_utf8_is_refused_naming_it() {
    let file = TempFile::new("latin1", b"[caf\xe9]\nmax_failures = 3\n");
    let error = ConfigFile::read(&file.0).unwrap_err();
    assert!(error.reason().starts_with("not valid UTF-8"), "{error}");
}

#[test]
fn an_environment_value_beyond_u64_is_reported_as_written() {
    let error = ConfigFile::new()
        .with_vars([("BREAKER_DB__COUNT_WINDOW", "18446744073709551615")])
        .unwrap_err();
    assert_eq!(error.value(), Some("18446744073709551615"), "{error}");
}

#[test]
fn a_huge_float_in_the_file_is_reported_as_written() {
    let error = ConfigFile::parse("b.toml", "[db]\nmax_failures = 1e300\n").unwrap_err();
    assert_eq!(error.value(), Some("1e300"), "{error}");
}

#[test]
fn a_huge_rate_in_the_environment_is_reported_as_written() {
    let error = ConfigFile::new()
        .with_vars([("BREAKER_DB__FAILURE_RATE", "1E+300")])
        .unwrap_err();
    assert_eq!(error.value(), Some("1E+300"), "{error}");
}

#[test]
fn a_file_table_for_a_name_no_breaker_uses_is_reported_unused() {
    let registry = Registry::new();
    ConfigFile::parse(
        "b.toml",
        "[paymnets]\ntimeout = \"5s\"\n[payments]\nmax_failures = 2\n",
    )
    .unwrap()
    .apply(&registry)
    .unwrap();
    registry
        .get_or_create("payments", Config::default())
        .unwrap();
    let unused = registry.unused_configurations();
    assert_eq!(unused.len(), 1, "{unused:?}");
    assert_eq!(
        (unused[0].name(), unused[0].origin()),
        ("paymnets", "b.toml")
    );
}

#[test]
fn a_variable_for_a_name_no_breaker_uses_is_reported_unused() {
    let registry = Registry::new();
    ConfigFile::new()
        .with_vars([
            ("BREAKER_PAYMNETS__TIMEOUT", "1s"),
            ("BREAKER_PAYMENTS__MAX_FAILURES", "2"),
        ])
        .unwrap()
        .apply(&registry)
        .unwrap();
    registry
        .get_or_create("payments", Config::default())
        .unwrap();
    let unused = registry.unused_configurations();
    assert_eq!(unused.len(), 1, "{unused:?}");
    assert_eq!(
        (unused[0].name(), unused[0].origin()),
        ("PAYMNETS", "environment variable BREAKER_PAYMNETS__TIMEOUT")
    );
}
