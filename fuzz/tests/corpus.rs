//! The committed corpus: every target has seeds, and they are what the encoders write
//! today. `TIERCACHE_FUZZ_WRITE_CORPUS=1 cargo test -p tiercache-fuzz --test corpus`
//! rewrites the generated seeds (after a format change; review the diff).

use bytes::Bytes;
use prost::Message;
use tiercache_bus::SessionId;
use tiercache_core::Version;
use tiercache_fuzz::corpus_dir;
use tiercache_log::segment::encode_record;
use tiercache_log::{Ack, Append, Confirmed, LogNotice, MessageId, Record};
use tiercache_node::{AckRequest, Notice, Stamp};

fn record(key: Option<&[u8]>) -> Record {
    Record {
        id: MessageId::from_bytes(*b"0123456789abcdef"),
        idempotency_key: key.map(<[u8]>::to_vec),
        value: b"order 42".to_vec(),
    }
}

/// Every seed: (target, file name, bytes).
fn seeds() -> Vec<(&'static str, &'static str, Vec<u8>)> {
    let stamp = Stamp {
        origin: SessionId(7),
        sent_micros: 1_700_000_000_000_000,
    };
    let mut seeds = vec![
        (
            "bus_notice",
            "invalidate-sync",
            Notice::Invalidate {
                key: Bytes::from_static(b"user:42"),
                version: Version(3),
                stamp,
                ack: Some(AckRequest {
                    session: SessionId(7),
                    request: 9,
                }),
            }
            .encode()
            .to_vec(),
        ),
        (
            "bus_notice",
            "update",
            Notice::Update {
                key: Bytes::from_static(b"k"),
                version: Version(1),
                value: Some(Bytes::from_static(b"{\"a\":1}")),
                stamp,
                ack: None,
            }
            .encode()
            .to_vec(),
        ),
        (
            "bus_notice",
            "ack",
            Notice::Ack {
                request: 9,
                from: SessionId(8),
            }
            .encode()
            .to_vec(),
        ),
        (
            "log_notice",
            "append",
            LogNotice::Append(Append {
                reply_to: SessionId(5),
                records: vec![record(Some(b"retry-1")), record(None)],
            })
            .encode()
            .to_vec(),
        ),
        (
            "log_notice",
            "ack",
            LogNotice::Ack(Ack {
                node: "log-1".into(),
                confirmed: vec![Confirmed {
                    id: MessageId::from_bytes(*b"0123456789abcdef"),
                    position: 4,
                    duplicate: false,
                }],
            })
            .encode()
            .to_vec(),
        ),
        ("trace_csv", "keys-and-sizes", b"1,100\n2\n3,4096\n1,100\n".to_vec()),
        (
            "token_file",
            "three-tokens",
            b"# ops\nabcdefghijklmnop-admin admin\napp-0123456789abcdef read,write # app\nreader-0123456789ab read\n".to_vec(),
        ),
        (
            "node_config",
            "api",
            b"[api]\ntier = \"memory://\"\nnear_capacity = \"16MiB\"\npolicy = \"s3fifo:small=0.2\"\nmax_age = \"60s\"\noutbox = \"3s\"\n\n[api.bus]\nurl = \"memory://\"\ntopics = \"bucket:64\"\nwrite_mode = \"write-behind\"\nflush_interval = \"100ms\"\ninvalidation = \"sync\"\nlease_ms = 3000\n".to_vec(),
        ),
        (
            "grpc_store",
            "put",
            tiercache_store::grpc::proto::PutRequest {
                key: b"user:42".to_vec(),
                value: b"{}".to_vec(),
                ..Default::default()
            }
            .encode_to_vec(),
        ),
    ];
    for (name, key) in [("with-key", Some(&b"retry-1"[..])), ("without-key", None)] {
        let mut bytes = Vec::new();
        encode_record(&record(key), &mut bytes);
        seeds.push(("log_record", name, bytes));
    }
    // libCacheSim oracleGeneral: u32 time, u64 object id, u32 size, i64 next access.
    let mut oracle = Vec::new();
    for (time, id, size, next) in [
        (1u32, 10u64, 100u32, 3i64),
        (2, 11, 200, -1),
        (3, 10, 100, -1),
    ] {
        oracle.extend_from_slice(&time.to_le_bytes());
        oracle.extend_from_slice(&id.to_le_bytes());
        oracle.extend_from_slice(&size.to_le_bytes());
        oracle.extend_from_slice(&next.to_le_bytes());
    }
    seeds.push(("trace_oracle", "three-requests", oracle));
    seeds
}

#[test]
fn every_target_has_its_seeds_as_the_encoders_write_them() {
    let write = std::env::var_os("TIERCACHE_FUZZ_WRITE_CORPUS").is_some();
    for (target, name, bytes) in seeds() {
        let path = corpus_dir(target).join(name);
        if write {
            std::fs::create_dir_all(corpus_dir(target)).unwrap();
            std::fs::write(&path, &bytes).unwrap();
        }
        let committed = std::fs::read(&path).unwrap_or_else(|error| {
            panic!(
                "{}: {error} (run with TIERCACHE_FUZZ_WRITE_CORPUS=1)",
                path.display()
            )
        });
        assert_eq!(
            committed,
            bytes,
            "{} differs from what the encoder writes today",
            path.display()
        );
    }
}
