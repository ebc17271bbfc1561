//! Who may send which request: a per-client rate limit, then bearer tokens and their scopes.
//!
//! | route | needs (with tokens on) |
//! |---|---|
//! | `GET /healthz`, `GET /` (the dashboard page; its data comes from `/v1/stats`) | nothing |
//! | `GET`/`HEAD` `/v1/objects/…`, `/search`, `/v1/logs/…` | `read` |
//! | any other method on those | `write` |
//! | `/v1/stats` | `admin` |
//! | `/metrics` | `admin`, or nothing with [`Access::metrics_open`] |
//! | anything else | any known token (then 404 or 405) |
//!
//! Without a token, or with an unknown one, the answer is `401` with
//! `WWW-Authenticate: Bearer`; with a known token that lacks the scope, `403`. The rate
//! limit comes first, so guessing tokens is limited too: a client over its limit gets `429`
//! with `Retry-After`.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use parking_lot::Mutex;
use tiercache_core::{ErrorCode, Scope, Tokens};

use crate::error::ApiError;

/// Who may send which request.
#[derive(Debug, Clone, Default)]
pub struct Access {
    /// The bearer tokens requests must carry; `None` lets every request through.
    pub tokens: Option<Arc<Tokens>>,
    /// Whether `/metrics` answers without a token (for a scraper that cannot send one).
    pub metrics_open: bool,
    /// The per-client rate limit; `None` (the default) sets none.
    pub rate_limit: Option<RateLimit>,
}

/// A token bucket per client address: `burst` requests at once, refilled at `per_second`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    /// Requests per second a client may keep sending.
    pub per_second: f64,
    /// Requests a client may send at once after being idle.
    pub burst: u32,
}

/// What a request needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Need {
    Nothing,
    AnyToken,
    Scope(Scope),
}

fn need(method: &Method, path: &str, metrics_open: bool) -> Need {
    let data =
        path.starts_with("/v1/objects/") || path == "/search" || path.starts_with("/v1/logs/");
    match path {
        "/healthz" | "/" => Need::Nothing,
        "/metrics" if metrics_open => Need::Nothing,
        "/metrics" | "/v1/stats" => Need::Scope(Scope::Admin),
        _ if data && (method == Method::GET || method == Method::HEAD) => Need::Scope(Scope::Read),
        _ if data => Need::Scope(Scope::Write),
        _ => Need::AnyToken,
    }
}

/// What the middleware keeps between requests.
pub(crate) struct Gate {
    access: Access,
    buckets: Option<Buckets>,
}

impl Gate {
    pub(crate) fn new(access: Access) -> Gate {
        Gate {
            buckets: access.rate_limit.map(Buckets::new),
            access,
        }
    }
}

/// The middleware: rate limit, then tokens.
pub(crate) async fn guard(State(gate): State<Arc<Gate>>, request: Request, next: Next) -> Response {
    // A request that did not come through a listener (a test's `oneshot`) has no peer.
    let peer = request.extensions().get::<ConnectInfo<SocketAddr>>();
    if let (Some(buckets), Some(ConnectInfo(peer))) = (&gate.buckets, peer)
        && let Err(wait) = buckets.take(peer.ip(), Instant::now())
    {
        return too_many(wait);
    }
    if let Some(tokens) = &gate.access.tokens
        && let Some(refusal) = refusal(tokens, &gate.access, &request)
    {
        return refusal;
    }
    next.run(request).await
}

/// The answer refusing `request`, or `None` when its token allows it.
fn refusal(tokens: &Tokens, access: &Access, request: &Request) -> Option<Response> {
    let need = need(request.method(), request.uri().path(), access.metrics_open);
    if need == Need::Nothing {
        return None;
    }
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .map(|value| bearer(value.as_bytes()));
    let token = match presented {
        None => {
            return Some(unauthenticated(
                "this node needs a bearer token: send `Authorization: Bearer TOKEN`",
                None,
            ));
        }
        Some(None) => {
            return Some(unauthenticated(
                "the Authorization header is not `Bearer TOKEN`",
                Some("invalid_request"),
            ));
        }
        Some(Some(token)) => token,
    };
    let Some(scopes) = tokens.scopes_of(token) else {
        return Some(unauthenticated(
            "the bearer token is not known",
            Some("invalid_token"),
        ));
    };
    match need {
        Need::Scope(scope) if !scopes.allows(scope) => {
            let error = ApiError::new(
                ErrorCode::PermissionDenied,
                format!(
                    "the token's scopes ({scopes}) do not include `{scope}`, which {} {} needs",
                    request.method(),
                    request.uri().path()
                ),
            );
            let challenge = format!(
                "Bearer realm=\"tiercache\", error=\"insufficient_scope\", scope=\"{scope}\""
            );
            Some(with_challenge(error, &challenge))
        }
        _ => None,
    }
}

/// The token of an `Authorization: Bearer TOKEN` value (the scheme in any case), or `None`
/// when the value is not of that form.
fn bearer(value: &[u8]) -> Option<&[u8]> {
    let scheme = value.get(..7)?;
    if !scheme.eq_ignore_ascii_case(b"bearer ") {
        return None;
    }
    let token = value[7..].trim_ascii();
    (!token.is_empty()).then_some(token)
}

fn unauthenticated(message: &str, error: Option<&str>) -> Response {
    let challenge = match error {
        Some(error) => format!("Bearer realm=\"tiercache\", error=\"{error}\""),
        None => "Bearer realm=\"tiercache\"".to_owned(),
    };
    with_challenge(
        ApiError::new(ErrorCode::Unauthenticated, message),
        &challenge,
    )
}

fn with_challenge(error: ApiError, challenge: &str) -> Response {
    let mut response = error.into_response();
    if let Ok(value) = HeaderValue::from_str(challenge) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

fn too_many(wait: Duration) -> Response {
    let seconds = wait.as_secs_f64().ceil().max(1.0) as u64;
    let error = ApiError::new(
        ErrorCode::RateLimited,
        format!("too many requests from this address: retry in {seconds} s"),
    );
    let mut response = error.into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    response
}

/// Clients tracked at most; past it, the buckets that refilled are dropped (a client whose
/// bucket is full is indistinguishable from a new one), and if that is not enough, all are.
const MAX_CLIENTS: usize = 65_536;

/// One token bucket per client address.
struct Buckets {
    limit: RateLimit,
    clients: Mutex<HashMap<IpAddr, Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    refilled: Instant,
}

impl Buckets {
    fn new(limit: RateLimit) -> Buckets {
        Buckets {
            limit,
            clients: Mutex::new(HashMap::new()),
        }
    }

    /// Takes a token of `client`'s bucket at `now`, or says how long until one is there.
    fn take(&self, client: IpAddr, now: Instant) -> Result<(), Duration> {
        let limit = self.limit;
        let burst = f64::from(limit.burst.max(1));
        let mut clients = self.clients.lock();
        if clients.len() >= MAX_CLIENTS && !clients.contains_key(&client) {
            clients.retain(|_, bucket| bucket.level(now, limit, burst) < burst);
            if clients.len() >= MAX_CLIENTS {
                clients.clear();
            }
        }
        let bucket = clients.entry(client).or_insert(Bucket {
            tokens: burst,
            refilled: now,
        });
        bucket.tokens = bucket.level(now, limit, burst);
        bucket.refilled = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64(
                (1.0 - bucket.tokens) / limit.per_second.max(f64::MIN_POSITIVE),
            ))
        }
    }
}

impl Bucket {
    fn level(&self, now: Instant, limit: RateLimit, burst: f64) -> f64 {
        let elapsed = now.saturating_duration_since(self.refilled).as_secs_f64();
        (self.tokens + elapsed * limit.per_second).min(burst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_need_the_scope_of_what_they_do() {
        let get = Method::GET;
        assert_eq!(need(&get, "/healthz", false), Need::Nothing);
        assert_eq!(need(&get, "/", false), Need::Nothing);
        assert_eq!(need(&get, "/v1/objects/k", false), Need::Scope(Scope::Read));
        assert_eq!(
            need(&Method::HEAD, "/search", false),
            Need::Scope(Scope::Read)
        );
        assert_eq!(
            need(&Method::PUT, "/v1/objects/k", false),
            Need::Scope(Scope::Write)
        );
        assert_eq!(
            need(&Method::DELETE, "/v1/objects/k", false),
            Need::Scope(Scope::Write)
        );
        assert_eq!(
            need(&Method::POST, "/v1/logs/app", false),
            Need::Scope(Scope::Write)
        );
        assert_eq!(need(&get, "/v1/logs/app", false), Need::Scope(Scope::Read));
        assert_eq!(need(&get, "/v1/stats", true), Need::Scope(Scope::Admin));
        assert_eq!(need(&get, "/metrics", false), Need::Scope(Scope::Admin));
        assert_eq!(need(&get, "/metrics", true), Need::Nothing);
        assert_eq!(need(&get, "/v1/objectsX", false), Need::AnyToken);
        assert_eq!(need(&get, "/nothing/here", false), Need::AnyToken);
    }

    #[test]
    fn bearer_values_are_parsed_in_any_case_and_malformed_ones_refused() {
        assert_eq!(bearer(b"Bearer abc"), Some(&b"abc"[..]));
        assert_eq!(bearer(b"bearer   abc  "), Some(&b"abc"[..]));
        assert_eq!(bearer(b"BEARER abc"), Some(&b"abc"[..]));
        assert_eq!(bearer(b"Basic abc"), None);
        assert_eq!(bearer(b"Bearer "), None);
        assert_eq!(bearer(b"Bearer"), None);
        assert_eq!(bearer(b""), None);
    }

    #[test]
    fn a_bucket_allows_its_burst_then_its_rate() {
        let buckets = Buckets::new(RateLimit {
            per_second: 2.0,
            burst: 3,
        });
        let client: IpAddr = [127, 0, 0, 1].into();
        let other: IpAddr = [127, 0, 0, 2].into();
        let start = Instant::now();
        for _ in 0..3 {
            assert!(buckets.take(client, start).is_ok());
        }
        let wait = buckets.take(client, start).unwrap_err();
        assert!((wait.as_secs_f64() - 0.5).abs() < 1e-6, "{wait:?}");
        assert!(
            buckets.take(other, start).is_ok(),
            "clients have buckets of their own"
        );
        let later = start + Duration::from_millis(500);
        assert!(buckets.take(client, later).is_ok());
        assert!(buckets.take(client, later).is_err());
        // A long idle time refills to the burst, not beyond it.
        let much_later = later + Duration::from_secs(3600);
        for _ in 0..3 {
            assert!(buckets.take(client, much_later).is_ok());
        }
        assert!(buckets.take(client, much_later).is_err());
    }

    #[test]
    fn the_client_table_stays_bounded() {
        let buckets = Buckets::new(RateLimit {
            per_second: 1000.0,
            burst: 1,
        });
        let start = Instant::now();
        for index in 0..(MAX_CLIENTS as u32 + 10) {
            let client = IpAddr::from(index.to_be_bytes());
            assert!(buckets.take(client, start).is_ok());
        }
        assert!(buckets.clients.lock().len() <= MAX_CLIENTS);
    }
}
