//! [`Secret`]: a credential that never shows in `Debug`, `Display` or serialized output.

use std::fmt;

/// A credential (a token, a password) kept out of logs and printed configurations: its
/// `Debug` and `Display` print `<secret>`, and it serializes as that too. Read it with
/// [`Secret::expose`] where it is sent.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps `value`.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The credential itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Reads a credential from the first line of `path` that is not blank or a `#` comment
    /// (surrounding whitespace trimmed), so a file may explain itself.
    pub fn from_file(path: &std::path::Path) -> Result<Secret, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|error| format!("reading the secret file {}: {error}", path.display()))?;
        text.lines()
            .map(str::trim)
            .find(|line| !line.is_empty() && !line.starts_with('#'))
            .map(Secret::new)
            .ok_or_else(|| {
                format!(
                    "the secret file {} holds no secret (only blank or `#` lines)",
                    path.display()
                )
            })
    }
}

const HIDDEN: &str = "<secret>";

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(HIDDEN)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(HIDDEN)
    }
}

impl serde::Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(HIDDEN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_value_shows_only_through_expose() {
        let secret = Secret::new("hunter2-hunter2-hunter2");
        assert_eq!(secret.expose(), "hunter2-hunter2-hunter2");
        for shown in [format!("{secret:?}"), secret.to_string()] {
            assert_eq!(shown, "<secret>");
        }
        let json = serde_json::to_string(&secret).unwrap();
        assert_eq!(json, "\"<secret>\"");
    }

    #[test]
    fn a_file_gives_its_first_line_that_is_not_a_comment() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "# the admins' token\n\n  abc-def  \nignored\n").unwrap();
        assert_eq!(Secret::from_file(&path).unwrap().expose(), "abc-def");
        std::fs::write(&path, "# nothing\n").unwrap();
        assert!(
            Secret::from_file(&path)
                .unwrap_err()
                .contains("holds no secret")
        );
        let missing = dir.path().join("missing");
        assert!(Secret::from_file(&missing).unwrap_err().contains("missing"));
    }
}
