//! The coherence messages nodes exchange over the bus, and their wire format.
//!
//! ```text
//! byte 0      kind: 1 invalidate, 2 update, 3 acknowledgement
//! invalidate: version u64 | ack request | key length u32 | key
//! update:     version u64 | ack request | key length u32 | key | value (the rest)
//! ack:        request id u64 | acknowledging session id u64
//! ack request: 0, or 1 | session id u64 | request id u64   (synchronous mode)
//! ```
//! All integers are big-endian. A message that does not decode is treated by the
//! receiver as a lost message (it flushes), never ignored.

use bytes::{BufMut, Bytes, BytesMut};
use tiercache_bus::SessionId;
use tiercache_core::Version;

/// Where a receiver confirms a notice in synchronous mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AckRequest {
    /// The writer's session.
    pub session: SessionId,
    /// The writer's request id, echoed back.
    pub request: u64,
}

/// One coherence message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// `key` changed at `version`: drop any older copy.
    Invalidate {
        /// The object's key.
        key: Bytes,
        /// The version the write created.
        version: Version,
        /// Where to confirm (synchronous mode).
        ack: Option<AckRequest>,
    },
    /// `key` holds `value` at `version` (`None`: deleted): replace any older copy.
    Update {
        /// The object's key.
        key: Bytes,
        /// The version the write created.
        version: Version,
        /// The new value (`None`: deleted).
        value: Option<Bytes>,
        /// Where to confirm (synchronous mode).
        ack: Option<AckRequest>,
    },
    /// Session `from` applied the notice of request `request`.
    Ack {
        /// The writer's request id.
        request: u64,
        /// The receiver's session.
        from: SessionId,
    },
}

const INVALIDATE: u8 = 1;
const UPDATE: u8 = 2;
const UPDATE_DELETED: u8 = 4;
const ACK: u8 = 3;

impl Notice {
    /// Where the writer wants this notice confirmed (synchronous delivery).
    pub fn ack_request(&self) -> Option<AckRequest> {
        match self {
            Notice::Invalidate { ack, .. } | Notice::Update { ack, .. } => *ack,
            Notice::Ack { .. } => None,
        }
    }

    /// The notice's bytes on the bus.
    pub fn encode(&self) -> Bytes {
        let mut out = BytesMut::new();
        match self {
            Notice::Invalidate { key, version, ack } => {
                out.put_u8(INVALIDATE);
                put_header(&mut out, *version, *ack, key);
            }
            Notice::Update {
                key,
                version,
                value,
                ack,
            } => {
                out.put_u8(if value.is_some() {
                    UPDATE
                } else {
                    UPDATE_DELETED
                });
                put_header(&mut out, *version, *ack, key);
                if let Some(value) = value {
                    out.put_slice(value);
                }
            }
            Notice::Ack { request, from } => {
                out.put_u8(ACK);
                out.put_u64(*request);
                out.put_u64(from.0);
            }
        }
        out.freeze()
    }

    /// Reads a notice; an error says what is wrong with the bytes.
    pub fn decode(mut bytes: Bytes) -> Result<Notice, String> {
        let kind = take_u8(&mut bytes)?;
        match kind {
            ACK => {
                let request = take_u64(&mut bytes)?;
                let from = SessionId(take_u64(&mut bytes)?);
                end(&bytes)?;
                Ok(Notice::Ack { request, from })
            }
            INVALIDATE | UPDATE | UPDATE_DELETED => {
                let version = Version(take_u64(&mut bytes)?);
                let ack = match take_u8(&mut bytes)? {
                    0 => None,
                    1 => Some(AckRequest {
                        session: SessionId(take_u64(&mut bytes)?),
                        request: take_u64(&mut bytes)?,
                    }),
                    other => return Err(format!("bad acknowledgement flag {other}")),
                };
                let length = take_u32(&mut bytes)? as usize;
                if bytes.len() < length {
                    return Err(format!("key of {length} bytes, {} left", bytes.len()));
                }
                let key = bytes.split_to(length);
                Ok(match kind {
                    INVALIDATE => {
                        end(&bytes)?;
                        Notice::Invalidate { key, version, ack }
                    }
                    UPDATE => Notice::Update {
                        key,
                        version,
                        value: Some(bytes),
                        ack,
                    },
                    _ => {
                        end(&bytes)?;
                        Notice::Update {
                            key,
                            version,
                            value: None,
                            ack,
                        }
                    }
                })
            }
            other => Err(format!("unknown notice kind {other}")),
        }
    }
}

fn put_header(out: &mut BytesMut, version: Version, ack: Option<AckRequest>, key: &[u8]) {
    out.put_u64(version.0);
    match ack {
        None => out.put_u8(0),
        Some(ack) => {
            out.put_u8(1);
            out.put_u64(ack.session.0);
            out.put_u64(ack.request);
        }
    }
    out.put_u32(key.len() as u32);
    out.put_slice(key);
}

fn take<const N: usize>(bytes: &mut Bytes) -> Result<[u8; N], String> {
    if bytes.len() < N {
        return Err(format!(
            "truncated: needed {N} more bytes, {} left",
            bytes.len()
        ));
    }
    let mut out = [0; N];
    out.copy_from_slice(&bytes.split_to(N));
    Ok(out)
}

fn take_u8(bytes: &mut Bytes) -> Result<u8, String> {
    Ok(take::<1>(bytes)?[0])
}

fn take_u32(bytes: &mut Bytes) -> Result<u32, String> {
    Ok(u32::from_be_bytes(take(bytes)?))
}

fn take_u64(bytes: &mut Bytes) -> Result<u64, String> {
    Ok(u64::from_be_bytes(take(bytes)?))
}

fn end(bytes: &Bytes) -> Result<(), String> {
    if bytes.is_empty() {
        Ok(())
    } else {
        Err(format!("{} trailing bytes", bytes.len()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_notice_survives_a_round_trip() {
        let ack = Some(AckRequest {
            session: SessionId(7),
            request: 99,
        });
        let notices = [
            Notice::Invalidate {
                key: Bytes::from_static(b"k"),
                version: Version(3),
                ack: None,
            },
            Notice::Invalidate {
                key: Bytes::from_static(b"key with spaces"),
                version: Version(u64::MAX),
                ack,
            },
            Notice::Update {
                key: Bytes::from_static(b"k"),
                version: Version(4),
                value: Some(Bytes::from_static(b"")),
                ack,
            },
            Notice::Update {
                key: Bytes::from_static(b"k"),
                version: Version(5),
                value: Some(Bytes::from((0..=255u8).collect::<Vec<_>>())),
                ack: None,
            },
            Notice::Update {
                key: Bytes::from_static(b"k"),
                version: Version(6),
                value: None,
                ack,
            },
            Notice::Ack {
                request: 12,
                from: SessionId(3),
            },
        ];
        for notice in notices {
            assert_eq!(Notice::decode(notice.encode()).unwrap(), notice);
        }
    }

    #[test]
    fn malformed_bytes_are_errors_not_panics() {
        let good = Notice::Invalidate {
            key: Bytes::from_static(b"abc"),
            version: Version(1),
            ack: None,
        }
        .encode();
        for cut in 0..good.len() {
            assert!(Notice::decode(good.slice(..cut)).is_err(), "cut at {cut}");
        }
        let mut trailing = good.to_vec();
        trailing.push(0);
        assert!(Notice::decode(Bytes::from(trailing)).is_err());
        assert!(Notice::decode(Bytes::from_static(&[9, 0, 0])).is_err());
    }
}
