//! [`MessageId`]: a log message's identity, whose byte order (and text order) is its sort
//! order, and [`MessageIds`], the generator each publisher runs.
//!
//! ```text
//! bytes 0..8    time_ms   u64  ms since the Unix epoch, monotonic per publisher
//! bytes 8..12   publisher u32  random per publisher process start
//! bytes 12..16  seq       u32  per publisher, +1 per message
//! text          {time_ms:016x}-{publisher:08x}-{seq:08x}   (lowercase hex, 34 characters)
//! ```
//! All integers are big-endian, so comparing two ids field by field, as bytes or as text
//! gives the same order. Ids of one publisher increase strictly in the order it made them;
//! ids of different publishers interleave by their clocks (no total order is promised).

use std::fmt;
use std::str::FromStr;

/// A log message's identity: unique per message (a publisher never repeats one), ordered by
/// (time, publisher, sequence).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct MessageId {
    /// When the publisher made it, in ms since the Unix epoch (never decreasing per
    /// publisher, even if its wall clock steps back).
    pub time_ms: u64,
    /// The publisher, random per process start (so a restarted publisher cannot reuse ids).
    pub publisher: u32,
    /// The publisher's message counter.
    pub seq: u32,
}

/// The length of an id's text form.
pub const ID_TEXT_LEN: usize = 34;

impl MessageId {
    /// The id's 16 bytes (big-endian fields: byte order is sort order).
    pub fn to_bytes(self) -> [u8; 16] {
        let mut out = [0; 16];
        out[..8].copy_from_slice(&self.time_ms.to_be_bytes());
        out[8..12].copy_from_slice(&self.publisher.to_be_bytes());
        out[12..].copy_from_slice(&self.seq.to_be_bytes());
        out
    }

    /// The id held by 16 bytes.
    pub fn from_bytes(bytes: [u8; 16]) -> MessageId {
        let (time, rest) = bytes.split_at(8);
        let (publisher, seq) = rest.split_at(4);
        MessageId {
            time_ms: u64::from_be_bytes(time.try_into().expect("8 bytes")),
            publisher: u32::from_be_bytes(publisher.try_into().expect("4 bytes")),
            seq: u32::from_be_bytes(seq.try_into().expect("4 bytes")),
        }
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:016x}-{:08x}-{:08x}",
            self.time_ms, self.publisher, self.seq
        )
    }
}

/// Why a text is not a [`MessageId`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseIdError {
    /// The text is not 34 characters long.
    #[error("a message id is {ID_TEXT_LEN} characters (16-8-8 lowercase hex digits), not {0}")]
    Length(usize),
    /// A `-` is missing at byte 16 or 25.
    #[error("a message id has '-' at bytes 16 and 25; byte {0} is not '-'")]
    Separator(usize),
    /// A character that is not a lowercase hex digit.
    #[error("byte {at} of a message id is {found:?}, not a lowercase hex digit")]
    Digit {
        /// Its byte offset in the text.
        at: usize,
        /// What was found there.
        found: char,
    },
}

impl FromStr for MessageId {
    type Err = ParseIdError;

    /// Parses the canonical text form only (lowercase, fixed width), so that text order
    /// stays id order for every id that parses.
    fn from_str(text: &str) -> Result<MessageId, ParseIdError> {
        let bytes = text.as_bytes();
        if bytes.len() != ID_TEXT_LEN {
            return Err(ParseIdError::Length(bytes.len()));
        }
        for at in [16, 25] {
            if bytes[at] != b'-' {
                return Err(ParseIdError::Separator(at));
            }
        }
        let field = |from: usize, to: usize| -> Result<u64, ParseIdError> {
            bytes[from..to]
                .iter()
                .enumerate()
                .try_fold(0u64, |acc, (i, &b)| {
                    let digit = match b {
                        b'0'..=b'9' => b - b'0',
                        b'a'..=b'f' => b - b'a' + 10,
                        _ => {
                            return Err(ParseIdError::Digit {
                                at: from + i,
                                // The first character at or after the offending byte.
                                found: text[from + i..].chars().next().unwrap_or('?'),
                            });
                        }
                    };
                    Ok(acc << 4 | u64::from(digit))
                })
        };
        Ok(MessageId {
            time_ms: field(0, 16)?,
            publisher: field(17, 25)? as u32,
            seq: field(26, 34)? as u32,
        })
    }
}

impl serde::Serialize for MessageId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for MessageId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<MessageId, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// One publisher's id generator: time never goes back and the sequence counts up, so its
/// ids increase strictly. Pure: the caller passes the clock's reading to [`next`].
///
/// [`next`]: MessageIds::next
#[derive(Debug, Clone)]
pub struct MessageIds {
    /// Which publisher this is.
    publisher: u32,
    /// The time of the last id made (ids never go below it).
    last_ms: u64,
    /// The sequence of the last id made.
    seq: u32,
    /// Whether an id was made yet (the first may use seq 0).
    started: bool,
}

impl MessageIds {
    /// A generator for `publisher`.
    pub fn new(publisher: u32) -> MessageIds {
        MessageIds {
            publisher,
            last_ms: 0,
            seq: 0,
            started: false,
        }
    }

    /// A generator for a random publisher (a fresh one per process start).
    pub fn random() -> MessageIds {
        use std::hash::BuildHasher;
        let seed = std::hash::RandomState::new().hash_one((std::process::id(), now_ms()));
        MessageIds::new((seed ^ (seed >> 32)) as u32)
    }

    /// This generator's publisher.
    pub fn publisher(&self) -> u32 {
        self.publisher
    }

    /// The next id, at wall-clock time `now_ms` (ms since the Unix epoch). A clock that
    /// stepped back keeps the last time; a sequence that would wrap moves time on by 1 ms
    /// instead, so the ids still increase.
    pub fn next(&mut self, now_ms: u64) -> MessageId {
        if !self.started {
            self.started = true;
            self.last_ms = now_ms;
        } else {
            self.last_ms = self.last_ms.max(now_ms);
            self.seq = match self.seq.checked_add(1) {
                Some(seq) => seq,
                None => {
                    self.last_ms += 1;
                    0
                }
            };
        }
        MessageId {
            time_ms: self.last_ms,
            publisher: self.publisher,
            seq: self.seq,
        }
    }

    /// The next id at the wall clock's time.
    pub fn next_now(&mut self) -> MessageId {
        self.next(now_ms())
    }
}

/// Milliseconds since the Unix epoch (0 if the clock is before it).
fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_text_and_fields_sort_alike() {
        let ids = [
            MessageId {
                time_ms: 1,
                publisher: u32::MAX,
                seq: u32::MAX,
            },
            MessageId {
                time_ms: 2,
                publisher: 0,
                seq: 0,
            },
            MessageId {
                time_ms: 2,
                publisher: 0,
                seq: 1,
            },
            MessageId {
                time_ms: 2,
                publisher: 1,
                seq: 0,
            },
            MessageId {
                time_ms: u64::MAX,
                publisher: 0,
                seq: 0,
            },
        ];
        for pair in ids.windows(2) {
            assert!(pair[0] < pair[1]);
            assert!(pair[0].to_bytes() < pair[1].to_bytes());
            assert!(pair[0].to_string() < pair[1].to_string());
        }
        for id in ids {
            assert_eq!(MessageId::from_bytes(id.to_bytes()), id);
            assert_eq!(id.to_string().parse::<MessageId>().unwrap(), id);
            assert_eq!(id.to_string().len(), ID_TEXT_LEN);
        }
        assert_eq!(ids[2].to_string(), "0000000000000002-00000000-00000001");
    }

    #[test]
    fn parse_errors_name_the_problem() {
        let good = "0000018c2f3a4b5c-1a2b3c4d-00000007";
        assert!(good.parse::<MessageId>().is_ok());
        assert_eq!("abc".parse::<MessageId>(), Err(ParseIdError::Length(3)));
        assert_eq!(
            good.replace('-', "_").parse::<MessageId>(),
            Err(ParseIdError::Separator(16))
        );
        assert_eq!(
            good.to_uppercase().parse::<MessageId>(),
            Err(ParseIdError::Digit { at: 7, found: 'C' })
        );
        let error = "0000018c2f3a4b5c-1a2b3c4d-0000000g"
            .parse::<MessageId>()
            .unwrap_err();
        assert_eq!(error, ParseIdError::Digit { at: 33, found: 'g' });
        assert!(error.to_string().contains("byte 33"), "{error}");
        // A multi-byte character is reported, not a panic.
        let error = "0000018c2f3a4b5c-1a2b3c4d-000000é"
            .parse::<MessageId>()
            .unwrap_err();
        assert_eq!(
            error,
            ParseIdError::Digit {
                at: 32, found: 'é'
            }
        );
    }

    #[test]
    fn a_publisher_s_ids_increase_even_when_its_clock_steps_back_or_seq_wraps() {
        let mut ids = MessageIds::new(7);
        let first = ids.next(1_000);
        assert_eq!(
            first,
            MessageId {
                time_ms: 1_000,
                publisher: 7,
                seq: 0
            }
        );
        let mut last = first;
        for now in [1_000, 999, 500, 1_001, 1_001, 2_000] {
            let id = ids.next(now);
            assert!(id > last, "{id} after {last}");
            assert!(id.time_ms >= now.min(last.time_ms));
            last = id;
        }
        assert_eq!(last.seq, 6);
        ids.seq = u32::MAX;
        let wrapped = ids.next(0);
        assert!(wrapped > last);
        assert_eq!((wrapped.time_ms, wrapped.seq), (2_001, 0));
    }
}
