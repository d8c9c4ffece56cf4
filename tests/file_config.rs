//! Named configurations from a TOML file and environment variables:
//! per-key precedence over the code, and errors that say where.

use std::time::Duration;

use breaker::{circuit_breaker, registry, Config, ConfigFile, Registry};

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
    assert_eq!(cb.config().get_timeout(), Duration::from_secs(5));
    assert_eq!(cb.config().get_max_failures(), Some(7));
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
    assert_eq!(cb.config().get_max_failures(), Some(4));
    assert_eq!(cb.config().get_timeout(), Duration::from_secs(9));
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
    assert_eq!(cb.config().get_timeout(), Duration::from_secs(7));
    assert_eq!(cb.config().get_max_failures(), Some(2));
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
    assert_eq!(cb.config().get_success_threshold(), 4);
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
    let error = ConfigFile::parse("b.toml", "[db]\nmax_failures = 0\n").unwrap_err();
    assert_eq!(
        error.to_string(),
        "b.toml: circuit breaker `db`: `max_failures` = 0: must be at least 1"
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
fn variables_without_the_prefix_and_separator_are_skipped() {
    let file = ConfigFile::new()
        .with_vars([("BREAKER_MODE", "fast"), ("EDITOR", "vi")])
        .unwrap();
    let registry = Registry::new();
    file.apply(&registry).unwrap();
    let cb = registry.get_or_create("mode", Config::default()).unwrap();
    assert_eq!(cb.config().get_max_failures(), Some(5));
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
    assert_eq!(cb.config().get_half_open_max_calls(), 3);
}
