//! The coherence messages nodes exchange over the bus, and their wire format.
//!
//! ```text
//! byte 0      kind: 1 invalidate, 2 update, 4 update to deleted, 3 acknowledgement
//! invalidate: version u64 | stamp | ack request | key length u32 | key
//! update:     version u64 | stamp | ack request | key length u32 | key | value (the rest)
//! ack:        request id u64 | acknowledging session id u64
//! stamp:      origin session id u64 | sent at, µs since the Unix epoch u64
//! ack request: 0, or 1 | session id u64 | request id u64   (synchronous mode)
//! ```
//! All integers are big-endian. A message that does not decode is treated by the
//! receiver as a lost message (it flushes), never ignored.

use bytes::{BufMut, Bytes, BytesMut};
use tiercache_bus::SessionId;
use tiercache_core::Version;

/// Who sent a notice and when, by the sender's wall clock. Receivers skip their own
/// notices and measure the invalidation delay from `sent_micros` (meaningful when the
/// nodes' clocks agree, as on one host; 0 means unknown and is not measured).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stamp {
    /// The publishing node's session (0: none).
    pub origin: SessionId,
    /// When the notice was published, in µs since the Unix epoch (0: unknown).
    pub sent_micros: u64,
}

impl Stamp {
    /// A stamp from `origin`, sent now.
    pub fn now(origin: SessionId) -> Stamp {
        Stamp {
            origin,
            sent_micros: wall_clock_micros(),
        }
    }

    /// How long ago the notice was sent, by this node's wall clock (`None` when unknown or
    /// when the clocks disagree so much that the answer would be negative).
    pub fn age(&self) -> Option<std::time::Duration> {
        if self.sent_micros == 0 {
            return None;
        }
        wall_clock_micros()
            .checked_sub(self.sent_micros)
            .map(std::time::Duration::from_micros)
    }
}

/// Microseconds since the Unix epoch (0 if the clock is before it).
pub(crate) fn wall_clock_micros() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_micros() as u64)
}

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
        /// Who sent it, when.
        stamp: Stamp,
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
        /// Who sent it, when.
        stamp: Stamp,
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
    /// Who sent the notice, when (`None` for an acknowledgement).
    pub fn stamp(&self) -> Option<Stamp> {
        match self {
            Notice::Invalidate { stamp, .. } | Notice::Update { stamp, .. } => Some(*stamp),
            Notice::Ack { .. } => None,
        }
    }

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
            Notice::Invalidate {
                key,
                version,
                stamp,
                ack,
            } => {
                out.put_u8(INVALIDATE);
                put_header(&mut out, *version, *stamp, *ack, key);
            }
            Notice::Update {
                key,
                version,
                value,
                stamp,
                ack,
            } => {
                out.put_u8(if value.is_some() {
                    UPDATE
                } else {
                    UPDATE_DELETED
                });
                put_header(&mut out, *version, *stamp, *ack, key);
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
                let stamp = Stamp {
                    origin: SessionId(take_u64(&mut bytes)?),
                    sent_micros: take_u64(&mut bytes)?,
                };
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
                        Notice::Invalidate {
                            key,
                            version,
                            stamp,
                            ack,
                        }
                    }
                    UPDATE => Notice::Update {
                        key,
                        version,
                        value: Some(bytes),
                        stamp,
                        ack,
                    },
                    _ => {
                        end(&bytes)?;
                        Notice::Update {
                            key,
                            version,
                            value: None,
                            stamp,
                            ack,
                        }
                    }
                })
            }
            other => Err(format!("unknown notice kind {other}")),
        }
    }
}

fn put_header(
    out: &mut BytesMut,
    version: Version,
    stamp: Stamp,
    ack: Option<AckRequest>,
    key: &[u8],
) {
    out.put_u64(version.0);
    out.put_u64(stamp.origin.0);
    out.put_u64(stamp.sent_micros);
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
                stamp: Stamp::default(),
                ack: None,
            },
            Notice::Invalidate {
                key: Bytes::from_static(b"key with spaces"),
                version: Version(u64::MAX),
                stamp: Stamp::now(SessionId(2)),
                ack,
            },
            Notice::Update {
                key: Bytes::from_static(b"k"),
                version: Version(4),
                value: Some(Bytes::from_static(b"")),
                stamp: Stamp::now(SessionId(2)),
                ack,
            },
            Notice::Update {
                key: Bytes::from_static(b"k"),
                version: Version(5),
                value: Some(Bytes::from((0..=255u8).collect::<Vec<_>>())),
                stamp: Stamp::default(),
                ack: None,
            },
            Notice::Update {
                key: Bytes::from_static(b"k"),
                version: Version(6),
                value: None,
                stamp: Stamp::now(SessionId(2)),
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
            stamp: Stamp::default(),
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
