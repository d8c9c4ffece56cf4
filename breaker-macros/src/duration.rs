//! Durations written as strings in the attribute (`"500ms"`, `"1m30s"`),
//! parsed when the macro expands so that a typo is a compile error and the
//! expansion carries a plain `Duration::new(secs, nanos)`.
//!
//! The grammar is one or more `<whole number><unit>` components, largest
//! unit first, each unit at most once. Whitespace may separate components
//! and a number from its unit (`"1m 30s"`, `"30 s"`).

use std::fmt;
use std::time::Duration;

/// The units a duration may use, largest first, with their length in
/// nanoseconds. The order is the order components must appear in.
const UNITS: &[(&str, u128)] = &[
    ("d", 86_400 * NANOS_PER_SEC),
    ("h", 3_600 * NANOS_PER_SEC),
    ("m", 60 * NANOS_PER_SEC),
    ("s", NANOS_PER_SEC),
    ("ms", 1_000_000),
    ("us", 1_000),
    ("ns", 1),
];

const NANOS_PER_SEC: u128 = 1_000_000_000;

/// The units as the error messages list them.
pub(crate) const UNIT_LIST: &str = "ns, us, ms, s, m, h, d";

/// Why a duration string was refused. The messages are written to be shown
/// to the user as they are, after the offending string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DurationError {
    /// The string holds no component at all.
    Empty,
    /// A unit (or other text) came where a number was expected.
    MissingNumber {
        /// What was found instead of the number.
        found: String,
    },
    /// A number is not followed by a unit.
    MissingUnit {
        /// The number, as written.
        number: String,
    },
    /// A unit this grammar does not know.
    UnknownUnit {
        /// The unit, as written.
        unit: String,
    },
    /// A fractional number such as `1.5s`.
    Fraction,
    /// A character that is neither a digit, a unit letter nor whitespace.
    UnexpectedChar {
        /// The character.
        found: char,
    },
    /// A unit after a smaller one, or repeated (`30s1m`, `1s1s`).
    UnitOrder {
        /// The unit that came out of order.
        unit: &'static str,
    },
    /// The total does not fit in a `Duration`.
    Overflow,
}

impl fmt::Display for DurationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DurationError::Empty => write!(
                f,
                "the duration is empty; write a number and a unit, such as \"500ms\" or \"1m30s\""
            ),
            DurationError::MissingNumber { found } => write!(
                f,
                "expected a number before `{found}`; write a number and a unit, such as \"500ms\" or \"1m30s\""
            ),
            DurationError::MissingUnit { number } => write!(
                f,
                "`{number}` has no unit; write it with one of {UNIT_LIST}, such as \"{number}s\""
            ),
            DurationError::UnknownUnit { unit } => {
                write!(f, "unknown unit `{unit}`; the units are {UNIT_LIST}")?;
                if let Some(known) = suggest_unit(unit) {
                    write!(f, " (did you mean `{known}`?)")?;
                }
                Ok(())
            }
            DurationError::Fraction => write!(
                f,
                "durations use whole numbers; write a smaller unit instead, such as \"1500ms\" for 1.5 seconds"
            ),
            DurationError::UnexpectedChar { found } => write!(
                f,
                "unexpected `{found}`; write whole numbers with units ({UNIT_LIST}), such as \"1m30s\""
            ),
            DurationError::UnitOrder { unit } => write!(
                f,
                "`{unit}` is out of place; write units from largest to smallest, each once, such as \"1h30m\""
            ),
            DurationError::Overflow => write!(f, "the duration is too long to represent"),
        }
    }
}

/// A spelling people reach for, mapped to the unit this grammar uses.
fn suggest_unit(unit: &str) -> Option<&'static str> {
    let known = match unit.to_ascii_lowercase().as_str() {
        "nanos" | "nsec" | "nanosecond" | "nanoseconds" => "ns",
        "µs" | "μs" | "micros" | "usec" | "microsecond" | "microseconds" => "us",
        "millis" | "msec" | "msecs" | "millisecond" | "milliseconds" => "ms",
        "sec" | "secs" | "second" | "seconds" => "s",
        "min" | "mins" | "minute" | "minutes" => "m",
        "hr" | "hrs" | "hour" | "hours" => "h",
        "day" | "days" => "d",
        // Also catches a known unit in the wrong case, such as `S`.
        lower => return UNITS.iter().map(|&(u, _)| u).find(|&u| u == lower),
    };
    Some(known)
}

/// Parses `"1m30s"`-style text into a `Duration`. Never panics: every
/// arithmetic step is checked.
pub(crate) fn parse(text: &str) -> Result<Duration, DurationError> {
    let mut rest = text.trim_start();
    if rest.is_empty() {
        return Err(DurationError::Empty);
    }
    let mut total: u128 = 0;
    // Index into UNITS of the last unit used: the next must come after it.
    let mut last_unit: Option<usize> = None;

    while !rest.is_empty() {
        let digits_len = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let (digits, after) = rest.split_at(digits_len);
        if digits.is_empty() {
            let word = leading_word(after);
            return Err(if word.is_empty() {
                unexpected(after)
            } else {
                DurationError::MissingNumber {
                    found: word.to_owned(),
                }
            });
        }
        if after.starts_with(['.', ',']) {
            return Err(DurationError::Fraction);
        }

        let after = after.trim_start();
        let unit_text = leading_word(after);
        if unit_text.is_empty() {
            return Err(match after.chars().next() {
                None => DurationError::MissingUnit {
                    number: digits.to_owned(),
                },
                Some(c) if c.is_ascii_digit() => DurationError::MissingUnit {
                    number: digits.to_owned(),
                },
                Some(_) => unexpected(after),
            });
        }
        let unit_index = UNITS
            .iter()
            .position(|&(u, _)| u == unit_text)
            .ok_or_else(|| DurationError::UnknownUnit {
                unit: unit_text.to_owned(),
            })?;
        if last_unit.is_some_and(|last| unit_index <= last) {
            return Err(DurationError::UnitOrder {
                unit: UNITS[unit_index].0,
            });
        }
        last_unit = Some(unit_index);

        // A string of digits too long for u128 is certainly too long a
        // duration, so a parse failure here is an overflow.
        let number: u128 = digits.parse().map_err(|_| DurationError::Overflow)?;
        let nanos = number
            .checked_mul(UNITS[unit_index].1)
            .ok_or(DurationError::Overflow)?;
        total = total.checked_add(nanos).ok_or(DurationError::Overflow)?;

        rest = after[unit_text.len()..].trim_start();
    }

    let secs = u64::try_from(total / NANOS_PER_SEC).map_err(|_| DurationError::Overflow)?;
    // Always below one billion, so it fits and `Duration::new` cannot carry.
    let nanos = (total % NANOS_PER_SEC) as u32;
    Ok(Duration::new(secs, nanos))
}

/// The run of letters at the start of `text` (a unit, or a misspelt one).
/// `µ` and `μ` count as letters so that `"5µs"` gets a useful hint.
fn leading_word(text: &str) -> &str {
    let len = text
        .find(|c: char| !(c.is_alphabetic()))
        .unwrap_or(text.len());
    &text[..len]
}

fn unexpected(text: &str) -> DurationError {
    match text.chars().next() {
        Some(found) => DurationError::UnexpectedChar { found },
        None => DurationError::Empty,
    }
}

/// Formats a duration the way it is written in the attribute, largest unit
/// first, for error messages that quote a value back (`"1m30s"`).
pub(crate) fn display(duration: Duration) -> String {
    let mut nanos = duration.as_nanos();
    if nanos == 0 {
        return "0s".to_owned();
    }
    let mut out = String::new();
    for &(unit, size) in UNITS {
        let count = nanos / size;
        if count > 0 {
            out.push_str(&count.to_string());
            out.push_str(unit);
            nanos %= size;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> Duration {
        match parse(text) {
            Ok(d) => d,
            Err(e) => panic!("{text:?} should parse, got: {e}"),
        }
    }

    fn err(text: &str) -> DurationError {
        match parse(text) {
            Ok(d) => panic!("{text:?} should fail, got {d:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn each_unit_has_its_length() {
        assert_eq!(ok("7ns"), Duration::from_nanos(7));
        assert_eq!(ok("7us"), Duration::from_micros(7));
        assert_eq!(ok("7ms"), Duration::from_millis(7));
        assert_eq!(ok("7s"), Duration::from_secs(7));
        assert_eq!(ok("7m"), Duration::from_secs(7 * 60));
        assert_eq!(ok("7h"), Duration::from_secs(7 * 3600));
        assert_eq!(ok("7d"), Duration::from_secs(7 * 86_400));
    }

    #[test]
    fn components_add_up() {
        assert_eq!(ok("1m30s"), Duration::from_secs(90));
        assert_eq!(ok("1h1m1s1ms1us1ns"), Duration::new(3661, 1_001_001));
    }

    #[test]
    fn whitespace_may_separate_components_and_units() {
        assert_eq!(ok("1m 30s"), Duration::from_secs(90));
        assert_eq!(ok("30 s"), Duration::from_secs(30));
        assert_eq!(ok(" 2h "), Duration::from_secs(7200));
    }

    #[test]
    fn zero_parses_so_the_caller_can_name_the_key_in_its_error() {
        assert_eq!(ok("0s"), Duration::ZERO);
    }

    #[test]
    fn empty_text_is_refused() {
        assert_eq!(err(""), DurationError::Empty);
        assert_eq!(err("   "), DurationError::Empty);
    }

    #[test]
    fn number_without_unit_is_refused() {
        assert_eq!(
            err("60"),
            DurationError::MissingUnit {
                number: "60".into()
            }
        );
        assert_eq!(
            err("1m 30"),
            DurationError::MissingUnit {
                number: "30".into()
            }
        );
        assert_eq!(
            err("1 30s"),
            DurationError::MissingUnit { number: "1".into() }
        );
    }

    #[test]
    fn unit_without_number_is_refused() {
        assert_eq!(err("s"), DurationError::MissingNumber { found: "s".into() });
        assert_eq!(
            err("1ms s"),
            DurationError::MissingNumber { found: "s".into() }
        );
    }

    #[test]
    fn unknown_unit_is_refused_with_a_hint() {
        let e = err("60sec");
        assert_eq!(e, DurationError::UnknownUnit { unit: "sec".into() });
        let message = e.to_string();
        assert!(message.contains("ns, us, ms, s, m, h, d"), "{message}");
        assert!(message.contains("did you mean `s`"), "{message}");
    }

    #[test]
    fn units_are_case_sensitive_with_a_hint() {
        let e = err("5S");
        assert_eq!(e, DurationError::UnknownUnit { unit: "S".into() });
        assert!(e.to_string().contains("did you mean `s`"));
    }

    #[test]
    fn micro_sign_gets_a_hint() {
        let message = err("5µs").to_string();
        assert!(message.contains("did you mean `us`"), "{message}");
    }

    #[test]
    fn fractions_are_refused() {
        assert_eq!(err("1.5s"), DurationError::Fraction);
    }

    #[test]
    fn signs_and_symbols_are_refused() {
        assert_eq!(err("-1s"), DurationError::UnexpectedChar { found: '-' });
        assert_eq!(err("1s+2s"), DurationError::UnexpectedChar { found: '+' });
    }

    #[test]
    fn units_must_descend() {
        assert_eq!(err("30s1m"), DurationError::UnitOrder { unit: "m" });
    }

    #[test]
    fn units_must_not_repeat() {
        assert_eq!(err("1s1s"), DurationError::UnitOrder { unit: "s" });
    }

    #[test]
    fn largest_duration_parses() {
        let max = format!("{}s999999999ns", u64::MAX);
        assert_eq!(ok(&max), Duration::MAX);
    }

    #[test]
    fn one_past_the_largest_duration_overflows() {
        let over = format!("{}s1000000000ns", u64::MAX);
        assert_eq!(err(&over), DurationError::Overflow);
    }

    #[test]
    fn huge_multiplication_overflows_without_panicking() {
        assert_eq!(
            err("340282366920938463463374607431768211455d"),
            DurationError::Overflow
        );
        assert_eq!(
            err("99999999999999999999999999999999999999999999s"),
            DurationError::Overflow
        );
    }

    #[test]
    fn display_writes_largest_unit_first() {
        assert_eq!(display(Duration::from_secs(90)), "1m30s");
        assert_eq!(display(Duration::from_millis(1500)), "1s500ms");
        assert_eq!(display(Duration::ZERO), "0s");
    }

    #[test]
    fn arbitrary_text_never_panics() {
        for text in [
            "\u{0}",
            "1\u{301}s",
            "１s",
            "1ß",
            "9".repeat(200).as_str(),
            "1m1",
            "ms1",
        ] {
            let _ = parse(text);
        }
    }
}
