//! Shared vocabulary of tiercache.
//!
//! Every other crate speaks in these types, so that a value means the same thing on the
//! command line, in a config file, over HTTP and over gRPC.
//!
//! # Layout
//! - [`ByteSize`]: a size in bytes that parses and prints `64MiB`, `1.5GB`, `4096`.
//! - [`ErrorCode`]: the one classification of errors; each code knows its HTTP status and
//!   its gRPC status code, so the REST and gRPC edges agree by construction.
//! - [`Version`]: the per-object version the store assigns; strictly increasing per key.
//! - [`metrics`]: `/metrics` of every long-running role, in the Prometheus text format.
//! - [`Secret`]: a credential that prints as `<secret>` wherever it is shown.
//! - [`RedisAuth`]: the ACL user and password of a Redis URL; [`redact_url`] for any URL
//!   that is printed.
//! - [`Tokens`]: the bearer tokens of a token file and their [`Scope`]s, compared in
//!   constant time.

/// Sizes as people write them: [`ByteSize`].
mod byte_size;
/// The one classification of errors: [`ErrorCode`].
mod error_code;
/// `/metrics` of every role: families read at scrape time, encoded by `prometheus-client`.
pub mod metrics;
/// The ACL user and password of a Redis URL: [`RedisAuth`].
mod redis_auth;
/// Credentials kept out of logs: [`Secret`].
mod secret;
/// Bearer tokens and their scopes: [`Tokens`].
mod tokens;
/// The store-assigned version of an object: [`Version`].
mod version;

pub use byte_size::{ByteSize, ParseByteSizeError};
pub use error_code::ErrorCode;
pub use redis_auth::{REDIS_PASSWORD_FILE_VAR, REDIS_PASSWORD_VAR, RedisAuth, redact_url};
pub use secret::Secret;
pub use tokens::{MIN_TOKEN_LEN, Scope, Scopes, TokenFileError, Tokens};
pub use version::Version;
