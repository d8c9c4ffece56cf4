//! The attribute's arguments, `#[circuit_breaker(key = value, ...)]`:
//! parsing and validation.
//!
//! Everything here works on `proc_macro2` tokens and returns a `syn::Error`
//! spanned at the offending token, so it can be exercised by unit tests (and
//! fed arbitrary token streams) outside the compiler. It must never panic.
//!
//! Syntax errors stop the parse. Errors in a value do not: the tokens were
//! consumed, so parsing goes on and every bad value is reported at once.

use std::time::Duration;

use proc_macro2::{Span, TokenStream};
use quote::ToTokens;
use syn::ext::IdentExt;
use syn::parse::{ParseStream, Parser};
use syn::spanned::Spanned;
use syn::{Expr, ExprPath, Ident, Lit, LitStr, Path, Token, UnOp};

use crate::duration;

/// The timeout a breaker uses when the attribute does not set one; needed
/// to check `backoff_max` against it.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// Parsed, validated arguments.
#[derive(Default)]
pub(crate) struct Args {
    /// `name = "..."`: the registry name; `None` means the function's path,
    /// which the runtime reads from `type_name` at the first call.
    pub(crate) name: Option<LitStr>,
    /// `crate = "..."`: the path expansions reach the runtime through.
    pub(crate) krate: Option<Path>,
    /// `fallback = path`: called with the arguments on a rejected call.
    pub(crate) fallback: Option<ExprPath>,
    /// `classify = path`: decides whether an `Err` counts as a failure.
    pub(crate) classify: Option<ExprPath>,
    /// `store = "..."`: the registered shared state store.
    pub(crate) store: Option<LitStr>,
    /// The configuration keys, in the order written; each becomes a call to
    /// the `Config` setter of the same name.
    pub(crate) settings: Vec<Setting>,
}

impl Args {
    /// The setting written as `key`, if any.
    pub(crate) fn setting(&self, key: &str) -> Option<&Setting> {
        self.settings.iter().find(|s| s.key == key)
    }
}

/// One `Config` setting, such as `max_failures = 5`.
pub(crate) struct Setting {
    /// The key as the user wrote it: its name is the setter's name and its
    /// span is where errors about the setter point.
    pub(crate) key: Ident,
    /// The validated value.
    pub(crate) value: Value,
    /// Where the value was written.
    pub(crate) value_span: Span,
}

/// A validated setting value, typed as the setter takes it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Value {
    /// A count: at least 1, fits in a `u32`.
    Count(u32),
    /// A duration longer than zero.
    Duration(Duration),
    /// A rate or multiplier: finite and in range.
    Float(f64),
    /// `"off"`: the policy the key sets is turned off (`max_failures`).
    Off,
}

/// What kind of value a key takes; decides parsing, validation and the
/// example shown in error messages.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Name,
    Crate,
    Function,
    Store,
    /// A whole number from 1 to `max`; with `off`, or `"off"`.
    Count {
        max: u32,
        off: bool,
    },
    Duration,
    Rate,
    Multiplier,
    /// A fraction of at least 0 and below 1.
    Jitter,
}

impl Kind {
    /// A value to show in `key = value` examples.
    fn example(self) -> &'static str {
        match self {
            Kind::Name => "\"db\"",
            Kind::Crate => "\"my_crate::breakerbox\"",
            Kind::Function => "my_function",
            Kind::Store => "\"fleet\"",
            Kind::Count { .. } => "5",
            Kind::Duration => "\"60s\"",
            Kind::Rate => "0.5",
            Kind::Multiplier => "2.0",
            Kind::Jitter => "0.1",
        }
    }
}

const ANY_COUNT: Kind = Kind::Count {
    max: u32::MAX,
    off: false,
};

/// The most calls a count window may hold: `breakerbox::MAX_COUNT_WINDOW`
/// (a test checks that they agree).
const MAX_COUNT_WINDOW: u32 = 100_000;
/// The most buckets a time window may have: `breakerbox::MAX_TIME_BUCKETS`.
const MAX_TIME_BUCKETS: u32 = 1000;

/// The value that turns a policy off: `max_failures = "off"`.
const OFF: &str = "off";

/// Every key the attribute accepts. The configuration keys are named exactly
/// like the `Config` setters they turn into, and are the keys a file, the
/// environment and serde accept (`breakerbox::PartialConfig::keys`, checked by
/// a test below); the others only code can give.
const KEYS: &[(&str, Kind)] = &[
    ("name", Kind::Name),
    ("crate", Kind::Crate),
    ("fallback", Kind::Function),
    ("classify", Kind::Function),
    (
        "max_failures",
        Kind::Count {
            max: u32::MAX,
            off: true,
        },
    ),
    ("timeout", Kind::Duration),
    ("jitter", Kind::Jitter),
    ("half_open_max_calls", ANY_COUNT),
    ("success_threshold", ANY_COUNT),
    ("max_concurrent_calls", ANY_COUNT),
    ("interval", Kind::Duration),
    ("failure_rate", Kind::Rate),
    (
        "count_window",
        Kind::Count {
            max: MAX_COUNT_WINDOW,
            off: false,
        },
    ),
    ("time_window", Kind::Duration),
    (
        "time_window_buckets",
        Kind::Count {
            max: MAX_TIME_BUCKETS,
            off: false,
        },
    ),
    ("minimum_calls", ANY_COUNT),
    ("slow_call_duration", Kind::Duration),
    ("slow_call_rate", Kind::Rate),
    ("backoff_multiplier", Kind::Multiplier),
    ("backoff_max", Kind::Duration),
    ("half_open_max_wait", Kind::Duration),
    ("call_timeout", Kind::Duration),
    ("store", Kind::Store),
];

/// Parses and validates the tokens between the attribute's parentheses.
pub(crate) fn parse(tokens: TokenStream) -> syn::Result<Args> {
    parse_args.parse2(tokens)
}

/// Collects value errors so that all of them are reported together.
#[derive(Default)]
struct Errors(Option<syn::Error>);

impl Errors {
    fn push(&mut self, error: syn::Error) {
        match &mut self.0 {
            Some(first) => first.combine(error),
            None => self.0 = Some(error),
        }
    }

    /// Ends the parse with `error`, keeping the errors found before it.
    fn fail(mut self, error: syn::Error) -> syn::Error {
        self.push(error);
        self.0
            .unwrap_or_else(|| syn::Error::new(Span::call_site(), "invalid arguments"))
    }

    fn finish<T>(self, value: T) -> syn::Result<T> {
        match self.0 {
            Some(error) => Err(error),
            None => Ok(value),
        }
    }
}

fn parse_args(input: ParseStream) -> syn::Result<Args> {
    let mut args = Args::default();
    let mut errors = Errors::default();
    let mut seen: Vec<Ident> = Vec::new();

    while !input.is_empty() {
        let key = match parse_key(input) {
            Ok(key) => key,
            Err(e) => return Err(errors.fail(e)),
        };
        let kind = lookup(&key);
        match kind {
            None => errors.push(unknown_key(&key)),
            Some(_) if seen.contains(&key) => errors.push(syn::Error::new(
                key.span(),
                format!("duplicate key `{key}`: it is already set earlier in this attribute; remove one of them"),
            )),
            Some(_) => {}
        }
        seen.push(key.clone());

        let example = kind.map_or("...", Kind::example);
        let eq: Token![=] = match input.parse() {
            Ok(eq) => eq,
            Err(_) => {
                let message = format!("expected `=` after `{key}`, as in `{key} = {example}`");
                let span = if input.is_empty() {
                    key.span()
                } else {
                    input.span()
                };
                return Err(errors.fail(syn::Error::new(span, message)));
            }
        };
        if input.is_empty() || input.peek(Token![,]) {
            let message = format!("expected a value after `{key} =`, as in `{key} = {example}`");
            return Err(errors.fail(syn::Error::new(eq.span, message)));
        }
        let value: Expr = match input.parse() {
            Ok(value) => value,
            Err(e) => {
                let message = format!("expected a value for `{key}`, as in `{key} = {example}`");
                return Err(errors.fail(syn::Error::new(e.span(), message)));
            }
        };
        if let Some(kind) = kind {
            if let Err(e) = apply(&mut args, kind, key, value) {
                errors.push(e);
            }
        }

        if input.is_empty() {
            break;
        }
        if input.parse::<Token![,]>().is_err() {
            let message = "expected `,` between arguments, as in `name = \"db\", max_failures = 5`";
            return Err(errors.fail(syn::Error::new(input.span(), message)));
        }
    }

    check_combinations(&args, &mut errors);
    errors.finish(args)
}

fn parse_key(input: ParseStream) -> syn::Result<Ident> {
    // `parse_any` so that `crate` (a keyword) is accepted as a key.
    if input.peek(Ident::peek_any) {
        return input.call(Ident::parse_any);
    }
    let message = if input.peek(Token![=]) {
        "expected a key before `=`, as in `max_failures = 5`"
    } else if input.peek(Lit) {
        "expected a key, as in `name = \"db\"`; a bare value needs a key in front of it"
    } else {
        "expected a key, such as `name`, `max_failures` or `timeout`, followed by `=` and a value"
    };
    Err(syn::Error::new(input.span(), message))
}

fn lookup(key: &Ident) -> Option<Kind> {
    let key = key.to_string();
    KEYS.iter().find(|&&(k, _)| k == key).map(|&(_, kind)| kind)
}

fn unknown_key(key: &Ident) -> syn::Error {
    let written = key.to_string();
    let message = match closest_key(&written) {
        Some(known) => format!("unknown key `{written}`; did you mean `{known}`?"),
        None => {
            let all: Vec<String> = KEYS.iter().map(|(k, _)| format!("`{k}`")).collect();
            format!("unknown key `{written}`; the keys are {}", all.join(", "))
        }
    };
    syn::Error::new(key.span(), message)
}

/// The known key nearest to `written`, if it is near enough to be a typo or
/// a shortened form (`failures` for `max_failures`).
fn closest_key(written: &str) -> Option<&'static str> {
    let written = written.to_ascii_lowercase();
    let (best, distance) = KEYS
        .iter()
        .map(|&(k, _)| (k, edit_distance(&written, k)))
        .min_by_key(|&(_, d)| d)?;
    if distance <= (best.len() / 3).max(1) {
        return Some(best);
    }
    if written.len() >= 4 {
        return KEYS
            .iter()
            .map(|&(k, _)| k)
            .find(|k| k.contains(written.as_str()) || written.contains(k));
    }
    None
}

/// Levenshtein distance over chars: insertions, deletions, substitutions.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        current[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let substitute = previous[j] + usize::from(ca != cb);
            current[j + 1] = substitute.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

/// Validates `value` for `key` and stores it in `args`.
fn apply(args: &mut Args, kind: Kind, key: Ident, value: Expr) -> syn::Result<()> {
    let value = strip_invisible_group(value);
    let value_span = value.span();
    let setting = |value: Value| Setting {
        key: key.clone(),
        value,
        value_span,
    };
    match kind {
        Kind::Name => args.name = Some(name(&key, &value)?),
        Kind::Crate => args.krate = Some(crate_path(&key, &value)?),
        Kind::Store => args.store = Some(store(&key, &value)?),
        Kind::Function => {
            let path = function_path(&key, &value)?;
            if key == "fallback" {
                args.fallback = Some(path);
            } else {
                args.classify = Some(path);
            }
        }
        Kind::Count { max, off } => args.settings.push(setting(count(&key, &value, max, off)?)),
        Kind::Duration => args
            .settings
            .push(setting(Value::Duration(duration(&key, &value)?))),
        Kind::Rate | Kind::Multiplier | Kind::Jitter => args
            .settings
            .push(setting(Value::Float(float(&key, &value, kind)?))),
    }
    Ok(())
}

/// A value passed through a `macro_rules!` fragment arrives wrapped in an
/// invisible group; look through it so `max_failures = $n` works.
fn strip_invisible_group(value: Expr) -> Expr {
    match value {
        Expr::Group(group) => strip_invisible_group(*group.expr),
        other => other,
    }
}

fn literal(value: &Expr) -> Option<&Lit> {
    match value {
        Expr::Lit(lit) if lit.attrs.is_empty() => Some(&lit.lit),
        _ => None,
    }
}

/// An error covering all of `tokens` (a value may be several tokens).
fn error(tokens: &impl ToTokens, message: impl std::fmt::Display) -> syn::Error {
    syn::Error::new_spanned(tokens, message)
}

fn name(key: &Ident, value: &Expr) -> syn::Result<LitStr> {
    match literal(value) {
        Some(Lit::Str(s)) if !s.suffix().is_empty() => {
            Err(error(s, "unexpected suffix after the string"))
        }
        Some(Lit::Str(s)) if s.value().trim().is_empty() => Err(error(
            s,
            "the breaker name must not be empty; leave `name` out to use the function's path",
        )),
        Some(Lit::Str(s)) => Ok(s.clone()),
        _ => Err(error(
            value,
            format!("`{key}` expects a string literal, as in `{key} = \"db\"`"),
        )),
    }
}

fn store(key: &Ident, value: &Expr) -> syn::Result<LitStr> {
    match literal(value) {
        Some(Lit::Str(s)) if !s.suffix().is_empty() => {
            Err(error(s, "unexpected suffix after the string"))
        }
        Some(Lit::Str(s)) if s.value().trim().is_empty() => Err(error(
            s,
            "the store name must not be empty; name a store registered with `registry().register_store`, or \"local\"",
        )),
        Some(Lit::Str(s)) => Ok(s.clone()),
        _ => Err(error(
            value,
            format!("`{key}` expects a string literal, as in `{key} = \"fleet\"`"),
        )),
    }
}

fn crate_path(key: &Ident, value: &Expr) -> syn::Result<Path> {
    let expected = format!("`{key}` expects the path to the `breakerbox` crate as a string, as in `{key} = \"my_crate::breakerbox\"`");
    match (literal(value), value) {
        (Some(Lit::Str(s)), _) if s.suffix().is_empty() => s
            .parse_with(Path::parse_mod_style)
            .map_err(|_| error(s, format!("`{}` is not a path; {expected}", s.value()))),
        (_, Expr::Path(p)) if p.qself.is_none() && p.attrs.is_empty() => Ok(p.path.clone()),
        _ => Err(error(value, expected)),
    }
}

fn function_path(key: &Ident, value: &Expr) -> syn::Result<ExprPath> {
    let what = if key == "fallback" {
        "a function called with the same arguments when the breaker rejects a call"
    } else {
        "a function that takes `&E` and returns `bool` or `breakerbox::Outcome`"
    };
    match value {
        Expr::Path(p) if p.attrs.is_empty() => Ok(p.clone()),
        Expr::Lit(lit) if matches!(lit.lit, Lit::Str(_)) => Err(error(
            value,
            format!("`{key}` expects a path, not a string: remove the quotes, as in `{key} = my_function`"),
        )),
        Expr::Closure(_) => Err(error(
            value,
            format!("`{key}` expects the path of {what}; a closure is not accepted, so define a fn and write `{key} = my_function`"),
        )),
        _ => Err(error(value, format!("`{key}` expects the path of {what}, as in `{key} = my_function`"))),
    }
}

fn count(key: &Ident, value: &Expr, max: u32, off: bool) -> syn::Result<Value> {
    let expected = match off {
        true => format!("`{key}` expects a whole number of at least 1, or \"{OFF}\": `{key} = 5`, or `{key} = \"{OFF}\"` for a breaker that trips on a rate only"),
        false => format!("`{key}` expects a whole number of at least 1, as in `{key} = 5`"),
    };
    let at_least_one = match off {
        true => format!("`{key}` must be at least 1 (the failures in a row that open the breaker); for a breaker that trips on its failure rate only, turn this count off and give a rate: `{key} = \"{OFF}\", failure_rate = 0.5`"),
        false => format!("`{key}` must be at least 1"),
    };
    let int = match literal(value) {
        Some(Lit::Int(int)) => int,
        Some(Lit::Str(s)) if off && s.suffix().is_empty() && s.value() == OFF => {
            return Ok(Value::Off)
        }
        Some(Lit::Str(s)) if off && s.value().trim().parse::<u64>().is_ok() => {
            return Err(error(
                value,
                format!("`{key}` expects a number, not a string: `{key} = {}`; the one string it takes is \"{OFF}\", for a breaker that trips on a rate only", s.value().trim()),
            ))
        }
        Some(Lit::Str(_)) if off => return Err(error(value, expected)),
        Some(Lit::Str(_)) => {
            return Err(error(
                value,
                format!("`{key}` expects a number, not a string: `{key} = 5`"),
            ))
        }
        _ if is_negated_number(value) => return Err(error(value, at_least_one)),
        _ => return Err(error(value, expected)),
    };
    if !matches!(int.suffix(), "" | "u32") {
        return Err(error(
            int,
            format!(
                "unexpected suffix `{}`; write a plain number, as in `{key} = 5`",
                int.suffix()
            ),
        ));
    }
    let digits = int.base10_digits();
    if digits.starts_with('-') {
        return Err(error(int, at_least_one));
    }
    // Too many digits for u128 is certainly above `max`.
    let number = digits.parse::<u128>().unwrap_or(u128::MAX);
    if number == 0 {
        return Err(error(int, at_least_one));
    }
    match u32::try_from(number) {
        Ok(n) if n <= max => Ok(Value::Count(n)),
        _ if max == u32::MAX => Err(error(
            int,
            format!("`{key}` must fit in a u32 (at most {max})"),
        )),
        _ => Err(error(int, format!("`{key}` must be at most {max}"))),
    }
}

fn is_negated_number(value: &Expr) -> bool {
    match value {
        Expr::Unary(unary) if matches!(unary.op, UnOp::Neg(_)) => {
            matches!(literal(&unary.expr), Some(Lit::Int(_) | Lit::Float(_)))
        }
        _ => false,
    }
}

fn duration(key: &Ident, value: &Expr) -> syn::Result<Duration> {
    let text = match literal(value) {
        Some(Lit::Str(s)) if s.suffix().is_empty() => s,
        // `60s` and `1m30s` lex as integers with a suffix: show them quoted.
        Some(Lit::Int(int)) if !int.suffix().is_empty() => {
            let written = format!("{}{}", int.base10_digits(), int.suffix());
            return Err(error(
                int,
                format!("durations are written as strings: `{key} = \"{written}\"`"),
            ));
        }
        Some(Lit::Int(int)) => {
            return Err(error(
                int,
                format!(
                    "`{key}` needs a unit, written as a string: `{key} = \"{}s\"` (units: {})",
                    int.base10_digits(),
                    duration::UNIT_LIST
                ),
            ))
        }
        _ => {
            return Err(error(
                value,
                format!(
                    "`{key}` expects a duration string, as in `{key} = \"60s\"` (units: {})",
                    duration::UNIT_LIST
                ),
            ))
        }
    };
    let parsed = duration::parse(&text.value())
        .map_err(|e| error(text, format!("invalid duration for `{key}`: {e}")))?;
    if parsed.is_zero() {
        return Err(error(text, format!("`{key}` must be longer than zero")));
    }
    Ok(parsed)
}

fn float(key: &Ident, value: &Expr, kind: Kind) -> syn::Result<f64> {
    let example = kind.example();
    let range = match kind {
        Kind::Rate => "above 0 and at most 1 (a fraction of calls: 0.5 is 50%)",
        Kind::Jitter => {
            "at least 0 and below 1 (a fraction of the open period: 0.1 spreads it over ±10%)"
        }
        _ => {
            "at least 1.0 (1.0 keeps the timeout constant; 2.0 doubles it after each failed probe)"
        }
    };
    let number = match literal(value) {
        Some(Lit::Float(f)) if matches!(f.suffix(), "" | "f64" | "f32") => {
            f.base10_digits().parse::<f64>()
        }
        Some(Lit::Int(i)) if i.suffix().is_empty() => i.base10_digits().parse::<f64>(),
        Some(lit @ (Lit::Float(_) | Lit::Int(_))) => {
            return Err(error(
                lit,
                format!("unexpected suffix; write a plain number, as in `{key} = {example}`"),
            ))
        }
        Some(Lit::Str(_)) => {
            return Err(error(
                value,
                format!("`{key}` expects a number, not a string: `{key} = {example}`"),
            ))
        }
        _ if is_negated_number(value) => {
            return Err(error(value, format!("`{key}` must be {range}")))
        }
        _ => {
            return Err(error(
                value,
                format!("`{key}` expects a number, as in `{key} = {example}`"),
            ))
        }
    };
    let number = match number {
        Ok(n) if n.is_finite() => n,
        _ => return Err(error(value, format!("`{key}` must be {range}"))),
    };
    let in_range = match kind {
        Kind::Rate => number > 0.0 && number <= 1.0,
        Kind::Jitter => (0.0..1.0).contains(&number),
        _ => number >= 1.0,
    };
    if in_range {
        return Ok(number);
    }
    if kind == Kind::Rate && number > 1.0 && number <= 100.0 {
        return Err(error(
            value,
            format!(
                "`{key}` must be {range}; for {number}%, write `{key} = {}`",
                number / 100.0
            ),
        ));
    }
    Err(error(value, format!("`{key}` must be {range}")))
}

/// The rules that tie keys together; the runtime checks the same when a
/// configuration is built by hand.
fn check_combinations(args: &Args, errors: &mut Errors) {
    let get = |key: &str| args.setting(key);

    if let (Some(count), Some(time)) = (get("count_window"), get("time_window")) {
        let second = last_written(args, count, time);
        errors.push(error(
            &second.key,
            "`count_window` and `time_window` cannot both be set: the failure rate is measured either over the last N calls (`count_window`) or over a span of time (`time_window`)",
        ));
    }
    if let (Some(buckets), None) = (get("time_window_buckets"), get("time_window")) {
        errors.push(error(
            &buckets.key,
            "`time_window_buckets` needs `time_window`: it says how many buckets that window is split into; add `time_window = \"60s\"`",
        ));
    }
    if let (Some(rate), None) = (get("slow_call_rate"), get("slow_call_duration")) {
        errors.push(error(
            &rate.key,
            "`slow_call_rate` needs `slow_call_duration`, which says how long a call must take to count as slow; add `slow_call_duration = \"1s\"`",
        ));
    }
    if let Some(max) = get("backoff_max") {
        if get("backoff_multiplier").is_none() {
            errors.push(error(
                &max.key,
                "`backoff_max` needs `backoff_multiplier`: it caps the timeout as the multiplier grows it; add `backoff_multiplier = 2.0`",
            ));
        }
        let (timeout, which) = match get("timeout") {
            Some(Setting {
                value: Value::Duration(d),
                ..
            }) => (*d, "`timeout`"),
            _ => (DEFAULT_TIMEOUT, "the default `timeout`"),
        };
        if let Value::Duration(cap) = max.value {
            if cap < timeout {
                errors.push(syn::Error::new(
                    max.value_span,
                    format!(
                        "`backoff_max` ({}) must be at least {which} ({})",
                        duration::display(cap),
                        duration::display(timeout)
                    ),
                ));
            }
        }
    }
}

/// Of two settings, the one written later (settings keep written order).
fn last_written<'a>(args: &'a Args, a: &'a Setting, b: &'a Setting) -> &'a Setting {
    let position = |s: &Setting| args.settings.iter().position(|t| t.key == s.key);
    if position(a) > position(b) {
        a
    } else {
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn ok(tokens: TokenStream) -> Args {
        match parse(tokens.clone()) {
            Ok(args) => args,
            Err(e) => panic!("`{tokens}` should parse, got: {e}"),
        }
    }

    /// All messages of the error for `tokens`, joined.
    fn err(tokens: TokenStream) -> String {
        match parse(tokens.clone()) {
            Ok(_) => panic!("`{tokens}` should be refused"),
            Err(e) => e
                .into_iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }

    fn value(args: &Args, key: &str) -> Value {
        match args.setting(key) {
            Some(s) => s.value,
            None => panic!("`{key}` not set"),
        }
    }

    #[test]
    fn empty_arguments_are_accepted() {
        let args = ok(quote!());
        assert!(args.name.is_none() && args.settings.is_empty());
    }

    #[test]
    fn trailing_comma_is_accepted() {
        assert_eq!(
            value(&ok(quote!(max_failures = 3,)), "max_failures"),
            Value::Count(3)
        );
    }

    #[test]
    fn name_is_kept_as_written() {
        let args = ok(quote!(name = "db"));
        assert_eq!(args.name.map(|n| n.value()).as_deref(), Some("db"));
    }

    #[test]
    fn empty_name_is_refused() {
        assert!(err(quote!(name = "")).contains("must not be empty"));
    }

    #[test]
    fn name_must_be_a_string() {
        assert!(err(quote!(name = db)).contains("`name` expects a string literal"));
    }

    #[test]
    fn crate_is_parsed_from_a_string() {
        let args = ok(quote!(crate = "my_crate::breaker"));
        let path = args.krate.map(|p| quote!(#p).to_string());
        assert_eq!(path.as_deref(), Some("my_crate :: breaker"));
    }

    #[test]
    fn crate_string_must_hold_a_path() {
        assert!(err(quote!(crate = "not a path")).contains("is not a path"));
    }

    #[test]
    fn settings_keep_written_order() {
        let args = ok(quote!(timeout = "1s", max_failures = 2));
        let keys: Vec<String> = args.settings.iter().map(|s| s.key.to_string()).collect();
        assert_eq!(keys, ["timeout", "max_failures"]);
    }

    #[test]
    fn every_count_key_takes_a_positive_integer() {
        for key in [
            "max_failures",
            "half_open_max_calls",
            "success_threshold",
            "max_concurrent_calls",
            "count_window",
            "minimum_calls",
        ] {
            let key = Ident::new(key, Span::call_site());
            assert_eq!(
                value(&ok(quote!(#key = 7)), &key.to_string()),
                Value::Count(7)
            );
        }
    }

    #[test]
    fn the_configuration_keys_are_the_runtime_keys() {
        const CODE_ONLY: &[&str] = &["name", "crate", "fallback", "classify"];
        let mut attribute: Vec<&str> = KEYS
            .iter()
            .map(|&(key, _)| key)
            .filter(|key| !CODE_ONLY.contains(key))
            .collect();
        let mut runtime: Vec<&str> = breakerbox::PartialConfig::keys().collect();
        attribute.sort_unstable();
        runtime.sort_unstable();
        assert_eq!(
            attribute, runtime,
            "the attribute's keys and the keys of a file, the environment and serde (`breakerbox::PartialConfig::keys`) differ"
        );
    }

    #[test]
    fn every_configuration_key_takes_what_the_runtime_takes() {
        for &(key, kind) in KEYS {
            let example = match kind {
                Kind::Name | Kind::Crate | Kind::Function => continue,
                other => other.example(),
            };
            let ident = Ident::new(key, Span::call_site());
            let value: Expr = match syn::parse_str(example) {
                Ok(value) => value,
                Err(e) => panic!("`{example}` is no expression: {e}"),
            };
            if let Err(e) = apply(&mut Args::default(), kind, ident, value) {
                panic!("the attribute refused `{key} = {example}`: {e}");
            }
            let mut partial = breakerbox::PartialConfig::new();
            if let Err(e) = partial.set(key, example.trim_matches('"')) {
                panic!("the runtime refused `{key} = {example}`: {e}");
            }
        }
    }

    #[test]
    fn jitter_is_a_fraction_below_one() {
        assert_eq!(value(&ok(quote!(jitter = 0)), "jitter"), Value::Float(0.0));
        for bad in [quote!(jitter = 1.0), quote!(jitter = -0.1)] {
            assert!(err(bad).contains("`jitter` must be at least 0 and below 1"));
        }
    }

    #[test]
    fn count_of_zero_is_refused() {
        assert!(err(quote!(half_open_max_calls = 0))
            .contains("`half_open_max_calls` must be at least 1"));
    }

    #[test]
    fn max_failures_off_turns_the_policy_off() {
        assert_eq!(
            value(&ok(quote!(max_failures = "off")), "max_failures"),
            Value::Off
        );
    }

    #[test]
    fn zero_max_failures_points_to_off() {
        let message = err(quote!(max_failures = 0));
        assert!(
            message.contains("for a breaker that trips on its failure rate only, turn this count off and give a rate: `max_failures = \"off\", failure_rate = 0.5`"),
            "{message}"
        );
    }

    #[test]
    fn another_word_for_off_points_to_off() {
        let message = err(quote!(max_failures = "none"));
        assert!(message.contains("or `max_failures = \"off\"`"), "{message}");
    }

    #[test]
    fn off_is_refused_for_other_counts() {
        assert!(err(quote!(half_open_max_calls = "off")).contains("not a string"));
    }

    #[test]
    fn negative_count_is_refused() {
        assert!(err(quote!(max_failures = -3)).contains("must be at least 1"));
    }

    #[test]
    fn count_above_u32_is_refused() {
        assert!(err(quote!(max_failures = 4294967296)).contains("must fit in a u32"));
        assert!(err(quote!(
            max_failures = 99999999999999999999999999999999999999999999
        ))
        .contains("must fit in a u32"));
    }

    #[test]
    fn count_of_u32_max_is_accepted() {
        assert_eq!(
            value(&ok(quote!(max_failures = 4294967295)), "max_failures"),
            Value::Count(u32::MAX)
        );
    }

    #[test]
    fn time_window_buckets_is_at_most_1000() {
        let args = ok(quote!(time_window = "1m", time_window_buckets = 1000));
        assert_eq!(value(&args, "time_window_buckets"), Value::Count(1000));
        assert!(err(quote!(time_window = "1m", time_window_buckets = 1001))
            .contains("must be at most 1000"));
    }

    #[test]
    fn the_size_limits_are_the_runtime_limits() {
        assert_eq!(MAX_COUNT_WINDOW, breakerbox::MAX_COUNT_WINDOW);
        assert_eq!(MAX_TIME_BUCKETS, breakerbox::MAX_TIME_BUCKETS);
    }

    #[test]
    fn count_window_is_at_most_100000() {
        let args = ok(quote!(count_window = 100000));
        assert_eq!(value(&args, "count_window"), Value::Count(100_000));
        assert!(err(quote!(count_window = 100001)).contains("must be at most 100000"));
        assert!(err(quote!(count_window = 4294967295)).contains("must be at most 100000"));
    }

    #[test]
    fn count_must_be_an_integer() {
        assert!(err(quote!(max_failures = 2.5)).contains("expects a whole number"));
        assert!(err(quote!(half_open_max_calls = "5")).contains("not a string"));
        assert!(err(quote!(max_failures = "5")).contains("not a string: `max_failures = 5`"));
    }

    #[test]
    fn count_with_a_foreign_suffix_is_refused() {
        assert_eq!(
            value(&ok(quote!(max_failures = 5u32)), "max_failures"),
            Value::Count(5)
        );
        assert!(err(quote!(max_failures = 5u8)).contains("unexpected suffix `u8`"));
    }

    #[test]
    fn every_duration_key_takes_a_duration_string() {
        for key in [
            "timeout",
            "interval",
            "time_window",
            "slow_call_duration",
            "half_open_max_wait",
            "call_timeout",
        ] {
            let key = Ident::new(key, Span::call_site());
            let args = ok(quote!(#key = "1m30s"));
            assert_eq!(
                value(&args, &key.to_string()),
                Value::Duration(Duration::from_secs(90))
            );
        }
    }

    #[test]
    fn zero_duration_is_refused() {
        assert!(err(quote!(timeout = "0s")).contains("`timeout` must be longer than zero"));
    }

    #[test]
    fn bad_duration_names_the_units() {
        let message = err(quote!(timeout = "60 sec"));
        assert!(
            message.contains("invalid duration for `timeout`"),
            "{message}"
        );
        assert!(message.contains("ns, us, ms, s, m, h, d"), "{message}");
    }

    #[test]
    fn unquoted_duration_is_shown_quoted() {
        assert!(err(quote!(timeout = 60s)).contains("`timeout = \"60s\"`"));
        assert!(err(quote!(timeout = 1m30s)).contains("`timeout = \"1m30s\"`"));
    }

    #[test]
    fn bare_number_duration_asks_for_a_unit() {
        assert!(err(quote!(timeout = 60)).contains("needs a unit"));
    }

    #[test]
    fn rates_take_fractions_up_to_one() {
        assert_eq!(
            value(&ok(quote!(failure_rate = 0.5)), "failure_rate"),
            Value::Float(0.5)
        );
        assert_eq!(
            value(&ok(quote!(failure_rate = 1)), "failure_rate"),
            Value::Float(1.0)
        );
        let args = ok(quote!(slow_call_duration = "1s", slow_call_rate = 1.0));
        assert_eq!(value(&args, "slow_call_rate"), Value::Float(1.0));
    }

    #[test]
    fn rate_of_zero_is_refused() {
        assert!(err(quote!(failure_rate = 0.0)).contains("above 0 and at most 1"));
    }

    #[test]
    fn rate_above_one_suggests_a_fraction() {
        assert!(err(quote!(failure_rate = 50)).contains("for 50%, write `failure_rate = 0.5`"));
    }

    #[test]
    fn negative_rate_is_refused() {
        assert!(err(quote!(failure_rate = -0.5)).contains("above 0 and at most 1"));
    }

    #[test]
    fn infinite_rate_is_refused() {
        assert!(err(quote!(backoff_multiplier = 1e999)).contains("at least 1.0"));
    }

    #[test]
    fn backoff_multiplier_is_at_least_one() {
        assert_eq!(
            value(&ok(quote!(backoff_multiplier = 2)), "backoff_multiplier"),
            Value::Float(2.0)
        );
        assert!(err(quote!(backoff_multiplier = 0.5)).contains("at least 1.0"));
    }

    #[test]
    fn fallback_and_classify_take_paths() {
        let args = ok(quote!(
            fallback = Self::cached,
            classify = errors::is_transient
        ));
        assert!(args.fallback.is_some() && args.classify.is_some());
    }

    #[test]
    fn quoted_fallback_is_refused_with_a_hint() {
        assert!(err(quote!(fallback = "cached")).contains("remove the quotes"));
    }

    #[test]
    fn closure_classifier_is_refused() {
        assert!(err(quote!(classify = |e| true)).contains("a closure is not accepted"));
    }

    #[test]
    fn unknown_key_suggests_the_closest() {
        assert!(err(quote!(max_failure = 5)).contains("did you mean `max_failures`?"));
        assert!(err(quote!(timout = "1s")).contains("did you mean `timeout`?"));
        assert!(err(quote!(failures = 5)).contains("did you mean `max_failures`?"));
    }

    #[test]
    fn unknown_key_without_a_near_match_lists_the_keys() {
        let message = err(quote!(zzz = 1));
        assert!(
            message.contains("the keys are `name`, `crate`"),
            "{message}"
        );
    }

    #[test]
    fn store_takes_a_non_empty_string() {
        let args = parse(quote!(store = "fleet")).unwrap();
        assert_eq!(args.store.unwrap().value(), "fleet");
        assert!(err(quote!(store = fleet)).contains("`store` expects a string literal"));
        assert!(err(quote!(store = "")).contains("the store name must not be empty"));
    }

    #[test]
    fn duplicate_key_is_named() {
        let message = err(quote!(max_failures = 1, max_failures = 2));
        assert!(
            message.contains("duplicate key `max_failures`"),
            "{message}"
        );
    }

    #[test]
    fn duplicate_key_points_at_the_second() {
        let tokens: TokenStream = "max_failures = 1, max_failures = 2"
            .parse()
            .unwrap_or_default();
        let error = parse(tokens).err().map(|e| e.span().start().column);
        assert_eq!(error, Some(18));
    }

    #[test]
    fn missing_equals_is_refused() {
        assert!(err(quote!(max_failures 5))
            .contains("expected `=` after `max_failures`, as in `max_failures = 5`"));
        assert!(err(quote!(max_failures)).contains("expected `=` after `max_failures`"));
    }

    #[test]
    fn missing_value_is_refused() {
        assert!(err(quote!(max_failures =)).contains("expected a value after `max_failures =`"));
        assert!(err(quote!(max_failures =, timeout = "1s")).contains("expected a value"));
    }

    #[test]
    fn missing_comma_is_refused() {
        assert!(
            err(quote!(max_failures = 5 timeout = "1s")).contains("expected `,` between arguments")
        );
    }

    #[test]
    fn bare_value_is_refused() {
        assert!(err(quote!("db")).contains("expected a key"));
    }

    #[test]
    fn every_bad_value_is_reported() {
        let message = err(quote!(max_failures = 0, timeout = "0s", failure_rate = 2.0));
        assert_eq!(message.lines().count(), 3, "{message}");
    }

    #[test]
    fn value_from_a_macro_fragment_is_accepted() {
        let five = proc_macro2::Group::new(proc_macro2::Delimiter::None, quote!(5));
        assert_eq!(
            value(&ok(quote!(max_failures = #five)), "max_failures"),
            Value::Count(5)
        );
    }

    #[test]
    fn count_and_time_windows_exclude_each_other() {
        let message = err(quote!(count_window = 10, time_window = "1m"));
        assert!(message.contains("cannot both be set"), "{message}");
    }

    #[test]
    fn time_window_buckets_requires_time_window() {
        assert!(err(quote!(time_window_buckets = 10)).contains("needs `time_window`"));
    }

    #[test]
    fn slow_call_rate_requires_slow_call_duration() {
        assert!(err(quote!(slow_call_rate = 0.5)).contains("needs `slow_call_duration`"));
    }

    #[test]
    fn backoff_max_requires_backoff_multiplier() {
        assert!(err(quote!(backoff_max = "5m")).contains("needs `backoff_multiplier`"));
    }

    #[test]
    fn backoff_max_below_default_timeout_is_refused() {
        let message = err(quote!(backoff_multiplier = 2.0, backoff_max = "30s"));
        assert!(
            message.contains("must be at least the default `timeout` (1m)"),
            "{message}"
        );
    }

    #[test]
    fn backoff_max_is_checked_against_the_written_timeout() {
        ok(quote!(
            timeout = "10s",
            backoff_multiplier = 2.0,
            backoff_max = "30s"
        ));
        let message = err(quote!(
            timeout = "1m",
            backoff_multiplier = 2.0,
            backoff_max = "30s"
        ));
        assert!(
            message.contains("must be at least `timeout` (1m)"),
            "{message}"
        );
    }

    #[test]
    fn hexadecimal_and_underscored_counts_are_read_as_numbers() {
        assert_eq!(
            value(&ok(quote!(max_failures = 0x10)), "max_failures"),
            Value::Count(16)
        );
        assert_eq!(
            value(&ok(quote!(max_failures = 1_000)), "max_failures"),
            Value::Count(1000)
        );
    }

    #[test]
    fn odd_token_streams_are_refused_without_panicking() {
        let inputs = [
            "= = =",
            ", ,",
            "a = b = c",
            "name = \"a\" \"b\"",
            "crate = \"\"",
            "crate = \"::\"",
            "crate = \"a::<T>\"",
            "fallback = ::",
            "fallback = <T as X>::f,",
            "timeout = \"\\u{0}\"",
            "timeout = b\"1s\"",
            "timeout = '1'",
            "max_failures = 1e3",
            "max_failures = {}",
            "x = ((((((((((1))))))))))",
            "# [a] = 1",
            "name = \"db\", , max_failures = 1",
            "name = r#\"db\"#",
            "max_failures = -0",
            "failure_rate = - - 1.0",
            "self = 1",
        ];
        for input in inputs {
            let tokens: TokenStream = match input.parse() {
                Ok(tokens) => tokens,
                Err(e) => panic!("test input `{input}` does not lex: {e}"),
            };
            let _ = parse(tokens);
        }
    }

    #[test]
    fn edit_distance_counts_single_edits() {
        assert_eq!(edit_distance("timout", "timeout"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}

/// The parser never panics: any token stream yields arguments or an error.
#[cfg(test)]
mod never_panics {
    use proc_macro2::TokenStream;
    use proptest::prelude::*;

    const KEYS: &[&str] = &[
        "name",
        "crate",
        "max_failures",
        "timeout",
        "half_open_max_calls",
        "success_threshold",
        "max_concurrent_calls",
        "interval",
        "failure_rate",
        "count_window",
        "time_window",
        "time_window_buckets",
        "minimum_calls",
        "slow_call_duration",
        "slow_call_rate",
        "backoff_multiplier",
        "backoff_max",
        "half_open_max_wait",
        "call_timeout",
        "fallback",
        "classify",
        "unknown",
        "Self",
        "a::b",
    ];
    const VALUES: &[&str] = &[
        "0",
        "1",
        "4294967296",
        "18446744073709551616",
        "0.0",
        "0.5",
        "1.0",
        "1e309",
        "-1",
        "true",
        "'a'",
        "b\"x\"",
        "\"\"",
        "\"60s\"",
        "\"1m30s\"",
        "\"0s\"",
        "\"999999999999999999999d\"",
        "\"5 s\"",
        "\"ms\"",
        "\"h1\"",
        "\"1.5s\"",
        "r#\"10s\"#",
        "a::b",
        "Self::c",
        "|x| x",
        "x.y",
        "1u8",
        "2.0f32",
        "()",
        "[]",
        "{}",
        "(1, 2)",
        "-",
        "=",
    ];
    const SEPARATORS: &[&str] = &[",", ",", ",", "", ";", "= ="];

    /// One `key = value` entry, mostly well formed and sometimes not.
    fn entry() -> impl Strategy<Value = String> {
        (
            prop::sample::select(KEYS),
            prop_oneof![4 => Just(" = "), 1 => Just(" "), 1 => Just(" : ")],
            prop_oneof![
                4 => prop::sample::select(VALUES).prop_map(str::to_owned),
                1 => "[0-9]{1,25}",
                1 => "\"[0-9a-z ]{0,8}\"",
                1 => "[a-z_]{1,8}",
            ],
            prop::sample::select(SEPARATORS),
        )
            .prop_map(|(key, eq, value, sep)| format!("{key}{eq}{value}{sep} "))
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 5_000, ..ProptestConfig::default() })]

        #[test]
        fn parse_returns_args_or_an_error_for_any_tokens(entries in prop::collection::vec(entry(), 0..8)) {
            let text = entries.concat();
            // Fragments that do not lex (unbalanced delimiters) are not
            // token streams; the compiler never hands those to a macro.
            if let Ok(tokens) = text.parse::<TokenStream>() {
                let _ = super::parse(tokens);
            }
        }
    }
}
