//! Tokens, scopes and the rate limit over real sockets: each row of the access table in
//! `tiercache_api`'s docs, answered by a node on a free loopback port.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tiercache_api::{Access, ApiOptions, RateLimit};
use tiercache_core::Tokens;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const READ: &str = "read-token-0123456789";
const WRITE: &str = "write-token-0123456789";
const READ_WRITE: &str = "read-write-token-0123456789";
const ADMIN: &str = "admin-token-0123456789";

fn tokens() -> Arc<Tokens> {
    let text =
        format!("{READ} read\n{WRITE} write\n{READ_WRITE} read,write\n# ops\n{ADMIN} admin\n");
    Arc::new(Tokens::parse(&text).unwrap())
}

/// An API node with `access`, on a free port.
async fn serve(access: Access) -> (SocketAddr, tempfile::TempDir) {
    common::served(ApiOptions {
        access,
        ..ApiOptions::default()
    })
    .await
}

/// An answer: its status and its whole text (headers and body).
struct Answer {
    status: u16,
    text: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.text.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name).then(|| value.trim())
        })
    }

    fn error_code(&self) -> String {
        let body = self.text.split("\r\n\r\n").nth(1).unwrap_or_default();
        let json: serde_json::Value = serde_json::from_str(body)
            .unwrap_or_else(|error| panic!("a JSON body, got {body:?}: {error}"));
        match json["error"].as_str() {
            Some(code) => code.to_owned(),
            None => panic!("no error code in {body}"),
        }
    }
}

/// `method path` with `token` as a bearer token (and `body`), on a fresh connection.
async fn send(address: SocketAddr, method: &str, path: &str, token: Option<&str>) -> Answer {
    let authorization = token
        .map(|token| format!("Authorization: Bearer {token}\r\n"))
        .unwrap_or_default();
    let body = if method == "PUT" { "{\"v\":1}" } else { "" };
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\n{authorization}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    raw(address, &request).await
}

async fn raw(address: SocketAddr, request: &str) -> Answer {
    let mut stream = TcpStream::connect(address).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut got = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut got))
        .await
        .expect("an answer within 10 s")
        .unwrap();
    let text = String::from_utf8_lossy(&got).into_owned();
    let status = text
        .get(9..12)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("a status line, got {text:?}"));
    Answer { status, text }
}

fn secured() -> Access {
    Access {
        tokens: Some(tokens()),
        ..Access::default()
    }
}

#[tokio::test]
async fn a_request_without_a_known_token_is_401_with_a_bearer_challenge() {
    let (address, _dir) = serve(secured()).await;
    for (token, error) in [
        (None, None),
        (Some("not-a-token-0123456789"), Some("invalid_token")),
    ] {
        for (method, path) in [
            ("GET", "/v1/objects/k"),
            ("PUT", "/v1/objects/k"),
            ("DELETE", "/v1/objects/k"),
            ("GET", "/search?id=1"),
            ("POST", "/v1/logs/app"),
            ("GET", "/v1/stats"),
            ("GET", "/metrics"),
            ("GET", "/no/such/route"),
        ] {
            let answer = send(address, method, path, token).await;
            assert_eq!(answer.status, 401, "{method} {path}: {}", answer.text);
            assert_eq!(answer.error_code(), "unauthenticated");
            let challenge = answer.header("www-authenticate").expect("a challenge");
            assert!(
                challenge.starts_with("Bearer realm=\"tiercache\""),
                "{challenge}"
            );
            if let Some(error) = error {
                assert!(challenge.contains(error), "{challenge}");
            }
        }
    }
    let basic = raw(
        address,
        "GET /v1/objects/k HTTP/1.1\r\nHost: x\r\nAuthorization: Basic dXNlcjpwYXNz\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(basic.status, 401);
    assert!(basic.text.contains("not `Bearer TOKEN`"), "{}", basic.text);
}

#[tokio::test]
async fn health_and_the_dashboard_page_stay_open() {
    let (address, _dir) = serve(secured()).await;
    assert_eq!(send(address, "GET", "/healthz", None).await.status, 200);
    let page = send(address, "GET", "/", None).await;
    assert_eq!(page.status, 200);
    assert!(
        page.text.contains("#token="),
        "the page says how to give it a token"
    );
}

#[tokio::test]
async fn each_scope_allows_only_what_it_names() {
    let (address, _dir) = serve(secured()).await;
    // write: writes, but neither reads nor sees the stats.
    assert_eq!(
        send(address, "PUT", "/v1/objects/k", Some(WRITE))
            .await
            .status,
        200
    );
    let denied = send(address, "GET", "/v1/objects/k", Some(WRITE)).await;
    assert_eq!(denied.status, 403, "{}", denied.text);
    assert_eq!(denied.error_code(), "permission_denied");
    assert!(denied.text.contains("`read`"), "{}", denied.text);
    let challenge = denied.header("www-authenticate").unwrap();
    assert!(challenge.contains("insufficient_scope"), "{challenge}");
    // read: reads what was written, cannot write or delete.
    let read = send(address, "GET", "/v1/objects/k", Some(READ)).await;
    assert_eq!(read.status, 200, "{}", read.text);
    assert!(read.text.contains("\"v\":1"), "{}", read.text);
    assert_eq!(
        send(address, "GET", "/search?id=k", Some(READ))
            .await
            .status,
        200
    );
    for method in ["PUT", "DELETE"] {
        let answer = send(address, method, "/v1/objects/k", Some(READ)).await;
        assert_eq!(answer.status, 403, "{method}: {}", answer.text);
    }
    assert_eq!(
        send(address, "POST", "/v1/logs/app", Some(READ))
            .await
            .status,
        403
    );
    // Nothing of the data is admin's, and the stats are nobody else's.
    for token in [READ, WRITE, READ_WRITE] {
        for path in ["/v1/stats", "/metrics"] {
            assert_eq!(
                send(address, "GET", path, Some(token)).await.status,
                403,
                "{path}"
            );
        }
    }
    assert_eq!(
        send(address, "GET", "/v1/objects/k", Some(ADMIN))
            .await
            .status,
        403
    );
    assert_eq!(
        send(address, "GET", "/v1/stats", Some(ADMIN)).await.status,
        200
    );
    assert_eq!(
        send(address, "GET", "/metrics", Some(ADMIN)).await.status,
        200
    );
    // read,write: both; the object is deleted.
    assert_eq!(
        send(address, "DELETE", "/v1/objects/k", Some(READ_WRITE))
            .await
            .status,
        200
    );
    assert_eq!(
        send(address, "GET", "/v1/objects/k", Some(READ_WRITE))
            .await
            .status,
        404
    );
    // A known token on an unknown route gets the route's answer, not a refusal.
    assert_eq!(
        send(address, "GET", "/no/such/route", Some(READ))
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn metrics_can_be_left_open_for_a_scraper() {
    let (address, _dir) = serve(Access {
        metrics_open: true,
        ..secured()
    })
    .await;
    let metrics = send(address, "GET", "/metrics", None).await;
    assert_eq!(metrics.status, 200, "{}", metrics.text);
    assert_eq!(send(address, "GET", "/v1/stats", None).await.status, 401);
}

#[tokio::test]
async fn a_refused_write_changes_nothing() {
    let (address, _dir) = serve(secured()).await;
    assert_eq!(
        send(address, "PUT", "/v1/objects/k", Some(READ))
            .await
            .status,
        403
    );
    assert_eq!(
        send(address, "PUT", "/v1/objects/k", None).await.status,
        401
    );
    assert_eq!(
        send(address, "GET", "/v1/objects/k", Some(READ))
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn a_client_over_its_rate_is_answered_429_and_guessing_counts() {
    let (address, _dir) = serve(Access {
        // 3 at once, then one every 20 s: the test cannot be slow enough to earn another.
        rate_limit: Some(RateLimit {
            per_second: 0.05,
            burst: 3,
        }),
        ..secured()
    })
    .await;
    // Wrong guesses spend the bucket like any request.
    assert_eq!(
        send(address, "GET", "/v1/stats", Some("guess-0123456789abcdef"))
            .await
            .status,
        401
    );
    assert_eq!(
        send(address, "GET", "/v1/stats", Some(ADMIN)).await.status,
        200
    );
    assert_eq!(send(address, "GET", "/healthz", None).await.status, 200);
    let limited = send(address, "GET", "/v1/stats", Some(ADMIN)).await;
    assert_eq!(limited.status, 429, "{}", limited.text);
    assert_eq!(limited.error_code(), "rate_limited");
    let retry: u64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=20).contains(&retry), "Retry-After {retry}");
}

#[tokio::test]
async fn without_tokens_everything_is_open_as_before() {
    let (address, _dir) = serve(Access::default()).await;
    assert_eq!(
        send(address, "PUT", "/v1/objects/k", None).await.status,
        200
    );
    assert_eq!(send(address, "GET", "/v1/stats", None).await.status, 200);
    // A client's Authorization header is ignored when no token is asked.
    assert_eq!(
        send(address, "GET", "/v1/objects/k", Some("anything"))
            .await
            .status,
        200
    );
}
