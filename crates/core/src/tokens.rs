//! Bearer tokens and their scopes, read from a file: one `TOKEN SCOPE[,SCOPE]` per line.
//!
//! ```text
//! # the dashboard and Prometheus
//! 6f1c0e2b8a9d4c7e5f3a1b0c admin
//! # the application's servers
//! 9a8b7c6d5e4f3a2b1c0d9e8f read,write
//! ```
//!
//! A `#` starts a comment (at the start of a line or after whitespace); blank lines are
//! skipped. Tokens are at least [`MIN_TOKEN_LEN`] characters of visible ASCII without `#`
//! and appear once. A scope allows only what it names: a `write` token cannot read unless
//! its line also says `read`.
//!
//! Tokens are compared in time that does not depend on how much of a guess matches, so a
//! client cannot find a token a character at a time by timing refusals.

use std::fmt;
use std::path::Path;

/// The shortest token accepted: 16 characters (96 bits as base64, 64 as hex) keep guessing
/// out of reach at any request rate a server can take.
pub const MIN_TOKEN_LEN: usize = 16;

/// What a token allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Read objects and logs.
    Read,
    /// Write and delete objects, append to logs.
    Write,
    /// The node's statistics, metrics and dashboards.
    Admin,
}

impl Scope {
    /// Every scope, in the order they are listed.
    pub const ALL: [Scope; 3] = [Scope::Read, Scope::Write, Scope::Admin];

    /// The scope's name in token files.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
            Scope::Admin => "admin",
        }
    }

    fn bit(self) -> u8 {
        match self {
            Scope::Read => 1,
            Scope::Write => 2,
            Scope::Admin => 4,
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Scope {
    type Err = String;

    fn from_str(text: &str) -> Result<Scope, String> {
        Scope::ALL
            .into_iter()
            .find(|scope| scope.as_str() == text)
            .ok_or_else(|| format!("unknown scope `{text}` (the scopes are read, write, admin)"))
    }
}

/// A set of scopes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Scopes(u8);

impl Scopes {
    /// Whether the set holds `scope`.
    pub fn allows(self, scope: Scope) -> bool {
        self.0 & scope.bit() != 0
    }

    /// The set with `scope` added.
    pub fn with(self, scope: Scope) -> Scopes {
        Scopes(self.0 | scope.bit())
    }
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = Scope::ALL
            .into_iter()
            .filter(|scope| self.allows(*scope))
            .map(Scope::as_str)
            .collect();
        f.write_str(&names.join(","))
    }
}

/// A token file that could not be used, with the line at fault.
#[derive(Debug, thiserror::Error)]
pub enum TokenFileError {
    /// The file could not be read.
    #[error("reading the token file {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A line is not `TOKEN SCOPE[,SCOPE]`.
    #[error("token file, line {line}: {message}")]
    Line {
        /// The line, counted from 1.
        line: usize,
        /// What is wrong with it (never the token itself).
        message: String,
    },
    /// No line holds a token: every request would be refused.
    #[error("the token file holds no token (one `TOKEN SCOPE[,SCOPE]` per line)")]
    Empty,
}

/// The tokens of a file and their scopes.
#[derive(Clone, Default)]
pub struct Tokens {
    entries: Vec<(Box<[u8]>, Scopes)>,
}

impl fmt::Debug for Tokens {
    // Never print a token: a debug line in a log would leak every credential.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tokens({} tokens)", self.entries.len())
    }
}

impl Tokens {
    /// Reads and checks the token file at `path`.
    pub fn load(path: &Path) -> Result<Tokens, TokenFileError> {
        let text = std::fs::read_to_string(path).map_err(|source| TokenFileError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Tokens::parse(&text)
    }

    /// Parses the text of a token file.
    pub fn parse(text: &str) -> Result<Tokens, TokenFileError> {
        let mut tokens = Tokens::default();
        let mut first_seen: Vec<usize> = Vec::new();
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            let fail = |message: String| TokenFileError::Line { line, message };
            let content = strip_comment(raw);
            let mut fields = content.split_whitespace();
            let Some(token) = fields.next() else { continue };
            let scopes_text = fields.next().ok_or_else(|| {
                fail("a token needs its scopes after it: `TOKEN SCOPE[,SCOPE]`".to_owned())
            })?;
            if fields.next().is_some() {
                return Err(fail(
                    "more than two fields: write `TOKEN SCOPE[,SCOPE]` with scopes joined by commas"
                        .to_owned(),
                ));
            }
            check_token(token).map_err(fail)?;
            let mut scopes = Scopes::default();
            for name in scopes_text.split(',') {
                scopes = scopes.with(name.parse().map_err(fail)?);
            }
            if let Some(earlier) = tokens.position(token.as_bytes()) {
                return Err(fail(format!(
                    "this token already appears on line {} (a token has one line)",
                    first_seen[earlier]
                )));
            }
            tokens.entries.push((token.as_bytes().into(), scopes));
            first_seen.push(line);
        }
        if tokens.entries.is_empty() {
            return Err(TokenFileError::Empty);
        }
        Ok(tokens)
    }

    /// The scopes of `token`, or `None` when it is not in the file. Takes the same time
    /// whatever part of `token` matches a known one.
    pub fn scopes_of(&self, token: &[u8]) -> Option<Scopes> {
        self.position(token).map(|index| self.entries[index].1)
    }

    /// The first token that has `scope`, for a role that must call others with it.
    pub fn first_with(&self, scope: Scope) -> Option<&str> {
        self.entries
            .iter()
            .find(|(_, scopes)| scopes.allows(scope))
            .map(|(token, _)| std::str::from_utf8(token).expect("tokens are checked ASCII"))
    }

    /// How many tokens the file holds.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the file holds no token (never true of a parsed file).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn position(&self, token: &[u8]) -> Option<usize> {
        // Every entry is compared in full, so the time depends only on the number of tokens.
        let mut found = None;
        for (index, (known, _)) in self.entries.iter().enumerate() {
            if same_bytes(known, token) {
                found = Some(index);
            }
        }
        found
    }
}

/// The part of a line before its comment.
fn strip_comment(line: &str) -> &str {
    let mut previous_is_space = true;
    for (at, character) in line.char_indices() {
        if character == '#' && previous_is_space {
            return &line[..at];
        }
        previous_is_space = character.is_whitespace();
    }
    line
}

fn check_token(token: &str) -> Result<(), String> {
    if let Some(bad) = token.chars().find(|c| !c.is_ascii_graphic() || *c == '#') {
        let shown = if bad.is_ascii_graphic() {
            format!("`{bad}`")
        } else {
            format!("U+{:04X}", u32::from(bad))
        };
        return Err(format!(
            "a token is visible ASCII without `#`, this one holds {shown}"
        ));
    }
    if token.len() < MIN_TOKEN_LEN {
        return Err(format!(
            "a token must be at least {MIN_TOKEN_LEN} characters, this one has {} (e.g. `openssl rand -hex 24`)",
            token.len()
        ));
    }
    Ok(())
}

/// Whether `a` and `b` are equal, in a time that depends only on their lengths.
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let difference = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(difference) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    const READER: &str = "reader-0123456789abcdef";
    const WRITER: &str = "writer-0123456789abcdef";

    fn line_error(text: &str) -> (usize, String) {
        match Tokens::parse(text) {
            Err(TokenFileError::Line { line, message }) => (line, message),
            other => panic!("expected a line error for {text:?}, got {other:?}"),
        }
    }

    #[test]
    fn scopes_are_read_per_token_with_comments_and_blank_lines() {
        let text = format!(
            "# tokens\n\n{READER} read   # trailing comment\n  {WRITER}\twrite,read\nadmin-0123456789abcdef admin\n"
        );
        let tokens = Tokens::parse(&text).unwrap();
        assert_eq!(tokens.len(), 3);
        let reader = tokens.scopes_of(READER.as_bytes()).unwrap();
        assert!(reader.allows(Scope::Read) && !reader.allows(Scope::Write));
        let writer = tokens.scopes_of(WRITER.as_bytes()).unwrap();
        assert!(writer.allows(Scope::Read) && writer.allows(Scope::Write));
        assert!(!writer.allows(Scope::Admin));
        assert_eq!(writer.to_string(), "read,write");
        assert_eq!(
            tokens.first_with(Scope::Admin),
            Some("admin-0123456789abcdef")
        );
        assert_eq!(tokens.first_with(Scope::Write), Some(WRITER));
    }

    #[test]
    fn unknown_tokens_and_near_misses_have_no_scopes() {
        let tokens = Tokens::parse(&format!("{READER} read\n")).unwrap();
        assert!(tokens.scopes_of(b"").is_none());
        assert!(
            tokens
                .scopes_of(&READER.as_bytes()[..READER.len() - 1])
                .is_none()
        );
        let mut one_off = READER.as_bytes().to_vec();
        one_off[3] ^= 1;
        assert!(tokens.scopes_of(&one_off).is_none());
        assert!(tokens.scopes_of(format!("{READER}x").as_bytes()).is_none());
    }

    #[test]
    fn bad_lines_name_their_line_and_never_echo_the_token() {
        let (line, message) = line_error(&format!("{READER} read\n{WRITER}\n"));
        assert_eq!(line, 2);
        assert!(message.contains("scopes"), "{message}");
        assert!(!message.contains(WRITER), "{message}");

        let (line, message) = line_error(&format!("\n{READER} reed\n"));
        assert_eq!(line, 2);
        assert!(
            message.contains("reed") && message.contains("read, write, admin"),
            "{message}"
        );

        let (_, message) = line_error("short read\n");
        assert!(message.contains("at least 16"), "{message}");

        let (_, message) = line_error(&format!("{READER} read write\n"));
        assert!(message.contains("commas"), "{message}");

        let (_, message) = line_error(&format!("{READER}é read\n"));
        assert!(
            message.contains("U+00E9") && !message.contains(READER),
            "{message}"
        );

        let (line, message) = line_error(&format!("{READER} read\n#\n{READER} write\n"));
        assert_eq!(line, 3);
        assert!(message.contains("line 1"), "{message}");

        let (_, message) = line_error(&format!("{READER} read,\n"));
        assert!(message.contains("unknown scope ``"), "{message}");
    }

    #[test]
    fn a_file_without_tokens_is_refused() {
        assert!(matches!(Tokens::parse(""), Err(TokenFileError::Empty)));
        assert!(matches!(
            Tokens::parse("# only a comment\n\n"),
            Err(TokenFileError::Empty)
        ));
    }

    #[test]
    fn a_hash_inside_a_token_is_not_a_comment_but_is_refused() {
        let (_, message) = line_error("abcdefgh#ijklmnopq read\n");
        assert!(message.contains("`#`"), "{message}");
    }

    #[test]
    fn debug_output_hides_the_tokens() {
        let tokens = Tokens::parse(&format!("{READER} read\n")).unwrap();
        let shown = format!("{tokens:?}");
        assert!(!shown.contains(READER), "{shown}");
        assert!(shown.contains("1 tokens"), "{shown}");
    }
}
