//! Names that come from request data are printed with their control
//! characters escaped, so that they cannot forge log lines or rewrite a
//! terminal: in rejections, configuration and registry errors and refused
//! settings, and, for a file or the environment, its tables' names, keys,
//! values and path too.

use std::time::Duration;

use breakerbox::{CircuitBreaker, Config, ManualClock, PartialConfig, Registry, RegistryError};

const FORGER: &str = "x\n2099-01-01T00:00:00Z ERROR forged\u{1b}[2K\u{202e}";

fn assert_escaped(message: &str) {
    assert!(!message.contains('\n'), "a raw newline in {message:?}");
    assert!(!message.contains('\u{1b}'), "a raw escape in {message:?}");
    assert!(
        !message.contains('\u{202e}'),
        "a raw bidi override in {message:?}"
    );
    assert!(message.contains(r"x\n2099-01-01"), "{message}");
    assert!(message.contains(r"\u{1b}[2K"), "{message}");
}

#[test]
fn a_rejection_prints_a_hostile_name_escaped() {
    let cb = CircuitBreaker::new(
        FORGER.to_owned(),
        Config::default().max_failures(1).clock(ManualClock::new()),
    )
    .unwrap();
    cb.call(|| Err::<(), _>(())).unwrap_err();
    let rejected = cb.try_acquire().unwrap_err();
    assert_eq!(
        rejected.breaker(),
        FORGER,
        "the name itself is kept as it is"
    );
    assert_escaped(&rejected.to_string());
}

#[test]
fn a_name_in_another_script_is_printed_as_it_is() {
    let cb = CircuitBreaker::new(
        "службы-платежей".to_owned(),
        Config::default().clock(ManualClock::new()),
    )
    .unwrap();
    cb.force_open();
    let message = cb.try_acquire().unwrap_err().to_string();
    assert!(message.contains("`службы-платежей`"), "{message}");
}

#[test]
fn a_configuration_error_prints_a_hostile_name_escaped() {
    let error =
        CircuitBreaker::new(FORGER.to_owned(), Config::default().count_window(0)).unwrap_err();
    assert_eq!(error.breaker(), Some(FORGER));
    assert_escaped(&error.to_string());
}

#[test]
fn a_registry_error_for_a_name_in_use_prints_it_escaped() {
    let registry = Registry::new();
    registry.get_or_create(FORGER, Config::default()).unwrap();
    let error = registry.configure(FORGER, Config::default()).unwrap_err();
    assert!(matches!(error, RegistryError::AlreadyCreated { .. }));
    assert_escaped(&error.to_string());
}

#[test]
fn a_registry_error_for_a_full_registry_prints_the_name_escaped() {
    let registry = Registry::new();
    registry.set_max_dynamic(Some(0));
    let error = registry
        .get_or_create(FORGER, Config::default())
        .unwrap_err();
    assert!(matches!(error, RegistryError::Full { .. }));
    assert_escaped(&error.to_string());
}

#[test]
fn a_refused_setting_prints_a_hostile_name_escaped() {
    let registry = Registry::new();
    let mut ops = PartialConfig::new();
    ops.set("timeout", "5m").unwrap();
    registry.override_config(FORGER, ops).unwrap();
    let code = Config::default()
        .backoff_multiplier(2.0)
        .backoff_max(Duration::from_secs(120));
    registry.get_or_create(FORGER, code).unwrap();
    let problem = &registry.config_problems()[0];
    assert_eq!(problem.breaker(), FORGER);
    assert_escaped(&problem.to_string());
}

#[cfg(feature = "toml")]
mod file {
    use super::*;
    use breakerbox::ConfigFile;

    /// `FORGER` as a TOML basic string.
    fn toml_string(text: &str) -> String {
        let mut quoted = String::from("\"");
        for c in text.chars() {
            match c {
                '\n' => quoted.push_str("\\n"),
                '"' => quoted.push_str("\\\""),
                '\\' => quoted.push_str("\\\\"),
                c if c.is_control() => quoted.push_str(&format!("\\u{:04X}", c as u32)),
                c => quoted.push(c),
            }
        }
        quoted.push('"');
        quoted
    }

    #[test]
    fn a_file_error_prints_a_hostile_table_name_escaped() {
        let text = format!("[{}]\nsuccess_threshold = 0\n", toml_string(FORGER));
        let error = ConfigFile::parse("b.toml", &text).unwrap_err();
        assert_eq!(error.breaker_name(), Some(FORGER));
        assert_escaped(&error.to_string());
    }

    #[test]
    fn a_file_error_prints_a_hostile_key_escaped() {
        let text = format!("[db]\n{} = 3\n", toml_string(FORGER));
        let error = ConfigFile::parse("b.toml", &text).unwrap_err();
        assert_eq!(error.key(), Some(FORGER));
        assert_escaped(&error.to_string());
    }

    #[test]
    fn a_file_error_prints_a_hostile_value_escaped() {
        let text = format!("[db]\ntimeout = {}\n", toml_string(FORGER));
        let error = ConfigFile::parse("b.toml", &text).unwrap_err();
        assert_eq!(error.key(), Some("timeout"));
        assert_escaped(&error.to_string());
    }

    #[test]
    fn a_file_error_prints_a_hostile_path_escaped() {
        let error = ConfigFile::parse(FORGER, "[db]\nsuccess_threshold = 0\n").unwrap_err();
        assert_eq!(error.origin(), FORGER);
        assert_escaped(&error.to_string());
    }

    #[test]
    fn a_file_error_prints_a_hostile_variable_name_escaped() {
        let var = format!("BREAKER_{FORGER}__TIMEOUT");
        let error = ConfigFile::new()
            .with_vars([(var.as_str(), "5s")])
            .unwrap_err();
        assert_escaped(&error.to_string());
    }

    #[test]
    fn a_refused_setting_prints_a_hostile_path_escaped() {
        let registry = Registry::new();
        ConfigFile::parse(FORGER, "[db]\ntimeout = \"5m\"\n")
            .unwrap()
            .apply(&registry)
            .unwrap();
        let code = Config::default()
            .backoff_multiplier(2.0)
            .backoff_max(Duration::from_secs(120));
        registry.get_or_create("db", code).unwrap();
        let problem = &registry.config_problems()[0];
        assert_eq!(problem.origin(), FORGER);
        assert_escaped(&problem.to_string());
    }
}
