//! The HTTP API over a real SQLite store and an in-process shared tier: handlers called
//! without a socket (tower's `oneshot`), and one test over a real socket.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use tiercache_api::{ApiOptions, router};
use tiercache_node::{Node, NodeOptions};
use tiercache_store::{Limits, SqlOptions, SqlStore, Store, StoreClient};
use tiercache_tier::TierOptions;
use tower::ServiceExt;

struct Api {
    router: Router,
    _dir: tempfile::TempDir,
}

async fn api_with(options: ApiOptions) -> Api {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/store.db", dir.path().display());
    let store: Arc<dyn Store> =
        Arc::new(SqlStore::open(&url, SqlOptions::default()).await.unwrap());
    let tier = tiercache_tier::open("memory://", &TierOptions::default())
        .await
        .unwrap();
    let node = Node::new(store, Some(tier), &NodeOptions::default()).unwrap();
    Api {
        router: router(Arc::new(node), options),
        _dir: dir,
    }
}

async fn api() -> Api {
    api_with(ApiOptions::default()).await
}

/// Sends one request; returns the status and the body parsed as JSON (or as a string when
/// it is not JSON).
async fn call(router: &Router, method: Method, uri: &str, body: Vec<u8>) -> (StatusCode, Value) {
    call_with(router, Request::builder().method(method).uri(uri), body).await
}

async fn call_with(
    router: &Router,
    request: axum::http::request::Builder,
    body: Vec<u8>,
) -> (StatusCode, Value) {
    let response = router
        .clone()
        .oneshot(request.body(Body::from(body)).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    (status, value)
}

#[tokio::test]
async fn objects_round_trip_and_the_source_moves_to_near() {
    let api = api().await;
    let row = br#"{"kepid": 10797460, "kepoi_name": "K00752.01"}"#.to_vec();
    let (status, written) = call(&api.router, Method::PUT, "/v1/objects/10797460", row).await;
    assert_eq!(status, StatusCode::OK, "{written}");
    assert_eq!(written["key"], "10797460");
    let version = written["version"].as_u64().unwrap();
    assert!(version >= 1);

    // The writer's own near cache holds its write.
    let (status, read) = call(&api.router, Method::GET, "/search?id=10797460", vec![]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(read["value"]["kepoi_name"], "K00752.01");
    assert_eq!(read["version"], version);
    assert_eq!(read["source"], "near");
    assert!(read["micros"].as_f64().unwrap() >= 0.0);

    let (status, deleted) = call(&api.router, Method::DELETE, "/v1/objects/10797460", vec![]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(deleted["version"].as_u64().unwrap() > version);
    let (status, missing) = call(&api.router, Method::GET, "/v1/objects/10797460", vec![]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(missing["error"], "not_found");
    let (status, _) = call(&api.router, Method::DELETE, "/v1/objects/10797460", vec![]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_value_written_elsewhere_comes_from_the_store_first() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/store.db", dir.path().display());
    let store: Arc<dyn Store> =
        Arc::new(SqlStore::open(&url, SqlOptions::default()).await.unwrap());
    store
        .put(b"a b/c", b"not json", tiercache_store::Precondition::None)
        .await
        .unwrap();
    let node = Node::new(store, None, &NodeOptions::default()).unwrap();
    let router = router(Arc::new(node), ApiOptions::default());
    // Percent-encoded keys: a space and a slash.
    let (status, first) = call(&router, Method::GET, "/v1/objects/a%20b%2Fc", vec![]).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(
        (first["source"].as_str(), first["value"].as_str()),
        (Some("store"), Some("not json"))
    );
    let (_, second) = call(&router, Method::GET, "/search?id=a%20b%2Fc", vec![]).await;
    assert_eq!(second["source"], "near");
}

#[tokio::test]
async fn conditional_writes() {
    let api = api().await;
    let put = |headers: &[(&str, &str)], body: &str| {
        let mut request = Request::builder().method(Method::PUT).uri("/v1/objects/k");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        call_with(&api.router, request, body.as_bytes().to_vec())
    };
    let (status, first) = put(&[("if-none-match", "*")], "1").await;
    assert_eq!(status, StatusCode::OK);
    let v1 = first["version"].as_u64().unwrap();
    let (status, again) = put(&[("if-none-match", "*")], "2").await;
    assert_eq!(status, StatusCode::CONFLICT, "{again}");
    assert_eq!(again["error"], "conflict");
    let (status, _) = put(&[("if-match", &format!("\"{v1}\""))], "2").await;
    assert_eq!(status, StatusCode::OK);
    let (status, stale) = put(&[("if-match", &v1.to_string())], "3").await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(stale["message"].as_str().unwrap().contains("version"));
    let (status, bad) = put(&[("if-match", "yesterday")], "3").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
    let (_, read) = call(&api.router, Method::GET, "/v1/objects/k", vec![]).await;
    assert_eq!(read["value"], 2);
}

#[tokio::test]
async fn bad_input_is_a_json_error_with_the_right_status() {
    let api = api_with(ApiOptions {
        max_body_bytes: 4096,
        ..ApiOptions::default()
    })
    .await;
    let long_key = "k".repeat(600);
    let cases: Vec<(Method, String, Vec<u8>, StatusCode, &str)> = vec![
        (
            Method::GET,
            format!("/v1/objects/{long_key}"),
            vec![],
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
        ),
        (
            Method::PUT,
            format!("/v1/objects/{long_key}"),
            b"v".to_vec(),
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
        ),
        (
            Method::GET,
            "/v1/objects/line%0Abreak".into(),
            vec![],
            StatusCode::BAD_REQUEST,
            "invalid_argument",
        ),
        (
            Method::GET,
            "/v1/objects/%FF".into(),
            vec![],
            StatusCode::BAD_REQUEST,
            "invalid_argument",
        ),
        (
            Method::PUT,
            "/v1/objects/big".into(),
            vec![b'x'; 5000],
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
        ),
        (
            Method::GET,
            "/search".into(),
            vec![],
            StatusCode::BAD_REQUEST,
            "invalid_argument",
        ),
        (
            Method::GET,
            "/search?id=".into(),
            vec![],
            StatusCode::BAD_REQUEST,
            "invalid_argument",
        ),
        (
            Method::GET,
            "/nowhere".into(),
            vec![],
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            Method::POST,
            "/v1/objects/k".into(),
            vec![],
            StatusCode::METHOD_NOT_ALLOWED,
            "invalid_argument",
        ),
    ];
    for (method, uri, body, status, code) in cases {
        let (got, error) = call(&api.router, method.clone(), &uri, body).await;
        let shown = &uri[..uri.len().min(40)];
        assert_eq!(got, status, "{method} {shown}: {error}");
        assert_eq!(error["error"], code, "{method} {shown}: {error}");
        assert!(!error["message"].as_str().unwrap().is_empty());
    }
    // Nothing was written by any of them.
    let (_, stats) = call(&api.router, Method::GET, "/v1/stats", vec![]).await;
    assert_eq!(stats["writes"], 0);
}

#[tokio::test]
async fn a_store_that_is_down_gives_503() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let store: Arc<dyn Store> = Arc::new(
        StoreClient::connect_lazy(&format!("http://127.0.0.1:{port}"), Limits::default()).unwrap(),
    );
    let node = Node::new(store, None, &NodeOptions::default()).unwrap();
    let router = router(Arc::new(node), ApiOptions::default());
    for (method, body) in [
        (Method::GET, vec![]),
        (Method::PUT, b"v".to_vec()),
        (Method::DELETE, vec![]),
    ] {
        let (status, error) = call(&router, method.clone(), "/v1/objects/k", body).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{method}: {error}");
        assert_eq!(error["error"], "unavailable");
    }
    let (status, health) = call(&router, Method::GET, "/healthz", vec![]).await;
    assert_eq!(
        (status, health["status"].as_str()),
        (StatusCode::OK, Some("ok"))
    );
}

#[tokio::test]
async fn stats_and_metrics_count_what_happened() {
    let api = api().await;
    call(&api.router, Method::PUT, "/v1/objects/a", b"1".to_vec()).await;
    for _ in 0..3 {
        call(&api.router, Method::GET, "/v1/objects/a", vec![]).await;
    }
    call(&api.router, Method::GET, "/v1/objects/missing", vec![]).await;
    let (status, stats) = call(&api.router, Method::GET, "/v1/stats", vec![]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(stats["reads"], 4);
    assert_eq!(stats["near"]["hits"], 3);
    assert_eq!(stats["store"]["not_found"], 1);
    assert_eq!(stats["writes"], 1);
    assert_eq!(stats["tier"], "centralized (one in-process node)");
    assert_eq!(stats["latency"]["near"]["count"], 3);

    let (status, Value::String(text)) = call(&api.router, Method::GET, "/metrics", vec![]).await
    else {
        panic!("metrics are not text");
    };
    assert_eq!(status, StatusCode::OK);
    assert!(
        text.contains("tiercache_reads_total{node=\"api\",source=\"near\"} 3"),
        "{text}"
    );
    assert!(text.contains("tiercache_writes_total{node=\"api\"} 1"));
    assert!(
        text.contains("tiercache_latency_seconds_bucket{node=\"api\",kind=\"near\",le=\"+Inf\"} 3")
    );
    // Cumulative buckets never decrease.
    let near_buckets: Vec<u64> = text
        .lines()
        .filter(|l| l.starts_with("tiercache_latency_seconds_bucket{node=\"api\",kind=\"near\""))
        .map(|l| l.rsplit(' ').next().unwrap().parse().unwrap())
        .collect();
    assert!(
        near_buckets.windows(2).all(|w| w[0] <= w[1]),
        "{near_buckets:?}"
    );
}

#[tokio::test]
async fn over_a_real_socket_with_graceful_shutdown() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let api = api().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(tiercache_api::serve(listener, api.router.clone(), async {
        let _ = stopped.await;
    }));

    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let body = r#"{"kepid":1}"#;
    let request = format!(
        "PUT /v1/objects/1 HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\n\r\n{body}\
         GET /search?id=1 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    assert_eq!(answer.matches("HTTP/1.1 200 OK").count(), 2, "{answer}");
    assert!(answer.contains(r#""value":{"kepid":1}"#), "{answer}");
    assert!(answer.contains(r#""source":"near""#), "{answer}");

    stop.send(()).unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(5), server)
        .await
        .expect("the server stops after the shutdown signal")
        .unwrap()
        .unwrap();
    assert!(tokio::net::TcpStream::connect(address).await.is_err());
}
