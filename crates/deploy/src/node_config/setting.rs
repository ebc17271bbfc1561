//! A node setting as text: parsed the same way whether it comes from the configuration file,
//! a `TIERCACHE_*` variable or a flag, and printed back in a form that parses to the same
//! value (`--print-config`).

use std::fmt;
use std::time::Duration;

use serde::Serializer;
use tiercache_cache::PolicySpec;
use tiercache_node::{Delivery, TopicGranularity};

use super::write_path::WritePath;

/// Why a node setting was refused. The message names the setting and the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingError {
    /// `policy`: not a near-cache policy.
    #[error("bad near-cache policy {name:?}: {reason}")]
    Policy {
        /// The text given.
        name: String,
        /// What is wrong with it (the known names, the parameters a policy takes).
        reason: String,
    },
    /// A duration that does not parse.
    #[error("{key}: bad duration {text:?}: {reason}")]
    Duration {
        /// The setting.
        key: &'static str,
        /// The text given.
        text: String,
        /// What is wrong with it.
        reason: String,
    },
    /// `max_age` below a millisecond (`none` is the way to say "no bound").
    #[error("max_age must be at least 1ms (or none), got {0:?}")]
    MaxAgeTooShort(String),
    /// `outbox` below 100 ms: a live writer needs time to publish and confirm.
    #[error("outbox must be at least 100ms (or none), got {0:?}")]
    OutboxTooShort(String),
    /// `bus.url`: not a bus URL.
    #[error("{0}")]
    BusUrl(String),
    /// `bus.topics`: not a topic granularity.
    #[error("{0}")]
    Topics(String),
    /// `bus.write_mode`: not a write mode.
    #[error("{0}; or write-behind")]
    WriteMode(String),
    /// `bus.invalidation`: not a delivery mode.
    #[error("{0}")]
    Delivery(String),
    /// `bus.lease_ms`: a lease the bus session refuses.
    #[error("bus lease_ms: {0}")]
    Lease(String),
    /// `bus.flush_interval` out of range for write-behind.
    #[error("{0}")]
    WriteBehind(tiercache_node::SetupError),
}

/// The text that means "no such thing" for the tier, the bus and `max_age`.
pub const NONE: &str = "none";

fn is_none(text: &str) -> bool {
    text.trim().eq_ignore_ascii_case(NONE)
}

/// `tier`: a URL, or `None` for `none`. The URL itself is checked when the tier is opened
/// (so this never fails; it returns a `Result` like every other setting).
pub fn tier(text: &str) -> Result<Option<String>, SettingError> {
    Ok((!is_none(text)).then(|| text.to_owned()))
}

/// `policy`: a near-cache policy by name, with its parameters (`s3fifo:small=0.2`).
pub fn policy(text: &str) -> Result<PolicySpec, SettingError> {
    text.parse().map_err(|error| SettingError::Policy {
        name: text.to_owned(),
        reason: format!("{error}"),
    })
}

/// `max_age`: a duration of at least a millisecond, or `None` for `none`.
pub fn max_age(text: &str) -> Result<Option<Duration>, SettingError> {
    if is_none(text) {
        return Ok(None);
    }
    let age = duration("max_age", text)?;
    if age < Duration::from_millis(1) {
        return Err(SettingError::MaxAgeTooShort(text.to_owned()));
    }
    Ok(Some(age))
}

/// `outbox`: how old an unconfirmed notice is when it is replayed, or `None` for `none`
/// (no outbox: a crashed writer's write waits for the copies' max age).
pub fn outbox(text: &str) -> Result<Option<Duration>, SettingError> {
    if is_none(text) {
        return Ok(None);
    }
    let after = duration("outbox", text)?;
    if after < Duration::from_millis(100) {
        return Err(SettingError::OutboxTooShort(text.to_owned()));
    }
    Ok(Some(after))
}

/// `replica_wait`: at least 1 ms.
pub fn replica_wait(text: &str) -> Result<Duration, SettingError> {
    let wait = duration("replica_wait", text)?;
    if wait < Duration::from_millis(1) {
        return Err(SettingError::Duration {
            key: "replica_wait",
            text: text.trim().to_owned(),
            reason: "must be at least 1ms".into(),
        });
    }
    Ok(wait)
}

/// `redis_timeout`: from 10 ms to 10 minutes.
pub fn redis_timeout(text: &str) -> Result<Duration, SettingError> {
    let timeout = duration("redis_timeout", text)?;
    if !(Duration::from_millis(10)..=Duration::from_secs(600)).contains(&timeout) {
        return Err(SettingError::Duration {
            key: "redis_timeout",
            text: text.trim().to_owned(),
            reason: "must be from 10ms to 10min".into(),
        });
    }
    Ok(timeout)
}

/// `bus.url`: a bus URL (checked now, so a typo fails before anything starts), or `None`
/// for `none`.
pub fn bus_url(text: &str) -> Result<Option<String>, SettingError> {
    if is_none(text) {
        return Ok(None);
    }
    text.parse::<tiercache_bus::BusUrl>()
        .map_err(|error| SettingError::BusUrl(error.to_string()))?;
    Ok(Some(text.to_owned()))
}

/// `bus.topics`: `object` or `bucket:N`.
pub fn topics(text: &str) -> Result<TopicGranularity, SettingError> {
    text.parse().map_err(SettingError::Topics)
}

/// `bus.write_mode`: `invalidate`, `update` or `write-behind`.
pub fn write_mode(text: &str) -> Result<WritePath, SettingError> {
    match text {
        "write-behind" => Ok(WritePath::Behind),
        mode => Ok(WritePath::Through(
            mode.parse().map_err(SettingError::WriteMode)?,
        )),
    }
}

/// `bus.flush_interval`: a duration (its range is checked with write-behind only).
pub fn flush_interval(text: &str) -> Result<Duration, SettingError> {
    duration("flush_interval", text)
}

/// `bus.invalidation`: `async` or `sync`.
pub fn invalidation(text: &str) -> Result<Delivery, SettingError> {
    text.parse().map_err(SettingError::Delivery)
}

/// `100ms`, `2s`, `1.5s` or a bare number of milliseconds, for the setting `key`.
pub fn duration(key: &'static str, text: &str) -> Result<Duration, SettingError> {
    let bad = |reason: String| SettingError::Duration {
        key,
        text: text.trim().to_owned(),
        reason,
    };
    let trimmed = text.trim();
    let (number, unit) = match trimmed.find(|c: char| !(c.is_ascii_digit() || c == '.')) {
        Some(at) => trimmed.split_at(at),
        None => (trimmed, "ms"),
    };
    let value: f64 = number
        .parse()
        .ok()
        .filter(|value: &f64| value.is_finite() && *value >= 0.0)
        .ok_or_else(|| bad("expected e.g. 100ms or 2s".to_owned()))?;
    let seconds = match unit.trim() {
        "ms" => value / 1000.0,
        "s" => value,
        other => return Err(bad(format!("unknown unit {other:?} (ms, s)"))),
    };
    Ok(Duration::from_secs_f64(seconds))
}

/// A duration as [`duration`] reads it back: whole seconds as `Ns`, anything else in
/// milliseconds (`100ms`, `0.5ms`).
pub struct DurationText(pub Duration);

impl fmt::Display for DurationText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let nanos = self.0.as_nanos();
        if nanos >= 1_000_000_000 && nanos.is_multiple_of(1_000_000_000) {
            write!(f, "{}s", self.0.as_secs())
        } else if nanos.is_multiple_of(1_000_000) {
            write!(f, "{}ms", self.0.as_millis())
        } else {
            write!(f, "{}ms", nanos as f64 / 1e6)
        }
    }
}

/// Prints a duration the way [`duration`] reads it.
pub(super) fn print_duration<S: Serializer>(value: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&DurationText(*value))
}

/// Prints an optional duration, `none` for `None`.
pub(super) fn print_max_age<S: Serializer>(
    value: &Option<Duration>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(age) => print_duration(age, s),
        None => s.serialize_str(NONE),
    }
}

/// Prints an optional URL, `none` for `None`.
pub(super) fn print_url<S: Serializer>(value: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(value.as_deref().unwrap_or(NONE))
}

/// Prints a value by its `Display` (policies, topic granularities, modes).
pub(super) fn print_text<T: fmt::Display, S: Serializer>(
    value: &T,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.collect_str(value)
}

/// Prints a lease as whole milliseconds (`lease_ms`).
pub(super) fn print_millis<S: Serializer>(value: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(u64::try_from(value.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_and_print_back() {
        for (text, expected, printed) in [
            ("100ms", Duration::from_millis(100), "100ms"),
            ("250", Duration::from_millis(250), "250ms"),
            ("2s", Duration::from_secs(2), "2s"),
            ("1.5s", Duration::from_millis(1500), "1500ms"),
            ("0.5ms", Duration::from_micros(500), "0.5ms"),
            ("0", Duration::ZERO, "0ms"),
        ] {
            let parsed = duration("d", text).unwrap();
            assert_eq!(parsed, expected, "{text}");
            assert_eq!(DurationText(parsed).to_string(), printed, "{text}");
            assert_eq!(duration("d", printed).unwrap(), parsed, "{printed}");
        }
        assert_eq!(
            duration("max_age", "5m").unwrap_err().to_string(),
            "max_age: bad duration \"5m\": unknown unit \"m\" (ms, s)"
        );
        assert_eq!(
            duration("flush_interval", "soon").unwrap_err().to_string(),
            "flush_interval: bad duration \"soon\": expected e.g. 100ms or 2s"
        );
    }

    #[test]
    fn none_and_the_other_settings() {
        assert_eq!(max_age("none"), Ok(None));
        assert_eq!(max_age(" NONE "), Ok(None));
        assert_eq!(max_age("60s"), Ok(Some(Duration::from_secs(60))));
        assert_eq!(
            max_age("0ms").unwrap_err().to_string(),
            "max_age must be at least 1ms (or none), got \"0ms\""
        );
        assert_eq!(tier("none"), Ok(None));
        assert_eq!(tier("memory://"), Ok(Some("memory://".to_owned())));
        assert_eq!(bus_url("none"), Ok(None));
        assert!(
            bus_url("kafka://x:1")
                .unwrap_err()
                .to_string()
                .contains("unknown scheme")
        );
        assert!(
            policy("most-recent")
                .unwrap_err()
                .to_string()
                .starts_with("bad near-cache policy \"most-recent\": unknown policy")
        );
        assert_eq!(write_mode("write-behind"), Ok(WritePath::Behind));
        assert_eq!(
            write_mode("write-back").unwrap_err().to_string(),
            "unknown write mode \"write-back\" (invalidate, update); or write-behind"
        );
        assert_eq!(topics("bucket:4"), Ok(TopicGranularity::Bucket(4)));
        assert_eq!(invalidation("sync"), Ok(Delivery::Sync));
    }
}
