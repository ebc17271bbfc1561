//! The JSON of an object answer, written in one pass.

use base64::Engine;
use serde::Serialize;
use serde_json::value::RawValue;
use tiercache_node::Answer;

/// The stored bytes, as the answer shows them.
enum ShownValue<'a> {
    Json(&'a RawValue),
    Text(&'a str),
    Binary(String),
}

fn shown(value: &[u8]) -> ShownValue<'_> {
    let Ok(text) = std::str::from_utf8(value) else {
        return ShownValue::Binary(base64::engine::general_purpose::STANDARD.encode(value));
    };
    // Trimmed, so a stored "  42\n" shows as 42.
    match serde_json::from_str::<&RawValue>(text.trim()) {
        Ok(raw) => ShownValue::Json(raw),
        Err(_) => ShownValue::Text(text),
    }
}

#[derive(Serialize)]
struct ObjectBody<'a> {
    key: &'a str,
    value: Option<Value<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    value_base64: Option<String>,
    version: u64,
    source: &'static str,
    micros: f64,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Value<'a> {
    Json(&'a RawValue),
    Text(&'a str),
}

/// A stored value as answers show it: `value` (JSON, or a string), or `null` with the bytes
/// in `value_base64`.
#[derive(Serialize)]
pub(crate) struct Shown<'a> {
    value: Option<Value<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    value_base64: Option<String>,
}

/// `value` as answers show it.
pub(crate) fn show(value: &[u8]) -> Shown<'_> {
    match shown(value) {
        ShownValue::Json(raw) => Shown {
            value: Some(Value::Json(raw)),
            value_base64: None,
        },
        ShownValue::Text(text) => Shown {
            value: Some(Value::Text(text)),
            value_base64: None,
        },
        ShownValue::Binary(encoded) => Shown {
            value: None,
            value_base64: Some(encoded),
        },
    }
}

/// `{"key","value","version","source","micros"}`.
pub(crate) fn object(key: &str, answer: &Answer, micros: f64) -> Vec<u8> {
    let (value, value_base64) = match shown(&answer.value) {
        ShownValue::Json(raw) => (Some(Value::Json(raw)), None),
        ShownValue::Text(text) => (Some(Value::Text(text)), None),
        ShownValue::Binary(encoded) => (None, Some(encoded)),
    };
    let body = ObjectBody {
        key,
        value,
        value_base64,
        version: answer.version.0,
        source: answer.source.as_str(),
        // Tenths of a microsecond are as precise as this measurement gets.
        micros: (micros * 10.0).round() / 10.0,
    };
    let mut out = Vec::with_capacity(answer.value.len() + key.len() + 96);
    serde_json::to_writer(&mut out, &body).expect("serializing to memory cannot fail");
    out
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use tiercache_core::Version;
    use tiercache_node::Source;

    use super::*;

    fn render(value: &'static [u8]) -> serde_json::Value {
        let answer = Answer {
            value: Bytes::from_static(value),
            version: Version(3),
            source: Source::Near,
        };
        serde_json::from_slice(&object("k\"ey", &answer, 1.234)).unwrap()
    }

    #[test]
    fn json_values_are_embedded_text_is_a_string_binary_is_base64() {
        let json = render(b" {\"kepid\": 10797460, \"koi_score\": 1.0}\n");
        assert_eq!(json["value"]["kepid"], 10797460);
        assert_eq!(json["key"], "k\"ey");
        assert_eq!(json["version"], 3);
        assert_eq!(json["source"], "near");
        assert_eq!(json["micros"], 1.2);
        assert!(json.get("value_base64").is_none());

        assert_eq!(render(b"plain text")["value"], "plain text");
        assert_eq!(render(b"42")["value"], 42);

        let binary = render(&[0xff, 0x00, 0x01]);
        assert!(binary["value"].is_null());
        assert_eq!(binary["value_base64"], "/wAB");
    }
}
