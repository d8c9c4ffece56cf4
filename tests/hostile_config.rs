//! Generated hostile and careless input to every entry point of the
//! configuration: a TOML file, the environment, JSON and the `Config`
//! setters. Whatever comes in, nothing panics, memory stays bounded, and
//! the input is either refused with an error naming its key (or, for a
//! document that is not TOML at all, its origin) or gives configurations
//! that validate as a whole and build breakers. No error message carries a
//! raw control character.

use std::collections::BTreeMap;
use std::time::Duration;

use breakerbox::{
    CircuitBreaker, Config, ConfigFile, FileConfigError, PartialConfig, Registry,
    MAX_CONFIG_FILE_BYTES,
};
use proptest::prelude::*;

// The tests' helpers; this file uses the peak allocator.
mod support;

use support::peak_alloc::{peak_of, Peak};

// ----- memory: the peak of the bytes live on this thread ----------------------

#[global_allocator]
static GLOBAL: Peak = Peak;

/// The most one generated case may hold at once: a few breakers, the
/// largest with a window of `MAX_COUNT_WINDOW` calls (100 KB), and room
/// for the rest. An unbounded window of `u32::MAX` calls is 4 GiB.
const MEMORY_BOUND: isize = 8 << 20;

#[test]
fn the_memory_probe_sees_a_large_allocation() {
    let (_, peak) = peak_of(|| std::hint::black_box(vec![0u8; 2 * MEMORY_BOUND as usize]));
    assert!(peak > MEMORY_BOUND, "{peak}");
}

// ----- what every answer must be ------------------------------------------------

/// No raw control character (a newline, an escape sequence) in a message.
fn assert_clean(message: &str) -> Result<(), TestCaseError> {
    prop_assert!(
        !message.chars().any(char::is_control),
        "a raw control character in {message:?}"
    );
    Ok(())
}

/// `text` as the library prints it in messages: control characters and
/// the bidi controls escaped.
fn shown(text: &str) -> String {
    text.chars()
        .map(|c| {
            let reorders = matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
            if c.is_control() || reorders {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Applies `file` to a registry of its own and creates the breakers
/// `names` over the default configuration: each must be created, with a
/// configuration that validates as a whole.
fn build(file: ConfigFile, names: &[String]) -> Result<(), TestCaseError> {
    let registry = Registry::new();
    if let Err(e) = file.apply(&registry) {
        return Err(TestCaseError::fail(format!(
            "a fresh registry refused the settings: {e}"
        )));
    }
    for name in names {
        let cb = match registry.get_or_create(name, Config::default()) {
            Ok(cb) => cb,
            Err(e) => return Err(TestCaseError::fail(format!("`{name}`: {e}"))),
        };
        prop_assert!(cb.config().validate().is_ok(), "{:?}", cb.config());
        exercise(&cb);
    }
    for problem in registry.config_problems() {
        assert_clean(&problem.to_string())?;
    }
    Ok(())
}

/// A few calls through `cb`, enough to fill a small window and trip it.
fn exercise(cb: &CircuitBreaker) {
    for i in 0..50 {
        let _ = cb.call(|| if i % 3 == 0 { Ok(()) } else { Err(()) });
    }
}

// ----- generated values -------------------------------------------------------

/// A key: one of the real ones most often, else a near miss or anything.
fn key() -> impl Strategy<Value = String> {
    let keys: Vec<String> = PartialConfig::keys().map(str::to_owned).collect();
    prop_oneof![
        6 => proptest::sample::select(keys),
        1 => "[a-z_]{1,20}",
        1 => "(?s).{1,12}",
    ]
}

/// A breaker's name: a plain one most often, else anything.
fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[a-z][a-z0-9.-]{0,10}",
        1 => "(?s).{1,12}",
    ]
}

/// Text a value may be written as: durations, "off", numbers of any
/// size and shape, and anything.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("off".to_owned()),
        "[0-9]{1,25} ?(ns|us|ms|s|m|h|d|parsecs)?( [0-9]{1,3}(ms|s))?",
        "[+-]?[0-9]{1,45}",
        "[+-]?[0-9]{0,5}\\.[0-9]{0,5}([eE][+-]?[0-9]{1,4})?",
        "(?i)nan|inf|-inf|infinity",
        "(?s).{0,16}",
    ]
}

/// A value, as a format may carry it.
#[derive(Debug, Clone)]
enum Val {
    Int(i64),
    Big(u64),
    Float(f64),
    Text(String),
    Bool(bool),
    List(Vec<i64>),
}

fn val() -> impl Strategy<Value = Val> {
    prop_oneof![
        any::<i64>().prop_map(Val::Int),
        prop_oneof![
            -2i64..12,
            99_990i64..100_010,
            Just(i64::from(u32::MAX)),
            Just(i64::from(u32::MAX) + 1),
            Just(100_000_000),
            0i64..=i64::from(u32::MAX),
        ]
        .prop_map(Val::Int),
        any::<u64>().prop_map(Val::Big),
        any::<f64>().prop_map(Val::Float),
        prop_oneof![Just(0.5), Just(1e300), Just(-0.0), 0.0f64..2.0].prop_map(Val::Float),
        text().prop_map(Val::Text),
        any::<bool>().prop_map(Val::Bool),
        proptest::collection::vec(any::<i64>(), 0..3).prop_map(Val::List),
    ]
}

// ----- a TOML file ------------------------------------------------------------

/// `text` as a TOML basic string.
fn toml_string(text: &str) -> String {
    let mut quoted = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            c if c.is_control() => quoted.push_str(&format!("\\u{:04X}", c as u32)),
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

fn toml_value(value: &Val) -> String {
    match value {
        Val::Int(n) => n.to_string(),
        Val::Big(n) => n.to_string(),
        Val::Float(x) if x.is_nan() => "nan".to_owned(),
        Val::Float(x) if x.is_infinite() => (if *x > 0.0 { "inf" } else { "-inf" }).to_owned(),
        Val::Float(x) => format!("{x:?}"),
        Val::Text(s) => toml_string(s),
        Val::Bool(b) => b.to_string(),
        Val::List(items) => format!("{items:?}"),
    }
}

type Tables = Vec<(String, Vec<(String, Val)>)>;

fn tables() -> impl Strategy<Value = Tables> {
    proptest::collection::vec(
        (name(), proptest::collection::vec((key(), val()), 0..5)),
        0..4,
    )
}

fn toml_text(tables: &Tables) -> String {
    let mut text = String::new();
    for (name, settings) in tables {
        text.push_str(&format!("[{}]\n", toml_string(name)));
        for (key, value) in settings {
            text.push_str(&format!("{} = {}\n", toml_string(key), toml_value(value)));
        }
    }
    text
}

fn check_file(text: &str, tables: &Tables) -> Result<(), TestCaseError> {
    let ((parsed, built), peak) = peak_of(|| {
        let parsed = ConfigFile::parse("hostile.toml", text);
        let built = parsed.as_ref().ok().map(|file| {
            let names: Vec<String> = file.names().iter().map(|n| n.to_string()).collect();
            build(file.clone(), &names)
        });
        (parsed, built)
    });
    prop_assert!(peak < MEMORY_BOUND, "{peak} bytes for {text:?}");
    match parsed {
        Ok(_) => built.unwrap_or(Ok(())),
        Err(e) => check_file_error(&e, tables),
    }
}

fn check_file_error(e: &FileConfigError, tables: &Tables) -> Result<(), TestCaseError> {
    assert_clean(&e.to_string())?;
    prop_assert_eq!(e.origin(), "hostile.toml");
    match (e.breaker_name(), e.key()) {
        (Some(name), Some(key)) => {
            let written = tables
                .iter()
                .filter(|(table, _)| table == name)
                .any(|(_, settings)| settings.iter().any(|(k, _)| k == key));
            prop_assert!(written, "the error names a key not written: {e}");
            prop_assert!(e.to_string().contains(&format!("`{}`", shown(key))), "{e}");
        }
        _ => prop_assert!(
            e.reason().starts_with("not valid TOML") || e.reason().starts_with("expected a table"),
            "neither a key nor the document: {e}"
        ),
    }
    Ok(())
}

proptest! {
    #[test]
    fn any_toml_file_is_refused_naming_its_key_or_builds_valid_breakers(tables in tables()) {
        check_file(&toml_text(&tables), &tables)?;
    }

    #[test]
    fn any_text_as_a_file_is_refused_or_builds_valid_breakers(text in "(?s).{0,200}") {
        check_file(&text, &Vec::new())?;
    }
}

#[test]
fn the_largest_file_of_small_tables_parses_within_32_mb_and_holds_thousands_of_breakers() {
    for table in [
        "[{i:x}]\n",
        "[{i:x}]\nstore=\"a\"\n",
        "{i:x}.max_failures=1\n",
    ] {
        let mut text = String::new();
        for i in 0.. {
            let next = table.replace("{i:x}", &format!("{i:x}"));
            if text.len() + next.len() > MAX_CONFIG_FILE_BYTES {
                break;
            }
            text.push_str(&next);
        }
        let (file, peak) = peak_of(|| {
            let file = ConfigFile::parse("big.toml", &text).unwrap();
            file.clone().apply(&Registry::new()).unwrap();
            file
        });
        assert!(file.names().len() > 2_500);
        assert!(peak < 32 << 20, "{peak} bytes for tables like {table:?}");
    }
}

// ----- the environment ----------------------------------------------------------

#[cfg(unix)]
mod environment {
    use super::*;
    use std::ffi::OsString;
    use std::os::unix::ffi::OsStringExt;

    /// A variable: one of ours (well or badly formed) or anybody's, with
    /// any bytes.
    fn var() -> impl Strategy<Value = (Vec<u8>, Vec<u8>)> {
        let ours = ("[A-Z0-9_]{1,10}", key()).prop_map(|(name, key)| {
            format!("BREAKER_{name}__{}", key.to_ascii_uppercase()).into_bytes()
        });
        let odd_ours = (
            proptest::collection::vec(any::<u8>(), 0..10),
            proptest::collection::vec(any::<u8>(), 0..10),
        )
            .prop_map(|(name, key)| [&b"BREAKER_"[..], &name, b"__", &key].concat());
        let anybody = proptest::collection::vec(any::<u8>(), 1..16)
            .prop_filter("not ours", |name| !name.starts_with(b"BREAKER_"));
        let value = prop_oneof![
            3 => val().prop_map(|v| match v {
                Val::Text(s) => s.into_bytes(),
                other => toml_value(&other).into_bytes(),
            }),
            1 => proptest::collection::vec(any::<u8>(), 0..12),
        ];
        (prop_oneof![3 => ours, 1 => odd_ours, 2 => anybody], value)
    }

    proptest! {
        #[test]
        fn any_environment_is_refused_naming_a_variable_of_ours_or_builds_valid_breakers(
            vars in proptest::collection::vec(var(), 0..6),
        ) {
            let os: Vec<(OsString, OsString)> = vars
                .iter()
                .map(|(name, value)| (OsString::from_vec(name.clone()), OsString::from_vec(value.clone())))
                .collect();
            // The breakers the variables may be for, by their names'
            // spelling in a variable.
            let names: Vec<String> = vars
                .iter()
                .filter_map(|(name, _)| std::str::from_utf8(name).ok())
                .filter_map(|name| name.strip_prefix("BREAKER_")?.rsplit_once("__"))
                .map(|(name, _)| name.to_owned())
                .collect();
            let ((result, built), peak) = peak_of(|| {
                let result = ConfigFile::new().with_vars(os);
                let built = result.as_ref().ok().map(|file| build(file.clone(), &names));
                (result, built)
            });
            prop_assert!(peak < MEMORY_BOUND, "{peak} bytes for {vars:?}");
            match result {
                Ok(_) => built.unwrap_or(Ok(()))?,
                Err(e) => {
                    assert_clean(&e.to_string())?;
                    prop_assert!(e.origin().starts_with("environment variable BREAKER_"), "{e}");
                    if let Some(key) = e.key() {
                        let var = e.origin().to_ascii_lowercase();
                        prop_assert!(var.ends_with(&format!("__{key}")), "{e}");
                    }
                }
            }
        }

        #[test]
        fn variables_that_are_not_ours_are_never_read(
            vars in proptest::collection::vec(
                (
                    proptest::collection::vec(any::<u8>(), 1..16)
                        .prop_filter("not ours", |name| !name.starts_with(b"BREAKER_")),
                    proptest::collection::vec(any::<u8>(), 0..16),
                ),
                0..8,
            ),
        ) {
            let os = vars
                .into_iter()
                .map(|(name, value)| (OsString::from_vec(name), OsString::from_vec(value)));
            let file = ConfigFile::new().with_vars(os);
            prop_assert!(file.is_ok(), "{:?}", file.err());
        }
    }
}

// ----- JSON -------------------------------------------------------------------

fn json_value(value: &Val) -> serde_json::Value {
    match value {
        Val::Int(n) => (*n).into(),
        Val::Big(n) => (*n).into(),
        Val::Float(x) => {
            serde_json::Number::from_f64(*x).map_or(serde_json::Value::Null, Into::into)
        }
        Val::Text(s) => s.clone().into(),
        Val::Bool(b) => (*b).into(),
        Val::List(items) => items.clone().into(),
    }
}

fn check_json(entries: &[(String, Val)]) -> Result<(), TestCaseError> {
    let object: serde_json::Map<String, serde_json::Value> = entries
        .iter()
        .map(|(key, value)| (key.clone(), json_value(value)))
        .collect();
    let keys: Vec<&String> = object.keys().collect();
    let text = serde_json::to_string(&object).unwrap();
    let ((config, partial), peak) = peak_of(|| {
        let config = serde_json::from_str::<Config>(&text).map(|config| {
            let built = CircuitBreaker::new("json", config.clone());
            if let Ok(cb) = &built {
                exercise(cb);
            }
            (config, built.map(|_| ()))
        });
        let partial = serde_json::from_str::<PartialConfig>(&text);
        (config, partial)
    });
    prop_assert!(peak < MEMORY_BOUND, "{peak} bytes for {text}");
    match config {
        Ok((config, built)) => {
            prop_assert!(config.validate().is_ok(), "{text}");
            prop_assert!(built.is_ok(), "{text}: {:?}", built.err());
        }
        Err(e) => {
            let message = e.to_string();
            assert_clean(&message)?;
            let named = keys
                .iter()
                .any(|key| message.contains(&format!("`{}`", shown(key))));
            prop_assert!(named, "the error names no key of {text}: {message}");
        }
    }
    if let Err(e) = partial {
        assert_clean(&e.to_string())?;
    }
    Ok(())
}

proptest! {
    #[test]
    fn any_json_object_is_refused_naming_its_key_or_builds_a_valid_breaker(
        entries in proptest::collection::vec((key(), val()), 0..6),
    ) {
        check_json(&entries)?;
    }

    #[test]
    fn any_text_as_json_is_refused_or_builds_a_valid_breaker(text in "(?s).{0,100}") {
        let (config, peak) = peak_of(|| serde_json::from_str::<Config>(&text));
        prop_assert!(peak < MEMORY_BOUND);
        match config {
            Ok(config) => prop_assert!(config.validate().is_ok()),
            Err(e) => assert_clean(&e.to_string())?,
        }
    }
}

// ----- the setters --------------------------------------------------------------

fn count() -> impl Strategy<Value = u32> {
    prop_oneof![0u32..12, 99_990u32..100_010, any::<u32>()]
}

fn duration() -> impl Strategy<Value = Duration> {
    prop_oneof![
        (0u64..120).prop_map(Duration::from_secs),
        (0u64..2_000).prop_map(Duration::from_millis),
        Just(Duration::MAX),
        (any::<u64>(), 0u32..1_000_000_000).prop_map(|(s, n)| Duration::new(s, n)),
    ]
}

fn rate() -> impl Strategy<Value = f64> {
    prop_oneof![0.0f64..1.5, any::<f64>()]
}

/// Settings given by code, each maybe: which setter, and the value.
#[derive(Debug, Clone)]
enum Setting {
    Count(&'static str, u32),
    Duration(&'static str, Duration),
    Rate(&'static str, f64),
    Store(String),
}

fn setting() -> impl Strategy<Value = Setting> {
    let counts = proptest::sample::select(vec![
        "max_failures",
        "half_open_max_calls",
        "success_threshold",
        "max_concurrent_calls",
        "count_window",
        "time_window_buckets",
        "minimum_calls",
    ]);
    let durations = proptest::sample::select(vec![
        "timeout",
        "interval",
        "time_window",
        "slow_call_duration",
        "backoff_max",
        "half_open_max_wait",
        "call_timeout",
    ]);
    let rates =
        proptest::sample::select(vec!["failure_rate", "slow_call_rate", "backoff_multiplier"]);
    prop_oneof![
        (counts, count()).prop_map(|(key, n)| Setting::Count(key, n)),
        (durations, duration()).prop_map(|(key, d)| Setting::Duration(key, d)),
        (rates, rate()).prop_map(|(key, x)| Setting::Rate(key, x)),
        "(?s).{0,8}".prop_map(Setting::Store),
    ]
}

fn apply_setting(config: Config, setting: &Setting) -> Config {
    match *setting {
        Setting::Count(key, n) => match key {
            "max_failures" => config.max_failures(n),
            "half_open_max_calls" => config.half_open_max_calls(n),
            "success_threshold" => config.success_threshold(n),
            "max_concurrent_calls" => config.max_concurrent_calls(n),
            "count_window" => config.count_window(n),
            "time_window_buckets" => config.time_window_buckets(n),
            _ => config.minimum_calls(n),
        },
        Setting::Duration(key, d) => match key {
            "timeout" => config.timeout(d),
            "interval" => config.interval(d),
            "time_window" => config.time_window(d),
            "slow_call_duration" => config.slow_call_duration(d),
            "backoff_max" => config.backoff_max(d),
            "half_open_max_wait" => config.half_open_max_wait(d),
            _ => config.call_timeout(d),
        },
        Setting::Rate(key, x) => match key {
            "failure_rate" => config.failure_rate(x),
            "slow_call_rate" => config.slow_call_rate(x),
            _ => config.backoff_multiplier(x),
        },
        Setting::Store(ref name) => config.store(name.clone()),
    }
}

fn setting_key(setting: &Setting) -> &'static str {
    match setting {
        Setting::Count(key, _) | Setting::Duration(key, _) | Setting::Rate(key, _) => key,
        Setting::Store(_) => "store",
    }
}

proptest! {
    #[test]
    fn any_setters_are_refused_naming_a_field_set_or_build_a_valid_breaker(
        settings in proptest::collection::vec(setting(), 0..6),
    ) {
        let config = settings.iter().fold(Config::default(), apply_setting);
        let (built, peak) = peak_of(|| {
            let built = CircuitBreaker::new("setters", config);
            if let Ok(cb) = &built {
                exercise(cb);
            }
            built.map(|_| ())
        });
        prop_assert!(peak < MEMORY_BOUND, "{peak} bytes for {settings:?}");
        if let Err(e) = built {
            assert_clean(&e.to_string())?;
            let set: BTreeMap<&str, ()> = settings.iter().map(|s| (setting_key(s), ())).collect();
            prop_assert!(set.contains_key(e.field()), "`{}` was not set: {e}", e.field());
        }
    }
}
