//! What the load generator reads in an object answer — the tier that answered and the
//! version — found by searching the bytes rather than parsing the JSON: the answer has the
//! API's fixed shape `{"key","value","version","source","micros"}`, and parsing every value
//! would cost the client more than the node spends answering a near hit.

use tiercache_node::Source;

/// Every tier an answer can name.
const SOURCES: [Source; 4] = [Source::Near, Source::Shared, Source::Store, Source::Pending];

/// The tier in the last `"source":"…"` of an answer (the value, which comes before it, may
/// hold a `source` of its own); `None` when absent or not a tier's name.
pub(super) fn source_of(body: &[u8]) -> Option<Source> {
    const MARK: &[u8] = b"\"source\":\"";
    let start = body.windows(MARK.len()).rposition(|w| w == MARK)? + MARK.len();
    let length = body[start..].iter().position(|&b| b == b'"')?;
    let name = &body[start..start + length];
    SOURCES
        .into_iter()
        .find(|source| source.as_str().as_bytes() == name)
}

/// The number after the last `"version":` in an answer (the object's version comes after
/// its value).
pub(super) fn version_of(body: &[u8]) -> Option<u64> {
    const MARK: &[u8] = b"\"version\":";
    let start = body.windows(MARK.len()).rposition(|w| w == MARK)? + MARK.len();
    let digits = body[start..]
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .count();
    std::str::from_utf8(&body[start..start + digits])
        .ok()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_source_is_found_in_an_answer() {
        let body =
            br#"{"key":"7","value":{"source":"fake"},"version":3,"source":"shared","micros":4.1}"#;
        assert_eq!(source_of(body), Some(Source::Shared));
        assert_eq!(source_of(b"{}"), None);
        assert_eq!(source_of(br#"{"source":"fake"}"#), None, "not a tier");
        for source in SOURCES {
            let body = format!(
                r#"{{"key":"1","version":1,"source":"{}"}}"#,
                source.as_str()
            );
            assert_eq!(source_of(body.as_bytes()), Some(source));
        }
        assert_eq!(version_of(body), Some(3));
        assert_eq!(version_of(br#"{"key":"7","version":12}"#), Some(12));
        assert_eq!(version_of(b"{}"), None);
    }
}
