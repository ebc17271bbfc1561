//! [`FsyncPolicy`]: when an append counts as durable, and its `--fsync` text form.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// When [`SegmentStorage`](crate::SegmentStorage) acknowledges an append.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FsyncPolicy {
    /// `always`: after the records are written *and* fsynced (`fdatasync`). Concurrent
    /// appends share one write and one fsync (group commit). Nothing acknowledged is lost
    /// by a process crash, an OS crash or a power cut (given a disk that honours flushes).
    /// The default.
    #[default]
    Always,
    /// `interval:DURATION`: after the records are written to the OS (the page cache); a
    /// flusher thread fsyncs every written file once per interval. A process crash
    /// (`kill -9`) loses nothing acknowledged; an OS crash or power cut can lose what was
    /// acknowledged in the last interval plus the time one fsync takes (the records after
    /// the last completed fsync), which recovery then sees as a torn tail.
    Interval(Duration),
}

/// Why a text is not an [`FsyncPolicy`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseFsyncError {
    /// Neither `always` nor `interval:…`.
    #[error("unknown fsync policy {0:?}: use `always` or `interval:DURATION` (e.g. interval:10ms)")]
    Unknown(String),
    /// The interval is not a number with a unit.
    #[error("bad fsync interval {0:?}: use a whole number with ms, s or us (e.g. 10ms)")]
    Duration(String),
    /// A zero interval (which would mean `always` without group commit's guarantee).
    #[error("the fsync interval must be more than 0 (for an fsync per append use `always`)")]
    Zero,
}

impl FromStr for FsyncPolicy {
    type Err = ParseFsyncError;

    /// `always`, or `interval:N` followed by `us`, `ms` or `s`.
    fn from_str(text: &str) -> Result<FsyncPolicy, ParseFsyncError> {
        if text == "always" {
            return Ok(FsyncPolicy::Always);
        }
        let Some(interval) = text.strip_prefix("interval:") else {
            return Err(ParseFsyncError::Unknown(text.to_owned()));
        };
        let bad = || ParseFsyncError::Duration(interval.to_owned());
        let split = interval
            .find(|c: char| !c.is_ascii_digit())
            .ok_or_else(bad)?;
        let (number, unit) = interval.split_at(split);
        let number: u64 = number.parse().map_err(|_| bad())?;
        let duration = match unit {
            "us" => Duration::from_micros(number),
            "ms" => Duration::from_millis(number),
            "s" => Duration::from_secs(number),
            _ => return Err(bad()),
        };
        if duration.is_zero() {
            return Err(ParseFsyncError::Zero);
        }
        Ok(FsyncPolicy::Interval(duration))
    }
}

impl fmt::Display for FsyncPolicy {
    /// The text [`FromStr`] reads back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FsyncPolicy::Always => f.write_str("always"),
            FsyncPolicy::Interval(interval) => {
                let micros = interval.as_micros();
                if micros % 1_000_000 == 0 {
                    write!(f, "interval:{}s", micros / 1_000_000)
                } else if micros % 1_000 == 0 {
                    write!(f, "interval:{}ms", micros / 1_000)
                } else {
                    write!(f, "interval:{micros}us")
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_parse_and_print_back() {
        for (text, policy) in [
            ("always", FsyncPolicy::Always),
            (
                "interval:10ms",
                FsyncPolicy::Interval(Duration::from_millis(10)),
            ),
            ("interval:2s", FsyncPolicy::Interval(Duration::from_secs(2))),
            (
                "interval:500us",
                FsyncPolicy::Interval(Duration::from_micros(500)),
            ),
        ] {
            assert_eq!(text.parse::<FsyncPolicy>(), Ok(policy));
            assert_eq!(policy.to_string(), text);
        }
        assert_eq!(
            "interval:1000ms"
                .parse::<FsyncPolicy>()
                .unwrap()
                .to_string(),
            "interval:1s"
        );
    }

    #[test]
    fn bad_policies_say_what_is_wrong() {
        for (text, error) in [
            ("", ParseFsyncError::Unknown(String::new())),
            ("Always", ParseFsyncError::Unknown("Always".into())),
            ("never", ParseFsyncError::Unknown("never".into())),
            ("interval", ParseFsyncError::Unknown("interval".into())),
            ("interval:", ParseFsyncError::Duration(String::new())),
            ("interval:10", ParseFsyncError::Duration("10".into())),
            ("interval:ms", ParseFsyncError::Duration("ms".into())),
            ("interval:10min", ParseFsyncError::Duration("10min".into())),
            ("interval:-5ms", ParseFsyncError::Duration("-5ms".into())),
            ("interval:1.5ms", ParseFsyncError::Duration("1.5ms".into())),
            ("interval:0ms", ParseFsyncError::Zero),
        ] {
            assert_eq!(text.parse::<FsyncPolicy>(), Err(error.clone()), "{text:?}");
            assert!(!error.to_string().is_empty());
        }
        let message = "interval:10"
            .parse::<FsyncPolicy>()
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("\"10\"") && message.contains("10ms"),
            "{message}"
        );
    }
}
