//! One fuzz target per decoder (the table is in `tiercache_fuzz`'s docs). Each runs
//! `TIERCACHE_FUZZ_CASES` inputs (256 by default): arbitrary bytes, seeds of
//! `fuzz/corpus/TARGET/` changed by a few edits, and valid values built field by field.

use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use proptest::prelude::*;
use tiercache_bus::SessionId;
use tiercache_core::{Scope, Tokens, Version};
use tiercache_fuzz::{bytes, config, inputs};
use tiercache_log::segment::{decode_record, encode_record};
use tiercache_log::wire::WireRecord;
use tiercache_log::{Ack, Append, Confirmed, LogNotice, MessageId, Record};
use tiercache_node::{AckRequest, Notice, Stamp};

fn record() -> impl Strategy<Value = Record> {
    (
        any::<[u8; 16]>(),
        proptest::option::of(proptest::collection::vec(any::<u8>(), 1..64)),
        bytes(256),
    )
        .prop_map(|(id, idempotency_key, value)| Record {
            id: MessageId::from_bytes(id),
            idempotency_key,
            value,
        })
}

fn notice() -> impl Strategy<Value = Notice> {
    let stamp = (any::<u64>(), any::<u64>()).prop_map(|(origin, sent_micros)| Stamp {
        origin: SessionId(origin),
        sent_micros,
    });
    let ack = proptest::option::of((any::<u64>(), any::<u64>()).prop_map(|(session, request)| {
        AckRequest {
            session: SessionId(session),
            request,
        }
    }));
    let key = proptest::collection::vec(any::<u8>(), 1..64).prop_map(Bytes::from);
    prop_oneof![
        (key.clone(), any::<u64>(), stamp.clone(), ack.clone()).prop_map(
            |(key, version, stamp, ack)| Notice::Invalidate {
                key,
                version: Version(version),
                stamp,
                ack,
            }
        ),
        (
            key,
            any::<u64>(),
            proptest::option::of(bytes(128)),
            stamp,
            ack
        )
            .prop_map(|(key, version, value, stamp, ack)| Notice::Update {
                key,
                version: Version(version),
                value: value.map(Bytes::from),
                stamp,
                ack,
            }),
        (any::<u64>(), any::<u64>()).prop_map(|(request, from)| Notice::Ack {
            request,
            from: SessionId(from),
        }),
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn bus_notice(input in inputs("bus_notice", 256), valid in notice()) {
        let _ = Notice::decode(Bytes::from(input));
        prop_assert_eq!(Notice::decode(valid.encode()).unwrap(), valid);
    }

    #[test]
    fn log_notice(input in inputs("log_notice", 512)) {
        if let Ok(decoded) = LogNotice::decode(&input) {
            prop_assert_eq!(LogNotice::decode(&decoded.encode()).unwrap(), decoded);
        }
    }

    #[test]
    fn log_notice_round_trips(
        reply_to in any::<u64>(),
        records in proptest::collection::vec(record(), 1..8),
        node in "[a-z0-9-]{1,32}",
        positions in proptest::collection::vec((any::<[u8; 16]>(), any::<u64>(), any::<bool>()), 1..8),
    ) {
        let append = LogNotice::Append(Append { reply_to: SessionId(reply_to), records });
        prop_assert_eq!(LogNotice::decode(&append.encode()).unwrap(), append);
        let confirmed = positions
            .into_iter()
            .map(|(id, position, duplicate)| Confirmed { id: MessageId::from_bytes(id), position, duplicate })
            .collect();
        let ack = LogNotice::Ack(Ack { node, confirmed });
        prop_assert_eq!(LogNotice::decode(&ack.encode()).unwrap(), ack);
    }

    #[test]
    fn log_record(input in inputs("log_record", 512), valid in record(), flip in (any::<usize>(), 1..=u8::MAX)) {
        let _ = decode_record(&input);
        let mut encoded = Vec::new();
        encode_record(&valid, &mut encoded);
        let (decoded, len) = decode_record(&encoded).unwrap();
        prop_assert_eq!(&decoded, &valid);
        prop_assert_eq!(len, encoded.len());
        // Damage one byte: refused, never read as another record.
        let at = flip.0 % encoded.len();
        encoded[at] ^= flip.1;
        if let Ok((other, _)) = decode_record(&encoded) {
            prop_assert_eq!(other, valid, "byte {} damaged, yet decoded", at);
        }
    }

    #[test]
    fn wire_record(id in ".{0,40}", key in proptest::option::of(".{0,40}"), value in ".{0,80}", position in any::<u64>()) {
        let _ = WireRecord { id, position, key, value }.decode();
    }

    #[test]
    fn wire_record_round_trips(valid in record(), position in any::<u64>()) {
        let (back_position, back) = WireRecord::new(position, &valid).decode().unwrap();
        prop_assert_eq!(back_position, position);
        prop_assert_eq!(back, valid);
    }

    #[test]
    fn trace_csv(input in inputs("trace_csv", 512)) {
        read_trace(&input, tiercache_bench::TraceFormat::Csv);
    }

    #[test]
    fn trace_oracle(input in inputs("trace_oracle", 512)) {
        read_trace(&input, tiercache_bench::TraceFormat::OracleGeneral);
    }

    #[test]
    fn token_file(input in inputs("token_file", 512)) {
        if let Ok(text) = std::str::from_utf8(&input) {
            let _ = Tokens::parse(text);
        }
    }

    #[test]
    fn token_file_valid(lines in proptest::collection::vec(("[!-\"$-~]{16,40}", proptest::sample::subsequence(vec!["read", "write", "admin"], 1..=3)), 1..6)) {
        let mut seen = std::collections::HashSet::new();
        let lines: Vec<_> = lines.into_iter().filter(|(token, _)| seen.insert(token.clone())).collect();
        let text: String = lines.iter().map(|(token, scopes)| format!("{token} {}\n", scopes.join(","))).collect();
        let tokens = Tokens::parse(&text).unwrap();
        for (token, scopes) in &lines {
            let found = tokens.scopes_of(token.as_bytes()).unwrap();
            for scope in Scope::ALL {
                prop_assert_eq!(found.allows(scope), scopes.contains(&scope.as_str()));
            }
        }
    }

    #[test]
    fn node_config(input in inputs("node_config", 512), lines in proptest::collection::vec(config_line(), 0..8)) {
        if let Ok(text) = std::str::from_utf8(&input) {
            let _ = toml::from_str::<Section>(text);
        }
        let text: String = lines.concat();
        let _ = toml::from_str::<Section>(&text);
    }

    #[test]
    fn http_api(request in http_request()) {
        let (status, body) = http().send(request.clone());
        prop_assert!(status != 500, "{:?} answered 500: {}", request, body);
        // A HEAD answer has no body, by HTTP's rules.
        if status >= 400 && request.method != "HEAD" {
            let json: serde_json::Value = serde_json::from_str(&body)
                .map_err(|error| TestCaseError::fail(format!("{request:?}: {status} {body:?}: {error}")))?;
            prop_assert!(json["error"].is_string(), "{:?}: {}", request, body);
        }
    }

    #[test]
    fn grpc_messages(input in inputs("grpc_store", 512)) {
        use prost::Message;
        use tiercache_store::grpc::proto;
        let _ = proto::PutRequest::decode(input.as_slice());
        let _ = proto::GetRequest::decode(input.as_slice());
        let _ = proto::BatchPutRequest::decode(input.as_slice());
        let _ = proto::ScanRequest::decode(input.as_slice());
        let _ = proto::ConfirmPublishedRequest::decode(input.as_slice());
        let _ = proto::RegisterRequest::decode(input.as_slice());
        let _ = proto::WriteStateRequest::decode(input.as_slice());
    }

    #[test]
    fn grpc_store(key in bytes(600), value in bytes(64), prefix in bytes(40), limit in any::<u32>()) {
        grpc().check(key, value, prefix, limit)?;
    }
}

fn read_trace(input: &[u8], format: tiercache_bench::TraceFormat) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("trace");
    std::fs::write(&path, input).unwrap();
    let _ = tiercache_bench::Trace::read(&path, format);
}

/// A TOML table of node settings read as `[api]` reads them.
#[derive(Debug, serde::Deserialize)]
#[expect(dead_code, reason = "only the parse is exercised")]
struct Section {
    #[serde(deserialize_with = "tiercache_deploy::keys::over_default")]
    api: tiercache_deploy::NodeConfig,
}

/// A `[api]` line with a known key and a value of any TOML kind.
fn config_line() -> impl Strategy<Value = String> {
    let key =
        proptest::sample::select(vec!["tier", "near_capacity", "policy", "max_age", "outbox"]);
    let value = prop_oneof![
        "[ -~]{0,20}".prop_map(|text| format!("{text:?}")),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|n| format!("{n:?}")),
        Just("true".to_owned()),
        Just("[1, 2]".to_owned()),
    ];
    let bus_key = proptest::sample::select(vec![
        "url",
        "topics",
        "write_mode",
        "flush_interval",
        "invalidation",
        "lease_ms",
    ]);
    prop_oneof![
        (key, value.clone()).prop_map(|(key, value)| format!("[api]\n{key} = {value}\n")),
        (bus_key, value).prop_map(|(key, value)| format!("[api.bus]\n{key} = {value}\n")),
    ]
}

#[derive(Debug, Clone)]
struct HttpRequest {
    method: &'static str,
    path: String,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
}

fn http_request() -> impl Strategy<Value = HttpRequest> {
    let method = proptest::sample::select(vec!["GET", "PUT", "DELETE", "POST", "PATCH", "HEAD"]);
    let key = proptest::collection::vec(any::<u8>(), 0..600).prop_map(|key| {
        key.iter()
            .map(|byte| format!("%{byte:02X}"))
            .collect::<String>()
    });
    let path = prop_oneof![
        key.clone().prop_map(|key| format!("/v1/objects/{key}")),
        key.clone().prop_map(|key| format!("/search?id={key}")),
        key.prop_map(|app| format!("/v1/logs/{app}?after=x&limit=-1")),
        "/[ -~&&[^ #?%]]{0,30}".prop_map(|path| path.to_owned()),
    ];
    let header = prop_oneof![
        "[ -~]{0,24}".prop_map(|v| ("if-match", v)),
        "[ -~]{0,24}".prop_map(|v| ("if-none-match", v)),
        "[ -~]{0,24}".prop_map(|v| ("idempotency-key", v)),
        "[ -~]{0,24}".prop_map(|v| ("content-type", v)),
    ];
    (
        method,
        path,
        proptest::collection::vec(header, 0..3),
        prop_oneof![bytes(300), Just(b"{\"a\":1}".to_vec())],
    )
        .prop_map(|(method, path, headers, body)| HttpRequest {
            method,
            path,
            headers,
            body,
        })
}

/// An API node over SQLite in process, shared by every case of the target.
struct HttpTarget {
    runtime: tokio::runtime::Runtime,
    router: axum::Router,
    _dir: tempfile::TempDir,
}

impl HttpTarget {
    fn send(&self, request: HttpRequest) -> (u16, String) {
        use tower::ServiceExt;
        let mut builder = axum::http::Request::builder()
            .method(request.method)
            .uri(&request.path);
        for (name, value) in &request.headers {
            builder = builder.header(*name, value.as_str());
        }
        let Ok(http) = builder.body(axum::body::Body::from(request.body)) else {
            // Not a request a client could send (the URI or a header does not parse).
            return (400, "{\"error\":\"invalid_argument\"}".to_owned());
        };
        self.runtime.block_on(async {
            let response = self.router.clone().oneshot(http).await.unwrap();
            let status = response.status().as_u16();
            let body = axum::body::to_bytes(response.into_body(), 1 << 20)
                .await
                .unwrap();
            (status, String::from_utf8_lossy(&body).into_owned())
        })
    }
}

fn http() -> &'static HttpTarget {
    static TARGET: OnceLock<HttpTarget> = OnceLock::new();
    TARGET.get_or_init(|| {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("store.db").display());
        let router = runtime.block_on(async {
            let store = tiercache_store::SqlStore::open(&url, Default::default())
                .await
                .unwrap();
            let node = tiercache_node::Node::start(Arc::new(store), None, &Default::default())
                .await
                .unwrap();
            tiercache_api::router(node, tiercache_api::ApiOptions::default())
        });
        HttpTarget {
            runtime,
            router,
            _dir: dir,
        }
    })
}

/// A store served over gRPC on loopback, shared by every case of the target.
struct GrpcTarget {
    runtime: tokio::runtime::Runtime,
    client: tiercache_store::StoreClient,
    _dir: tempfile::TempDir,
}

impl GrpcTarget {
    /// Arbitrary keys, values, prefixes and limits through every object call: answered, or
    /// refused with a classified error — never INTERNAL.
    fn check(
        &self,
        key: Vec<u8>,
        value: Vec<u8>,
        prefix: Vec<u8>,
        limit: u32,
    ) -> Result<(), TestCaseError> {
        use tiercache_store::{ObjectStore, Precondition, StoreError};
        self.runtime.block_on(async {
            let client = &self.client;
            let outcomes: Vec<Result<(), StoreError>> = vec![
                client.put(&key, &value, Precondition::None).await.map(drop),
                client
                    .put(&key, &value, Precondition::Version(Version(limit.into())))
                    .await
                    .map(drop),
                client.get(&key).await.map(drop),
                client.delete(&key, Precondition::None).await.map(drop),
                client
                    .batch_get(&[key.clone(), prefix.clone()])
                    .await
                    .map(drop),
                client
                    .scan(&prefix, Some(&key), limit as usize)
                    .await
                    .map(drop),
                client
                    .confirm_published(&[tiercache_store::PendingNotice {
                        key: key.clone(),
                        version: Version(limit.into()),
                    }])
                    .await,
            ];
            for outcome in outcomes {
                if let Err(StoreError::Internal(message)) = &outcome {
                    return Err(TestCaseError::fail(format!(
                        "INTERNAL for key {key:?}: {message}"
                    )));
                }
            }
            Ok(())
        })
    }
}

fn grpc() -> &'static GrpcTarget {
    static TARGET: OnceLock<GrpcTarget> = OnceLock::new();
    TARGET.get_or_init(|| {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("store.db").display());
        let client = runtime.block_on(async {
            let store = tiercache_store::SqlStore::open(&url, Default::default())
                .await
                .unwrap();
            let address = tiercache_store::grpc::serve_on_loopback(Arc::new(store))
                .await
                .unwrap();
            tiercache_store::StoreClient::connect(&address.to_string(), Default::default())
                .await
                .unwrap()
        });
        GrpcTarget {
            runtime,
            client,
            _dir: dir,
        }
    })
}
