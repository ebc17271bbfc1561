//! [`RedisAuth`]: the ACL user and password a Redis URL names, kept out of every printed
//! form of the URL.
//!
//! Every Redis URL of tiercache (tier and bus, any topology) may start its address list with
//! `USER:PASSWORD@`, `USER@` or `:PASSWORD@` (`redis://tc-api:s3cret@127.0.0.1:6379`).
//! Without a password in the URL, one is read from the variable
//! `TIERCACHE_REDIS_PASSWORD`, else from the file `TIERCACHE_REDIS_PASSWORD_FILE` names —
//! so it need not appear on a command line. The credentials apply to every server of the
//! URL. A scheme spelled with `rediss` (`rediss://`, `rediss-cluster://`, …) connects over
//! TLS.

use std::fmt;

use crate::secret::Secret;

/// The variable holding the Redis password when the URL has none.
pub const REDIS_PASSWORD_VAR: &str = "TIERCACHE_REDIS_PASSWORD";
/// The variable naming a file with the Redis password, when the URL and
/// [`REDIS_PASSWORD_VAR`] have none.
pub const REDIS_PASSWORD_FILE_VAR: &str = "TIERCACHE_REDIS_PASSWORD_FILE";

/// Who a Redis connection authenticates as: nobody (the `default` user without a
/// password), or an ACL user and/or password. Prints as `as USER` at most.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct RedisAuth {
    user: Option<String>,
    password: Option<Secret>,
    tls: bool,
}

impl RedisAuth {
    /// Splits the credentials off the front of a URL's part after `SCHEME://`: the rest
    /// (the addresses), and who to authenticate as. A password missing from the URL comes
    /// from the environment (see the module's docs).
    pub fn split(rest: &str) -> Result<(RedisAuth, &str), String> {
        let (mut auth, addresses) = match rest.rsplit_once('@') {
            None => (RedisAuth::default(), rest),
            Some((credentials, addresses)) => {
                let (user, password) = match credentials.split_once(':') {
                    Some((user, password)) => (user, Some(password)),
                    None => (credentials, None),
                };
                let user = decode(user)?;
                let password = password.map(decode).transpose()?;
                (
                    RedisAuth {
                        user: (!user.is_empty()).then_some(user),
                        password: password.filter(|p| !p.is_empty()).map(Secret::new),
                        tls: false,
                    },
                    addresses,
                )
            }
        };
        if auth.password.is_none() {
            auth.password = password_from_environment()?;
        }
        Ok((auth, addresses))
    }

    /// Splits a whole Redis URL: the URL with a plain scheme (`rediss-cluster://` →
    /// `redis-cluster://`) and without credentials, and how to connect (who, over TLS or
    /// not). A URL of another scheme comes back as it is, with no credentials.
    pub fn split_url(url: &str) -> Result<(String, RedisAuth), String> {
        let Some((scheme, rest)) = url.split_once("://") else {
            return Ok((url.to_owned(), RedisAuth::default()));
        };
        let (plain, tls) = match scheme.strip_prefix("rediss") {
            Some(topology) => (format!("redis{topology}"), true),
            None if scheme.starts_with("redis") => (scheme.to_owned(), false),
            None => return Ok((url.to_owned(), RedisAuth::default())),
        };
        let (mut auth, addresses) =
            RedisAuth::split(rest).map_err(|error| format!("{}: {error}", redact_url(url)))?;
        auth.tls = tls;
        Ok((format!("{plain}://{addresses}"), auth))
    }

    /// Credentials given directly (tests, `up`).
    pub fn new(user: Option<&str>, password: Option<Secret>) -> RedisAuth {
        RedisAuth {
            user: user.map(str::to_owned),
            password,
            tls: false,
        }
    }

    /// Whether connections go over TLS (the URL's scheme was `rediss…`).
    pub fn tls(&self) -> bool {
        self.tls
    }

    /// The ACL user, if one is named.
    pub fn user(&self) -> Option<&str> {
        self.user.as_deref()
    }

    /// The password, if one is set (for a connection that authenticates by itself; never
    /// print it).
    pub fn password(&self) -> Option<&Secret> {
        self.password.as_ref()
    }

    /// Whether a password is set.
    pub fn has_password(&self) -> bool {
        self.password.is_some()
    }

    /// `redis://[USER:PASSWORD@]ADDRESS/QUERY` (`rediss://` over TLS) for the Redis
    /// client, with the credentials percent-encoded. The one place the password is written
    /// out.
    pub fn client_url(&self, address: &str, query: &str) -> String {
        let credentials = match (&self.user, &self.password) {
            (None, None) => String::new(),
            (user, password) => format!(
                "{}:{}@",
                encode(user.as_deref().unwrap_or("")),
                encode(password.as_ref().map_or("", Secret::expose))
            ),
        };
        let scheme = if self.tls { "rediss" } else { "redis" };
        format!("{scheme}://{credentials}{address}/{query}")
    }

    /// How an error or a banner names who connected: ` as USER` (or ` with a password`),
    /// empty for the default user; ` over TLS` when it is.
    pub fn describe(&self) -> String {
        let who = match (&self.user, &self.password) {
            (Some(user), _) => format!(" as {user}"),
            (None, Some(_)) => " with a password".to_owned(),
            (None, None) => String::new(),
        };
        if self.tls {
            format!("{who} over TLS")
        } else {
            who
        }
    }
}

impl fmt::Debug for RedisAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisAuth")
            .field("user", &self.user)
            .field("password", &self.password)
            .field("tls", &self.tls)
            .finish()
    }
}

/// `url` with any password replaced by `<secret>`: what may be printed or logged of a URL
/// (`redis://u:p@h:1` → `redis://u:<secret>@h:1`; `postgres://u:p@h/db` likewise).
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    // The credentials end at the last `@` before the path.
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return url.to_owned();
    };
    let credentials = &rest[..at];
    match credentials.split_once(':') {
        Some((user, _password)) => format!("{scheme}://{user}:<secret>{}", &rest[at..]),
        None => url.to_owned(),
    }
}

fn password_from_environment() -> Result<Option<Secret>, String> {
    if let Ok(password) = std::env::var(REDIS_PASSWORD_VAR)
        && !password.is_empty()
    {
        return Ok(Some(Secret::new(password)));
    }
    match std::env::var_os(REDIS_PASSWORD_FILE_VAR) {
        Some(path) if !path.is_empty() => Secret::from_file(std::path::Path::new(&path))
            .map(Some)
            .map_err(|error| format!("{REDIS_PASSWORD_FILE_VAR}: {error}")),
        _ => Ok(None),
    }
}

/// Percent-encodes everything but unreserved characters.
fn encode(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

/// Decodes `%XX` escapes (a URL's user or password).
fn decode(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text
                .get(i + 1..i + 3)
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
                .ok_or("a bad %-escape in the URL's credentials")?;
            decoded.push(hex);
            i += 3;
        } else {
            decoded.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(decoded).map_err(|_| "the URL's credentials are not UTF-8".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_split_off_and_round_trip_through_the_client_url() {
        let (auth, rest) = RedisAuth::split("tc-api:p%40ss:w@h:1,h:2").unwrap();
        assert_eq!(rest, "h:1,h:2");
        assert_eq!(auth.user(), Some("tc-api"));
        assert_eq!(auth.client_url("h:1", ""), "redis://tc-api:p%40ss%3Aw@h:1/");
        let (auth, rest) = RedisAuth::split("h:1").unwrap();
        assert_eq!((auth.user(), rest), (None, "h:1"));
        assert_eq!(
            auth.client_url("h:1", "?protocol=resp3"),
            "redis://h:1/?protocol=resp3"
        );
        let (auth, _) = RedisAuth::split(":only-a-password@h:1").unwrap();
        assert_eq!((auth.user(), auth.has_password()), (None, true));
        assert_eq!(auth.client_url("h:1", ""), "redis://:only-a-password@h:1/");
        assert!(RedisAuth::split("u:%zz@h:1").is_err());
    }

    #[test]
    fn rediss_schemes_mean_tls_and_keep_their_topology() {
        let (url, auth) = RedisAuth::split_url("rediss-cluster://u:p@h:1,h:2").unwrap();
        assert_eq!(url, "redis-cluster://h:1,h:2");
        assert!(auth.tls());
        assert_eq!(auth.client_url("h:1", ""), "rediss://u:p@h:1/");
        let (url, auth) = RedisAuth::split_url("redis://h:1").unwrap();
        assert_eq!((url.as_str(), auth.tls()), ("redis://h:1", false));
        let (url, auth) = RedisAuth::split_url("memory://").unwrap();
        assert_eq!((url.as_str(), auth), ("memory://", RedisAuth::default()));
    }

    #[test]
    fn nothing_printable_shows_the_password() {
        let (auth, _) = RedisAuth::split("u:hunter22@h:1").unwrap();
        for shown in [format!("{auth:?}"), auth.describe()] {
            assert!(!shown.contains("hunter22"), "{shown}");
        }
        assert_eq!(
            redact_url("redis://u:hunter22@h:1"),
            "redis://u:<secret>@h:1"
        );
        assert_eq!(
            redact_url("postgres://app:pw@db:5432/x?sslmode=require"),
            "postgres://app:<secret>@db:5432/x?sslmode=require"
        );
        assert_eq!(redact_url("redis://h:1"), "redis://h:1");
        assert_eq!(redact_url("redis://u@h:1"), "redis://u@h:1");
        assert_eq!(redact_url("sqlite://data/x@y.db"), "sqlite://data/x@y.db");
    }
}
