//! The record format of segment files: one record = a 16-byte header with its own
//! checksum, then the body with another.
//!
//! ```text
//! offset  size  field
//! 0       1     magic 0x4C ('L')
//! 1       1     format version: 1
//! 2       1     flags: bit 0 = an idempotency key follows; the other bits are 0
//! 3       1     idempotency key length k (0 without a key)
//! 4       4     value length v
//! 8       4     CRC32C of bytes 0..8 (the header's own checksum: a damaged length is
//!               never trusted to find the next record)
//! 12      4     CRC32C of bytes 16..32+k+v (the body)
//! 16      16    message id: time_ms u64 | publisher u32 | seq u32
//! 32      k     idempotency key
//! 32+k    v     value
//! ```
//! All integers are big-endian; a record takes [`RECORD_OVERHEAD`] + k + v bytes, and
//! records follow each other with no padding. A new format gets a new version byte, so a
//! reader of this one refuses it rather than misreading it.
//!
//! Decoding tells a record that is *cut short* (the bytes end inside it: a torn write at the
//! end of a file) from one that is *damaged* (a checksum or a field is wrong), because
//! recovery truncates the first and reports the second.

use crate::id::MessageId;
use crate::record::Record;

/// The bytes a record takes beyond its idempotency key and value.
pub const RECORD_OVERHEAD: usize = 32;
/// The header: fields and both checksums.
const HEADER: usize = 16;
const MAGIC: u8 = 0x4C;
const VERSION: u8 = 1;
const HAS_KEY: u8 = 1;

/// Why bytes are not a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// The bytes end inside the record: its header, or the body its valid header announces.
    Truncated {
        /// The bytes there are.
        have: usize,
        /// The bytes the record needs (the header's size when the header is cut).
        needed: usize,
    },
    /// The header is complete but wrong (checksum, magic, version, flags).
    BadHeader(String),
    /// The header is valid and the body complete, but the body fails its checksum.
    BadBody {
        /// The record's full length, as its header says.
        len: usize,
    },
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::Truncated { have, needed } => {
                write!(f, "record cut short: {have} of {needed} bytes")
            }
            DecodeError::BadHeader(reason) => write!(f, "bad record header: {reason}"),
            DecodeError::BadBody { len } => {
                write!(f, "record body ({len} bytes) fails its checksum")
            }
        }
    }
}

/// The bytes `record` takes.
pub fn encoded_len(record: &Record) -> usize {
    RECORD_OVERHEAD + record.idempotency_key.as_ref().map_or(0, Vec::len) + record.value.len()
}

/// Appends `record`'s bytes to `out`. The caller has checked the limits (key ≤ 255 bytes,
/// value ≤ 4 GiB).
pub fn encode(record: &Record, out: &mut Vec<u8>) {
    let key = record.idempotency_key.as_deref();
    let start = out.len();
    out.extend_from_slice(&[
        MAGIC,
        VERSION,
        if key.is_some() { HAS_KEY } else { 0 },
        key.map_or(0, |key| {
            u8::try_from(key.len()).expect("key within the limits")
        }),
    ]);
    out.extend_from_slice(&(record.value.len() as u32).to_be_bytes());
    let header_crc = crc32c::crc32c(&out[start..start + 8]);
    out.extend_from_slice(&header_crc.to_be_bytes());
    out.extend_from_slice(&[0; 4]); // the body's checksum, below
    let body = out.len();
    out.extend_from_slice(&record.id.to_bytes());
    out.extend_from_slice(key.unwrap_or_default());
    out.extend_from_slice(&record.value);
    let body_crc = crc32c::crc32c(&out[body..]);
    out[start + 12..start + 16].copy_from_slice(&body_crc.to_be_bytes());
}

/// The record at the start of `bytes` and its length.
pub fn decode(bytes: &[u8]) -> Result<(Record, usize), DecodeError> {
    let len = record_len(bytes)?;
    let body = &bytes[HEADER..len];
    if crc32c::crc32c(body) != be_u32(&bytes[12..16]) {
        return Err(DecodeError::BadBody { len });
    }
    let id = MessageId::from_bytes(body[..16].try_into().expect("16 bytes"));
    let key_len = usize::from(bytes[3]);
    let idempotency_key = (bytes[2] & HAS_KEY != 0).then(|| body[16..16 + key_len].to_vec());
    Ok((
        Record {
            id,
            idempotency_key,
            value: body[16 + key_len..].to_vec(),
        },
        len,
    ))
}

/// The length of the record at the start of `bytes`, from its verified header; the body is
/// present but not verified.
fn record_len(bytes: &[u8]) -> Result<usize, DecodeError> {
    if bytes.len() < HEADER {
        return Err(DecodeError::Truncated {
            have: bytes.len(),
            needed: HEADER,
        });
    }
    if crc32c::crc32c(&bytes[..8]) != be_u32(&bytes[8..12]) {
        return Err(DecodeError::BadHeader("header checksum mismatch".into()));
    }
    if bytes[0] != MAGIC {
        return Err(DecodeError::BadHeader(format!("magic {:#04x}", bytes[0])));
    }
    if bytes[1] != VERSION {
        return Err(DecodeError::BadHeader(format!(
            "unknown format version {}",
            bytes[1]
        )));
    }
    let flags = bytes[2];
    if flags & !HAS_KEY != 0 || (flags & HAS_KEY == 0 && bytes[3] != 0) {
        return Err(DecodeError::BadHeader(format!(
            "flags {flags:#04x} with key length {}",
            bytes[3]
        )));
    }
    let len = RECORD_OVERHEAD + usize::from(bytes[3]) + be_u32(&bytes[4..8]) as usize;
    if bytes.len() < len {
        return Err(DecodeError::Truncated {
            have: bytes.len(),
            needed: len,
        });
    }
    Ok(len)
}

fn be_u32(bytes: &[u8]) -> u32 {
    u32::from_be_bytes(bytes.try_into().expect("4 bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records() -> Vec<Record> {
        let id = MessageId {
            time_ms: 0x0102_0304_0506_0708,
            publisher: 0x0a0b_0c0d,
            seq: 42,
        };
        vec![
            Record {
                id,
                idempotency_key: None,
                value: b"hello".to_vec(),
            },
            Record {
                id,
                idempotency_key: Some(b"retry-1".to_vec()),
                value: Vec::new(),
            },
            Record {
                id: MessageId::default(),
                idempotency_key: Some(vec![0xff; 255]),
                value: (0..=255u8).collect(),
            },
        ]
    }

    #[test]
    fn every_record_survives_a_round_trip_and_records_follow_each_other() {
        let mut bytes = Vec::new();
        for record in records() {
            let start = bytes.len();
            encode(&record, &mut bytes);
            assert_eq!(bytes.len() - start, encoded_len(&record));
        }
        let mut rest = &bytes[..];
        for record in records() {
            let (decoded, len) = decode(rest).unwrap();
            assert_eq!(decoded, record);
            rest = &rest[len..];
        }
        assert!(rest.is_empty());
    }

    #[test]
    fn a_record_cut_at_any_byte_is_truncated_never_valid() {
        for record in records() {
            let mut bytes = Vec::new();
            encode(&record, &mut bytes);
            for cut in 0..bytes.len() {
                match decode(&bytes[..cut]) {
                    Err(DecodeError::Truncated { have, needed }) => {
                        assert_eq!(have, cut);
                        assert!(needed > cut);
                    }
                    other => panic!("cut at {cut}: {other:?}"),
                }
            }
        }
    }

    #[test]
    fn every_single_byte_flip_is_detected() {
        for record in records() {
            let mut bytes = Vec::new();
            encode(&record, &mut bytes);
            // Followed by more data, as in the middle of a segment.
            bytes.extend_from_slice(&[0x4C; 64]);
            for at in 0..encoded_len(&record) {
                for mask in 1..=255u8 {
                    let mut flipped = bytes.clone();
                    flipped[at] ^= mask;
                    match decode(&flipped) {
                        Err(DecodeError::BadHeader(_) | DecodeError::BadBody { .. }) => {}
                        // Never valid, and never "cut short": a damaged length is caught by
                        // the header's checksum before it is trusted.
                        other => panic!("{mask:#04x} at byte {at}: {other:?}"),
                    }
                }
            }
        }
    }

    #[test]
    fn a_header_flip_is_a_bad_header_not_a_misplaced_record() {
        let mut bytes = Vec::new();
        encode(&records()[0], &mut bytes);
        bytes.extend_from_slice(&[0; 1 << 16]);
        for at in 0..12 {
            let mut flipped = bytes.clone();
            flipped[at] ^= 0x10;
            assert!(
                matches!(decode(&flipped), Err(DecodeError::BadHeader(_))),
                "flip at {at}"
            );
        }
    }
}
