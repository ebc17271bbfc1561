//! [`ByteSize`]: sizes as people write them (`64MiB`, `1.5GB`), parsed and printed.

use std::fmt;
use std::str::FromStr;

/// A size in bytes, written the way people write sizes: `4096`, `64KiB`, `64MiB`, `1.5GB`.
///
/// Binary units (`KiB`, `MiB`, `GiB`, `TiB`) are powers of 1024, decimal units (`KB`, `MB`,
/// `GB`, `TB`) powers of 1000; `B` or no unit means bytes. Units are case-insensitive and
/// may be separated from the number by spaces. Fractions are allowed and rounded down to a
/// whole byte.
///
/// ```
/// use tiercache_core::ByteSize;
/// assert_eq!("64MiB".parse::<ByteSize>().unwrap().bytes(), 64 * 1024 * 1024);
/// assert_eq!("1.5 kb".parse::<ByteSize>().unwrap().bytes(), 1500);
/// assert_eq!(ByteSize(3 * 1024 * 1024).to_string(), "3MiB");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ByteSize(pub u64);

/// Why a text is not a [`ByteSize`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseByteSizeError {
    /// The text is empty or blank.
    #[error("empty size")]
    Empty,
    /// The number part is missing or is not a non-negative decimal number.
    #[error(
        "`{0}` is not a size: expected a number with an optional unit such as 4096, 64KiB, 1.5GB"
    )]
    BadNumber(String),
    /// The unit is not one of B, KB, MB, GB, TB, KiB, MiB, GiB, TiB.
    #[error("unknown size unit `{0}`: use B, KB, MB, GB, TB, KiB, MiB, GiB or TiB")]
    UnknownUnit(String),
    /// The size does not fit in 64 bits.
    #[error("size `{0}` is too large")]
    Overflow(String),
}

const UNITS: [(&str, u64); 9] = [
    ("b", 1),
    ("kb", 1000),
    ("mb", 1000 * 1000),
    ("gb", 1000 * 1000 * 1000),
    ("tb", 1000 * 1000 * 1000 * 1000),
    ("kib", 1 << 10),
    ("mib", 1 << 20),
    ("gib", 1 << 30),
    ("tib", 1 << 40),
];

impl ByteSize {
    /// The number of bytes.
    pub fn bytes(self) -> u64 {
        self.0
    }
}

impl FromStr for ByteSize {
    type Err = ParseByteSizeError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err(ParseByteSizeError::Empty);
        }
        let split = trimmed
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(trimmed.len());
        let (number, unit) = trimmed.split_at(split);
        let unit = unit.trim().to_ascii_lowercase();
        let multiplier = if unit.is_empty() {
            1
        } else {
            UNITS
                .iter()
                .find(|(name, _)| *name == unit)
                .map(|(_, m)| *m)
                .ok_or_else(|| ParseByteSizeError::UnknownUnit(unit.clone()))?
        };
        let bad_number = || ParseByteSizeError::BadNumber(text.to_string());
        if number.is_empty() {
            return Err(bad_number());
        }
        if let Ok(whole) = number.parse::<u64>() {
            return whole
                .checked_mul(multiplier)
                .map(ByteSize)
                .ok_or_else(|| ParseByteSizeError::Overflow(text.to_string()));
        }
        let fractional: f64 = number.parse().map_err(|_| bad_number())?;
        let bytes = fractional * multiplier as f64;
        if !bytes.is_finite() || bytes >= u64::MAX as f64 {
            return Err(ParseByteSizeError::Overflow(text.to_string()));
        }
        Ok(ByteSize(bytes as u64))
    }
}

impl fmt::Display for ByteSize {
    /// Prints the largest binary unit that divides the size exactly, so the text parses back
    /// to the same value.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (name, multiplier) in [
            ("TiB", 1u64 << 40),
            ("GiB", 1 << 30),
            ("MiB", 1 << 20),
            ("KiB", 1 << 10),
        ] {
            if self.0 >= multiplier && self.0.is_multiple_of(multiplier) {
                return write!(f, "{}{name}", self.0 / multiplier);
            }
        }
        write!(f, "{}B", self.0)
    }
}

impl serde::Serialize for ByteSize {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_string())
    }
}

impl<'de> serde::Deserialize<'de> for ByteSize {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = ByteSize;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a byte count or a size such as \"64MiB\"")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<ByteSize, E> {
                Ok(ByteSize(v))
            }
            // TOML (and other formats) hand every integer over as an i64.
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<ByteSize, E> {
                u64::try_from(v)
                    .map(ByteSize)
                    .map_err(|_| E::custom(format!("a size cannot be negative: {v}")))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<ByteSize, E> {
                v.parse().map_err(E::custom)
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde::de::IntoDeserializer;
    use serde::de::value::Error;

    use super::*;

    #[test]
    fn deserializes_signed_integers_as_byte_counts() {
        // TOML's `near_capacity = 0` arrives as an i64 (regression: it was refused).
        let zero = ByteSize::deserialize(IntoDeserializer::<Error>::into_deserializer(0i64));
        assert_eq!(zero, Ok(ByteSize(0)));
        let some = ByteSize::deserialize(IntoDeserializer::<Error>::into_deserializer(4096i64));
        assert_eq!(some, Ok(ByteSize(4096)));
        let negative = ByteSize::deserialize(IntoDeserializer::<Error>::into_deserializer(-1i64));
        assert!(negative.unwrap_err().to_string().contains("negative"));
    }

    #[test]
    fn parses_units_and_fractions() {
        assert_eq!("4096".parse(), Ok(ByteSize(4096)));
        assert_eq!("4096B".parse(), Ok(ByteSize(4096)));
        assert_eq!("64KiB".parse(), Ok(ByteSize(64 * 1024)));
        assert_eq!("64 mib".parse(), Ok(ByteSize(64 << 20)));
        assert_eq!("2GB".parse(), Ok(ByteSize(2_000_000_000)));
        assert_eq!("0.5KiB".parse(), Ok(ByteSize(512)));
    }

    #[test]
    fn rejects_bad_text_with_the_reason() {
        assert_eq!("".parse::<ByteSize>(), Err(ParseByteSizeError::Empty));
        assert_eq!(
            "MiB".parse::<ByteSize>(),
            Err(ParseByteSizeError::BadNumber("MiB".into()))
        );
        assert_eq!(
            "12 parsecs".parse::<ByteSize>(),
            Err(ParseByteSizeError::UnknownUnit("parsecs".into()))
        );
        assert!(matches!(
            "99999999TiB".parse::<ByteSize>(),
            Err(ParseByteSizeError::Overflow(_))
        ));
        assert!(matches!(
            "1.2.3".parse::<ByteSize>(),
            Err(ParseByteSizeError::BadNumber(_))
        ));
    }

    #[test]
    fn display_round_trips() {
        for bytes in [0, 1, 1000, 1024, 1536, 64 << 20, 3 << 30, 5 << 40] {
            let text = ByteSize(bytes).to_string();
            assert_eq!(text.parse::<ByteSize>(), Ok(ByteSize(bytes)), "{text}");
        }
    }
}
