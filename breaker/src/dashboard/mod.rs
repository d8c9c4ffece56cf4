//! A live dashboard of every breaker (feature `dashboard`): a tower
//! [`Service`] that serves one self-contained page (its HTML, CSS, script
//! and SVG inline: no CDN, no build step, works offline) and the JSON the
//! page polls.
//!
//! One tile per breaker of the registry: its name; its state in colour,
//! and in words and shape, so that it reads without colour; the failure and
//! slow-call rates against their thresholds; calls and rejections per
//! second with a sparkline of the last minutes; calls in flight; how often
//! it opened; while open, a live countdown to half-open and the period that
//! tripped it; its last transitions, each with its reason and time. Open
//! breakers come first; a filter box narrows the tiles; it stays quick with
//! 1,000 breakers. The page updates itself every second or two and says
//! plainly when it has lost its connection to the service.
//!
//! Mount it anywhere tower services go. With axum, under a path of its own:
//!
//! ```
//! use axum::Router;
//! use breakerbox::dashboard::Dashboard;
//!
//! let app: Router = Router::new()
//!     // ... the application's routes ...
//!     .nest_service("/breakers", Dashboard::new());
//! # let _ = app;
//! ```
//!
//! The page is at `/breakers/`, its JSON at `/breakers/state.json` (the
//! page finds it relative to its own address, so any prefix works). The
//! JSON's fields are described in [`Dashboard::json`]. With hyper alone,
//! wrap it in `hyper_util::service::TowerToHyperService`; without tower,
//! [`Dashboard::respond`] answers an `http::Request` directly.
//!
//! # What it costs
//!
//! Nothing without the feature. With it, each breaker keeps its last
//! [`RECENT_TRANSITIONS`] transitions, written when a transition is
//! announced (never by admission or recording). A dashboard adds one thread
//! that, every [`sample_every`](DashboardBuilder::sample_every) (2 s),
//! reads each breaker's lifetime counters with a few atomic loads, no lock
//! of the breaker's, and keeps their rates for
//! [`history`](DashboardBuilder::history) (5 minutes): about 1.2 MB for
//! 1,000 breakers. The thread ends when the last clone of the dashboard is
//! dropped. Each request of the page's JSON reads every breaker's
//! [`stats`](crate::CircuitBreaker::stats).
//!
//! # Safety
//!
//! - **Read-only unless the application says otherwise.** The controls
//!   (force open, disable, reset) exist only when the application gives a
//!   token with [`DashboardBuilder::controls`]; they answer only `POST`
//!   requests carrying it as `Authorization: Bearer <token>` (a header that
//!   a cross-site form cannot send), never a `GET`.
//! - **Names are data, never markup.** Breaker names may come from request
//!   data (a breaker per host). The page builds its DOM with `textContent`
//!   only, the JSON escapes `<`, `>` and `&`, and the page's
//!   Content-Security-Policy allows no script but its own (by hash).
//!
//! # Controls
//!
//! ```
//! use breakerbox::dashboard::Dashboard;
//!
//! let token = std::env::var("BREAKERS_ADMIN_TOKEN")
//!     .unwrap_or_else(|_| "a-long-random-secret-of-the-operators".to_owned());
//! let dashboard = Dashboard::builder().controls(token).build().unwrap();
//! # let _ = dashboard;
//! ```
//!
//! The page then shows a token field and, on each tile, *Force open*,
//! *Disable* and *Reset*. The same requests work from a shell:
//!
//! ```text
//! curl -X POST -H "Authorization: Bearer $TOKEN" \
//!   'http://localhost:3000/breakers/control?action=force_open&name=payments'
//! ```

mod events;
mod json;
mod sampler;
mod sha256;

use std::convert::Infallible;
use std::fmt;
use std::future::{ready, Ready};
use std::pin::Pin;
use std::sync::{Arc, LazyLock};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body::{Frame, SizeHint};
use tower_service::Service;

pub(crate) use self::events::TransitionLog;
pub use self::events::{Transition, TransitionReason, RECENT_TRANSITIONS};
use self::json::Since;
use self::sampler::Sampled;
use crate::registry::{registry, Registry};
use crate::State;

/// The page: HTML, CSS, script and SVG in one file.
const PAGE: &str = include_str!("page.html");

/// The most points a sparkline's history may keep per breaker.
pub const MAX_HISTORY_POINTS: usize = 3600;

/// The registry a dashboard shows.
pub(crate) enum Source {
    Global,
    Owned(Arc<Registry>),
}

impl Source {
    pub(crate) fn registry(&self) -> &Registry {
        match self {
            Source::Global => registry(),
            Source::Owned(registry) => registry,
        }
    }
}

/// The dashboard: a tower [`Service`] for any request body, answering
/// with a [`Body`]. Cloning it is cheap; clones share one sampler.
///
/// Routes, by the last segment of the request's path (so that it works
/// under any prefix):
///
/// | path | method | answer |
/// | --- | --- | --- |
/// | `…/` or `…/index.html` | `GET`, `HEAD` | the page |
/// | `…/state.json` | `GET`, `HEAD` | [`Dashboard::json`] |
/// | `…/control?action=…&name=…` | `POST` with the token | see [`DashboardBuilder::controls`] |
///
/// Anything else is `404 Not Found`, and a wrong method
/// `405 Method Not Allowed`.
#[derive(Clone)]
pub struct Dashboard {
    shared: Arc<Shared>,
}

struct Shared {
    sampled: Arc<Sampled>,
    /// The controls' token, when the application turned them on.
    token: Option<String>,
    about: json::About,
}

impl Dashboard {
    /// A read-only dashboard of the global [`registry()`], with the
    /// default history (a sample every 2 s, for 5 minutes). Starts its
    /// sampler thread.
    pub fn new() -> Self {
        Dashboard::builder()
            .build()
            .unwrap_or_else(|e| unreachable!("the defaults are valid: {e}"))
    }

    /// A dashboard to configure: another registry, the controls, the
    /// history.
    pub fn builder() -> DashboardBuilder {
        DashboardBuilder {
            source: Source::Global,
            token: None,
            sample_every: Duration::from_secs(2),
            history: Duration::from_secs(300),
        }
    }

    /// The page's JSON, as `GET …/state.json` returns it: every breaker,
    /// sorted by name, with its stats, thresholds, history and last
    /// transitions.
    ///
    /// ```json
    /// {
    ///   "now_unix_ms": 1764662400000, "started_unix_ms": 1764662100000,
    ///   "sample_every_secs": 2, "history_len": 150,
    ///   "samples": 42, "transitions": 17, "controls": false,
    ///   "breakers": [{
    ///     "name": "db", "state": "open",
    ///     "period": {"calls": 0, "successes": 0, "failures": 0, "consecutive_successes": 0,
    ///                "consecutive_failures": 0, "rejected": 3, "ignored": 0,
    ///                "slow_calls": 0, "timeouts": 0},
    ///     "tripped_by": {"reason": "consecutive_failures", "unix_ms": 1764662397500,
    ///                    "period": {"calls": 9, "failures": 5, ...},
    ///                    "failure_rate": 0.56, "slow_call_rate": 0},
    ///     "totals": {"calls": 9, "successes": 4, "failures": 5, "ignored": 0,
    ///                "cancelled": 0, "rejected": 3, "slow_calls": 0, "timeouts": 0, "stale": 0},
    ///     "failure_rate": 0, "slow_call_rate": 0, "in_flight": 0,
    ///     "time_until_half_open_secs": 27.5, "open_count": 1, "time_in_state_secs": 2.5,
    ///     "open_duration_secs": 30, "generation": 1,
    ///     "thresholds": {"failure_rate": null, "slow_call_rate": null, "max_failures": 5,
    ///                    "minimum_calls": 10, "success_threshold": 1},
    ///     "history": {"start": 40, "calls_per_sec": [1.5, 4.5, 0], "rejections_per_sec": [0, 0, 1.5]},
    ///     "transitions": [{"from": "closed", "to": "open", "reason": "consecutive_failures",
    ///                      "unix_ms": 1764662397500, "period": {"calls": 9, ...}}]
    ///   }]
    /// }
    /// ```
    ///
    /// - `samples` and `transitions` are cursors: `GET
    ///   …/state.json?samples_after=N&transitions_after=M` sends only the
    ///   history points numbered above `N`, and `transitions` only for the
    ///   breakers that made one numbered above `M` (the page polls so).
    ///   `started_unix_ms` changes when the dashboard is a new one, whose
    ///   cursors start again.
    /// - `period` is the current period's counts, `totals` the lifetime's
    ///   (see [`Stats`](crate::Stats)); rates are fractions, durations
    ///   seconds, times milliseconds since the Unix epoch.
    /// - `tripped_by` is the transition that opened the breaker, while it
    ///   is open or half-open: its [reason](TransitionReason), and the
    ///   counts and rates of the period that tripped it; `null` otherwise.
    /// - `history` holds the rates of the breaker's samples numbered
    ///   `start` on (absent until its first sample).
    /// - `transitions` is the breaker's [recent transitions](crate::CircuitBreaker::recent_transitions),
    ///   oldest first.
    pub fn json(&self) -> String {
        self.snapshot(Since::default())
    }

    fn snapshot(&self, since: Since) -> String {
        let shared = &self.shared;
        // Read before the logs: a cursor that the logs are complete up to.
        let transitions = events::latest_seq();
        let registry = shared.sampled.source.registry();
        let breakers: Vec<_> = registry
            .names()
            .into_iter()
            .filter_map(|name| registry.get(&name))
            .filter_map(|breaker| Some((contained(|| breaker.stats())?, breaker)))
            .collect();
        // Locked after the stats, which may run listeners.
        let history = shared.sampled.history();
        json::snapshot(&shared.about, &breakers, &history, transitions, since)
    }

    /// Answers one request (what [`Service::call`] does, without a
    /// future).
    pub fn respond<B>(&self, request: &Request<B>) -> Response<Body> {
        let path = request.uri().path();
        let last = path.rsplit('/').next().unwrap_or_default();
        let method = request.method();
        match last {
            "" | "index.html" => match *method {
                Method::GET | Method::HEAD => page(method),
                _ => not_allowed("GET, HEAD"),
            },
            "state.json" => match *method {
                Method::GET | Method::HEAD => self.state(method, request.uri().query()),
                _ => not_allowed("GET, HEAD"),
            },
            "control" => match *method {
                Method::POST => self.control(request.uri().query(), request.headers()),
                _ => not_allowed("POST"),
            },
            _ => error(StatusCode::NOT_FOUND, "no such page"),
        }
    }

    fn state(&self, method: &Method, query: Option<&str>) -> Response<Body> {
        let mut since = Since::default();
        for (key, slot) in [
            ("samples_after", &mut since.samples),
            ("transitions_after", &mut since.transitions),
        ] {
            if let Some(value) = param(query, key) {
                match value.parse() {
                    Ok(n) => *slot = n,
                    Err(_) => {
                        let mut message = format!("`{key}` must be a whole number, not ");
                        json::string(&mut message, &value);
                        return error(StatusCode::BAD_REQUEST, &message);
                    }
                }
            }
        }
        let body = self.snapshot(since);
        respond(
            StatusCode::OK,
            "application/json",
            if method == Method::HEAD {
                Bytes::new()
            } else {
                Bytes::from(body)
            },
        )
    }

    /// A manual command: refused unless the controls are on and the
    /// request carries their token. A refused request changes nothing.
    fn control(&self, query: Option<&str>, headers: &HeaderMap) -> Response<Body> {
        let Some(token) = &self.shared.token else {
            return error(
                StatusCode::FORBIDDEN,
                "the dashboard's controls are off (DashboardBuilder::controls turns them on)",
            );
        };
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(bearer);
        match given {
            None => {
                let mut response = error(
                    StatusCode::UNAUTHORIZED,
                    "the controls need the token, as `Authorization: Bearer <token>`",
                );
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                return response;
            }
            Some(given) if !same_secret(given.trim().as_bytes(), token.as_bytes()) => {
                return error(StatusCode::FORBIDDEN, "wrong token");
            }
            Some(_) => {}
        }
        let action = param(query, "action").unwrap_or_default();
        let Some(name) = param(query, "name") else {
            return error(StatusCode::BAD_REQUEST, "`name` is missing");
        };
        let registry = self.shared.sampled.source.registry();
        let Some(breaker) = registry.get(&name) else {
            let mut message = String::from("no circuit breaker named ");
            json::string(&mut message, &name);
            return error(StatusCode::NOT_FOUND, &message);
        };
        let command: fn(&crate::CircuitBreaker) = match action.as_str() {
            "force_open" => crate::CircuitBreaker::force_open,
            "disable" => crate::CircuitBreaker::disable,
            "reset" => crate::CircuitBreaker::reset,
            _ => {
                let mut message =
                    String::from("`action` must be force_open, disable or reset, not ");
                json::string(&mut message, &action);
                return error(StatusCode::BAD_REQUEST, &message);
            }
        };
        // Once: a listener's panic comes after the command took effect.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| command(&breaker)));
        let mut body = String::from("{\"name\":");
        json::string(&mut body, &name);
        body.push_str(",\"state\":");
        let state = contained(|| breaker.state()).unwrap_or(State::Closed);
        json::string(&mut body, state.as_str());
        body.push('}');
        respond(StatusCode::OK, "application/json", Bytes::from(body))
    }
}

impl Default for Dashboard {
    fn default() -> Self {
        Dashboard::new()
    }
}

impl fmt::Debug for Dashboard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dashboard")
            .field("controls", &self.shared.token.is_some())
            .field("sample_every", &self.shared.about.sample_every)
            .finish_non_exhaustive()
    }
}

impl<B> Service<Request<B>> for Dashboard {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Ready<Result<Response<Body>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        ready(Ok(self.respond(&request)))
    }
}

/// Configures a [`Dashboard`]: [`Dashboard::builder`].
pub struct DashboardBuilder {
    source: Source,
    token: Option<String>,
    sample_every: Duration,
    history: Duration,
}

impl fmt::Debug for DashboardBuilder {
    /// The token is never shown: only whether there is one.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DashboardBuilder")
            .field("registry", &self.source)
            .field("controls", &self.token.is_some())
            .field("sample_every", &self.sample_every)
            .field("history", &self.history)
            .finish()
    }
}

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Global => f.write_str("registry()"),
            Source::Owned(_) => f.write_str("Registry"),
        }
    }
}

/// The shortest token the controls accept.
pub const MIN_TOKEN_LEN: usize = 16;

impl DashboardBuilder {
    /// Shows the breakers of `registry` instead of the global
    /// [`registry()`].
    pub fn registry(mut self, registry: Arc<Registry>) -> Self {
        self.source = Source::Owned(registry);
        self
    }

    /// Turns the controls on: *Force open*, *Disable* and *Reset* on each
    /// tile, and `POST …/control?action=force_open|disable|reset&name=…`,
    /// each answered only with `Authorization: Bearer <token>`. Without
    /// the header the answer is `401`, with another token `403`, and the
    /// breaker is left as it was. The token must be at least
    /// [`MIN_TOKEN_LEN`] printable ASCII characters (checked by
    /// [`build`](Self::build)); keep it out of the code.
    pub fn controls(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// How often the sampler reads the breakers' counters (default 2 s;
    /// from 100 ms to 1 hour).
    pub fn sample_every(mut self, every: Duration) -> Self {
        self.sample_every = every;
        self
    }

    /// How far back the sparklines go (default 5 minutes): at least one
    /// sample, at most [`MAX_HISTORY_POINTS`] of them.
    pub fn history(mut self, span: Duration) -> Self {
        self.history = span;
        self
    }

    /// Checks the settings and starts the dashboard's sampler thread.
    pub fn build(self) -> Result<Dashboard, DashboardError> {
        if let Some(token) = &self.token {
            if token.len() < MIN_TOKEN_LEN {
                return Err(DashboardError {
                    field: "controls",
                    value: format!("a token of {} characters", token.len()),
                    reason: "must be at least 16 characters: it is all that guards the controls",
                });
            }
            if !token.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(DashboardError {
                    field: "controls",
                    value: "a token with a space, a control or a non-ASCII character".into(),
                    reason: "must be printable ASCII without spaces, as an HTTP header carries it",
                });
            }
        }
        if self.sample_every < Duration::from_millis(100)
            || self.sample_every > Duration::from_secs(3600)
        {
            return Err(DashboardError {
                field: "sample_every",
                value: format!("{:?}", self.sample_every),
                reason: "must be between 100ms and 1 hour",
            });
        }
        let points = self.history.as_secs_f64() / self.sample_every.as_secs_f64();
        if !(1.0..=MAX_HISTORY_POINTS as f64).contains(&points) {
            return Err(DashboardError {
                field: "history",
                value: format!("{:?}", self.history),
                reason: "must hold from 1 to 3600 samples (`MAX_HISTORY_POINTS`) of `sample_every`",
            });
        }
        let sampled = Arc::new(Sampled::new(self.source, points as usize));
        sampler::start(&sampled, self.sample_every);
        Ok(Dashboard {
            shared: Arc::new(Shared {
                sampled,
                about: json::About {
                    started: std::time::SystemTime::now(),
                    sample_every: self.sample_every,
                    controls: self.token.is_some(),
                },
                token: self.token,
            }),
        })
    }
}

/// A dashboard setting [`DashboardBuilder::build`] refused: which one, its
/// value, and what is allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DashboardError {
    field: &'static str,
    value: String,
    reason: &'static str,
}

impl DashboardError {
    /// The setting, as its builder method is named.
    pub fn field(&self) -> &'static str {
        self.field
    }

    /// Its value (a token is described, never shown).
    pub fn value(&self) -> &str {
        &self.value
    }

    /// What the setting allows.
    pub fn reason(&self) -> &'static str {
        self.reason
    }
}

impl fmt::Display for DashboardError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid dashboard setting `{}` = {}: {}",
            self.field, self.value, self.reason
        )
    }
}

impl std::error::Error for DashboardError {}

/// The body of the dashboard's responses: the whole answer in one frame.
#[derive(Debug, Clone, Default)]
pub struct Body(Option<Bytes>);

impl Body {
    /// The bytes of the answer.
    pub fn into_bytes(self) -> Bytes {
        self.0.unwrap_or_default()
    }
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.get_mut().0.take().map(|bytes| Ok(Frame::data(bytes))))
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.0.as_ref().map_or(0, |bytes| bytes.len() as u64))
    }
}

/// The page's Content-Security-Policy: nothing from anywhere, but its own
/// inline script and style (by their hashes) and requests to its origin.
static CSP: LazyLock<String> = LazyLock::new(|| {
    let hash = |open: &str, close: &str| {
        let start = PAGE.find(open).map_or(0, |at| at + open.len());
        let end = PAGE[start..].find(close).map_or(start, |at| start + at);
        sha256::base64(&sha256::digest(&PAGE.as_bytes()[start..end]))
    };
    format!(
        "default-src 'none'; script-src 'sha256-{}'; style-src 'sha256-{}'; \
         connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; \
         frame-ancestors 'none'",
        hash("<script>", "</script>"),
        hash("<style>", "</style>"),
    )
});

fn page(method: &Method) -> Response<Body> {
    let body = if method == Method::HEAD {
        Bytes::new()
    } else {
        Bytes::from_static(PAGE.as_bytes())
    };
    let mut response = respond(StatusCode::OK, "text/html; charset=utf-8", body);
    let headers = response.headers_mut();
    if let Ok(csp) = HeaderValue::from_str(&CSP) {
        headers.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

fn respond(status: StatusCode, content_type: &'static str, body: Bytes) -> Response<Body> {
    let mut response = Response::new(Body(Some(body)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

/// `{"error": message}` with `status`.
fn error(status: StatusCode, message: &str) -> Response<Body> {
    let mut body = String::from("{\"error\":");
    json::string(&mut body, message);
    body.push('}');
    respond(status, "application/json", Bytes::from(body))
}

fn not_allowed(allow: &'static str) -> Response<Body> {
    let mut response = error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    response
}

/// Runs `read` on a breaker, at most twice: an `on_state_change` listener
/// that panics on a transition the reading made panics through it, and the
/// transition is made by then (the application hears of the panic where
/// its own calls make transitions, not through the dashboard).
fn contained<R>(read: impl Fn() -> R) -> Option<R> {
    let attempt = || std::panic::catch_unwind(std::panic::AssertUnwindSafe(&read)).ok();
    attempt().or_else(attempt)
}

/// The credentials of an `Authorization: Bearer <token>` value; the
/// scheme's name is case-insensitive (RFC 9110, section 11.1).
fn bearer(value: &str) -> Option<&str> {
    let (scheme, credentials) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(credentials)
}

/// Compares two secrets in a time that does not depend on where they
/// differ.
fn same_secret(given: &[u8], expected: &[u8]) -> bool {
    let mut differ = given.len() ^ expected.len();
    for (i, &byte) in expected.iter().enumerate() {
        differ |= usize::from(byte ^ given.get(i).copied().unwrap_or(!byte));
    }
    differ == 0
}

/// The value of `key` in a query string, percent-decoded (`+` is a space).
fn param(query: Option<&str>, key: &str) -> Option<String> {
    query?.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (percent_decode(k) == key).then(|| percent_decode(v))
    })
}

fn percent_decode(text: &str) -> String {
    fn hex(digit: u8) -> Option<u8> {
        char::from(digit)
            .to_digit(16)
            .and_then(|d| u8::try_from(d).ok())
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = match bytes[i..] {
            [b'%', high, low, ..] => hex(high).zip(hex(low)),
            _ => None,
        };
        match (escaped, bytes[i]) {
            (Some((high, low)), _) => {
                out.push(high << 4 | low);
                i += 3;
                continue;
            }
            (None, b'+') => out.push(b' '),
            (None, byte) => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests;
