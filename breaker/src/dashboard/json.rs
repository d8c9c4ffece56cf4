//! The dashboard's JSON, written by hand so that the feature needs no
//! serializer: field names here are what the page reads (in one place at
//! the top of its script, `fromJson`).
//!
//! The fields are described in [`Dashboard::json`](super::Dashboard::json).
//!
//! `samples` and `transitions` are cursors: a request with
//! `?samples_after=N&transitions_after=M` gets only the history points
//! numbered above `N` (a series that starts later is sent whole) and the
//! transitions of breakers that made one numbered above `M`
//! (`transitions` is then absent for the others).

use std::fmt::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::events::{self, Transition};
use super::sampler::History;
use crate::stats::{Counts, Stats, Totals};
use crate::CircuitBreaker;

/// What a client already has.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Since {
    pub(crate) samples: u64,
    pub(crate) transitions: u64,
}

/// What the JSON says of the dashboard itself.
pub(crate) struct About {
    /// When the dashboard was created: a client that sees it change is
    /// talking to a new one, whose cursors start again.
    pub(crate) started: SystemTime,
    pub(crate) sample_every: Duration,
    pub(crate) controls: bool,
}

/// The page's view of every breaker.
pub(crate) fn snapshot(
    about: &About,
    breakers: &[(Stats, std::sync::Arc<CircuitBreaker>)],
    history: &History,
    transitions_cursor: u64,
    since: Since,
) -> String {
    let mut out = String::with_capacity(256 + breakers.len() * 700);
    out.push_str("{\"now_unix_ms\":");
    number(&mut out, unix_ms(SystemTime::now()));
    out.push_str(",\"started_unix_ms\":");
    number(&mut out, unix_ms(about.started));
    out.push_str(",\"sample_every_secs\":");
    float(&mut out, about.sample_every.as_secs_f64());
    out.push_str(",\"history_len\":");
    number(&mut out, history.capacity() as u64);
    out.push_str(",\"samples\":");
    number(&mut out, history.seq());
    out.push_str(",\"transitions\":");
    number(&mut out, transitions_cursor);
    out.push_str(",\"controls\":");
    out.push_str(if about.controls { "true" } else { "false" });
    out.push_str(",\"breakers\":[");
    for (i, (stats, breaker)) in breakers.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        breaker_json(&mut out, stats, breaker, history, since);
    }
    out.push_str("]}");
    out
}

fn breaker_json(
    out: &mut String,
    stats: &Stats,
    breaker: &CircuitBreaker,
    history: &History,
    since: Since,
) {
    let config = breaker.config();
    out.push_str("{\"name\":");
    string(out, &stats.name);
    out.push_str(",\"state\":");
    string(out, stats.state.as_str());
    out.push_str(",\"period\":");
    counts(out, &stats.period);
    out.push_str(",\"tripped_by\":");
    let log = breaker.transition_log().recent();
    match tripped_by(stats, &log) {
        Some(trip) => {
            // The state machine's own record of the trip has the window's
            // rates; the log's period counts are the fallback (a breaker
            // the fleet opened).
            let (failure_rate, slow_call_rate) = match &stats.tripped_by {
                Some(t) => (t.failure_rate, t.slow_call_rate),
                None => events::period_rates(&trip.period),
            };
            out.push_str("{\"reason\":");
            string(out, trip.reason.as_str());
            out.push_str(",\"unix_ms\":");
            number(out, unix_ms(trip.at));
            out.push_str(",\"period\":");
            counts(out, &trip.period);
            out.push_str(",\"failure_rate\":");
            float(out, failure_rate);
            out.push_str(",\"slow_call_rate\":");
            float(out, slow_call_rate);
            out.push('}');
        }
        None => out.push_str("null"),
    }
    out.push_str(",\"totals\":");
    totals(out, &stats.totals);
    out.push_str(",\"failure_rate\":");
    float(out, stats.failure_rate);
    out.push_str(",\"slow_call_rate\":");
    float(out, stats.slow_call_rate);
    out.push_str(",\"in_flight\":");
    number(out, stats.in_flight);
    out.push_str(",\"time_until_half_open_secs\":");
    match stats.time_until_half_open {
        Some(left) => float(out, left.as_secs_f64()),
        None => out.push_str("null"),
    }
    out.push_str(",\"open_count\":");
    number(out, stats.open_count);
    out.push_str(",\"time_in_state_secs\":");
    float(out, stats.time_in_state.as_secs_f64());
    out.push_str(",\"open_duration_secs\":");
    float(out, stats.open_duration.as_secs_f64());
    out.push_str(",\"generation\":");
    number(out, stats.generation);
    out.push_str(",\"thresholds\":{\"failure_rate\":");
    optional_float(out, config.settings.failure_rate);
    out.push_str(",\"slow_call_rate\":");
    optional_float(out, config.settings.slow_call_rate);
    out.push_str(",\"max_failures\":");
    match config.settings.max_failures {
        Some(max) => number(out, u64::from(max)),
        None => out.push_str("null"),
    }
    out.push_str(",\"minimum_calls\":");
    number(out, u64::from(config.settings.minimum_calls));
    out.push_str(",\"success_threshold\":");
    number(out, u64::from(config.settings.success_threshold));
    out.push('}');
    if let Some(series) = history.series(&stats.name) {
        let start = series.start(history.seq());
        // Points after what the client has; all of them if its copy ends
        // before this series begins.
        // Saturating: the cursor is the client's, any number at all.
        let first_new = since.samples.saturating_add(1);
        let skip = first_new.saturating_sub(start);
        let skip = usize::try_from(skip).unwrap_or(usize::MAX);
        out.push_str(",\"history\":{\"start\":");
        number(out, start.max(first_new));
        out.push_str(",\"calls_per_sec\":");
        points(out, series.calls.iter().skip(skip));
        out.push_str(",\"rejections_per_sec\":");
        points(out, series.rejections.iter().skip(skip));
        out.push('}');
    }
    if log
        .last()
        .is_some_and(|newest| newest.seq > since.transitions)
    {
        out.push_str(",\"transitions\":[");
        for (i, transition) in log.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str("{\"from\":");
            string(out, transition.from.as_str());
            out.push_str(",\"to\":");
            string(out, transition.to.as_str());
            out.push_str(",\"reason\":");
            string(out, transition.reason.as_str());
            out.push_str(",\"unix_ms\":");
            number(out, unix_ms(transition.at));
            out.push_str(",\"period\":");
            counts(out, &transition.period);
            out.push('}');
        }
        out.push(']');
    }
    out.push('}');
}

/// The transition that opened the breaker this time, while it is open or
/// half-open (the period that tripped it); `None` otherwise.
fn tripped_by<'a>(stats: &Stats, log: &'a [Transition]) -> Option<&'a Transition> {
    use crate::State;
    if !matches!(stats.state, State::Open | State::HalfOpen) {
        return None;
    }
    log.iter().rev().find(|t| t.to == State::Open)
}

fn counts(out: &mut String, c: &Counts) {
    fields(
        out,
        &[
            ("calls", c.calls),
            ("successes", c.successes),
            ("failures", c.failures),
            ("consecutive_successes", c.consecutive_successes),
            ("consecutive_failures", c.consecutive_failures),
            ("rejected", c.rejected),
            ("ignored", c.ignored),
            ("slow_calls", c.slow_calls),
            ("timeouts", c.timeouts),
        ],
    );
}

fn totals(out: &mut String, t: &Totals) {
    fields(
        out,
        &[
            ("calls", t.calls),
            ("successes", t.successes),
            ("failures", t.failures),
            ("ignored", t.ignored),
            ("cancelled", t.cancelled),
            ("rejected", t.rejected),
            ("slow_calls", t.slow_calls),
            ("timeouts", t.timeouts),
            ("stale", t.stale),
        ],
    );
}

fn fields(out: &mut String, fields: &[(&str, u64)]) {
    out.push('{');
    for (i, (name, value)) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        string(out, name);
        out.push(':');
        number(out, *value);
    }
    out.push('}');
}

fn points<'a>(out: &mut String, points: impl Iterator<Item = &'a f32>) {
    out.push('[');
    for (i, point) in points.enumerate() {
        if i > 0 {
            out.push(',');
        }
        // Two decimals are plenty for a sparkline and keep 1,000 series
        // small.
        let rounded = (f64::from(*point) * 100.0).round() / 100.0;
        float(out, rounded);
    }
    out.push(']');
}

pub(crate) fn unix_ms(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH).map_or(0, |since| {
        u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
    })
}

fn number(out: &mut String, n: u64) {
    let _ = write!(out, "{n}");
}

/// A finite number as JSON writes it; JSON has no NaN or infinity, so
/// those are `null`.
fn float(out: &mut String, x: f64) {
    if x.is_finite() {
        let _ = write!(out, "{x}");
    } else {
        out.push_str("null");
    }
}

fn optional_float(out: &mut String, x: Option<f64>) {
    match x {
        Some(x) => float(out, x),
        None => out.push_str("null"),
    }
}

/// A JSON string. `<`, `>` and `&` are escaped too, so that the text stays
/// inert should it ever be pasted into HTML.
pub(crate) fn string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quoted(text: &str) -> String {
        let mut out = String::new();
        string(&mut out, text);
        out
    }

    #[test]
    fn strings_escape_quotes_backslashes_controls_and_markup() {
        assert_eq!(quoted("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(quoted("\n\u{1}\u{7f}"), r#""\n\u0001\u007f""#);
        assert_eq!(
            quoted("<img src=x onerror=alert(1)>"),
            r#""\u003cimg src=x onerror=alert(1)\u003e""#
        );
        assert_eq!(quoted("héllo ✓"), "\"héllo ✓\"");
    }

    #[test]
    fn numbers_that_json_cannot_hold_are_null() {
        let mut out = String::new();
        float(&mut out, f64::NAN);
        out.push(',');
        float(&mut out, f64::INFINITY);
        out.push(',');
        float(&mut out, 0.25);
        assert_eq!(out, "null,null,0.25");
    }
}
