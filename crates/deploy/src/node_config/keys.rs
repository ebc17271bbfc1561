//! Configuration tables read key by key over the values already there.
//!
//! A section of the configuration file holds its own keys and a node's shared settings side
//! by side (`[api] store = …` next to `[api] tier = …`), and an unknown key must be an error
//! at its line. serde's derive cannot give both: `#[serde(flatten)]` turns
//! `deny_unknown_fields` off, and `#[serde(default)]` would reset the keys a sub-table leaves
//! out (`[serve.bus]` without `url`) to the sub-table type's defaults instead of the
//! section's. So a table is read one key at a time into a value holding the section's
//! defaults: [`Keyed`] says which keys there are and reads one, [`Over`] walks the table.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, Visitor};

/// Settings read from a table one key at a time, each over the value already there.
pub trait Keyed {
    /// Every key the table accepts (the unknown-key error lists them in this order).
    const KEYS: &'static [&'static str];

    /// Reads the value of `key`, one of [`Keyed::KEYS`], from `map` (call
    /// `map.next_value…` exactly once).
    fn read_key<'de, A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error>;
}

/// Reads a table over `T`'s current values: the keys present replace them, the others stay.
pub struct Over<'a, T>(pub &'a mut T);

impl<'de, T: Keyed> DeserializeSeed<'de> for Over<'_, T> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de, T: Keyed> Visitor<'de> for Over<'_, T> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a table")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key_seed(Key(T::KEYS))? {
            self.0.read_key(key, &mut map)?;
        }
        Ok(())
    }
}

/// Deserializes a `T` from a table over `T::default()` (for `impl Deserialize`).
pub fn over_default<'de, T: Keyed + Default, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<T, D::Error> {
    let mut value = T::default();
    Over(&mut value).deserialize(deserializer)?;
    Ok(value)
}

/// A key checked against the table's keys as it is read, so the error points at its line.
struct Key(&'static [&'static str]);

impl<'de> DeserializeSeed<'de> for Key {
    type Value = &'static str;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_identifier(self)
    }
}

impl Visitor<'_> for Key {
    type Value = &'static str;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<&'static str, E> {
        self.0
            .iter()
            .find(|known| **known == key)
            .copied()
            .ok_or_else(|| E::unknown_field(key, self.0))
    }
}

/// A value written as text and parsed where it is read (so an error points at its line).
pub struct Parsed<F, T>(pub F, PhantomData<T>);

impl<F, T> Parsed<F, T> {
    /// Reads text and parses it with `parse`.
    pub fn with(parse: F) -> Parsed<F, T> {
        Parsed(parse, PhantomData)
    }
}

impl<'de, T, E, F> DeserializeSeed<'de> for Parsed<F, T>
where
    E: fmt::Display,
    F: FnOnce(&str) -> Result<T, E>,
{
    type Value = T;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<T, D::Error> {
        let text = <String as serde::Deserialize>::deserialize(deserializer)?;
        (self.0)(&text).map_err(de::Error::custom)
    }
}
